package e2e

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ciwarden/ciwarden/internal/auth"
	"github.com/ciwarden/ciwarden/internal/testblob"
	"github.com/ciwarden/ciwarden/internal/testdb"
	"github.com/ciwarden/ciwarden/internal/testserver"
)

// TestReplicasBehindBalancer runs ciwarden as a multi-host deployment
// (issue 20, "Tests"): three `serve` replicas started together, each with
// its own data directory, sharing one repositories directory, one
// PostgreSQL database (made for the test) and one S3 bucket (versitygw),
// with the same instance key and the proxy's URL as their external URL,
// behind a round-robin reverse proxy that fails over as a load balancer
// with health checks does (balancer); two standalone runners (`ciwarden
// runner`, registered through the API) reach the server only through the
// proxy, as does everything the test and the jobs do: pushes, pipelines by
// push and by the API, artifacts (uploads and dependencies' downloads),
// generic packages, clones.
//
// Every job runs exactly once (its script appends its ID to a file), its
// stored log holds what its script printed byte for byte, once, between
// the runner's first and last lines (no "incomplete" note), and it ends
// with the right state. Then, while four jobs run and stream their logs,
// one replica's answers are held back and it is killed with them (their
// requests were acted on, their answers lost): the runners go on through
// the other two, and every job still ends with its whole log and the
// right state, none twice. The killed replica then restarts and serves.
// Each replica's log passes the harness's checks (no unexpected 5xx, no
// secret), and so do the runners'.
func TestReplicasBehindBalancer(t *testing.T) {
	testdb.RequirePostgres(t)
	begin := time.Now()
	s3 := testblob.Start(t) // skips, saying how to install versitygw, without it
	dbURL := testdb.Postgres(t)
	key := make([]byte, 32)
	rand.Read(key)
	instanceKey := base64.StdEncoding.EncodeToString(key)
	repos := testdb.TempDir(t)

	lb := newBalancer(t)
	root := auth.PATPrefix + "e2e-root-" + testserver.RandHex(12)
	var opts []testserver.Options
	for i := range 3 {
		opts = append(opts, testserver.Options{Process: true, Dialect: "postgres", DatabaseURL: dbURL, DataDir: testdb.TempDir(t),
			RepositoriesDir: repos, ReplicaName: fmt.Sprintf("replica-%d", i), S3: s3, InstanceKey: instanceKey,
			RootToken: root, LongPoll: 2 * time.Second, Args: []string{"--external-url", lb.URL}})
	}
	// The replicas come up together on the empty database.
	replicas := testserver.NewAll(t, opts...)
	for i, r := range replicas {
		lb.set(i, r.URL)
	}
	front := testserver.Front(t, lb.URL, replicas...)
	t.Logf("three replicas ready after %v", time.Since(begin).Round(time.Millisecond))

	group := front.CreateGroup(t, "grp", 0, "private")
	projectID, projectPath := front.CreateProject(t, group, "app", "private").IDPath()
	project := api + "/projects/" + testserver.Itoa(projectID)
	var runnerIDs []int64
	var runners []*testserver.RunnerProcess
	for i := range 2 {
		id, tok := front.CreateRunner(t, map[string]any{"description": fmt.Sprintf("runner-%d", i), "run_untagged": true})
		runnerIDs = append(runnerIDs, id)
		runners = append(runners, front.StartRunner(t, tok, "--concurrent", "2"))
	}

	work := t.TempDir()
	runs, logs, tokens, gate := filepath.Join(work, "runs"), filepath.Join(work, "logs"), filepath.Join(work, "tokens"), filepath.Join(work, "gate")
	for _, d := range []string{logs, tokens} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}

	// Phase 1: pipelines by push (two pushes) and by the API, each a
	// build, a lint and a test that takes build's artifacts and package.
	g := testserver.NewGit(t)
	dir := g.Init(t, front.GitURL("root", front.RootToken, projectPath))
	files := map[string]string{".gitlab-ci.yml": replicasCI(runs, logs, tokens, gate), "ci/job.sh": replicasJob}
	g.Commit(t, dir, "ci", files)
	g.Run(t, dir, "push", "--quiet", "origin", "HEAD:main")
	first := waitPipelines(t, front, project, 1, 60*time.Second)[0]
	apiPipeline := front.CreatePipeline(t, projectID, front.RootToken, nil)
	head := g.Commit(t, dir, "second", map[string]string{"README": "second push\n"})
	g.Run(t, dir, "push", "--quiet", "origin", "HEAD:main")
	pipelines := waitPipelines(t, front, project, 3, 60*time.Second)
	if !slices.Contains(pipelines, first) || !slices.Contains(pipelines, apiPipeline) {
		t.Fatalf("pipelines %v, want the first push's %d, the API's %d and the second push's", pipelines, first, apiPipeline)
	}
	for _, p := range pipelines {
		pipelineEnds(t, front, projectID, p, "success")
	}
	sources := map[string]int{}
	for _, p := range pipelines {
		sources[testserver.Str(t, front.Expect(t, "GET", project+"/pipelines/"+testserver.Itoa(p), front.RootToken, nil, http.StatusOK).Object(t), "source")]++
	}
	if sources["push"] != 2 || sources["api"] != 1 {
		t.Errorf("pipeline sources %v, want push twice and api once", sources)
	}
	// Clones through the proxy land on every replica in turn and see the
	// same repository.
	for range 3 {
		c := g.Clone(t, front.GitURL("root", front.RootToken, projectPath))
		if got := g.Run(t, c, "rev-parse", "HEAD"); got != head {
			t.Errorf("a clone through the proxy is at %s, want %s", got, head)
		}
	}
	// A finished job's token is dead on every replica at once.
	entries, err := os.ReadDir(tokens)
	if err != nil || len(entries) != 3 {
		t.Fatalf("the test jobs left %d tokens (%v), want 3", len(entries), err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(tokens, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		front.Remember(string(b))
		for _, r := range replicas {
			r.WantDead(t, string(b), projectPath)
		}
	}
	for i, n := range lb.servedCounts() {
		if n == 0 {
			t.Errorf("replica %d served no request through the proxy", i)
		}
	}
	t.Logf("phase 1 (3 pipelines, 9 jobs) done after %v; requests per replica %v", time.Since(begin).Round(time.Millisecond), lb.servedCounts())

	// Phase 2: four slow jobs tick until the test opens the gate, then
	// keep artifacts that a fifth job takes. A replica dies while they
	// tick; the runners keep going through the others.
	killed := 1
	p := testserver.Num(t, front.Expect(t, "POST", project+"/pipeline", front.RootToken, map[string]any{"ref": "main",
		"variables": []map[string]string{{"key": "PHASE", "value": "kill"}}}, http.StatusCreated).Object(t), "id")
	pipeline := project + "/pipelines/" + testserver.Itoa(p)
	var slow []int64
	for deadline := time.Now().Add(60 * time.Second); len(slow) < 4; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the four slow jobs are not all running and logging: %v", front.Expect(t, "GET", pipeline+"/jobs", front.RootToken, nil, http.StatusOK).List(t))
		}
		slow = slow[:0]
		for _, j := range front.Expect(t, "GET", pipeline+"/jobs", front.RootToken, nil, http.StatusOK).List(t) {
			id := testserver.Num(t, j, "id")
			if j["status"] == "running" && strings.Contains(jobTrace(t, front, project, id), "tick 2 of job") {
				slow = append(slow, id)
			}
		}
	}
	before := map[int64]int{}
	for _, id := range slow {
		before[id] = len(jobTrace(t, front, project, id))
	}
	// The replica's answers stop coming back: the runners' next log
	// chunks reach it and are stored, but their answers are lost with it.
	lb.freeze(killed)
	for deadline := time.Now().Add(20 * time.Second); lb.heldCount() < 2; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no request reached replica %d within 20s of the freeze (%d held)", killed, lb.heldCount())
		}
	}
	time.Sleep(300 * time.Millisecond) // for the replica to act on them
	replicas[killed].Kill(t)
	lb.unfreeze(true)
	t.Logf("replica %d killed after %v with %d requests unanswered, jobs %v running", killed, time.Since(begin).Round(time.Millisecond), lb.heldCount(), slow)
	// The logs keep growing through the two replicas left.
	for deadline := time.Now().Add(30 * time.Second); len(before) > 0; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the logs of jobs %v stopped growing after the kill", before)
		}
		for id, n := range before {
			if len(jobTrace(t, front, project, id)) > n+100 {
				delete(before, id)
			}
		}
	}
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	pipelineEnds(t, front, projectID, p, "success")
	if n := lb.errorCount(); n < lb.heldCount() {
		t.Errorf("the proxy answered %d requests itself, want at least the %d the kill cut", n, lb.heldCount())
	}
	t.Logf("phase 2 (kill) done after %v; requests per replica %v, proxy errors %d", time.Since(begin).Round(time.Millisecond), lb.servedCounts(), lb.errorCount())

	// The killed replica comes back on its data directory and serves.
	replicas[killed] = replicas[killed].Restart(t)
	lb.set(killed, replicas[killed].URL)
	c := g.Clone(t, replicas[killed].GitURL("root", front.RootToken, projectPath))
	if got := g.Run(t, c, "rev-parse", "HEAD"); got != head {
		t.Errorf("a clone from the restarted replica is at %s, want %s", got, head)
	}
	replicas[killed].Expect(t, "GET", pipeline, front.RootToken, nil, http.StatusOK)

	// Every job: run once, by one of the two runners, ended as it should
	// with its whole log.
	all := map[int64]string{} // job ID -> name
	pipelines = append(pipelines, p)
	for _, pid := range pipelines {
		for _, j := range front.Expect(t, "GET", project+"/pipelines/"+testserver.Itoa(pid)+"/jobs?per_page=100", front.RootToken, nil, http.StatusOK).List(t) {
			id, name := testserver.Num(t, j, "id"), testserver.Str(t, j, "name")
			all[id] = name
			if j["status"] != "success" {
				t.Errorf("job %d (%s): status %v, want success", id, name, j["status"])
			}
			r, _ := j["runner"].(map[string]any)
			if r == nil || !slices.Contains(runnerIDs, testserver.Num(t, r, "id")) {
				t.Errorf("job %d (%s) ran on %v, want one of the runners %v", id, name, j["runner"], runnerIDs)
			}
		}
	}
	if len(all) != 14 {
		t.Errorf("%d jobs, want 14 (3 pipelines of 3, one of 5)", len(all))
	}
	ran := map[string]int{}
	b, err := os.ReadFile(runs)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range strings.Fields(string(b)) {
		ran[id]++
	}
	for id, name := range all {
		if n := ran[testserver.Itoa(id)]; n != 1 {
			t.Errorf("job %d (%s) ran %d times, want once", id, name, n)
		}
		delete(ran, testserver.Itoa(id))
	}
	if len(ran) != 0 {
		t.Errorf("scripts ran for jobs the API does not list: %v", ran)
	}
	for id, name := range all {
		checkJobLog(t, front, project, id, name, logs)
	}
	// Neither runner gave up on a call: what the kill cut, a retry
	// through the proxy mended.
	for i, r := range runners {
		for _, l := range strings.Split(r.Log(), "\n") {
			if strings.Contains(l, "level=ERROR") {
				t.Errorf("runner %d: %s", i, l)
			}
		}
	}
	t.Logf("%d jobs in %v; requests per replica %v; proxy errors %d (requests cut by the kill)",
		len(all), time.Since(begin).Round(time.Millisecond), lb.servedCounts(), lb.errorCount())
}

// replicasCI is the project's pipeline: build, lint and test unless
// PHASE is "kill"; then slow-1 to slow-4, and after, which takes their
// artifacts. runs, logs, tokens and gate are the test's files.
func replicasCI(runs, logs, tokens, gate string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `variables:
  RUNS: %q
  LOGS: %q
  TOKENS: %q
  GATE: %q
stages: [build, test]
.usual:
  rules:
    - if: $PHASE != "kill"
.kill:
  rules:
    - if: $PHASE == "kill"
build:
  extends: .usual
  stage: build
  script:
    - bash ci/job.sh build
  artifacts:
    paths: [out/]
lint:
  extends: .usual
  stage: build
  script:
    - bash ci/job.sh lint
test:
  extends: .usual
  stage: test
  script:
    - bash ci/job.sh test
after:
  extends: .kill
  stage: test
  script:
    - bash ci/job.sh after
`, runs, logs, tokens, gate)
	for i := 1; i <= 4; i++ {
		fmt.Fprintf(&b, "slow-%d:\n  extends: .kill\n  stage: build\n  script:\n    - bash ci/job.sh slow\n  artifacts:\n    paths: [out/]\n", i)
	}
	return b.String()
}

// replicasJob is every job's script. It records that the job ran, and
// everything it prints goes to the job's log and, through tee, to a file
// the test compares the stored log with.
const replicasJob = `set -eo pipefail
kind=$1
echo "$CI_JOB_ID" >> "$RUNS"
package="$CI_API_V4_URL/projects/$CI_PROJECT_ID/packages/generic/app/$CI_PIPELINE_ID"
run() {
  echo "job $CI_JOB_ID ($CI_JOB_NAME) of pipeline $CI_PIPELINE_ID: $kind"
  case $kind in
  build)
    mkdir -p out
    printf 'built by job %s from %s\n' "$CI_JOB_ID" "$CI_COMMIT_SHA" > out/build.txt
    for i in $(seq 1 40); do echo "build line $i of job $CI_JOB_ID"; done
    curl -sSf -o /dev/null -w 'package upload: %{http_code}\n' -H "JOB-TOKEN: $CI_JOB_TOKEN" --upload-file out/build.txt "$package/build.txt"
    ;;
  lint)
    for i in $(seq 1 20); do echo "lint line $i of job $CI_JOB_ID"; done
    ;;
  test)
    cat out/build.txt
    grep -q " from $CI_COMMIT_SHA\$" out/build.txt
    curl -sSf -H "JOB-TOKEN: $CI_JOB_TOKEN" -o package.txt "$package/build.txt"
    cmp package.txt out/build.txt
    echo "the package is build's artifact"
    printf '%s' "$CI_JOB_TOKEN" > "$TOKENS/$CI_JOB_ID"
    ;;
  slow)
    i=0
    until [ -e "$GATE" ]; do
      i=$((i+1))
      echo "tick $i of job $CI_JOB_ID"
      if [ "$i" -ge 1200 ]; then echo "the gate never opened"; exit 1; fi
      sleep 0.05
    done
    mkdir -p out
    echo "$CI_JOB_NAME ($CI_JOB_ID) ticked $i times" > "out/$CI_JOB_NAME.txt"
    ;;
  after)
    cat out/slow-1.txt out/slow-2.txt out/slow-3.txt out/slow-4.txt
    cat out/*.txt | curl -sSf -o /dev/null -w 'package upload: %{http_code}\n' -H "JOB-TOKEN: $CI_JOB_TOKEN" --upload-file - "$package/slow.txt"
    curl -sSf -H "JOB-TOKEN: $CI_JOB_TOKEN" "$package/slow.txt" | wc -l
    ;;
  esac
}
run 2>&1 | tee "$LOGS/$CI_JOB_ID"
`

// checkJobLog checks job id's stored log: the runner's first line, the
// script's command, then what the script printed byte for byte (the
// file its tee wrote), once, and the runner's last line: nothing lost,
// nothing twice, no note that the log is incomplete.
func checkJobLog(t *testing.T, s *testserver.Server, project string, id int64, name, logs string) {
	t.Helper()
	printed, err := os.ReadFile(filepath.Join(logs, testserver.Itoa(id)))
	if err != nil {
		t.Errorf("job %d (%s) left no copy of its output: %v", id, name, err)
		return
	}
	kind, _, _ := strings.Cut(name, "-")
	want := "\x1b[32;1m$ bash ci/job.sh " + kind + "\x1b[0;m\n" + string(printed)
	trace := jobTrace(t, s, project, id)
	switch {
	case strings.Count(trace, want) != 1:
		t.Errorf("job %d (%s): the log holds the script's output %d times, want once\nlog:\n%q\nprinted:\n%q", id, name, strings.Count(trace, want), trace, printed)
	case !strings.HasPrefix(trace, "Running with "), !strings.HasSuffix(trace, "\nJob succeeded\n"):
		t.Errorf("job %d (%s): the log does not run from the runner's first line to its last:\n%q", id, name, trace)
	case strings.Count(trace, "Running with ") != 1, strings.Contains(trace, "incomplete"):
		t.Errorf("job %d (%s): the log is not one whole run:\n%q", id, name, trace)
	}
}

// jobTrace is a job's stored log.
func jobTrace(t *testing.T, s *testserver.Server, project string, id int64) string {
	t.Helper()
	return string(s.Expect(t, "GET", project+"/jobs/"+testserver.Itoa(id)+"/trace", s.RootToken, nil, http.StatusOK).Body)
}

// waitPipelines waits until the project has n pipelines and returns
// their IDs.
func waitPipelines(t *testing.T, s *testserver.Server, project string, n int, within time.Duration) []int64 {
	t.Helper()
	for deadline := time.Now().Add(within); ; time.Sleep(100 * time.Millisecond) {
		list := s.Expect(t, "GET", project+"/pipelines?per_page=100", s.RootToken, nil, http.StatusOK).List(t)
		if len(list) >= n {
			var ids []int64
			for _, p := range list {
				ids = append(ids, testserver.Num(t, p, "id"))
			}
			return ids
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d pipelines after %v, want %d", len(list), within, n)
		}
	}
}

// pipelineEnds waits for pipeline id (waitPipeline) and fails the test,
// with its jobs and their logs, unless it ended as want.
func pipelineEnds(t *testing.T, s *testserver.Server, projectID, id int64, want string) {
	t.Helper()
	waitPipeline(t, s, projectID, s.RootToken, id)
	if st := pipelineStatus(t, s, projectID, id, s.RootToken); st != want {
		project := api + "/projects/" + testserver.Itoa(projectID)
		var report []string
		for _, j := range s.Expect(t, "GET", project+"/pipelines/"+testserver.Itoa(id)+"/jobs", s.RootToken, nil, http.StatusOK).List(t) {
			jid := testserver.Num(t, j, "id")
			report = append(report, fmt.Sprintf("job %d (%v): %v %v\n%s", jid, j["name"], j["status"], j["failure_reason"], jobTrace(t, s, project, jid)))
		}
		t.Fatalf("pipeline %d: %s, want %s\n%s", id, st, want, strings.Join(report, "\n"))
	}
}

// balancer is a round-robin reverse proxy in front of the replicas, as a
// load balancer with health checks is: each request goes to the next
// backend whose GET /-/readiness last answered 200, and a backend that
// refuses the connection is marked down and the next one dialed (nothing
// was sent yet, so any request may move). A backend that dies under a
// request cuts it: the client gets a 502, as behind a real balancer.
// Connections to backends are not reused, so that every request is
// balanced on its own.
type balancer struct {
	URL string

	srv  *httptest.Server
	stop chan struct{}
	done chan struct{}

	mu     sync.Mutex
	addrs  []string // host:port per replica
	up     []bool
	served []int
	next   int
	errs   []string // requests the proxy answered itself
	// frozen is the replica whose answers the proxy holds back (-1:
	// none) until thaw is closed; held counts the requests held.
	frozen int
	thaw   chan struct{}
	held   int
	lost   bool
}

func newBalancer(t *testing.T) *balancer {
	t.Helper()
	b := &balancer{stop: make(chan struct{}), done: make(chan struct{}), frozen: -1}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.Out.URL.Scheme, r.Out.URL.Host = "http", "replicas.invalid" // dial picks the backend
		},
		Transport:     &http.Transport{DialContext: b.dial, DisableKeepAlives: true},
		FlushInterval: -1,
		ErrorLog:      log.New(io.Discard, "", 0),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			b.mu.Lock()
			b.errs = append(b.errs, r.Method+" "+r.URL.Path+": "+err.Error())
			b.mu.Unlock()
			w.WriteHeader(http.StatusBadGateway)
		},
	}
	b.srv = httptest.NewServer(rp)
	b.URL = b.srv.URL
	go b.check()
	t.Cleanup(func() {
		b.unfreeze(false)
		close(b.stop)
		<-b.done
		b.srv.Close()
		b.mu.Lock()
		defer b.mu.Unlock()
		if len(b.errs) > 0 {
			t.Logf("the proxy answered %d requests itself (502): %s", len(b.errs), strings.Join(b.errs, "; "))
		}
	})
	return b
}

// set makes url the backend of replica i.
func (b *balancer) set(i int, url string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for len(b.addrs) <= i {
		b.addrs, b.up, b.served = append(b.addrs, ""), append(b.up, false), append(b.served, 0)
	}
	b.addrs[i], b.up[i] = strings.TrimPrefix(url, "http://"), true
}

// order is the backends to try for one request: the healthy ones from
// the next in turn, then the others as a last resort.
func (b *balancer) order() []int {
	b.mu.Lock()
	defer b.mu.Unlock()
	var healthy, down []int
	n := len(b.addrs)
	for k := range n {
		i := (b.next + k) % n
		if b.up[i] {
			healthy = append(healthy, i)
		} else {
			down = append(down, i)
		}
	}
	b.next++
	return append(healthy, down...)
}

func (b *balancer) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	err := fmt.Errorf("no backend")
	for _, i := range b.order() {
		b.mu.Lock()
		addr := b.addrs[i]
		b.mu.Unlock()
		var c net.Conn
		if c, err = (&net.Dialer{Timeout: 2 * time.Second}).DialContext(ctx, "tcp", addr); err == nil {
			b.mu.Lock()
			defer b.mu.Unlock()
			b.served[i]++
			if b.frozen == i {
				return &heldConn{Conn: c, b: b, thaw: b.thaw}, nil
			}
			return c, nil
		}
		b.mu.Lock()
		if b.addrs[i] == addr {
			b.up[i] = false
		}
		b.mu.Unlock()
	}
	return nil, err
}

// check asks every backend's /-/readiness every 200 ms.
func (b *balancer) check() {
	defer close(b.done)
	hc := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for {
		select {
		case <-b.stop:
			return
		case <-time.After(200 * time.Millisecond):
		}
		b.mu.Lock()
		addrs := slices.Clone(b.addrs)
		b.mu.Unlock()
		for i, addr := range addrs {
			ok := false
			if res, err := hc.Get("http://" + addr + "/-/readiness"); err == nil {
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				ok = res.StatusCode == http.StatusOK
			}
			b.mu.Lock()
			if b.addrs[i] == addr {
				b.up[i] = ok
			}
			b.mu.Unlock()
		}
	}
}

// freeze holds back every answer of replica i from now on: its requests
// reach it, and it may act on them, but their answers do not come back
// until thaw. A replica killed while frozen has taken requests whose
// answers are lost: their clients see the proxy's 502 and must try again.
func (b *balancer) freeze(i int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.frozen, b.thaw = i, make(chan struct{})
}

// unfreeze ends the freeze. With lost, the held answers are lost, as
// when the replica dies with them still on their way (its kernel resets
// the connections): the proxy answers their requests 502 itself.
// Otherwise they go through.
func (b *balancer) unfreeze(lost bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.frozen >= 0 {
		b.lost = lost
		close(b.thaw)
		b.frozen = -1
	}
}

// heldCount is how many requests the freeze has held.
func (b *balancer) heldCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.held
}

// heldConn is a connection to a frozen replica: the first read of its
// answer waits for the thaw.
type heldConn struct {
	net.Conn
	b    *balancer
	thaw chan struct{}
	once sync.Once
}

func (c *heldConn) Read(p []byte) (int, error) {
	lost := false
	c.once.Do(func() {
		c.b.mu.Lock()
		c.b.held++
		c.b.mu.Unlock()
		<-c.thaw
		c.b.mu.Lock()
		lost = c.b.lost
		c.b.mu.Unlock()
	})
	if lost {
		c.Conn.Close()
		return 0, errLostAnswer
	}
	return c.Conn.Read(p)
}

var errLostAnswer = errors.New("connection reset: the replica died before its answer arrived")

func (b *balancer) servedCounts() []int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.served)
}

func (b *balancer) errorCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.errs)
}
