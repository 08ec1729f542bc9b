package runnerapi_test

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
	"github.com/ciwarden/ciwarden/internal/testserver"
)

// deployKey is a masked variable of the jobs below.
const deployKey = "dpl-Rk3vQ9zLm2Xw7Tb5Hn8Jc4Ye6Ua"

const maskedVarCI = "variables:\n  DEPLOY_KEY:\n    value: " + deployKey + "\n    masked: true\njob:\n  script: [echo hi]\n"

// traceJob starts a job of maskedVarCI on s, taken by a new runner.
func traceJob(t *testing.T, s *testserver.Server) (*testserver.RunningJob, testserver.Project) {
	t.Helper()
	dev := s.CreateUser(t, "dev")
	g := s.CreateGroup(t, "grp", 0, "private")
	s.AddMember(t, "groups", g, dev.ID, 30)
	p := s.CreateProject(t, g, "app", "private")
	_, tok := s.CreateRunner(t, nil)
	s.PushCI(t, p.Path, dev, map[string]string{".gitlab-ci.yml": maskedVarCI})
	j := s.NewRunnerClient(tok).TakeJob(t)
	j.Start(t)
	return j, p
}

func storedTrace(t *testing.T, s *testserver.Server, p testserver.Project, jobID int64) string {
	t.Helper()
	return string(s.Expect(t, "GET", testserver.API+"/projects/"+testserver.Itoa(p.ID)+"/jobs/"+testserver.Itoa(jobID)+"/trace", s.RootToken, nil, http.StatusOK).Body)
}

// TestTraceStateSealed (issue 13 item 2): a runner that does not mask sends
// a chunk ending in the start of its job token, then one ending in the
// start of a masked variable. The masker holds those bytes back until it
// knows whether the secret follows, but no piece of them is in the
// database in clear: not in the SQLite file or its WAL, not in
// PostgreSQL's jobs table. Once the rest arrives the stored log is masked.
func TestTraceStateSealed(t *testing.T) {
	testserver.ForEachDialect(t, func(t *testing.T, dialect string) {
		dbURL := testdb.URL(t, dialect)
		s := testserver.New(t, testserver.Options{Dialect: dialect, DatabaseURL: dbURL})
		j, p := traceJob(t, s)
		s.Remember(j.Token)

		const cut = 40
		j.AppendTrace(t, "$ curl -H \"JOB-TOKEN: $CI_JOB_TOKEN\" ...\nexport T="+j.Token[:cut])
		if state := traceState(t, s, j.ID); len(state) < cut {
			t.Fatalf("trace_state holds %d bytes after a chunk ending in %d bytes of the token: nothing held back, the test proves nothing", len(state), cut)
		}
		wantNotAtRest(t, s, dialect, dbURL, j.ID, j.Token[:cut], true)

		// The rest of the token, then the start of the masked variable.
		j.AppendTrace(t, j.Token[cut:]+"\ndeploying with "+deployKey[:20])
		wantNotAtRest(t, s, dialect, dbURL, j.ID, j.Token, true)
		// The variable's value is in the job's definition until CI/CD
		// variables are encrypted too: look in the log's own columns.
		wantNotAtRest(t, s, dialect, dbURL, j.ID, deployKey[:20], false)

		j.AppendTrace(t, deployKey[20:]+" done\n")
		j.FinishOK(t, "success")
		want := "$ curl -H \"JOB-TOKEN: $CI_JOB_TOKEN\" ...\nexport T=[MASKED]\ndeploying with [MASKED] done\n"
		if got := storedTrace(t, s, p, j.ID); got != want {
			t.Errorf("stored log\n got %q\nwant %q", got, want)
		}
		if state := traceState(t, s, j.ID); len(state) != 0 {
			t.Errorf("trace_state holds %d bytes after the final update, want none", len(state))
		}
		wantNotAtRest(t, s, dialect, dbURL, j.ID, j.Token, true)
	})
}

// traceState is the job row's saved masker state, as stored.
func traceState(t *testing.T, s *testserver.Server, jobID int64) []byte {
	t.Helper()
	var state []byte
	if err := s.Srv.Store().DB().QueryRow("SELECT trace_state FROM jobs WHERE id = " + testserver.Itoa(jobID)).Scan(&state); err != nil {
		t.Fatal(err)
	}
	return state
}

// wantNotAtRest fails if any MinSecretLen bytes of secret are stored in
// clear: in the job's trace_state and its stored log chunks, and, with
// everywhere, anywhere in the SQLite file and its WAL or in any column of
// PostgreSQL's jobs table.
func wantNotAtRest(t *testing.T, s *testserver.Server, dialect, dbURL string, jobID int64, secret string, everywhere bool) {
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
	look("jobs.trace_state", traceState(t, s, jobID))
	rows, err := s.Srv.Store().DB().Query("SELECT data FROM job_trace_chunks WHERE job_id = " + testserver.Itoa(jobID))
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
		rows, err := s.Srv.Store().DB().Query("SELECT j::text FROM jobs j")
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

// TestTraceStateWrongKey: a replica with another instance key can neither
// read a job (its spec is sealed) nor resume its saved masker state: it
// answers the trace request and the final update 500, logs why (without
// the secret), and stores nothing.
// The replica with the right key goes on as if nothing happened.
func TestTraceStateWrongKey(t *testing.T) {
	testserver.ForEachDialect(t, func(t *testing.T, dialect string) {
		dbURL := testdb.URL(t, dialect)
		a := testserver.New(t, testserver.Options{Dialect: dialect, DatabaseURL: dbURL, InstanceKey: newInstanceKey(t)})
		j, p := traceJob(t, a)
		a.Remember(j.Token)
		j.AppendTrace(t, "before "+j.Token[:30])
		logBefore, stateBefore := storedTrace(t, a, p, j.ID), traceState(t, a, j.ID)

		// A replica shares the instance's storage (docs/scaling.md): here
		// the data directory; only its key differs.
		b := testserver.New(t, testserver.Options{Dialect: dialect, DatabaseURL: dbURL, DataDir: a.DataDir, InstanceKey: newInstanceKey(t)})
		b.Remember(j.Token)
		// The replica cannot open the state and must not store anything:
		// its 500s are the test's subject, checked below.
		b.ExpectServerError(http.StatusInternalServerError, "PATCH", "/api/v4/jobs/"+testserver.Itoa(j.ID)+"/trace", "the saved state is sealed with another key")
		b.ExpectServerError(http.StatusInternalServerError, "PUT", "/api/v4/jobs/"+testserver.Itoa(j.ID), "the saved state is sealed with another key")
		want500 := func(what string, req *http.Request) {
			t.Helper()
			req.Header.Set("JOB-TOKEN", j.Token)
			r, err := b.Try(req)
			if err != nil {
				t.Fatal(err)
			}
			if r.Status != http.StatusInternalServerError || strings.TrimSpace(string(r.Body)) != `{"message":"500 Internal Server Error"}` {
				t.Fatalf("%s to the replica with another key: %s, want 500", what, r)
			}
		}
		patch := b.RunnerCall(t, "PATCH", "/jobs/"+testserver.Itoa(j.ID)+"/trace", []byte(j.Token[30:]+" after\n"), false)
		patch.Header.Set("Content-Range", fmt.Sprintf("%d-%d", len(j.Sent), len(j.Sent)+len(j.Token[30:])+6))
		want500("PATCH", patch)
		want500("final update", b.RunnerCall(t, "PUT", "/jobs/"+testserver.Itoa(j.ID), map[string]any{"token": j.Token, "state": "success"}, true))
		logs := b.Log()
		// Its job-token authentication stops first: the job's spec is
		// sealed with the instance key too (issue 16).
		for _, want := range []string{"the spec of job", "CIWARDEN_INSTANCE_KEY", "sealed with another instance key"} {
			if !strings.Contains(logs, want) {
				t.Errorf("the replica's log does not say %q:\n%s", want, grepLines(logs, "level=ERROR"))
			}
		}
		if got := storedTrace(t, a, p, j.ID); got != logBefore {
			t.Errorf("stored log changed to %q, want %q", got, logBefore)
		}
		if got := traceState(t, a, j.ID); !bytes.Equal(got, stateBefore) {
			t.Error("trace_state changed")
		}
		if st := a.Job(t, p.ID, j.ID); st["status"] != "running" {
			t.Errorf("job %v after the refused final update, want running", st["status"])
		}

		j.AppendTrace(t, j.Token[30:]+" after\n")
		j.FinishOK(t, "success")
		if got, want := storedTrace(t, a, p, j.ID), "before [MASKED] after\n"; got != want {
			t.Errorf("stored log %q, want %q", got, want)
		}
	})
}

// TestTraceKeepsTokenCached: a chunk of the job's log is nothing its
// token's life depends on, so on SQLite the warm token cache keeps the
// token across trace PATCHes (each used to evict it, and the next call
// read four rows). The cached copy of the job's log fields lags behind:
// chunks after it are still taken at the right offsets, a token split
// across them is still masked, a stale offset still gets 416 with where
// the log ends, the final checksum matches, and the token dies at the
// job's end.
func TestTraceKeepsTokenCached(t *testing.T) {
	testserver.ForEachDialect(t, func(t *testing.T, dialect string) {
		s := testserver.New(t, testserver.Options{Dialect: dialect})
		j, p := traceJob(t, s)
		s.WantLive(t, j.Token, j.ID, "")
		cached := !s.Srv.Store().Shared()

		j.AppendTrace(t, "line one\n")
		if got := s.Srv.Authenticator().JobTokenCached(j.Token); got != cached {
			t.Errorf("job token cached after a trace PATCH: %v, want %v", got, cached)
		}
		const cut = 25
		j.AppendTrace(t, "export T="+j.Token[:cut])
		j.AppendTrace(t, j.Token[cut:]+"\n")
		r := s.PatchTrace(t, j.ID, j.Token, 9, []byte("again\n"))
		if want := fmt.Sprintf("0-%d", len(j.Sent)); r.Status != http.StatusRequestedRangeNotSatisfiable || r.Header.Get("Range") != want {
			t.Errorf("PATCH at a stale offset: %s, Range %q; want 416, Range %q", r, r.Header.Get("Range"), want)
		}
		if got := s.Srv.Authenticator().JobTokenCached(j.Token); got != cached {
			t.Errorf("job token cached after three trace PATCHes: %v, want %v", got, cached)
		}
		j.FinishOK(t, "success")
		s.WantDead(t, j.Token, "")
		if got, want := storedTrace(t, s, p, j.ID), "line one\nexport T=[MASKED]\n"; got != want {
			t.Errorf("stored log\n got %q\nwant %q", got, want)
		}
	})
}
