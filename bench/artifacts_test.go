package bench

import (
	"archive/zip"
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ciwarden/ciwarden/internal/testserver"
)

// Job artifact benchmarks (issue 6), against `ciwarden serve` as a child
// process with filesystem blobs, one 100 MiB artifact zip (100 stored
// 1 MiB entries of random bytes and one small text file in the middle):
//
//   - extract: GET /projects/:id/jobs/:job_id/artifacts/*artifact_path of
//     the small file, against downloading the whole zip. "Bytes read" is
//     the growth of the server process's rchar (/proc/<pid>/io: every byte
//     its read and pread calls returned, page cache included), so it
//     counts the zip directory and the entry read from the blob plus the
//     request itself and any database pages, and shows that the archive
//     is not read whole.
//   - download: GET /projects/:id/jobs/artifacts/:ref/download?job=NAME
//     against a plain net/http handler (http.ServeFile, in this process)
//     serving the same blob file from the same disk, alternately; the
//     ratio of their throughputs has a target of >= 0.70.
//
// CIWARDEN_BENCH=1 go test ./bench -run TestArtifactsBench -v
// CIWARDEN_BENCH_ARTIFACT_ROUNDS (default 5) sets the download rounds.

const abCI = `build:
  variables:
    GIT_STRATEGY: none
  script: [make]
  artifacts:
    paths: [out/]
`

// abTarget is the file extracted from the big zip.
const abTarget = "docs/target.txt"

func TestArtifactsBench(t *testing.T) {
	jbRequireLong(t)
	jbRequireProc(t)
	srv := jbServe(t, "--max-artifacts-size", "200MiB")
	srv.Client().Timeout = 5 * time.Minute // 100 MiB each way on a busy machine
	pid, path := srv.CreateProject(t, 0, "artifacts", "private").IDPath()
	runnerToken := jbCreateRunner(t, srv, "bench artifacts")
	jbPush(t, srv, path, map[string]string{".gitlab-ci.yml": abCI}, "main")

	zipPath, targetBody := abBuildZip(t, filepath.Join(t.TempDir(), "big.zip"))
	st, err := os.Stat(zipPath)
	if err != nil {
		t.Fatal(err)
	}
	zipSize := st.Size()

	jobID, jobToken := abTakeJob(t, srv, runnerToken)
	start := time.Now()
	abUpload(t, srv, jobID, jobToken, zipPath)
	t.Logf("upload of %.1f MiB (chunked multipart): %v", float64(zipSize)/(1<<20), time.Since(start).Round(time.Millisecond))
	jbJobCall(t, srv, "PUT", "/api/v4/jobs/"+strconv.FormatInt(jobID, 10), jobToken,
		map[string]any{"token": jobToken, "state": "success"}, http.StatusOK)
	abWaitPipeline(t, srv, pid)

	root := http.Header{"Private-Token": {jbRootToken}}
	proj := "/api/v4/projects/" + strconv.FormatInt(pid, 10)
	entryURL := proj + "/jobs/" + strconv.FormatInt(jobID, 10) + "/artifacts/" + abTarget
	wholeURL := proj + "/jobs/" + strconv.FormatInt(jobID, 10) + "/artifacts"
	byRefURL := proj + "/jobs/artifacts/main/download?job=build"

	t.Run("extract", func(t *testing.T) {
		body := srv.Expect(t, "GET", entryURL, jbRootToken, nil, http.StatusOK).Body
		if !bytes.Equal(body, targetBody) {
			t.Fatalf("extracted %d bytes, not the file", len(body))
		}
		const n = 20
		var reads []int64
		var times []time.Duration
		for i := 0; i < n; i++ {
			before := abRchar(t, srv.Pid())
			t0 := time.Now()
			srv.Expect(t, "GET", entryURL, jbRootToken, nil, http.StatusOK)
			times = append(times, time.Since(t0))
			reads = append(reads, abRchar(t, srv.Pid())-before)
		}
		var whole []time.Duration
		var wholeRead int64
		for i := 0; i < 5; i++ {
			before := abRchar(t, srv.Pid())
			t0 := time.Now()
			got := abDownload(t, srv.URL+wholeURL, root)
			whole = append(whole, time.Since(t0))
			wholeRead = abRchar(t, srv.Pid()) - before
			if got != zipSize {
				t.Fatalf("whole download: %d bytes, want %d", got, zipSize)
			}
		}
		r, tm, w := abMedian(reads), abMedian(times), abMedian(whole)
		t.Logf("one %d-byte file out of a %.1f MiB zip: median %v, server read %d bytes (%.3f%% of the zip; max %d)",
			len(targetBody), float64(zipSize)/(1<<20), tm.Round(10*time.Microsecond), r, 100*float64(r)/float64(zipSize), slices.Max(reads))
		t.Logf("whole zip download: median %v, server read %d bytes; extraction is %.0fx faster",
			w.Round(time.Millisecond), wholeRead, float64(w)/float64(tm))
		jbPrint("BenchmarkArtifactsBench/extract", float64(tm.Microseconds()), "us/file", float64(r), "bytes-read",
			float64(w.Microseconds()), "us/whole-zip", float64(w)/float64(tm), "x-faster-than-whole")
		if slices.Max(reads) > zipSize/10 {
			t.Errorf("extracting one small file read %d bytes of a %d-byte zip", slices.Max(reads), zipSize)
		}
	})

	t.Run("download by ref", func(t *testing.T) {
		blobPath := abFindBlob(t, srv.DataDir, zipSize)
		plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/zip")
			http.ServeFile(w, r, blobPath)
		}))
		defer plain.Close()
		rounds := jbEnvInt(t, "CIWARDEN_BENCH_ARTIFACT_ROUNDS", 5)
		var ours, bare []time.Duration
		abDownload(t, srv.URL+byRefURL, root) // warm the page cache
		abDownload(t, plain.URL, nil)
		for i := 0; i < rounds; i++ {
			t0 := time.Now()
			if got := abDownload(t, srv.URL+byRefURL, root); got != zipSize {
				t.Fatalf("by ref: %d bytes, want %d", got, zipSize)
			}
			ours = append(ours, time.Since(t0))
			t0 = time.Now()
			if got := abDownload(t, plain.URL, nil); got != zipSize {
				t.Fatalf("plain: %d bytes, want %d", got, zipSize)
			}
			bare = append(bare, time.Since(t0))
		}
		o, b := abMedian(ours), abMedian(bare)
		mibps := func(d time.Duration) float64 { return float64(zipSize) / (1 << 20) / d.Seconds() }
		ratio := mibps(o) / mibps(b)
		t.Logf("100 MiB by ref and job name: ciwarden median %v (%.0f MiB/s), plain ServeFile %v (%.0f MiB/s), ratio %.2f (target >= 0.70)",
			o.Round(time.Millisecond), mibps(o), b.Round(time.Millisecond), mibps(b), ratio)
		jbPrint("BenchmarkArtifactsBench/download-by-ref", mibps(o), "ciwarden-MiB/s", mibps(b), "plain-MiB/s", ratio, "x-plain")
		if ratio < 0.70 { // docs/performance.md, as packages
			t.Errorf("target missed: download throughput ratio %.2f, want >= 0.70", ratio)
		}
	})
}

// abBuildZip writes the benchmark zip: 100 stored entries of 1 MiB of
// random bytes with a small text file after the first 50.
func abBuildZip(t testing.TB, path string) (string, []byte) {
	return abBuildZipOf(t, path, 100)
}

// abBuildZipOf writes a zip of entries stored entries of 1 MiB of random
// bytes with a small text file after the first half.
func abBuildZipOf(t testing.TB, path string, entries int) (string, []byte) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	zw := zip.NewWriter(bw)
	rng := rand.NewChaCha8([32]byte{1})
	chunk := make([]byte, 1<<20)
	target := []byte(strings.Repeat("the one file we want\n", 200))
	for i := 0; i < entries; i++ {
		if i == entries/2 {
			w, err := zw.CreateHeader(&zip.FileHeader{Name: abTarget, Method: zip.Deflate})
			if err != nil {
				t.Fatal(err)
			}
			w.Write(target)
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: fmt.Sprintf("data/blob%03d.bin", i), Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		rng.Read(chunk)
		w.Write(chunk)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	return path, target
}

// abTakeJob plays the runner: request the job and start it.
func abTakeJob(t testing.TB, s *testserver.Server, runnerToken string) (int64, string) {
	t.Helper()
	var data []byte
	for i := 0; i < 100; i++ {
		r := s.Do(t, "POST", "/api/v4/jobs/request", "", map[string]any{"token": runnerToken, "system_id": "bench"})
		if data = r.Body; r.Status == http.StatusCreated {
			break
		}
		data = nil
		time.Sleep(100 * time.Millisecond)
	}
	var job struct {
		ID    int64  `json:"id"`
		Token string `json:"token"`
	}
	if err := json.Unmarshal(data, &job); err != nil || job.Token == "" {
		t.Fatalf("no job for the runner: %v %s", err, data)
	}
	s.Remember(job.Token)
	jbJobCall(t, s, "PUT", "/api/v4/jobs/"+strconv.FormatInt(job.ID, 10), job.Token,
		map[string]any{"token": job.Token, "state": "running"}, http.StatusOK)
	return job.ID, job.Token
}

// abUpload streams the zip as gitlab-runner does: chunked multipart.
func abUpload(t testing.TB, s *testserver.Server, jobID int64, token, path string) {
	t.Helper()
	req, _ := abMultipart(t, s.URL+"/api/v4/jobs/"+strconv.FormatInt(jobID, 10)+"/artifacts?artifact_format=zip&artifact_type=archive&expire_in=1+day", path)
	req.Header.Set("Job-Token", token)
	s.MakeRequest(t, req, http.StatusCreated)
}

// abMultipart is a POST of path's contents as the multipart field file,
// chunked, as gitlab-runner sends artifacts; it also returns the body's
// size.
func abMultipart(t testing.TB, url, path string) (*http.Request, int64) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		f, err := os.Open(path)
		if err != nil {
			pw.CloseWithError(err)
			return
		}
		defer f.Close()
		fw, err := mw.CreateFormFile("file", "artifacts.zip")
		if err == nil {
			_, err = io.CopyBuffer(fw, f, make([]byte, 256<<10))
		}
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err)
	}()
	req, err := http.NewRequest("POST", url, pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return req, st.Size()
}

// BenchmarkArtifactUpload uploads a 1 GiB artifact zip (stored entries of
// random bytes) to `ciwarden serve` (a child process, SQLite, filesystem
// blobs) as gitlab-runner does: POST /jobs/:id/artifacts, multipart,
// chunked, with the job token. The baseline, alternating in the same run
// (each iteration sends to both, in turn first), is the plain handler of
// BenchmarkGenericPackage receiving the very same multipart body and
// streaming it into a file on the same disk (io.Copy, fsync): what any
// upload costs on this machine without parsing, hashing or checking.
// ciwarden parses the multipart stream, hashes (SHA-256) while it writes,
// fsyncs, checks the zip's directory and records the artifact. Target
// (docs/performance.md): the median ratio >= 0.80.
//
//	go test ./bench -run '^$' -bench BenchmarkArtifactUpload -benchtime 4x -count 3
//
// (up-ratio is the median of a run's iterations, min-up-ratio its lowest;
// an even count alternates which server is sent to first equally often.)
//
// CIWARDEN_BENCH_ARTIFACT_MIB changes the size (default 1024).
func BenchmarkArtifactUpload(b *testing.B) {
	jbRequireProc(b)
	mib := jbEnvInt(b, "CIWARDEN_BENCH_ARTIFACT_MIB", 1024)
	srv := jbServe(b, "--max-artifacts-size", strconv.Itoa(mib+64)+"MiB")
	_, path := srv.CreateProject(b, 0, "artifact-upload", "private").IDPath()
	runnerToken := jbCreateRunner(b, srv, "bench artifact upload")
	jbPush(b, srv, path, map[string]string{".gitlab-ci.yml": abCI}, "main")
	zipPath, _ := abBuildZipOf(b, filepath.Join(b.TempDir(), "big.zip"), mib)
	jobID, jobToken := abTakeJob(b, srv, runnerToken)
	plain := pkbPlainServer(b, filepath.Join(filepath.Dir(srv.DataDir), "plain-artifacts"))
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	defer client.CloseIdleConnections()
	ourURL := srv.URL + "/api/v4/jobs/" + strconv.FormatInt(jobID, 10) + "/artifacts?artifact_format=zip&artifact_type=archive&expire_in=1+day"

	send := func(url string, header http.Header, want int) (time.Duration, int64) {
		req, size := abMultipart(b, url, zipPath)
		for k, v := range header {
			req.Header[k] = v
		}
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			b.Fatalf("upload to %s: %v", url, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		elapsed := time.Since(start)
		if resp.StatusCode != want {
			b.Fatalf("upload: %d %s, want %d", resp.StatusCode, body, want)
		}
		return elapsed, size
	}
	var ours, theirs []time.Duration
	var size int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// Each artifact replaces the job's previous one (its blob deleted),
		// and the plain handler's file is overwritten: the disk does not fill.
		ourRun := func() {
			var d time.Duration
			d, size = send(ourURL, http.Header{"Job-Token": {jobToken}}, http.StatusCreated)
			ours = append(ours, d)
		}
		plainRun := func() {
			d, _ := send(plain+"/artifacts.bin", nil, http.StatusCreated)
			theirs = append(theirs, d)
		}
		if i%2 == 0 {
			ourRun()
			plainRun()
		} else {
			plainRun()
			ourRun()
		}
	}
	b.StopTimer()
	mb := float64(size) / 1e6
	var ratios []float64
	for i := range ours {
		ratios = append(ratios, theirs[i].Seconds()/ours[i].Seconds())
	}
	slices.Sort(ratios)
	median := (ratios[(len(ratios)-1)/2] + ratios[len(ratios)/2]) / 2
	b.ReportMetric(mb/abMedian(ours).Seconds(), "ciwarden-up-MB/s")
	b.ReportMetric(mb/abMedian(theirs).Seconds(), "plain-up-MB/s")
	b.ReportMetric(median, "up-ratio")
	b.ReportMetric(ratios[0], "min-up-ratio")
	if median < 0.80 {
		b.Errorf("target missed: artifact upload median ratio >= 0.80 (measured %.2f)", median)
	}
}

func abWaitPipeline(t *testing.T, s *testserver.Server, pid int64) {
	t.Helper()
	for i := 0; i < 200; i++ {
		list, _ := jbRootList(t, s, "/api/v4/projects/"+strconv.FormatInt(pid, 10)+"/pipelines")
		if len(list) == 1 && list[0]["status"] == "success" {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("the pipeline did not succeed")
}

// abDownload reads url to the end and returns the byte count.
func abDownload(t *testing.T, url string, h http.Header) int64 {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for k, v := range h {
		req.Header[k] = v
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("GET %s: %d %s", url, res.StatusCode, b)
	}
	n, err := io.Copy(io.Discard, res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// abRchar is a process's rchar: bytes returned by its read calls.
func abRchar(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		t.Skipf("cannot read /proc/%d/io: %v", pid, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "rchar: "); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("/proc/%d/io has no rchar", pid)
	return 0
}

// abFindBlob finds the stored artifact file of the given size.
func abFindBlob(t *testing.T, dataDir string, size int64) string {
	t.Helper()
	var found string
	filepath.WalkDir(filepath.Join(dataDir, "blobs"), func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && strings.Contains(p, "artifacts") {
			if info, err := d.Info(); err == nil && info.Size() == size {
				found = p
			}
		}
		return nil
	})
	if found == "" {
		t.Fatalf("no artifact blob of %d bytes under %s", size, dataDir)
	}
	return found
}

func abMedian[T int64 | time.Duration](v []T) T {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}
