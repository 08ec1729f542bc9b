package runnerapi_test

// The job queue (runner-protocol.md §5, §15.3): many runners polling at
// once get every job exactly once, and runners get only the jobs they may
// run (tags, run_untagged, paused, project runners).

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ciwarden/ciwarden/internal/testserver"
)

const (
	queueRunners = 20
	queueJobs    = 200
)

// runnerReq builds a runner request without a testing.TB, for goroutines.
func runnerReq(s *testserver.Server, method, path string, body any, headers map[string]string) (*http.Request, error) {
	var rd *bytes.Reader
	if b, ok := body.([]byte); ok {
		rd = bytes.NewReader(b)
	} else {
		js, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(js)
	}
	req, err := http.NewRequest(method, s.URL+"/api/v4"+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", testserver.RunnerUserAgent)
	req.Header.Set("X-Request-Id", testserver.RandHex(8))
	if _, raw := body.([]byte); !raw {
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	return req, nil
}

// call is runnerReq and do, expecting status want.
func call(s *testserver.Server, method, path string, body any, headers map[string]string, want int) (*testserver.Resp, error) {
	req, err := runnerReq(s, method, path, body, headers)
	if err != nil {
		return nil, err
	}
	r, err := s.Try(req)
	if err != nil {
		return nil, err
	}
	if r.Status != want {
		return r, fmt.Errorf("%s, want %d", r, want)
	}
	return r, nil
}

// runJob plays one job to success: PUT running, one trace chunk, final
// PUT with the checksum.
func runJob(s *testserver.Server, id int64, token string) error {
	jt := map[string]string{"JOB-TOKEN": token}
	if _, err := call(s, "PUT", "/jobs/"+testserver.Itoa(id), map[string]any{"token": token, "state": "running"}, jt, http.StatusOK); err != nil {
		return err
	}
	trace := []byte(fmt.Sprintf("job %d ran\n", id))
	h := map[string]string{"JOB-TOKEN": token, "Content-Type": "text/plain", "Content-Range": fmt.Sprintf("0-%d", len(trace)-1)}
	if _, err := call(s, "PATCH", "/jobs/"+testserver.Itoa(id)+"/trace", trace, h, http.StatusAccepted); err != nil {
		return err
	}
	sum := fmt.Sprintf("crc32:%08x", crc32.ChecksumIEEE(trace))
	_, err := call(s, "PUT", "/jobs/"+testserver.Itoa(id), map[string]any{"token": token, "state": "success", "checksum": sum,
		"output": map[string]any{"checksum": sum, "bytesize": len(trace)}}, jt, http.StatusOK)
	return err
}

func manyJobsCI(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "job%03d:\n  script:\n    - echo %d\n", i, i)
	}
	return b.String()
}

// TestQueueConcurrentRunners: 20 runners, each its own registration,
// wait in long polls; one push queues 200 jobs; every job is handed out
// exactly once and finished by the runner that got it.
func TestQueueConcurrentRunners(t *testing.T) {
	testserver.ForEachDialect(t, testQueueConcurrentRunners)
}

func testQueueConcurrentRunners(t *testing.T, dialect string) {
	s := testserver.New(t, testserver.Options{Dialect: dialect, LongPoll: time.Second})
	group := s.CreateGroup(t, "queue", 0, "private")
	p := s.CreateProject(t, group, "many", "private")
	dev := s.CreateUser(t, "dev")
	s.AddMember(t, "groups", group, dev.ID, 40)
	tokens := make([]string, queueRunners)
	for i := range tokens {
		_, tokens[i] = s.CreateRunner(t, map[string]any{"description": fmt.Sprintf("runner %d", i)})
	}

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	var (
		mu      sync.Mutex
		got     = map[int64][]int{} // job ID -> runners that received it
		errs    []string
		done    atomic.Int64
		ready   sync.WaitGroup
		workers sync.WaitGroup
	)
	fail := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		errs = append(errs, fmt.Sprintf(format, args...))
		cancel()
	}
	ready.Add(queueRunners)
	for i, tok := range tokens {
		workers.Add(1)
		go func() {
			defer workers.Done()
			systemID := "s_" + testserver.RandHex(6)
			last := ""
			first := true
			for ctx.Err() == nil {
				body := map[string]any{"token": tok, "system_id": systemID, "info": testserver.RunnerInfoBody()}
				if last != "" {
					body["last_update"] = last
				}
				req, err := runnerReq(s, "POST", "/jobs/request", body, map[string]string{"RUNNER-TOKEN": tok})
				if err != nil {
					fail("runner %d: %v", i, err)
					break
				}
				r, err := s.Try(req.WithContext(ctx))
				if err != nil {
					if ctx.Err() == nil {
						fail("runner %d: %v", i, err)
					}
					break
				}
				if v := r.Header.Get("X-GitLab-Last-Update"); v != "" {
					last = v
				}
				if first {
					first = false
					ready.Done()
				}
				switch r.Status {
				case http.StatusNoContent:
					if done.Load() >= queueJobs {
						return
					}
				case http.StatusCreated:
					var j testserver.JobResponse
					if err := json.Unmarshal(r.Body, &j); err != nil || j.ID == 0 || j.Token == "" {
						fail("runner %d: undecodable job (%v): %s", i, err, r.Body)
						return
					}
					s.Remember(j.Token)
					mu.Lock()
					got[j.ID] = append(got[j.ID], i)
					mu.Unlock()
					if err := runJob(s, j.ID, j.Token); err != nil {
						fail("runner %d, job %d: %v", i, j.ID, err)
						return
					}
					done.Add(1)
				default:
					fail("runner %d: job request: %s", i, r)
					return
				}
			}
		}()
	}
	waitCh := make(chan struct{})
	go func() { ready.Wait(); close(waitCh) }()
	select {
	case <-waitCh:
	case <-ctx.Done():
		t.Fatalf("runners did not start: %v", errs)
	}
	// Every runner now holds a long poll with the current version; the
	// push wakes them all at once.
	start := time.Now()
	s.PushCI(t, p.Path, dev, map[string]string{".gitlab-ci.yml": manyJobsCI(queueJobs)})
	workers.Wait()
	elapsed := time.Since(start)
	mu.Lock()
	defer mu.Unlock()
	for _, e := range errs {
		t.Error(e)
	}
	if ctx.Err() != nil && len(errs) == 0 {
		t.Errorf("timed out with %d of %d jobs done", done.Load(), queueJobs)
	}

	// Every job of the pipeline was handed out exactly once.
	var want []int64
	for page := 1; ; page++ {
		var jobs []map[string]any
		s.Expect(t, "GET", testserver.API+fmt.Sprintf("/projects/%d/jobs?per_page=100&page=%d", p.ID, page), s.RootToken, nil, http.StatusOK).JSON(t, &jobs)
		for _, j := range jobs {
			want = append(want, testserver.Num(t, j, "id"))
			if j["status"] != "success" {
				t.Errorf("job %v (%v): status %v, want success", j["id"], j["name"], j["status"])
			}
		}
		if len(jobs) < 100 {
			break
		}
	}
	if len(want) != queueJobs {
		t.Errorf("the pipeline has %d jobs, want %d", len(want), queueJobs)
	}
	perRunner := map[int]int{}
	for _, id := range want {
		rs := got[id]
		switch {
		case len(rs) == 0:
			t.Errorf("job %d was never handed out", id)
		case len(rs) > 1:
			t.Errorf("job %d was handed out %d times (runners %v)", id, len(rs), rs)
		}
		for _, r := range rs {
			perRunner[r]++
		}
	}
	if len(got) != len(want) {
		t.Errorf("runners received %d distinct jobs, the project has %d", len(got), len(want))
	}
	var counts []int
	for _, n := range perRunner {
		counts = append(counts, n)
	}
	sort.Ints(counts)
	t.Logf("%d jobs by %d runners in %v; jobs per runner %v", len(got), len(perRunner), elapsed.Round(time.Millisecond), counts)
	var pls []map[string]any
	s.Expect(t, "GET", testserver.API+fmt.Sprintf("/projects/%d/pipelines", p.ID), s.RootToken, nil, http.StatusOK).JSON(t, &pls)
	if len(pls) != 1 || pls[0]["status"] != "success" {
		t.Errorf("pipelines %v, want one, success", pls)
	}
}

// TestQueueMatching: tags and run_untagged, paused runners, project
// runners.
func TestQueueMatching(t *testing.T) { testserver.ForEachDialect(t, testQueueMatching) }

const taggedCI = `untagged:
  script: echo untagged
tagged:
  tags: [docker]
  script: echo docker
gpu:
  tags: [gpu]
  script: echo gpu
`

func testQueueMatching(t *testing.T, dialect string) {
	s := testserver.New(t, testserver.Options{Dialect: dialect, LongPoll: 300 * time.Millisecond})
	group := s.CreateGroup(t, "match", 0, "private")
	tp := s.CreateProject(t, group, "tags", "private")
	pa := s.CreateProject(t, group, "a", "private")
	pb := s.CreateProject(t, group, "b", "private")
	dev := s.CreateUser(t, "dev")
	s.AddMember(t, "groups", group, dev.ID, 40)
	_, dockerTok := s.CreateRunner(t, map[string]any{"tag_list": []string{"docker"}, "run_untagged": false})
	_, plainTok := s.CreateRunner(t, nil)
	_, pausedTok := s.CreateRunner(t, map[string]any{"tag_list": []string{"gpu"}, "paused": true})
	_, projATok := s.CreateRunner(t, map[string]any{"runner_type": "project_type", "project_id": pa.ID})
	docker, plain, paused, projA := s.NewRunnerClient(dockerTok), s.NewRunnerClient(plainTok), s.NewRunnerClient(pausedTok), s.NewRunnerClient(projATok)
	name := func(j *testserver.RunningJob) string { return j.Payload.JobInfo.Name }

	s.PushCI(t, tp.Path, dev, map[string]string{".gitlab-ci.yml": taggedCI})
	t.Run("tags", func(t *testing.T) {
		// untagged is the oldest job; a runner with run_untagged=false
		// skips it.
		if j := docker.TakeJob(t); name(j) != "tagged" {
			t.Errorf("runner [docker], run_untagged=false got %q, want tagged", name(j))
		}
		docker.ExpectNoJob(t)
		if j := plain.TakeJob(t); name(j) != "untagged" {
			t.Errorf("untagged runner got %q, want untagged", name(j))
		}
		plain.ExpectNoJob(t) // gpu is pending, but tagged
	})
	t.Run("paused", func(t *testing.T) {
		r := paused.Request(t)
		if r.Status != http.StatusNoContent || r.Header.Get("X-GitLab-Last-Update") == "" {
			t.Errorf("paused runner [gpu] with a gpu job pending: %s, want 204 with X-GitLab-Last-Update", r)
		}
	})
	t.Run("project runner", func(t *testing.T) {
		s.PushCI(t, pb.Path, dev, map[string]string{".gitlab-ci.yml": "b:\n  script: echo b\n"})
		projA.ExpectNoJob(t)
		s.PushCI(t, pa.Path, dev, map[string]string{".gitlab-ci.yml": "a:\n  script: echo a\n"})
		j := projA.TakeJob(t)
		if name(j) != "a" || j.Payload.JobInfo.ProjectID != pa.ID {
			t.Errorf("project runner of a got %q of project %d, want a of %d", name(j), j.Payload.JobInfo.ProjectID, pa.ID)
		}
		projA.ExpectNoJob(t) // b (and gpu) still pending
		if j := plain.TakeJob(t); name(j) != "b" {
			t.Errorf("instance runner got %q, want b (left by a's project runner)", name(j))
		}
	})
	var jobs []map[string]any
	s.Expect(t, "GET", testserver.API+fmt.Sprintf("/projects/%d/jobs?scope=pending", tp.ID), s.RootToken, nil, http.StatusOK).JSON(t, &jobs)
	if len(jobs) != 1 || jobs[0]["name"] != "gpu" {
		t.Errorf("pending jobs of %s: %v, want only gpu", tp.Path, jobs)
	}
}

// TestQueueScansPastFirstCandidates: the queue is read a few of the oldest
// pending jobs at a time first (ci.Assign); a runner that can run none of
// them still gets the job it can run behind them, and none when there is
// none.
func TestQueueScansPastFirstCandidates(t *testing.T) {
	testserver.ForEachDialect(t, func(t *testing.T, dialect string) {
		s := testserver.New(t, testserver.Options{Dialect: dialect, LongPoll: 300 * time.Millisecond})
		p := s.CreateProject(t, 0, "deep-queue", "private")
		dev := s.CreateUser(t, "dev")
		s.AddMember(t, "projects", p.ID, dev.ID, 40)
		var ci strings.Builder
		for i := 0; i < 30; i++ {
			fmt.Fprintf(&ci, "plain-%02d:\n  script: echo %d\n", i, i)
		}
		ci.WriteString("last:\n  tags: [docker]\n  script: echo docker\n")
		_, dockerTok := s.CreateRunner(t, map[string]any{"tag_list": []string{"docker"}, "run_untagged": false})
		_, gpuTok := s.CreateRunner(t, map[string]any{"tag_list": []string{"gpu"}, "run_untagged": false})
		s.PushCI(t, p.Path, dev, map[string]string{".gitlab-ci.yml": ci.String()})
		if j := s.NewRunnerClient(dockerTok).TakeJob(t); j.Payload.JobInfo.Name != "last" {
			t.Errorf("runner [docker] behind 30 untagged jobs got %q, want last", j.Payload.JobInfo.Name)
		}
		s.NewRunnerClient(gpuTok).ExpectNoJob(t)
	})
}
