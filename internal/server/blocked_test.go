package server_test

// Blocking a user ends their running work (issue 12 item 7, as GitLab
// drops a blocked user's pipelines): their unfinished jobs fail with
// user_blocked, their tokens die on the API (401), on git and on the runner
// protocol (403 with Job-Status), and nothing sent with such a token after
// the block is stored or served: not a trace byte, not an artifact, not a
// final state.

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"
)

func TestBlockedUserEndsWork(t *testing.T) { forEachDialect(t, testBlockedUserEndsWork) }

func testBlockedUserEndsWork(t *testing.T, dialect string) {
	s := newServer(t, serverOpts{dialect: dialect})
	group := s.createGroup(t, "blocking", "private")
	app := s.createProject(t, group, "app", "private")
	blocky := s.createUser(t, "blocky")
	s.addMember(t, "groups", group, blocky.ID, 30)
	_, runnerToken := s.createRunner(t, map[string]any{"description": "blocking"})
	rc := s.newRunnerClient(runnerToken)
	s.pushCI(t, app, blocky, map[string]string{".gitlab-ci.yml": livenessCI})
	base := "/projects/" + itoa(app.ID)

	// One job runs (the push's), one waits in a second pipeline.
	j := rc.takeJob(t)
	j.start(t)
	s.wantLive(t, j.Token, j.ID, app.Path)
	var waiting []map[string]any
	s.expect(t, "GET", base+"/pipelines/"+itoa(s.createPipeline(t, app, blocky, nil))+"/jobs", rootToken, nil, http.StatusOK).JSON(t, &waiting)
	if len(waiting) != 1 {
		t.Fatalf("second pipeline has %d jobs, want 1", len(waiting))
	}
	pending := num(t, waiting[0], "id")
	j.appendTrace(t, "before the block\n")
	before := artZip(t, map[string]string{"a.txt": "before"})
	if r := s.upload(t, j.ID, j.Token, "", before, true); r.Status != http.StatusCreated {
		t.Fatalf("artifact upload while running: %s, want 201", r)
	}

	// An upload that is streaming when the block lands: its bytes arrive
	// before and after; nothing of it may be kept.
	ct, body := artMultipart(t, "artifacts.zip", artZip(t, map[string]string{"a.txt": "in flight"}))
	pr, pw := io.Pipe()
	req, err := http.NewRequest("POST", s.URL+"/api/v4/jobs/"+itoa(j.ID)+"/artifacts", pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", ct)
	req.Header.Set("JOB-TOKEN", j.Token)
	inflight := make(chan *resp, 1)
	go func() {
		r, err := s.do(req)
		if err != nil {
			r = &resp{what: err.Error()}
		}
		inflight <- r
	}()
	half := len(body) / 2
	if _, err := pw.Write(body[:half]); err != nil {
		t.Fatal(err)
	}

	s.expect(t, "POST", "/users/"+itoa(blocky.ID)+"/block", rootToken, nil, http.StatusCreated)

	if _, err := pw.Write(body[half:]); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	select {
	case r := <-inflight:
		if r.Status != http.StatusForbidden {
			t.Errorf("artifact upload that was streaming when the user was blocked: %s, want 403", r)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the in-flight upload got no answer")
	}

	// The API and git refuse the token at once.
	s.wantDead(t, j.Token, app.Path)

	// Both jobs failed with user_blocked.
	for _, id := range []int64{j.ID, pending} {
		st := s.jobState(t, app, id)
		if st["status"] != "failed" || st["failure_reason"] != "user_blocked" {
			t.Errorf("job %d after its user was blocked: status %v, failure_reason %v; want failed, user_blocked", id, st["status"], st["failure_reason"])
		}
	}

	// The runner learns it at its next call: 403 with Job-Status: failed.
	runnerRefused := func(what string, r *resp) {
		t.Helper()
		if r.Status != http.StatusForbidden || r.Header.Get("Job-Status") != "failed" {
			t.Errorf("%s after the block: %s (Job-Status %q), want 403 with Job-Status failed", what, r, r.Header.Get("Job-Status"))
		}
	}
	runnerRefused("trace PATCH", s.patchTrace(t, j.ID, j.Token, len(j.sent), []byte("after the block\n")))
	runnerRefused("artifact upload", s.upload(t, j.ID, j.Token, "", artZip(t, map[string]string{"a.txt": "after"}), true))
	runnerRefused("keep-alive PUT", j.update(t, map[string]any{"state": "running"}))
	runnerRefused("final PUT", j.finish(t, "success"))

	// Nothing sent after the block was stored.
	if tr := s.expect(t, "GET", base+"/jobs/"+itoa(j.ID)+"/trace", rootToken, nil, http.StatusOK); string(tr.Body) != "before the block\n" {
		t.Errorf("stored log %q, want only what came before the block", tr.Body)
	}
	if got := s.expect(t, "GET", base+"/jobs/"+itoa(j.ID)+"/artifacts", rootToken, nil, http.StatusOK); !bytes.Equal(got.Body, before) {
		t.Errorf("served artifact is not the one uploaded before the block (%d bytes, want %d)", len(got.Body), len(before))
	}
	if st := s.jobState(t, app, j.ID); st["status"] != "failed" {
		t.Errorf("the runner's final success after the block changed the job: status %v", st["status"])
	}

	// Unblocking does not bring the work back.
	s.expect(t, "POST", "/users/"+itoa(blocky.ID)+"/unblock", rootToken, nil, http.StatusCreated)
	s.wantDead(t, j.Token, app.Path)
	runnerRefused("trace PATCH after the unblock", s.patchTrace(t, j.ID, j.Token, len(j.sent), []byte("after the unblock\n")))
}

// TestConcurrentFinalUpdates: a runner that sends its final update several
// times at once (retries racing each other) gets 200 for every one, as for
// any repeat; the job finishes once, and the masker's held tail is stored
// once (issue 13 item 8).
func TestConcurrentFinalUpdates(t *testing.T) { forEachDialect(t, testConcurrentFinalUpdates) }

func testConcurrentFinalUpdates(t *testing.T, dialect string) {
	s := newServer(t, serverOpts{dialect: dialect})
	group := s.createGroup(t, "finals", "private")
	app := s.createProject(t, group, "app", "private")
	dev := s.createUser(t, "dev")
	s.addMember(t, "groups", group, dev.ID, 30)
	_, runnerToken := s.createRunner(t, map[string]any{"description": "finals"})
	rc := s.newRunnerClient(runnerToken)
	s.pushCI(t, app, dev, map[string]string{".gitlab-ci.yml": livenessCI})
	j := rc.takeJob(t)
	j.start(t)
	// The log ends in what could be the start of a token: the masker holds
	// it back until the final update flushes it.
	j.appendTrace(t, "hello cwjob-abc")

	const n = 10
	answers := make(chan *resp, n)
	for range n {
		go func() {
			sum := fmt.Sprintf("crc32:%08x", crc32IEEE(j.sent))
			body := map[string]any{"token": j.Token, "state": "success", "checksum": sum,
				"output": map[string]any{"checksum": sum, "bytesize": len(j.sent)}}
			req := s.runnerCall(t, "PUT", "/jobs/"+itoa(j.ID), body, true)
			req.Header.Set("JOB-TOKEN", j.Token)
			r, err := s.do(req)
			if err != nil {
				r = &resp{what: err.Error()}
			}
			answers <- r
		}()
	}
	for range n {
		if r := <-answers; r.Status != http.StatusOK || r.Header.Get("Job-Status") != "success" {
			t.Errorf("concurrent final PUT: %s (Job-Status %q), want 200 success", r, r.Header.Get("Job-Status"))
		}
	}
	if st := s.jobState(t, app, j.ID); st["status"] != "success" {
		t.Errorf("job status %v, want success", st["status"])
	}
	tr := s.expect(t, "GET", "/projects/"+itoa(app.ID)+"/jobs/"+itoa(j.ID)+"/trace", rootToken, nil, http.StatusOK)
	if string(tr.Body) != "hello cwjob-[MASKED]" {
		t.Errorf("stored log %q, want the held tail flushed once: %q", tr.Body, "hello cwjob-[MASKED]")
	}
}
