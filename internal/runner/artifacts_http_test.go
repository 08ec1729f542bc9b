package runner

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ciwarden/ciwarden/internal/runnerproto"
)

const testJobToken = "glcbt-64_testjobtoken0123456789"

// testJob is a jobRun in a temporary build directory, talking to url,
// with its log collected.
type testJob struct {
	*jobRun
	log bytes.Buffer
}

func newTestJob(t *testing.T, url string, p *runnerproto.Payload) *testJob {
	t.Helper()
	old := transferRetryDelay
	transferRetryDelay = 10 * time.Millisecond
	t.Cleanup(func() { transferRetryDelay = old })
	builds := t.TempDir()
	r := &Runner{Client: &Client{BaseURL: url, HTTP: &http.Client{Timeout: time.Minute}}, BuildsDir: builds,
		Log: slog.New(slog.DiscardHandler)}
	if p.ID == 0 {
		p.ID = 42
	}
	p.Token = testJobToken
	tj := &testJob{}
	tj.jobRun = &jobRun{r: r, p: p, dir: filepath.Join(builds, "0", "group", "project")}
	if err := os.MkdirAll(tj.dir, 0o750); err != nil {
		t.Fatal(err)
	}
	m, _ := compileMask(p, nil)
	tj.out = m.NewWriter(&tj.log)
	env, err := tj.environment()
	if err != nil {
		t.Fatal(err)
	}
	tj.env = env
	return tj
}

func (tj *testJob) logText() string {
	tj.out.Close()
	return tj.log.String()
}

// upload is one POST /jobs/:id/artifacts as the fake server saw it.
type upload struct {
	query           map[string]string
	token, chunked  string
	contentLength   int64
	field, filename string
	body            []byte
}

// fakeCoordinator implements the two artifact endpoints of the runner
// API: uploads are recorded and answered from a script of statuses;
// downloads serve one archive to one job token.
type fakeCoordinator struct {
	t        *testing.T
	mu       sync.Mutex
	uploads  []upload
	statuses []int // answers to successive uploads; 201 when exhausted
	download []byte
	dlStatus []int // answers before the archive is served
	dlCalls  int
	redirect string // downloads are redirected here when set
}

func (f *fakeCoordinator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/api/v4/jobs/42/artifacts":
		u := upload{query: map[string]string{}, token: r.Header.Get("Job-Token"), contentLength: r.ContentLength,
			chunked: strings.Join(r.TransferEncoding, ",")}
		for k := range r.URL.Query() {
			u.query[k] = r.URL.Query().Get(k)
		}
		_, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil {
			f.t.Errorf("content type: %v", err)
		}
		mr := multipart.NewReader(r.Body, params["boundary"])
		part, err := mr.NextPart()
		if err != nil {
			f.t.Errorf("multipart: %v", err)
			http.Error(w, "bad multipart", 400)
			return
		}
		u.field, u.filename = part.FormName(), part.FileName()
		u.body, _ = io.ReadAll(part)
		if _, err := mr.NextPart(); err != io.EOF {
			f.t.Errorf("more than one part: %v", err)
		}
		f.uploads = append(f.uploads, u)
		status := 201
		if len(f.statuses) > 0 {
			status, f.statuses = f.statuses[0], f.statuses[1:]
		}
		w.WriteHeader(status)
		io.WriteString(w, `{"message":"x"}`)
	case r.Method == http.MethodGet && r.URL.Path == "/api/v4/jobs/7/artifacts":
		f.dlCalls++
		if r.Header.Get("Job-Token") != testJobToken {
			http.Error(w, `{"message":"403 Forbidden"}`, 403)
			return
		}
		if len(f.dlStatus) > 0 {
			s := f.dlStatus[0]
			f.dlStatus = f.dlStatus[1:]
			http.Error(w, "{}", s)
			return
		}
		if f.redirect != "" {
			http.Redirect(w, r, f.redirect, http.StatusFound)
			return
		}
		w.Write(f.download)
	default:
		f.t.Errorf("unexpected %s %s", r.Method, r.URL)
		http.NotFound(w, r)
	}
}

func startFake(t *testing.T) (*fakeCoordinator, *httptest.Server) {
	f := &fakeCoordinator{t: t}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func zipEntries(t *testing.T, data []byte) map[string]string {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("not a zip: %v", err)
	}
	out := map[string]string{}
	for _, f := range zr.File {
		rc, _ := f.Open()
		b, _ := io.ReadAll(rc)
		rc.Close()
		out[f.Name] = string(b)
	}
	return out
}

func TestUploadArtifactsRequest(t *testing.T) {
	fake, srv := startFake(t)
	fake.statuses = []int{500, 201} // the retry must send the whole archive again
	p := &runnerproto.Payload{Artifacts: []runnerproto.PayloadArtifact{{Name: "build-$CI_JOB_NAME", Paths: []string{"out/", "$EXTRA"},
		Exclude: []string{"out/*.tmp"}, When: "on_success", Type: "archive", Format: "zip", ExpireIn: "1 week"}},
		Variables: []runnerproto.PayloadVar{{Key: "CI_JOB_NAME", Value: "compile"}, {Key: "EXTRA", Value: "notes.md"}}}
	tj := newTestJob(t, srv.URL, p)
	writeTree(t, tj.dir, map[string]string{"out/bin": "binary", "out/x.tmp": "tmp", "notes.md": "notes", "other": "o"})

	if err := tj.uploadArtifacts(context.Background(), true); err != nil {
		t.Fatalf("upload: %v\n%s", err, tj.logText())
	}
	if len(fake.uploads) != 2 {
		t.Fatalf("%d uploads", len(fake.uploads))
	}
	for i, u := range fake.uploads {
		if u.chunked != "chunked" || u.contentLength != -1 {
			t.Errorf("upload %d: transfer encoding %q, content length %d", i, u.chunked, u.contentLength)
		}
		if u.token != testJobToken {
			t.Errorf("upload %d: JOB-TOKEN %q", i, u.token)
		}
		want := map[string]string{"artifact_format": "zip", "artifact_type": "archive", "expire_in": "1 week"}
		if len(u.query) != 3 || u.query["artifact_format"] != want["artifact_format"] ||
			u.query["artifact_type"] != want["artifact_type"] || u.query["expire_in"] != want["expire_in"] {
			t.Errorf("upload %d: query %v", i, u.query)
		}
		if u.field != "file" || u.filename != "build-compile.zip" {
			t.Errorf("upload %d: field %q file name %q", i, u.field, u.filename)
		}
		got := zipEntries(t, u.body)
		if len(got) != 3 || got["out/bin"] != "binary" || got["notes.md"] != "notes" || got["out/"] != "" {
			t.Errorf("upload %d: entries %v", i, got)
		}
	}
	log := tj.logText()
	for _, want := range []string{
		"Uploading artifacts for successful job\n",
		"Uploading artifacts...\n",
		"out: found 2 matching artifact files and directories\n",
		"notes.md: found 1 matching artifact files and directories\n",
		"out/*.tmp: excluded 1 files\n",
		`WARNING: Uploading artifacts as "archive" to coordinator... failed  id=42 responseStatus=500 Internal Server Error`,
		`Uploading artifacts as "archive" to coordinator... 201 Created  id=42`,
	} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	if strings.Contains(log, testJobToken) {
		t.Fatal("the job token is in the log")
	}
}

func TestUploadArtifactsOutcomes(t *testing.T) {
	cases := []struct {
		name      string
		statuses  []int
		attempts  int
		wantErr   bool
		wantLog   string
		succeeded bool
		when      string
	}{
		{"too large is final", []int{413}, 1, true, `ERROR: Uploading artifacts as "archive" to coordinator... too large archive  id=42 responseStatus=413 Request Entity Too Large`, true, "on_success"},
		{"forbidden is final", []int{403}, 1, true, "forbidden", true, "on_success"},
		{"bad request is final", []int{400}, 1, true, "failed  id=42 responseStatus=400", true, "on_success"},
		{"5xx three tries", []int{502, 502, 502}, 3, true, "giving up after 3 attempts", true, "on_success"},
		{"503 six tries", []int{503, 503, 503, 503, 503, 201}, 6, false, "201 Created", true, "on_success"},
		{"on_failure skipped on success", nil, 0, false, "", true, "on_failure"},
		{"on_failure on failure", nil, 1, false, "Uploading artifacts for failed job", false, "on_failure"},
		{"on_success skipped on failure", nil, 0, false, "", false, "on_success"},
		{"always on failure", nil, 1, false, "201 Created", false, "always"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fake, srv := startFake(t)
			fake.statuses = tc.statuses
			tj := newTestJob(t, srv.URL, &runnerproto.Payload{Artifacts: []runnerproto.PayloadArtifact{{Paths: []string{"f"}, When: tc.when}}})
			writeTree(t, tj.dir, map[string]string{"f": "x"})
			err := tj.uploadArtifacts(context.Background(), tc.succeeded)
			if (err != nil) != tc.wantErr || (err != nil && !errors.Is(err, errUpload)) {
				t.Fatalf("err = %v", err)
			}
			if len(fake.uploads) != tc.attempts {
				t.Fatalf("%d attempts, want %d", len(fake.uploads), tc.attempts)
			}
			if log := tj.logText(); !strings.Contains(log, tc.wantLog) || (tc.attempts == 0 && log != "") {
				t.Fatalf("log lacks %q:\n%s", tc.wantLog, log)
			}
		})
	}
}

func TestUploadArtifactsNoFilesAndFormats(t *testing.T) {
	fake, srv := startFake(t)
	tj := newTestJob(t, srv.URL, &runnerproto.Payload{Artifacts: []runnerproto.PayloadArtifact{
		{Paths: []string{"missing/"}, When: "always"},
		{Name: "junit.xml", Paths: []string{"report.xml"}, When: "always", Type: "junit", Format: "gzip", ExpireIn: "never"},
		{Name: "raw.json", Paths: []string{"*.json"}, When: "always", Type: "dotenv", Format: "raw"},
	}})
	writeTree(t, tj.dir, map[string]string{"report.xml": "<testsuites/>", "a.json": "{}", "b.json": "{}"})
	err := tj.uploadArtifacts(context.Background(), true)
	log := tj.logText()
	if !errors.Is(err, errUpload) || !strings.Contains(err.Error(), "exactly one regular file, found 2") {
		t.Fatalf("err = %v\n%s", err, log)
	}
	if !strings.Contains(log, "WARNING: missing: no matching files") || !strings.Contains(log, "WARNING: No files to upload") {
		t.Fatalf("log:\n%s", log)
	}
	// Only the gzip report went out; the empty entry and the bad raw one did not.
	if len(fake.uploads) != 1 {
		t.Fatalf("%d uploads", len(fake.uploads))
	}
	u := fake.uploads[0]
	if u.filename != "junit.xml.gz" || u.query["artifact_type"] != "junit" || u.query["artifact_format"] != "gzip" || u.query["expire_in"] != "never" {
		t.Fatalf("upload %+v", u)
	}
	if !bytes.HasPrefix(u.body, gzipMagic) {
		t.Fatalf("not gzip: %q", u.body[:8])
	}
}

func TestDownloadDependencies(t *testing.T) {
	fake, srv := startFake(t)
	fake.download = zipOf(t, zent{name: "dist/app", body: "built"}, zent{name: "dist/lib/x.so", body: "so"})
	dep := runnerproto.PayloadDependency{ID: 7, Name: "build", Token: testJobToken, ArtifactsFile: &runnerproto.DependencyArtifactsFile{Filename: "artifacts.zip", Size: 1}}
	skipped := runnerproto.PayloadDependency{ID: 8, Name: "lint", Token: testJobToken} // no artifacts: no request
	tj := newTestJob(t, srv.URL, &runnerproto.Payload{Dependencies: []runnerproto.PayloadDependency{skipped, dep}})
	fake.dlStatus = []int{502} // retried
	if err := tj.downloadDependencies(context.Background()); err != nil {
		t.Fatalf("download: %v\n%s", err, tj.logText())
	}
	if b, _ := os.ReadFile(filepath.Join(tj.dir, "dist/lib/x.so")); string(b) != "so" {
		t.Fatalf("x.so = %q", b)
	}
	if fake.dlCalls != 2 {
		t.Fatalf("%d calls", fake.dlCalls)
	}
	log := tj.logText()
	for _, want := range []string{"Downloading artifacts for build (7)...\n", "Downloading artifacts from coordinator... ok  id=7 responseStatus=200 OK\n"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	if entries, _ := os.ReadDir(tj.r.BuildsDir); len(entries) != 1 {
		t.Fatalf("temporary archive left behind: %v", entries)
	}
}

func TestDownloadDependencyFailures(t *testing.T) {
	cases := []struct {
		name    string
		status  []int
		token   string
		calls   int
		wantLog string
	}{
		{"not found is final", []int{404}, testJobToken, 1, "Downloading artifacts from coordinator... not found  id=7 responseStatus=404 Not Found"},
		{"forbidden is final", nil, "glcbt-64_someone-else-entirely", 1, "forbidden  id=7 responseStatus=403 Forbidden"},
		{"unauthorized is final", []int{401}, testJobToken, 1, "forbidden  id=7 responseStatus=401 Unauthorized"},
		{"5xx retried twice", []int{500, 500, 500}, testJobToken, 3, "giving up after 3 attempts"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fake, srv := startFake(t)
			fake.dlStatus = tc.status
			dep := runnerproto.PayloadDependency{ID: 7, Name: "build", Token: tc.token, ArtifactsFile: &runnerproto.DependencyArtifactsFile{Filename: "artifacts.zip"}}
			tj := newTestJob(t, srv.URL, &runnerproto.Payload{Dependencies: []runnerproto.PayloadDependency{dep},
				Features: runnerproto.Features{FailureReasons: []string{"script_failure", "missing_dependency_failure"}}})
			err := tj.downloadDependencies(context.Background())
			if !errors.Is(err, errDependency) {
				t.Fatalf("err = %v", err)
			}
			if got := tj.failureReason(err); got != "missing_dependency_failure" {
				t.Fatalf("failure reason %q", got)
			}
			if fake.dlCalls != tc.calls {
				t.Fatalf("%d calls, want %d", fake.dlCalls, tc.calls)
			}
			log := tj.logText()
			if !strings.Contains(log, tc.wantLog) || !strings.Contains(log, "ERROR: Downloading artifacts for build (7) failed") {
				t.Fatalf("log:\n%s", log)
			}
		})
	}
	// A server that does not list the reason gets gitlab-runner's.
	tj := newTestJob(t, "http://127.0.0.1:1", &runnerproto.Payload{})
	if got := tj.failureReason(errDependency); got != "script_failure" {
		t.Fatalf("failure reason %q", got)
	}
}

func TestDownloadUnsafeArchiveFailsJob(t *testing.T) {
	fake, srv := startFake(t)
	fake.download = zipOf(t, zent{name: "ok.txt", body: "fine"}, zent{name: "../../../escape", body: "x"})
	dep := runnerproto.PayloadDependency{ID: 7, Name: "build", Token: testJobToken, ArtifactsFile: &runnerproto.DependencyArtifactsFile{Filename: "artifacts.zip"}}
	tj := newTestJob(t, srv.URL, &runnerproto.Payload{Dependencies: []runnerproto.PayloadDependency{dep}})
	err := tj.downloadDependencies(context.Background())
	if !errors.Is(err, errDependency) || !strings.Contains(err.Error(), "contains '..'") {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(tj.logText(), "ERROR: Downloading artifacts for build (7) failed: downloading artifacts failed: extracting: unsafe archive entry") {
		t.Fatalf("log:\n%s", tj.log.String())
	}
}

// A download redirected to another host (object storage) follows the
// redirect without taking the job token along.
func TestDownloadRedirectDropsToken(t *testing.T) {
	archive := zipOf(t, zent{name: "a.txt", body: "from storage"})
	var sawToken string
	storage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sawToken = r.Header.Get("Job-Token")
		w.Write(archive)
	}))
	defer storage.Close()
	fake, srv := startFake(t)
	// 127.0.0.1 and localhost are different hosts to the client.
	fake.redirect = strings.Replace(storage.URL, "127.0.0.1", "localhost", 1) + "/bucket/obj"
	dep := runnerproto.PayloadDependency{ID: 7, Name: "build", Token: testJobToken, ArtifactsFile: &runnerproto.DependencyArtifactsFile{Filename: "artifacts.zip"}}
	tj := newTestJob(t, srv.URL, &runnerproto.Payload{Dependencies: []runnerproto.PayloadDependency{dep}})
	if err := tj.downloadDependencies(context.Background()); err != nil {
		t.Fatalf("%v\n%s", err, tj.logText())
	}
	if b, _ := os.ReadFile(filepath.Join(tj.dir, "a.txt")); string(b) != "from storage" {
		t.Fatalf("a.txt = %q", b)
	}
	if sawToken != "" {
		t.Fatal("the job token was sent to another host")
	}
}

// A server may refuse an oversized upload before reading it: the answer
// counts, not the broken pipe.
func TestUploadEarly413(t *testing.T) {
	var calls int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		io.CopyN(io.Discard, r.Body, 1<<20)
		w.Header().Set("Connection", "close")
		http.Error(w, `{"message":"413 Request Entity Too Large"}`, http.StatusRequestEntityTooLarge)
	}))
	defer srv.Close()
	tj := newTestJob(t, srv.URL, &runnerproto.Payload{Artifacts: []runnerproto.PayloadArtifact{{Paths: []string{"big"}, When: "on_success", Format: "raw"}}})
	big := make([]byte, 64<<20)
	for i := range big {
		big[i] = byte(i * 7)
	}
	if err := os.WriteFile(filepath.Join(tj.dir, "big"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	err := tj.uploadArtifacts(context.Background(), true)
	log := tj.logText()
	if !errors.Is(err, errUpload) || !strings.Contains(err.Error(), "too large") {
		t.Fatalf("err = %v\n%s", err, log)
	}
	if calls != 1 || !strings.Contains(log, "too large archive") {
		t.Fatalf("%d calls\n%s", calls, log)
	}
}

// A 307 sends the upload again to the host it names, same API path.
func TestUploadRedirect(t *testing.T) {
	fake, target := startFake(t)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Location", target.URL+"/elsewhere?x=1")
		w.WriteHeader(http.StatusTemporaryRedirect)
	}))
	defer front.Close()
	tj := newTestJob(t, front.URL, &runnerproto.Payload{Artifacts: []runnerproto.PayloadArtifact{{Paths: []string{"f"}, When: "on_success"}}})
	writeTree(t, tj.dir, map[string]string{"f": "x"})
	if err := tj.uploadArtifacts(context.Background(), true); err != nil {
		t.Fatalf("%v\n%s", err, tj.logText())
	}
	if len(fake.uploads) != 1 || zipEntries(t, fake.uploads[0].body)["f"] != "x" {
		t.Fatalf("uploads %+v", fake.uploads)
	}
}

// Through the whole job: a script that passes but whose artifacts are
// refused fails the job; a job that times out uploads nothing, not even
// `when: always` artifacts (gitlab-runner's behaviour).
func TestExecuteArtifactOutcomes(t *testing.T) {
	t.Run("upload failure fails the job", func(t *testing.T) {
		fake, srv := startFake(t)
		fake.statuses = []int{413}
		tj := newTestJob(t, srv.URL, &runnerproto.Payload{
			Variables: []runnerproto.PayloadVar{{Key: "GIT_STRATEGY", Value: "none"}},
			Steps:     []runnerproto.Step{{Name: "script", Script: []string{"echo data > out.txt"}}},
			Artifacts: []runnerproto.PayloadArtifact{{Paths: []string{"out.txt"}, When: "on_success"}}})
		exit, err := tj.execute(context.Background(), context.Background(), 0)
		log := tj.logText()
		if exit != 1 || !errors.Is(err, errUpload) || tj.failureReason(err) != "script_failure" {
			t.Fatalf("exit %d err %v\n%s", exit, err, log)
		}
		if len(fake.uploads) != 1 || !strings.Contains(log, "ERROR: Job failed: uploading artifacts failed: too large") {
			t.Fatalf("%d uploads\n%s", len(fake.uploads), log)
		}
	})
	t.Run("timeout uploads nothing", func(t *testing.T) {
		fake, srv := startFake(t)
		tj := newTestJob(t, srv.URL, &runnerproto.Payload{
			RunnerInfo: runnerproto.RunnerInfo{Timeout: 1},
			Variables:  []runnerproto.PayloadVar{{Key: "GIT_STRATEGY", Value: "none"}},
			Steps:      []runnerproto.Step{{Name: "script", Script: []string{"echo data > out.txt", "sleep 30"}}},
			Artifacts:  []runnerproto.PayloadArtifact{{Paths: []string{"out.txt"}, When: "always"}}})
		tj.r.KillGrace = time.Second
		_, err := tj.execute(context.Background(), context.Background(), 0)
		if err == nil || tj.failureReason(err) != "job_execution_timeout" {
			t.Fatalf("err %v reason %q", err, tj.failureReason(err))
		}
		if log := tj.logText(); len(fake.uploads) != 0 || strings.Contains(log, "Uploading artifacts") {
			t.Fatalf("%d uploads\n%s", len(fake.uploads), log)
		}
	})
}
