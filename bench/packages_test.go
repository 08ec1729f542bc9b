package bench

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkGenericPackage uploads a 1 GiB generic package file to `ciwarden
// serve` (a child process, SQLite, filesystem blobs in its data directory)
// over loopback and downloads it again, and does the same in the same run
// against a plain net/http handler that streams the body into a file on
// the same disk (fsynced, as the blob store does) and serves it back. It
// reports both throughputs, their ratio (docs/performance.md: >= 0.70) and
// the server's RSS growth while it takes the upload (<= 64 MiB), sampled
// from /proc/<pid>/status.
//
//	go test ./bench -run '^$' -bench BenchmarkGenericPackage -benchtime 1x
//
// CIWARDEN_BENCH_PACKAGE_MIB changes the size (default 1024).
func BenchmarkGenericPackage(b *testing.B) {
	jbRequireProc(b)
	size := int64(jbEnvInt(b, "CIWARDEN_BENCH_PACKAGE_MIB", 1024)) << 20
	srv := jbServe(b)
	projectID := srv.CreateProject(b, 0, "bench-packages", "private").ID
	plain := pkbPlainServer(b, filepath.Join(filepath.Dir(srv.DataDir), "plain"))
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	defer client.CloseIdleConnections()

	var ours, theirs pkbTimes
	var rssGrowth, hwmGrowth int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		name := "f" + strconv.Itoa(i) + ".bin"
		url := srv.URL + "/api/v4/projects/" + strconv.FormatInt(projectID, 10) + "/packages/generic/bench/1.0/" + name
		auth := http.Header{"Private-Token": {jbRootToken}}

		before := pkbStatusKiB(srv.Pid(), "VmRSS")
		hwmBefore := pkbStatusKiB(srv.Pid(), "VmHWM")
		peak := pkbSampleRSS(srv.Pid())
		up := pkbUpload(b, client, url+"?select=package_file", auth, size, http.StatusCreated)
		maxRSS := peak()
		rssGrowth = max(rssGrowth, maxRSS-before)
		hwmGrowth = max(hwmGrowth, pkbStatusKiB(srv.Pid(), "VmHWM")-hwmBefore)
		var pf struct {
			Size int64 `json:"size"`
			ID   int64 `json:"package_id"`
		}
		if err := json.Unmarshal(up.body, &pf); err != nil || pf.Size != size {
			b.Fatalf("upload answer %s (%v), want size %d", up.body, err, size)
		}
		ours.up += up.elapsed
		ours.down += pkbDownload(b, client, url, auth, size)

		theirs.up += pkbUpload(b, client, plain+"/"+name, nil, size, http.StatusCreated).elapsed
		theirs.down += pkbDownload(b, client, plain+"/"+name, nil, size)

		// Keep the disk from filling over iterations.
		srv.Expect(b, "DELETE", "/api/v4/projects/"+strconv.FormatInt(projectID, 10)+"/packages/"+strconv.FormatInt(pf.ID, 10),
			jbRootToken, nil, http.StatusNoContent)
	}
	b.StopTimer()
	mb := float64(size) * float64(b.N) / 1e6
	report := func(name string, v float64) { b.ReportMetric(v, name) }
	report("ciwarden-up-MB/s", mb/ours.up.Seconds())
	report("plain-up-MB/s", mb/theirs.up.Seconds())
	report("up-ratio", theirs.up.Seconds()/ours.up.Seconds())
	report("ciwarden-down-MB/s", mb/ours.down.Seconds())
	report("plain-down-MB/s", mb/theirs.down.Seconds())
	report("down-ratio", theirs.down.Seconds()/ours.down.Seconds())
	report("rss-growth-MiB", float64(rssGrowth)/1024)
	report("hwm-growth-MiB", float64(hwmGrowth)/1024)
	for _, c := range []struct {
		what  string
		ok    bool
		value string
	}{
		{"upload ratio >= 0.70", theirs.up.Seconds()/ours.up.Seconds() >= 0.70, fmt.Sprintf("%.2f", theirs.up.Seconds()/ours.up.Seconds())},
		{"download ratio >= 0.70", theirs.down.Seconds()/ours.down.Seconds() >= 0.70, fmt.Sprintf("%.2f", theirs.down.Seconds()/ours.down.Seconds())},
		{"RSS growth <= 64 MiB", rssGrowth <= 64<<10, fmt.Sprintf("%.1f MiB", float64(rssGrowth)/1024)},
	} {
		if !c.ok {
			b.Errorf("target missed: %s (measured %s)", c.what, c.value)
		}
	}
}

type pkbTimes struct{ up, down time.Duration }

// pkbSource yields size bytes cut from one random MiB, without holding
// the whole stream in memory.
type pkbSource struct {
	block []byte
	left  int64
	off   int
}

var pkbBlock = func() []byte {
	b := make([]byte, 1<<20)
	rand.Read(b)
	return b
}()

func (s *pkbSource) Read(p []byte) (int, error) {
	if s.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > s.left {
		p = p[:s.left]
	}
	n := copy(p, s.block[s.off:])
	s.off = (s.off + n) % len(s.block)
	s.left -= int64(n)
	return n, nil
}

type pkbResult struct {
	elapsed time.Duration
	body    []byte
}

// pkbUpload PUTs size bytes with a Content-Length and times it.
func pkbUpload(b *testing.B, c *http.Client, url string, header http.Header, size int64, want int) pkbResult {
	b.Helper()
	req, err := http.NewRequest(http.MethodPut, url, io.NopCloser(&pkbSource{block: pkbBlock, left: size}))
	if err != nil {
		b.Fatal(err)
	}
	req.ContentLength = size
	for k, v := range header {
		req.Header[k] = v
	}
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		b.Fatalf("PUT %s: %v", url, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	elapsed := time.Since(start)
	if resp.StatusCode != want {
		b.Fatalf("PUT %s: %d %s", url, resp.StatusCode, body)
	}
	return pkbResult{elapsed, body}
}

// pkbDownload GETs url, counting the bytes, and times it.
func pkbDownload(b *testing.B, c *http.Client, url string, header http.Header, size int64) time.Duration {
	b.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		b.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		b.Fatalf("GET %s: %v", url, err)
	}
	n, err := io.CopyBuffer(io.Discard, resp.Body, make([]byte, 256<<10))
	resp.Body.Close()
	elapsed := time.Since(start)
	if err != nil || resp.StatusCode != http.StatusOK || n != size {
		b.Fatalf("GET %s: %d, %d bytes, %v; want 200 and %d bytes", url, resp.StatusCode, n, err, size)
	}
	return elapsed
}

// pkbPlainServer is the baseline: PUT (or POST) streams the body into a file of
// dir (io.Copy, then fsync, as a careful handler would), GET serves it
// with io.Copy from the file. It runs in this process on loopback.
func pkbPlainServer(b *testing.B, dir string) string {
	b.Helper()
	if err := os.MkdirAll(dir, 0o750); err != nil {
		b.Fatal(err)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := filepath.Join(dir, filepath.Base(r.URL.Path))
		switch r.Method {
		case http.MethodPut, http.MethodPost: // POST: BenchmarkArtifactUpload's multipart body, stored as it comes
			f, err := os.Create(name)
			if err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
			_, err = io.Copy(f, r.Body)
			if err == nil {
				err = f.Sync()
			}
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
			w.WriteHeader(http.StatusCreated)
		case http.MethodGet:
			f, err := os.Open(name)
			if err != nil {
				http.Error(w, err.Error(), 404)
				return
			}
			defer f.Close()
			st, _ := f.Stat()
			w.Header().Set("Content-Length", strconv.FormatInt(st.Size(), 10))
			io.Copy(w, f)
			os.Remove(name) // served once; keep the disk free
		}
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Skipf("cannot listen on 127.0.0.1: %v", err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

// pkbStatusKiB reads a kB figure of /proc/<pid>/status.
func pkbStatusKiB(pid int, name string) int64 {
	v := strings.TrimSuffix(jbStatus(pid, name), " kB")
	n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	return n
}

// pkbSampleRSS samples pid's VmRSS every 10 ms until the returned func is
// called, which returns the highest sample (KiB).
func pkbSampleRSS(pid int) func() int64 {
	var peak atomic.Int64
	peak.Store(pkbStatusKiB(pid, "VmRSS"))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if v := pkbStatusKiB(pid, "VmRSS"); v > peak.Load() {
					peak.Store(v)
				}
			}
		}
	}()
	return func() int64 {
		close(stop)
		wg.Wait()
		if v := pkbStatusKiB(pid, "VmRSS"); v > peak.Load() {
			peak.Store(v)
		}
		return peak.Load()
	}
}
