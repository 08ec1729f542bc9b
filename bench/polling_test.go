package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ciwarden/ciwarden/internal/runner"
	"github.com/ciwarden/ciwarden/internal/testserver"
)

// TestIdlePollingCPU measures the CPU that `ciwarden serve` (a child
// process, so that the clients' CPU is not counted) spends while N idle
// runners (default 500, CIWARDEN_BENCH_RUNNERS) long-poll POST
// /api/v4/jobs/request with no job to hand out (docs/performance.md:
// < 5% of one core).
//
// Each runner has its own token and its own connection and is the
// built-in runner's protocol client (internal/runner.Client): the same
// body as gitlab-runner, system_id included, last_update echoed from
// X-GitLab-Last-Update, so that every request after the first is held for
// the long-poll period (50 s). The runners start spread evenly over one
// long-poll period, so that their holds end spread out as in a long-lived
// installation (N/50 polls per second) rather than all together; the
// window (CIWARDEN_BENCH_WINDOW, default 20 s) starts once every runner
// has been held once. The idle server with no runner is measured first,
// in the same run, as the baseline.
//
// The server's CPU is utime+stime from /proc/<pid>/stat. The figure grows
// with N only through the rate of polls (N/50 per second) times the CPU
// per poll, which the test also reports, so 10x and 100x the runners cost
// 10x and 100x the per-poll part; held requests themselves cost nothing
// while they wait.
//
// It takes about 90 s; run with CIWARDEN_BENCH=1.
func TestIdlePollingCPU(t *testing.T) {
	jbRequireLong(t)
	jbRequireProc(t)
	n := jbEnvInt(t, "CIWARDEN_BENCH_RUNNERS", 500)
	window := jbEnvDuration(t, "CIWARDEN_BENCH_WINDOW", 20*time.Second)
	const longPoll = 50 * time.Second
	srv := jbServe(t, "--runner-long-poll", longPoll.String())

	// Baseline: the same server, idle, no runner.
	baseWindow := min(window, 10*time.Second)
	time.Sleep(2 * time.Second) // past start-up
	c0, t0 := jbProcCPU(t, srv.Pid()), time.Now()
	time.Sleep(baseWindow)
	c1, t1 := jbProcCPU(t, srv.Pid()), time.Now()
	baseline := c1.Sub(c0).Self()
	baseFrac := baseline.Seconds() / t1.Sub(t0).Seconds() // cores
	basePct := 100 * baseFrac

	tokens := make([]string, n)
	for i := range tokens {
		tokens[i] = jbCreateRunner(t, srv, fmt.Sprintf("idle-%d", i))
	}
	transport := &http.Transport{MaxConnsPerHost: n + 16, MaxIdleConns: n + 16, MaxIdleConnsPerHost: n + 16,
		IdleConnTimeout: 5 * time.Minute}
	defer transport.CloseIdleConnections()
	hc := &http.Client{Transport: transport, Timeout: 3 * longPoll}
	ctx, cancel := context.WithCancel(context.Background())
	var polls, fails, jobs atomic.Int64
	var started sync.WaitGroup
	var wg sync.WaitGroup
	started.Add(n)
	for i, tok := range tokens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if !jbSleep(ctx, time.Duration(i)*longPoll/time.Duration(n)) {
				started.Done()
				return
			}
			c := &runner.Client{BaseURL: srv.URL, Token: tok, SystemID: fmt.Sprintf("r_bench%06d", i), HTTP: hc}
			last := ""
			first := true
			for ctx.Err() == nil {
				job, next, err := c.RequestJob(ctx, last)
				if first {
					first = false
					started.Done()
				}
				switch {
				case ctx.Err() != nil:
					return
				case err != nil:
					fails.Add(1)
					jbSleep(ctx, time.Second)
					continue
				case job != nil:
					jobs.Add(1)
				}
				last = next
				polls.Add(1)
			}
		}()
	}
	defer func() {
		cancel()
		wg.Wait()
	}()
	// Warm-up: every runner has made its first (immediate) request and is
	// held; the earliest holds are about to end.
	started.Wait()
	time.Sleep(2 * time.Second)
	fds := jbOpenFDs(srv.Pid())
	p0, c0, t0 := polls.Load(), jbProcCPU(t, srv.Pid()), time.Now()
	time.Sleep(window)
	p1, c1, t1 := polls.Load(), jbProcCPU(t, srv.Pid()), time.Now()
	elapsed := t1.Sub(t0)
	used := c1.Sub(c0).Self()
	pct := 100 * used.Seconds() / elapsed.Seconds()
	rate := float64(p1-p0) / elapsed.Seconds()
	perPoll, perPollText := 0.0, "n/a"
	if p1 > p0 {
		// Above the idle baseline, per completed poll.
		perPoll = (used.Seconds() - baseFrac*elapsed.Seconds()) * 1e6 / float64(p1-p0)
		perPollText = fmt.Sprintf("%.0f us", perPoll)
	}
	rss := jbStatus(srv.Pid(), "VmRSS")
	t.Logf("idle server, no runner: %.2f%% of one core (%v CPU in %v)", basePct, baseline, baseWindow)
	t.Logf("%d idle runners, long poll %v: %.2f%% of one core (%v CPU in %v); %.1f polls/s completed (%d in the window), CPU per poll %s; server fds %d, RSS %s; request errors %d, jobs %d",
		n, longPoll, pct, used, elapsed.Round(time.Millisecond), rate, p1-p0, perPollText, fds, rss, fails.Load(), jobs.Load())
	jbPrint(fmt.Sprintf("BenchmarkIdlePollingCPU/runners=%d", n), pct, "%core", basePct, "idle-baseline-%core", rate, "polls/s", perPoll, "us/poll")
	if fails.Load() > 0 {
		t.Errorf("%d job requests failed", fails.Load())
	}
	if jobs.Load() > 0 {
		t.Errorf("%d job requests returned a job; there are none", jobs.Load())
	}
	if pct >= 5 { // docs/performance.md
		t.Errorf("target missed: %.2f%% of one core for %d idle runners, want < 5%%", pct, n)
	}
}

// BenchmarkJobRequestPoll is the server's cost of one completed poll, in
// process: POST /api/v4/jobs/request through srv.Handler() with a
// last_update that is not current, so that it is answered at once (204)
// the way a held poll is answered when its hold ends. The body is the
// built-in runner's (the same fields as gitlab-runner's); "system_id"
// sends a system_id as every gitlab-runner does, "no-system_id" leaves it
// out. It runs with 500, 5,000 and 50,000 registered runners (the others
// inserted with raw SQL) to show whether the cost grows with their number
// (it should not: one indexed lookup by token digest). This is the per-poll
// part of TestIdlePollingCPU: idle CPU = polls/s (runners / long poll) x
// this cost.
func BenchmarkJobRequestPoll(b *testing.B) {
	for _, n := range []int{500, 5000, 50_000} {
		b.Run("runners="+jbShort(n), func(b *testing.B) {
			s := testserver.New(b, testserver.Options{RootToken: jbRootToken, Measure: true})
			h := s.Srv.Handler()
			tok := jbCreateRunner(b, s, "bench")
			if _, err := s.Srv.Store().DB().Exec(`INSERT INTO runners (token_digest, runner_type, description, created_at)
				WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?)
				SELECT lower(hex(randomblob(32))), 'instance_type', 'idle', ? FROM c`, n-1, time.Now().UnixMicro()); err != nil {
				b.Fatal(err)
			}
			for _, variant := range []string{"system_id", "no-system_id"} {
				b.Run(variant, func(b *testing.B) {
					body := map[string]any{"token": tok, "last_update": "stale",
						"info": map[string]any{"name": "ciwarden-runner", "version": runner.Version, "executor": "shell", "shell": "bash",
							"features": map[string]bool{"masking": true, "trace_checksum": true, "trace_size": true, "cancelable": true,
								"cancel_gracefully": true, "return_exit_code": true, "raw_variables": true, "multi_build_steps": true}}}
					if variant == "system_id" {
						body["system_id"] = "r_bench0001"
					}
					js, _ := json.Marshal(body)
					poll := func() {
						req := httptest.NewRequest("POST", "/api/v4/jobs/request", bytes.NewReader(js))
						req.Header.Set("Content-Type", "application/json")
						rec := httptest.NewRecorder()
						h.ServeHTTP(rec, req)
						if rec.Code != http.StatusNoContent || rec.Header().Get("X-GitLab-Last-Update") == "" {
							b.Fatalf("jobs/request: %d %s", rec.Code, rec.Body.String())
						}
					}
					poll()
					b.ReportAllocs()
					b.ResetTimer()
					for i := 0; i < b.N; i++ {
						poll()
					}
				})
			}
		})
	}
}
