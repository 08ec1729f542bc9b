package runnerapi_test

// Blocking a user ends their running work (issue 12 item 7, as GitLab
// drops a blocked user's pipelines): their unfinished jobs fail with
// user_blocked, their tokens die on the API (401), on git and on the runner
// protocol (403 with Job-Status), and nothing sent with such a token after
// the block is stored or served: not a trace byte, not an artifact, not a
// final state.

import (
	"bytes"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/ciwarden/ciwarden/internal/testserver"
)

func TestBlockedUserEndsWork(t *testing.T) { testserver.ForEachDialect(t, testBlockedUserEndsWork) }

func testBlockedUserEndsWork(t *testing.T, dialect string) {
	s := testserver.New(t, testserver.Options{Dialect: dialect})
	group := s.CreateGroup(t, "blocking", 0, "private")
	app := s.CreateProject(t, group, "app", "private")
	blocky := s.CreateUser(t, "blocky")
	s.AddMember(t, "groups", group, blocky.ID, 30)
	_, runnerToken := s.CreateRunner(t, map[string]any{"description": "blocking"})
	rc := s.NewRunnerClient(runnerToken)
	s.PushCI(t, app.Path, blocky, map[string]string{".gitlab-ci.yml": livenessCI})
	base := testserver.API + "/projects/" + testserver.Itoa(app.ID)

	// One job runs (the push's), one waits in a second pipeline.
	j := rc.TakeJob(t)
	j.Start(t)
	s.WantLive(t, j.Token, j.ID, app.Path)
	var waiting []map[string]any
	s.Expect(t, "GET", base+"/pipelines/"+testserver.Itoa(s.CreatePipeline(t, app.ID, blocky.Token, nil))+"/jobs", s.RootToken, nil, http.StatusOK).JSON(t, &waiting)
	if len(waiting) != 1 {
		t.Fatalf("second pipeline has %d jobs, want 1", len(waiting))
	}
	pending := testserver.Num(t, waiting[0], "id")
	j.AppendTrace(t, "before the block\n")
	before := testserver.Zip(t, map[string]string{"a.txt": "before"})
	if r := s.UploadArtifact(t, j.ID, j.Token, "", before, true); r.Status != http.StatusCreated {
		t.Fatalf("artifact upload while running: %s, want 201", r)
	}

	// An upload that is streaming when the block lands: its bytes arrive
	// before and after; nothing of it may be kept.
	ct, body := testserver.ArtifactMultipart(t, "artifacts.zip", testserver.Zip(t, map[string]string{"a.txt": "in flight"}))
	pr, pw := io.Pipe()
	req, err := http.NewRequest("POST", s.URL+"/api/v4/jobs/"+testserver.Itoa(j.ID)+"/artifacts", pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", ct)
	req.Header.Set("JOB-TOKEN", j.Token)
	inflight := make(chan *testserver.Resp, 1)
	go func() {
		r, err := s.Try(req)
		if err != nil {
			r = &testserver.Resp{Req: err.Error()}
		}
		inflight <- r
	}()
	half := len(body) / 2
	if _, err := pw.Write(body[:half]); err != nil {
		t.Fatal(err)
	}

	s.Expect(t, "POST", testserver.API+"/users/"+testserver.Itoa(blocky.ID)+"/block", s.RootToken, nil, http.StatusCreated)

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
	s.WantDead(t, j.Token, app.Path)

	// Both jobs failed with user_blocked.
	for _, id := range []int64{j.ID, pending} {
		st := s.Job(t, app.ID, id)
		if st["status"] != "failed" || st["failure_reason"] != "user_blocked" {
			t.Errorf("job %d after its user was blocked: status %v, failure_reason %v; want failed, user_blocked", id, st["status"], st["failure_reason"])
		}
	}

	// The runner learns it at its next call: 403 with Job-Status: failed.
	runnerRefused := func(what string, r *testserver.Resp) {
		t.Helper()
		if r.Status != http.StatusForbidden || r.Header.Get("Job-Status") != "failed" {
			t.Errorf("%s after the block: %s (Job-Status %q), want 403 with Job-Status failed", what, r, r.Header.Get("Job-Status"))
		}
	}
	runnerRefused("trace PATCH", s.PatchTrace(t, j.ID, j.Token, len(j.Sent), []byte("after the block\n")))
	runnerRefused("artifact upload", s.UploadArtifact(t, j.ID, j.Token, "", testserver.Zip(t, map[string]string{"a.txt": "after"}), true))
	runnerRefused("keep-alive PUT", j.Update(t, map[string]any{"state": "running"}))
	runnerRefused("final PUT", j.Finish(t, "success"))

	// Nothing sent after the block was stored.
	if tr := s.Expect(t, "GET", base+"/jobs/"+testserver.Itoa(j.ID)+"/trace", s.RootToken, nil, http.StatusOK); string(tr.Body) != "before the block\n" {
		t.Errorf("stored log %q, want only what came before the block", tr.Body)
	}
	if got := s.Expect(t, "GET", base+"/jobs/"+testserver.Itoa(j.ID)+"/artifacts", s.RootToken, nil, http.StatusOK); !bytes.Equal(got.Body, before) {
		t.Errorf("served artifact is not the one uploaded before the block (%d bytes, want %d)", len(got.Body), len(before))
	}
	if st := s.Job(t, app.ID, j.ID); st["status"] != "failed" {
		t.Errorf("the runner's final success after the block changed the job: status %v", st["status"])
	}

	// Unblocking does not bring the work back.
	s.Expect(t, "POST", testserver.API+"/users/"+testserver.Itoa(blocky.ID)+"/unblock", s.RootToken, nil, http.StatusCreated)
	s.WantDead(t, j.Token, app.Path)
	runnerRefused("trace PATCH after the unblock", s.PatchTrace(t, j.ID, j.Token, len(j.Sent), []byte("after the unblock\n")))
}

// TestConcurrentFinalUpdates: a runner that sends its final update several
// times at once (retries racing each other) gets 200 for every one, as for
// any repeat; the job finishes once, and the masker's held tail is stored
// once (issue 13 item 8).
func TestConcurrentFinalUpdates(t *testing.T) {
	testserver.ForEachDialect(t, testConcurrentFinalUpdates)
}

func testConcurrentFinalUpdates(t *testing.T, dialect string) {
	s := testserver.New(t, testserver.Options{Dialect: dialect})
	group := s.CreateGroup(t, "finals", 0, "private")
	app := s.CreateProject(t, group, "app", "private")
	dev := s.CreateUser(t, "dev")
	s.AddMember(t, "groups", group, dev.ID, 30)
	_, runnerToken := s.CreateRunner(t, map[string]any{"description": "finals"})
	rc := s.NewRunnerClient(runnerToken)
	s.PushCI(t, app.Path, dev, map[string]string{".gitlab-ci.yml": livenessCI})
	j := rc.TakeJob(t)
	j.Start(t)
	// The log ends in what could be the start of a token: the masker holds
	// it back until the final update flushes it.
	j.AppendTrace(t, "hello cwjob-abc")

	const n = 10
	answers := make(chan *testserver.Resp, n)
	for range n {
		go func() {
			sum := fmt.Sprintf("crc32:%08x", crc32.ChecksumIEEE(j.Sent))
			body := map[string]any{"token": j.Token, "state": "success", "checksum": sum,
				"output": map[string]any{"checksum": sum, "bytesize": len(j.Sent)}}
			req := s.RunnerCall(t, "PUT", "/jobs/"+testserver.Itoa(j.ID), body, true)
			req.Header.Set("JOB-TOKEN", j.Token)
			r, err := s.Try(req)
			if err != nil {
				r = &testserver.Resp{Req: err.Error()}
			}
			answers <- r
		}()
	}
	for range n {
		if r := <-answers; r.Status != http.StatusOK || r.Header.Get("Job-Status") != "success" {
			t.Errorf("concurrent final PUT: %s (Job-Status %q), want 200 success", r, r.Header.Get("Job-Status"))
		}
	}
	if st := s.Job(t, app.ID, j.ID); st["status"] != "success" {
		t.Errorf("job status %v, want success", st["status"])
	}
	tr := s.Expect(t, "GET", testserver.API+"/projects/"+testserver.Itoa(app.ID)+"/jobs/"+testserver.Itoa(j.ID)+"/trace", s.RootToken, nil, http.StatusOK)
	if string(tr.Body) != "hello cwjob-[MASKED]" {
		t.Errorf("stored log %q, want the held tail flushed once: %q", tr.Body, "hello cwjob-[MASKED]")
	}
}
