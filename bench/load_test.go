package bench

import (
	"bufio"
	"bytes"
	"context"
	crand "crypto/rand"
	"database/sql"
	"encoding/base64"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ciwarden/ciwarden/internal/testdb"
	"github.com/ciwarden/ciwarden/internal/testserver"
)

// TestLoad is the sustained mixed load of docs/performance.md (issue 20
// item 7): N running jobs, each calling GET /api/v4/job with its token,
// appending to its log (PATCH /jobs/:id/trace with Content-Range) and now
// and then uploading a small artifact, all at once for a fixed time, on
// SQLite, on PostgreSQL (when CIWARDEN_TEST_POSTGRES_URL is set) and on two
// replicas sharing that PostgreSQL database and a data directory, the
// requests of each job spread round-robin over them as a load balancer
// would.
//
// Each variant starts fresh `ciwarden serve` child processes (no built-in
// runner) on loopback, pushes a .gitlab-ci.yml of N trivial jobs and takes
// every job through the real runner protocol (POST /jobs/request, PUT
// state=running). Then the variants take turns under the load, a slice of
// CIWARDEN_LOAD_SLICE each, until each had CIWARDEN_LOAD_DURATION: on a
// shared machine a neighbour's burst then weighs on all of them alike,
// which makes their p99s comparable. Every job sends its next round
// (GET /job, PATCH, and every CIWARDEN_LOAD_ARTIFACT_EVERY rounds an
// upload) CIWARDEN_LOAD_PERIOD after the last one started, or at once when
// it is late: the same offered load whatever the database, as long as the
// server keeps up. At the end every job sends its final update with the
// log's CRC32 and size, and every stored log is read back through the API
// and compared byte for byte with what was sent.
//
// Reported per variant and endpoint: requests/s, p50 and p99, non-2xx;
// the server's RSS (VmRSS) and goroutines (its /metrics) before the load,
// in its middle (the lowest of the samples taken every 250 ms from 40% to
// 60% of it) and at its end (the lowest of its last 20%), its CPU per
// request; on PostgreSQL the connections the
// database saw per state and wait event (pg_stat_activity, sampled every
// 250 ms) and the sessions opened during the load (pg_stat_database).
//
// The goals, which fail the test when missed ("target missed"): no
// non-2xx answer; on PostgreSQL, each endpoint's p99 <= 3x SQLite's in the
// same run; RSS and goroutines at the end within 10% of the middle.
//
// Knobs: CIWARDEN_LOAD_JOBS (100, at most 1,000), CIWARDEN_LOAD_DURATION
// (60s, at most 10m), CIWARDEN_LOAD_SLICE (10s), CIWARDEN_LOAD_PERIOD (500ms), CIWARDEN_LOAD_CHUNK
// (bytes per PATCH, 512), CIWARDEN_LOAD_ARTIFACT_EVERY (rounds, 25),
// CIWARDEN_LOAD_VARIANTS (sqlite,postgres; postgres-2 is two replicas).
//
//	CIWARDEN_BENCH=1 CIWARDEN_TEST_POSTGRES_URL=... go test ./bench/ -run TestLoad -v -count=1 -timeout 30m
//	CIWARDEN_LOAD_VARIANTS=sqlite,postgres-2 CIWARDEN_BENCH=1 ... (the same)
func TestLoad(t *testing.T) {
	jbRequireLong(t)
	jbRequireProc(t)
	jbRequireGit(t)
	cfg := ldConfig{
		jobs:     jbEnvInt(t, "CIWARDEN_LOAD_JOBS", 100),
		duration: jbEnvDuration(t, "CIWARDEN_LOAD_DURATION", 60*time.Second),
		period:   jbEnvDuration(t, "CIWARDEN_LOAD_PERIOD", 500*time.Millisecond),
		chunk:    jbEnvInt(t, "CIWARDEN_LOAD_CHUNK", 512),
		artEvery: jbEnvInt(t, "CIWARDEN_LOAD_ARTIFACT_EVERY", 25),
		slice:    jbEnvDuration(t, "CIWARDEN_LOAD_SLICE", 10*time.Second),
		variants: strings.Split(os.Getenv("CIWARDEN_LOAD_VARIANTS"), ","),
		chunkMax: 64 << 10,
		jobsMax:  1000,
		durMax:   10 * time.Minute,
	}
	if cfg.variants[0] == "" {
		// Not postgres-2 by default: its two replicas' pools (32
		// connections each) with the other variant's would near
		// PostgreSQL's default max_connections (100).
		cfg.variants = []string{"sqlite", "postgres"}
	}
	if cfg.jobs > cfg.jobsMax || cfg.duration > cfg.durMax || cfg.chunk > cfg.chunkMax {
		t.Fatalf("at most %d jobs, %v and %d bytes a chunk", cfg.jobsMax, cfg.durMax, cfg.chunkMax)
	}
	t.Logf("%d jobs, %v, one round (GET /job, PATCH %d bytes) every %v per job, an artifact every %d rounds: %.0f requests/s offered",
		cfg.jobs, cfg.duration, cfg.chunk, cfg.period, cfg.artEvery,
		float64(cfg.jobs)*(2+1/float64(cfg.artEvery))/cfg.period.Seconds())
	var variants []*ldVariant
	for _, v := range cfg.variants {
		dialect, replicas := "sqlite", 1
		switch v {
		case "sqlite":
		case "postgres":
			dialect = "postgres"
		case "postgres-2":
			dialect, replicas = "postgres", 2
		default:
			t.Fatalf("CIWARDEN_LOAD_VARIANTS: unknown variant %q (sqlite, postgres, postgres-2)", v)
		}
		if dialect == "postgres" && os.Getenv(testdb.EnvPostgres) == "" {
			t.Logf("%s: skipped (set %s to run the PostgreSQL variants)", v, testdb.EnvPostgres)
			continue
		}
		variants = append(variants, ldSetUp(t, &cfg, v, dialect, replicas))
	}
	// The variants take turns, a slice of the load each, until each had
	// the whole duration: a neighbour's load on a shared machine weighs on
	// all of them alike.
	for left := cfg.duration; left > 0; left -= cfg.slice {
		for _, v := range variants {
			v.drive(t, &cfg, min(cfg.slice, left))
		}
	}
	results := map[string]*ldResult{}
	for _, v := range variants {
		results[v.name] = v.finish(t, &cfg)
	}
	// PostgreSQL's p99 against SQLite's at the same offered load.
	base := results["sqlite"]
	for _, v := range []string{"postgres", "postgres-2"} {
		r := results[v]
		if r == nil || base == nil {
			continue
		}
		// The final updates are sent one after another once the load has
		// ended: reported, not part of the offered load.
		for _, ep := range ldEndpoints[:3] {
			b, p := base.lat[ep], r.lat[ep]
			if len(b) == 0 || len(p) == 0 {
				continue
			}
			ratio := jbPercentile(p, 0.99) / jbPercentile(b, 0.99)
			jbPrint("BenchmarkLoad/"+v+"/"+ldName(ep)+"/vs-sqlite", ratio, "x-p99", jbPercentile(p, 0.50)/jbPercentile(b, 0.50), "x-p50")
			if ratio > 3 {
				t.Errorf("target missed: %s %s p99 %.1f ms is %.1fx SQLite's %.1f ms, want <= 3x",
					v, ep, jbPercentile(p, 0.99), ratio, jbPercentile(b, 0.99))
			}
		}
	}
}

type ldConfig struct {
	jobs              int
	duration, period  time.Duration
	slice             time.Duration
	chunk, artEvery   int
	variants          []string
	chunkMax, jobsMax int
	durMax            time.Duration
}

// The endpoints measured.
const (
	ldGetJob   = "GET /job"
	ldPatch    = "PATCH /jobs/:id/trace"
	ldArtifact = "POST /jobs/:id/artifacts"
	ldFinal    = "PUT /jobs/:id (final)"
)

var ldEndpoints = []string{ldGetJob, ldPatch, ldArtifact, ldFinal}

// ldName is an endpoint as a benchmark name element.
func ldName(ep string) string {
	return strings.NewReplacer(" ", "_", "/", "", ":", "", "(", "", ")", "").Replace(ep)
}

type ldResult struct {
	lat    map[string][]time.Duration
	non2xx map[string]int
}

// ldSample is a server process's state at one moment.
type ldSample struct {
	rssKiB, goroutines int
}

// ldJob is one running job and what it sent.
type ldJob struct {
	id    int64
	token string
	sent  []byte
	// upload is a small zip's multipart body and its Content-Type,
	// uploaded again and again.
	upload, uploadType []byte
	broken             string // why this job stopped sending, if it did
	round              int    // rounds sent, over all slices
}

// ldVariant is one variant's servers, jobs and what the load measured.
type ldVariant struct {
	name    string
	servers []*testserver.Server
	first   *testserver.Server
	project int64
	jobs    []*ldJob
	client  *http.Client
	pg      *ldPG

	res     *ldResult
	elapsed time.Duration // under load, over all its slices
	samples [][3]ldSample // per server: before, middle, end
	during  [][]ldTimed   // per server: every 250 ms of load
	cpu     []jbCPU       // per server, under load
}

// ldSetUp starts a variant's servers and takes its jobs.
func ldSetUp(t *testing.T, cfg *ldConfig, variant, dialect string, replicas int) *ldVariant {
	key := ldInstanceKey()
	first := testserver.New(t, testserver.Options{Process: true, Dialect: dialect, RootToken: jbRootToken,
		InstanceKey: key, Args: []string{"--runners", "0"}})
	v := &ldVariant{name: variant, first: first, servers: []*testserver.Server{first},
		res: &ldResult{lat: map[string][]time.Duration{}, non2xx: map[string]int{}}}
	for len(v.servers) < replicas {
		// The other replicas share the database, the data directory (blobs)
		// and the instance key, as issue 20's deployment does.
		v.servers = append(v.servers, testserver.New(t, testserver.Options{Process: true, Dialect: dialect,
			DatabaseURL: first.DBURL, DataDir: first.DataDir, RootToken: jbRootToken, InstanceKey: key,
			Args: []string{"--runners", "0"}}))
	}
	var path string
	v.project, path = first.CreateProject(t, 0, "load", "private").IDPath()
	jbPush(t, first, path, map[string]string{".gitlab-ci.yml": jbCIJobs(cfg.jobs)}, "main")
	v.jobs = ldTakeJobs(t, first, cfg.jobs)

	transport := &http.Transport{MaxIdleConns: 4 * cfg.jobs, MaxIdleConnsPerHost: 4 * cfg.jobs, IdleConnTimeout: 10 * time.Minute}
	v.client = &http.Client{Transport: transport, Timeout: 60 * time.Second}
	t.Cleanup(transport.CloseIdleConnections)
	if dialect == "postgres" {
		v.pg = ldWatchPG(t, first)
	}
	v.during = make([][]ldTimed, len(v.servers))
	v.cpu = make([]jbCPU, len(v.servers))
	for _, s := range v.servers {
		v.samples = append(v.samples, [3]ldSample{ldSampleServer(t, v.client, s)})
	}
	return v
}

// drive runs one slice of the load: every job's rounds for d, while the
// servers are sampled every 250 ms.
func (v *ldVariant) drive(t *testing.T, cfg *ldConfig, d time.Duration) {
	cpu0 := make([]jbCPU, len(v.servers))
	for i, s := range v.servers {
		cpu0[i] = jbProcCPU(t, s.Pid())
	}
	if v.pg != nil {
		v.pg.start()
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var wg sync.WaitGroup
	var mu sync.Mutex
	began := time.Now()
	for i, j := range v.jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat, bad := ldDrive(ctx, cfg, v.client, v.servers, i, j)
			mu.Lock()
			defer mu.Unlock()
			for ep, l := range lat {
				v.res.lat[ep] = append(v.res.lat[ep], l...)
			}
			for ep, n := range bad {
				v.res.non2xx[ep] += n
			}
		}()
	}
	for jbSleep(ctx, 250*time.Millisecond) {
		for i, s := range v.servers {
			v.during[i] = append(v.during[i], ldTimed{v.elapsed + time.Since(began), ldSampleOnce(t, v.client, s)})
		}
	}
	wg.Wait()
	v.elapsed += time.Since(began)
	for i, s := range v.servers {
		c := jbProcCPU(t, s.Pid()).Sub(cpu0[i])
		v.cpu[i] = jbCPU{User: v.cpu[i].User + c.User, Sys: v.cpu[i].Sys + c.Sys}
	}
	if v.pg != nil {
		v.pg.stop()
	}
}

// finish ends every job with its log's checksum, checks every stored log
// against what the job sent, and reports.
func (v *ldVariant) finish(t *testing.T, cfg *ldConfig) *ldResult {
	res, jobs, servers, first := v.res, v.jobs, v.servers, v.first
	// The middle (40% to 60% of the load) and the end (its last 20%), each
	// the lowest of its samples: what the requests in flight at one moment
	// add (their goroutines, their garbage) comes and goes with the
	// machine's stalls, while a leak raises the floor.
	for i := range servers {
		v.samples[i][1] = ldFloorSample(v.during[i], cfg.duration*4/10, cfg.duration*6/10)
		v.samples[i][2] = ldFloorSample(v.during[i], cfg.duration*8/10, cfg.duration)
	}
	for k, j := range jobs {
		s := servers[k%len(servers)]
		sum := fmt.Sprintf("crc32:%08x", crc32.ChecksumIEEE(j.sent))
		start := time.Now()
		r := s.UpdateJob(t, j.id, j.token, map[string]any{"state": "success", "checksum": sum,
			"output": map[string]any{"checksum": sum, "bytesize": len(j.sent)}})
		res.lat[ldFinal] = append(res.lat[ldFinal], time.Since(start))
		if r.Status != http.StatusOK {
			res.non2xx[ldFinal]++
			t.Errorf("%s: job %d: final update: %s, want 200", v.name, j.id, r)
		}
	}
	broken, mismatched := 0, 0
	for _, j := range jobs {
		if j.broken != "" {
			broken++
			if broken <= 5 {
				t.Errorf("%s: job %d stopped sending: %s", v.name, j.id, j.broken)
			}
		}
		r := first.Expect(t, "GET", fmt.Sprintf("%s/projects/%d/jobs/%d/trace", testserver.API, v.project, j.id), jbRootToken, nil, http.StatusOK)
		if !bytes.Equal(r.Body, j.sent) {
			mismatched++
			if mismatched <= 5 {
				t.Errorf("%s: job %d: the stored log (%d bytes) is not the %d bytes sent", v.name, j.id, len(r.Body), len(j.sent))
			}
		}
		if st := testserver.Str(t, first.Job(t, v.project, j.id), "status"); st != "success" {
			t.Errorf("%s: job %d: status %s after its final update, want success", v.name, j.id, st)
		}
	}

	// The report.
	variant, elapsed, cpu, samples := v.name, v.elapsed, v.cpu, v.samples
	name := "BenchmarkLoad/" + variant
	var total int
	var logBytes int64
	for _, j := range jobs {
		logBytes += int64(len(j.sent))
	}
	t.Logf("%s: %d replicas, %d jobs for %v; %d logs verified byte for byte (%d bytes), %d mismatched, %d jobs stopped early",
		variant, len(servers), len(jobs), elapsed.Round(time.Millisecond), len(jobs)-mismatched, logBytes, mismatched, broken)
	for _, ep := range ldEndpoints {
		l := res.lat[ep]
		if len(l) == 0 {
			continue
		}
		if ep != ldFinal {
			total += len(l)
		}
		rate := float64(len(l)) / elapsed.Seconds()
		if ep == ldFinal {
			rate = 0
		}
		jbPrint(name+"/"+ldName(ep), rate, "req/s", jbPercentile(l, 0.50), "p50-ms", jbPercentile(l, 0.99), "p99-ms",
			float64(res.non2xx[ep]), "non-2xx", float64(len(l)), "requests")
		t.Logf("  %-26s %7.0f req/s  p50 %7.2f ms  p99 %7.2f ms  max %7.1f ms  non-2xx %d of %d", ep, rate,
			jbPercentile(l, 0.50), jbPercentile(l, 0.99), jbPercentile(l, 1), res.non2xx[ep], len(l))
		if res.non2xx[ep] > 0 {
			t.Errorf("target missed: %s %s: %d non-2xx answers, want 0", variant, ep, res.non2xx[ep])
		}
	}
	var cpuAll time.Duration
	for i, s := range servers {
		cpuAll += cpu[i].Self()
		st, mid, end := samples[i][0], samples[i][1], samples[i][2]
		t.Logf("  replica %d (pid %d): RSS %.1f / %.1f / %.1f MiB, goroutines %d / %d / %d (start / middle / end), CPU %v",
			i+1, s.Pid(), float64(st.rssKiB)/1024, float64(mid.rssKiB)/1024, float64(end.rssKiB)/1024,
			st.goroutines, mid.goroutines, end.goroutines, cpu[i].Self().Round(time.Millisecond))
		jbPrint(fmt.Sprintf("%s/replica-%d", name, i+1), float64(st.rssKiB)/1024, "rss-start-MiB", float64(mid.rssKiB)/1024, "rss-mid-MiB",
			float64(end.rssKiB)/1024, "rss-end-MiB", float64(st.goroutines), "goroutines-start", float64(mid.goroutines), "goroutines-mid",
			float64(end.goroutines), "goroutines-end")
		if mid.rssKiB > 0 && ldOff(end.rssKiB, mid.rssKiB) > 0.10 {
			t.Errorf("target missed: %s replica %d's RSS at the end (%d KiB) is more than 10%% off the middle's (%d KiB)", variant, i+1, end.rssKiB, mid.rssKiB)
		}
		if mid.goroutines > 0 && ldOff(end.goroutines, mid.goroutines) > 0.10 {
			t.Errorf("target missed: %s replica %d's goroutines at the end (%d) are more than 10%% off the middle's (%d)", variant, i+1, end.goroutines, mid.goroutines)
		}
	}
	if total > 0 {
		perReq := float64(cpuAll.Microseconds()) / float64(total)
		perJobSec := float64(cpuAll.Milliseconds()) / float64(len(jobs)) / elapsed.Seconds()
		t.Logf("  server CPU: %.0f us per request, %.2f ms per job-second (%.1f%% of one core per 100 jobs); log growth %.0f bytes per job-second",
			perReq, perJobSec, perJobSec*100/10, float64(logBytes)/float64(len(jobs))/elapsed.Seconds())
		jbPrint(name+"/cost", perReq, "cpu-us/req", perJobSec, "cpu-ms/job-s")
	}
	if v.pg != nil {
		v.pg.report(t, name, elapsed)
	}
	return res
}

// ldOff is |a-b|/b.
func ldOff(a, b int) float64 {
	d := float64(a - b)
	if d < 0 {
		d = -d
	}
	return d / float64(b)
}

// ldInstanceKey is a fresh instance key (base64 of 32 bytes), shared by a
// variant's replicas: each must open the log masker state another sealed.
func ldInstanceKey() string {
	var b [32]byte
	crand.Read(b[:])
	return base64.StdEncoding.EncodeToString(b[:])
}

// ldTakeJobs registers a runner and takes n jobs through the runner
// protocol, each then marked running, as gitlab-runner does.
func ldTakeJobs(t *testing.T, s *testserver.Server, n int) []*ldJob {
	tok := jbCreateRunner(t, s, "load runner")
	rc := s.NewRunnerClient(tok)
	var jobs []*ldJob
	deadline := time.Now().Add(2 * time.Minute)
	for len(jobs) < n {
		if time.Now().After(deadline) {
			t.Fatalf("took %d of %d jobs in 2 minutes", len(jobs), n)
		}
		r := rc.Request(t)
		if r.Status == http.StatusNoContent {
			continue
		}
		rj := rc.DecodeJob(t, r)
		rj.Start(t)
		ct, body := testserver.ArtifactMultipart(t, "artifacts.zip",
			testserver.Zip(t, map[string]string{fmt.Sprintf("out/%d.txt", rj.ID): strings.Repeat("artifact ", 100)}))
		jobs = append(jobs, &ldJob{id: rj.ID, token: rj.Token, upload: body, uploadType: []byte(ct)})
	}
	return jobs
}

// ldDrive runs one job's rounds until ctx ends: its requests go
// round-robin to servers, starting at the job's index.
func ldDrive(ctx context.Context, cfg *ldConfig, client *http.Client, servers []*testserver.Server, index int, j *ldJob) (map[string][]time.Duration, map[string]int) {
	lat := map[string][]time.Duration{}
	bad := map[string]int{}
	rr := index
	next := func() string {
		rr++
		return servers[rr%len(servers)].URL
	}
	call := func(ep string, want int, req *http.Request) (*http.Response, []byte, bool) {
		start := time.Now()
		resp, err := client.Do(req)
		var body []byte
		if err == nil {
			body, err = io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
		}
		if ctx.Err() != nil && err != nil {
			return nil, nil, false // the load ended while this request was out: not counted
		}
		lat[ep] = append(lat[ep], time.Since(start))
		if err != nil || resp.StatusCode != want {
			bad[ep]++
			if j.broken == "" {
				if err != nil {
					j.broken = fmt.Sprintf("%s: %v", ep, err)
				} else {
					j.broken = fmt.Sprintf("%s: %d %.200s", ep, resp.StatusCode, body)
				}
			}
			return resp, body, false
		}
		return resp, body, true
	}
	// Requests are made without the load's context: one that started is
	// answered and measured, and the next round does not start.
	bg := context.Background()
	chunk := make([]byte, 0, cfg.chunk+64)
	due := time.Now().Add(time.Duration(rand.Int64N(int64(cfg.period)))) // spread the first rounds
	for ; ; j.round++ {
		round := j.round
		if !jbSleep(ctx, time.Until(due)) {
			break
		}
		due = due.Add(cfg.period)
		if now := time.Now(); due.Before(now) {
			due = now // late: the next round at once, no burst to catch up
		}

		req, _ := http.NewRequestWithContext(bg, "GET", next()+testserver.API+"/job", nil)
		req.Header.Set("JOB-TOKEN", j.token)
		if _, _, ok := call(ldGetJob, http.StatusOK, req); !ok && j.broken != "" {
			return lat, bad
		}

		chunk = ldChunk(chunk[:0], j.id, round, cfg.chunk)
		off := len(j.sent)
		req, _ = http.NewRequestWithContext(bg, "PATCH", fmt.Sprintf("%s%s/jobs/%d/trace", next(), testserver.API, j.id), bytes.NewReader(chunk))
		req.Header.Set("JOB-TOKEN", j.token)
		req.Header.Set("Content-Type", "text/plain")
		req.Header.Set("Content-Range", fmt.Sprintf("%d-%d", off, off+len(chunk)-1))
		req.Header.Set("User-Agent", testserver.RunnerUserAgent)
		if resp, _, ok := call(ldPatch, http.StatusAccepted, req); ok {
			j.sent = append(j.sent, chunk...)
		} else if resp != nil || j.broken != "" {
			return lat, bad // the server's log and ours may differ now: stop this job
		}

		if round%cfg.artEvery == cfg.artEvery-1 {
			req, _ = http.NewRequestWithContext(bg, "POST", fmt.Sprintf("%s%s/jobs/%d/artifacts?artifact_format=zip&artifact_type=archive", next(), testserver.API, j.id), bytes.NewReader(j.upload))
			req.Header.Set("JOB-TOKEN", j.token)
			req.Header.Set("Content-Type", string(j.uploadType))
			req.Header.Set("User-Agent", testserver.RunnerUserAgent)
			if _, _, ok := call(ldArtifact, http.StatusCreated, req); !ok && j.broken != "" {
				return lat, bad
			}
		}
	}
	return lat, bad
}

// ldChunk appends a log chunk of about size bytes: lines that name the job
// and round, so that a misplaced chunk shows.
func ldChunk(b []byte, job int64, round, size int) []byte {
	for line := 0; len(b) < size; line++ {
		b = fmt.Appendf(b, "job %d round %d line %d: building the thing, step %d of many\n", job, round, line, line*7+round)
	}
	return b
}

// ldTimed is a sample taken some time into the load.
type ldTimed struct {
	at time.Duration
	ldSample
}

// ldSampleOnce is a server's RSS and goroutines now.
func ldSampleOnce(t *testing.T, client *http.Client, s *testserver.Server) ldSample {
	v, _ := strconv.Atoi(strings.TrimSuffix(jbStatus(s.Pid(), "VmRSS"), " kB"))
	return ldSample{rssKiB: v, goroutines: ldGoroutines(t, client, s.URL)}
}

// ldSampleServer is the lowest of five samples, 100 ms apart.
func ldSampleServer(t *testing.T, client *http.Client, s *testserver.Server) ldSample {
	var all []ldTimed
	for k := 0; k < 5; k++ {
		if k > 0 {
			time.Sleep(100 * time.Millisecond)
		}
		all = append(all, ldTimed{0, ldSampleOnce(t, client, s)})
	}
	return ldFloorSample(all, 0, 0)
}

// ldFloorSample is the lowest RSS and goroutines of the samples taken
// from from to to into the load.
func ldFloorSample(all []ldTimed, from, to time.Duration) ldSample {
	var rss, gs []int
	for _, x := range all {
		if x.at >= from && x.at <= to {
			rss, gs = append(rss, x.rssKiB), append(gs, x.goroutines)
		}
	}
	if len(rss) == 0 {
		return ldSample{}
	}
	slices.Sort(rss)
	slices.Sort(gs)
	return ldSample{rssKiB: rss[0], goroutines: gs[0]}
}

// ldGoroutines reads go_goroutines from the server's /metrics.
func ldGoroutines(t *testing.T, client *http.Client, url string) int {
	resp, err := client.Get(url + "/metrics")
	if err != nil {
		t.Errorf("GET /metrics: %v", err)
		return 0
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			io.Copy(io.Discard, resp.Body)
			return int(f)
		}
	}
	t.Errorf("GET /metrics: no go_goroutines")
	return 0
}

// ldPG watches the PostgreSQL database of a variant: where its
// connections are (pg_stat_activity's state and wait event, sampled) and
// how many sessions it opened (pg_stat_database.sessions, PostgreSQL 14+).
type ldPG struct {
	t        *testing.T
	db       *sql.DB
	mu       sync.Mutex
	counts   map[string]int
	samples  int
	maxConns int
	sessions int64 // opened under load
	base     int64 // the count when this slice began
	cancel   context.CancelFunc
	done     chan struct{}
}

func ldWatchPG(t *testing.T, s *testserver.Server) *ldPG {
	db, _ := s.OpenDB(t)
	db.SetMaxOpenConns(1)
	return &ldPG{t: t, db: db, counts: map[string]int{}}
}

func (p *ldPG) sessionCount() int64 {
	var n int64
	if err := p.db.QueryRow("SELECT sessions FROM pg_stat_database WHERE datname = current_database()").Scan(&n); err != nil {
		p.t.Logf("pg_stat_database.sessions: %v", err)
	}
	return n
}

func (p *ldPG) start() {
	p.base = p.sessionCount()
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel, p.done = cancel, make(chan struct{})
	go func() {
		defer close(p.done)
		for jbSleep(ctx, 250*time.Millisecond) {
			// The statement of a connection idle in a transaction is the
			// last one it ran: the transaction waits for its client.
			rows, err := p.db.QueryContext(ctx, `SELECT state, COALESCE(wait_event_type, ''), COALESCE(wait_event, ''),
					CASE WHEN state = 'idle' THEN '' ELSE regexp_replace(left(query, 60), '\s+', ' ', 'g') END, count(*)
				FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() GROUP BY 1, 2, 3, 4`)
			if err != nil {
				continue
			}
			conns := 0
			p.mu.Lock()
			for rows.Next() {
				var state, wt, we, query string
				var n int
				if rows.Scan(&state, &wt, &we, &query, &n) == nil {
					k := state
					if wt != "" {
						k += " / " + wt + ":" + we
					}
					if query != "" {
						k += " / " + query
					}
					p.counts[k] += n
					conns += n
				}
			}
			rows.Close()
			p.samples++
			p.maxConns = max(p.maxConns, conns)
			p.mu.Unlock()
		}
	}()
}

func (p *ldPG) stop() {
	p.cancel()
	<-p.done
	p.sessions += p.sessionCount() - p.base
}

func (p *ldPG) report(t *testing.T, name string, elapsed time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.samples == 0 {
		return
	}
	keys := make([]string, 0, len(p.counts))
	for k := range p.counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return p.counts[keys[i]] > p.counts[keys[j]] })
	t.Logf("  PostgreSQL: %d sessions opened during the load (%.1f/s), at most %d connections; mean connections per state / wait event over %d samples:",
		p.sessions, float64(p.sessions)/elapsed.Seconds(), p.maxConns, p.samples)
	for i, k := range keys {
		if i == 15 {
			break
		}
		t.Logf("    %6.2f  %s", float64(p.counts[k])/float64(p.samples), k)
	}
	jbPrint(name+"/postgres", float64(p.sessions)/elapsed.Seconds(), "sessions/s", float64(p.maxConns), "max-conns")
}
