package server_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/ciwarden/ciwarden/internal/mask"
	"github.com/ciwarden/ciwarden/internal/testdb"
)

// deployKey is a masked variable of the jobs below.
const deployKey = "dpl-Rk3vQ9zLm2Xw7Tb5Hn8Jc4Ye6Ua"

const maskedVarCI = "variables:\n  DEPLOY_KEY:\n    value: " + deployKey + "\n    masked: true\njob:\n  script: [echo hi]\n"

// traceJob starts a job of maskedVarCI on s, taken by a new runner.
func traceJob(t *testing.T, s *testServer) (*runningJob, project) {
	t.Helper()
	dev := s.createUser(t, "dev")
	g := s.createGroup(t, "grp", "private")
	s.addMember(t, "groups", g, dev.ID, 30)
	p := s.createProject(t, g, "app", "private")
	_, tok := s.createRunner(t, nil)
	s.pushCI(t, p, dev, map[string]string{".gitlab-ci.yml": maskedVarCI})
	j := s.newRunnerClient(tok).takeJob(t)
	j.start(t)
	return j, p
}

func (s *testServer) storedTrace(t *testing.T, p project, jobID int64) string {
	t.Helper()
	return string(s.expect(t, "GET", "/projects/"+itoa(p.ID)+"/jobs/"+itoa(jobID)+"/trace", rootToken, nil, http.StatusOK).Body)
}

// TestTraceStateSealed (issue 13 item 2): a runner that does not mask sends
// a chunk ending in the start of its job token, then one ending in the
// start of a masked variable. The masker holds those bytes back until it
// knows whether the secret follows, but no piece of them is in the
// database in clear: not in the SQLite file or its WAL, not in
// PostgreSQL's jobs table. Once the rest arrives the stored log is masked.
func TestTraceStateSealed(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		dbURL := testdb.URL(t, dialect)
		s := newServer(t, serverOpts{DatabaseURL: dbURL})
		j, p := traceJob(t, s)
		s.remember(j.Token)

		const cut = 40
		j.appendTrace(t, "$ curl -H \"JOB-TOKEN: $CI_JOB_TOKEN\" ...\nexport T="+j.Token[:cut])
		if state := s.traceState(t, j.ID); len(state) < cut {
			t.Fatalf("trace_state holds %d bytes after a chunk ending in %d bytes of the token: nothing held back, the test proves nothing", len(state), cut)
		}
		s.wantNotAtRest(t, dialect, dbURL, j.ID, j.Token[:cut], true)

		// The rest of the token, then the start of the masked variable.
		j.appendTrace(t, j.Token[cut:]+"\ndeploying with "+deployKey[:20])
		s.wantNotAtRest(t, dialect, dbURL, j.ID, j.Token, true)
		// The variable's value is in the job's definition until CI/CD
		// variables are encrypted too: look in the log's own columns.
		s.wantNotAtRest(t, dialect, dbURL, j.ID, deployKey[:20], false)

		j.appendTrace(t, deployKey[20:]+" done\n")
		j.finishOK(t, "success")
		want := "$ curl -H \"JOB-TOKEN: $CI_JOB_TOKEN\" ...\nexport T=[MASKED]\ndeploying with [MASKED] done\n"
		if got := s.storedTrace(t, p, j.ID); got != want {
			t.Errorf("stored log\n got %q\nwant %q", got, want)
		}
		if state := s.traceState(t, j.ID); len(state) != 0 {
			t.Errorf("trace_state holds %d bytes after the final update, want none", len(state))
		}
		s.wantNotAtRest(t, dialect, dbURL, j.ID, j.Token, true)
	})
}

// traceState is the job row's saved masker state, as stored.
func (s *testServer) traceState(t *testing.T, jobID int64) []byte {
	t.Helper()
	var state []byte
	if err := s.srv.Store().DB().QueryRow("SELECT trace_state FROM jobs WHERE id = " + itoa(jobID)).Scan(&state); err != nil {
		t.Fatal(err)
	}
	return state
}

// wantNotAtRest fails if any MinSecretLen bytes of secret are stored in
// clear: in the job's trace_state and its stored log chunks, and, with
// everywhere, anywhere in the SQLite file and its WAL or in any column of
// PostgreSQL's jobs table.
func (s *testServer) wantNotAtRest(t *testing.T, dialect, dbURL string, jobID int64, secret string, everywhere bool) {
	t.Helper()
	var pieces [][]byte
	for k := 0; k+mask.MinSecretLen <= len(secret); k++ {
		pieces = append(pieces, []byte(secret[k:k+mask.MinSecretLen]))
	}
	look := func(where string, data []byte) {
		t.Helper()
		for _, piece := range pieces {
			if bytes.Contains(data, piece) || bytes.Contains(data, []byte(hex.EncodeToString(piece))) {
				t.Errorf("%d bytes of the secret (%q...) are in clear in %s", len(piece), piece[:3], where)
				return
			}
		}
	}
	look("jobs.trace_state", s.traceState(t, jobID))
	rows, err := s.srv.Store().DB().Query("SELECT data FROM job_trace_chunks WHERE job_id = " + itoa(jobID))
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var data []byte
		if err := rows.Scan(&data); err != nil {
			t.Fatal(err)
		}
		look("job_trace_chunks", data)
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	if !everywhere {
		return
	}
	switch dialect {
	case "sqlite":
		path := strings.TrimPrefix(dbURL, "sqlite://")
		for _, f := range []string{path, path + "-wal"} {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			look(f, data)
		}
	case "postgres":
		// Every column of every job as text, byte arrays in hex.
		rows, err := s.srv.Store().DB().Query("SELECT j::text FROM jobs j")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var row string
			if err := rows.Scan(&row); err != nil {
				t.Fatal(err)
			}
			look("PostgreSQL's jobs table", []byte(row))
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	}
}

func newInstanceKey(t *testing.T) string {
	t.Helper()
	key := make([]byte, 32)
	rand.Read(key)
	return base64.StdEncoding.EncodeToString(key)
}

// forgetLogs drops what s logged so far: a test that provoked a 500 on
// purpose, and checked it, clears the record that newServer's cleanup
// would take for a failure.
func (s *testServer) forgetLogs() {
	s.logs.mu.Lock()
	defer s.logs.mu.Unlock()
	s.logs.buf.Reset()
}

// TestTraceStateWrongKey: a replica with another instance key cannot
// resume a job's saved masker state: it answers the trace request and the
// final update 500, logs why (without the secret), and stores nothing.
// The replica with the right key goes on as if nothing happened.
func TestTraceStateWrongKey(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		dbURL := testdb.URL(t, dialect)
		a := newServer(t, serverOpts{DatabaseURL: dbURL, InstanceKey: newInstanceKey(t)})
		j, p := traceJob(t, a)
		a.remember(j.Token)
		j.appendTrace(t, "before "+j.Token[:30])
		logBefore, stateBefore := a.storedTrace(t, p, j.ID), a.traceState(t, j.ID)

		b := newServer(t, serverOpts{DatabaseURL: dbURL, InstanceKey: newInstanceKey(t)})
		b.remember(j.Token)
		want500 := func(what string, req *http.Request) {
			t.Helper()
			req.Header.Set("JOB-TOKEN", j.Token)
			r, err := b.do(req)
			if err != nil {
				t.Fatal(err)
			}
			if r.Status != http.StatusInternalServerError || strings.TrimSpace(string(r.Body)) != `{"message":"500 Internal Server Error"}` {
				t.Fatalf("%s to the replica with another key: %s, want 500", what, r)
			}
		}
		patch := b.runnerCall(t, "PATCH", "/jobs/"+itoa(j.ID)+"/trace", []byte(j.Token[30:]+" after\n"), false)
		patch.Header.Set("Content-Range", fmt.Sprintf("%d-%d", len(j.sent), len(j.sent)+len(j.Token[30:])+6))
		want500("PATCH", patch)
		want500("final update", b.runnerCall(t, "PUT", "/jobs/"+itoa(j.ID), map[string]any{"token": j.Token, "state": "success"}, true))
		logs := b.logs.String()
		for _, want := range []string{"saved state cannot be resumed", "CIWARDEN_INSTANCE_KEY", "sealed with another instance key"} {
			if !strings.Contains(logs, want) {
				t.Errorf("the replica's log does not say %q:\n%s", want, grepLines(logs, "level=ERROR"))
			}
		}
		b.forgetLogs()
		if got := a.storedTrace(t, p, j.ID); got != logBefore {
			t.Errorf("stored log changed to %q, want %q", got, logBefore)
		}
		if got := a.traceState(t, j.ID); !bytes.Equal(got, stateBefore) {
			t.Error("trace_state changed")
		}
		if st := a.jobState(t, p, j.ID); st["status"] != "running" {
			t.Errorf("job %v after the refused final update, want running", st["status"])
		}

		j.appendTrace(t, j.Token[30:]+" after\n")
		j.finishOK(t, "success")
		if got, want := a.storedTrace(t, p, j.ID), "before [MASKED] after\n"; got != want {
			t.Errorf("stored log %q, want %q", got, want)
		}
	})
}
