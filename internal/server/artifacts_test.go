package server_test

// Job artifacts end to end against a real server, on both databases and
// both blob stores: the runner's upload (chunked and with a length) and
// dependency download, every REST download with a personal access token
// and with the job token, refusals that must leave nothing stored,
// expiry and the sweeper, deletion, and the payload's artifacts[] and
// dependencies[] decoded with gitlab-runner's types.

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ciwarden/ciwarden/internal/blob"
	"github.com/ciwarden/ciwarden/internal/ci"
)

// artZip builds a zip holding files, names taken as they are (so that
// hostile names can be written too).
func artZip(t testing.TB, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: n, Method: zip.Deflate})
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, files[n])
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// artMultipart is the runner's upload body: one field, file.
func artMultipart(t testing.TB, filename string, data []byte) (string, []byte) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, err := mw.CreateFormFile("file", filename)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(data)
	mw.Close()
	return mw.FormDataContentType(), buf.Bytes()
}

// onlyReader hides a reader's length, so the request goes chunked.
type onlyReader struct{ io.Reader }

// upload is POST /jobs/:id/artifacts as gitlab-runner sends it; chunked
// sends no Content-Length.
func (s *testServer) upload(t testing.TB, jobID int64, token, query string, data []byte, chunked bool) *resp {
	t.Helper()
	ct, body := artMultipart(t, "artifacts.zip", data)
	return s.uploadRaw(t, jobID, token, query, ct, body, chunked)
}

func (s *testServer) uploadRaw(t testing.TB, jobID int64, token, query, ct string, body []byte, chunked bool) *resp {
	t.Helper()
	var rd io.Reader = bytes.NewReader(body)
	if chunked {
		rd = onlyReader{rd}
	}
	req, err := http.NewRequest("POST", s.URL+"/api/v4/jobs/"+itoa(jobID)+"/artifacts?"+query, rd)
	if err != nil {
		t.Fatal(err)
	}
	if chunked && req.ContentLength != -1 && req.ContentLength != 0 {
		t.Fatalf("request not chunked: %d", req.ContentLength)
	}
	req.Header.Set("Content-Type", ct)
	req.Header.Set("User-Agent", runnerUserAgent)
	if token != "" {
		req.Header.Set("JOB-TOKEN", token)
	}
	return s.send(t, req)
}

// get is a GET with the given header (name: value) or none.
func (s *testServer) artGet(t testing.TB, path, header, value string) *resp {
	t.Helper()
	req := s.newRequest(t, "GET", path, nil)
	if header != "" {
		req.Header.Set(header, value)
	}
	return s.send(t, req)
}

func artWant(t testing.TB, r *resp, status int) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("%s: want %d", r, status)
	}
}

// artBlobs lists the artifact blobs of a project.
func (s *testServer) artBlobs(t testing.TB, projectID int64) []string {
	t.Helper()
	var keys []string
	for info, err := range s.srv.Blobs().List(context.Background(), blob.ProjectPrefix(projectID)+"artifacts/") {
		if err != nil {
			t.Fatalf("list blobs: %v", err)
		}
		keys = append(keys, info.Key)
	}
	return keys
}

// artRows lists a job's artifact rows as type=size.
func (s *testServer) artRows(t testing.TB, jobID int64) []string {
	t.Helper()
	arts, err := s.srv.Store().JobArtifacts(context.Background(), jobID)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, a := range arts {
		out = append(out, fmt.Sprintf("%s=%d", a.FileType, a.Size))
	}
	return out
}

// artNothingStored checks that a project has no artifact row for job and
// no artifact blob at all.
func (s *testServer) artNothingStored(t testing.TB, p project, jobID int64, what string) {
	t.Helper()
	if rows := s.artRows(t, jobID); len(rows) != 0 {
		t.Errorf("%s: artifact rows %v, want none", what, rows)
	}
	if keys := s.artBlobs(t, p.ID); len(keys) != 0 {
		t.Errorf("%s: artifact blobs %v, want none", what, keys)
	}
}

const artifactsCI = `stages: [build, test]
build:
  stage: build
  script: [make]
  artifacts:
    paths: [out/]
    exclude: ["out/*.tmp"]
    expire_in: 1 week
    reports:
      junit: report.xml
test:
  stage: test
  script: [make test]
`

// artEnv is a private project with a member of each role, a pipeline of
// artifactsCI and a runner.
type artEnv struct {
	s                                     *testServer
	p                                     project
	guest, reporter, dev, maint, outsider user
	rc                                    *runnerClient
	repo                                  *repo
}

func newArtEnv(t *testing.T, s *testServer, ciYAML string) *artEnv {
	t.Helper()
	e := &artEnv{s: s}
	g := s.createGroup(t, "grp", "private")
	e.p = s.createProject(t, g, "app", "private")
	e.guest, e.reporter, e.dev, e.maint = s.createUser(t, "guest"), s.createUser(t, "reporter"), s.createUser(t, "dev"), s.createUser(t, "maint")
	e.outsider = s.createUser(t, "outsider")
	for u, level := range map[user]int{e.guest: 10, e.reporter: 20, e.dev: 30, e.maint: 40} {
		s.addMember(t, "projects", e.p.ID, u.ID, level)
	}
	_, tok := s.createRunner(t, nil)
	e.rc = s.newRunnerClient(tok)
	if ciYAML != "" {
		e.repo, _ = s.pushCI(t, e.p, e.dev, map[string]string{".gitlab-ci.yml": ciYAML})
	}
	return e
}

// take asks for the next job and checks its name.
func (e *artEnv) take(t *testing.T, name string) *runningJob {
	t.Helper()
	j := e.rc.takeJob(t)
	if j.Payload.JobInfo.Name != name {
		t.Fatalf("took job %q, want %q", j.Payload.JobInfo.Name, name)
	}
	j.start(t)
	return j
}

func TestArtifactsRoundTrip(t *testing.T) {
	forEachStorage(t, serverOpts{}, testArtifactsRoundTrip)
}

func testArtifactsRoundTrip(t *testing.T, s *testServer) {
	e := newArtEnv(t, s, artifactsCI)
	p := e.p
	build := e.take(t, "build")

	// The payload asks for the archive and the junit report.
	checkRawPayload(t, build.Raw)
	arts := build.Payload.Artifacts
	if len(arts) != 2 {
		t.Fatalf("artifacts[] = %+v, want the archive and junit", arts)
	}
	if a := arts[0]; a.Name != "artifacts" || a.Type != "archive" || a.Format != "zip" || a.When != "on_success" ||
		a.ExpireIn != "1 week" || !slices.Equal(a.Paths, []string{"out/"}) || !slices.Equal(a.Exclude, []string{"out/*.tmp"}) {
		t.Errorf("archive entry %+v", a)
	}
	if a := arts[1]; a.Type != "junit" || a.Format != "gzip" || a.When != "always" || !slices.Equal(a.Paths, []string{"report.xml"}) {
		t.Errorf("junit entry %+v", a)
	}

	files := map[string]string{"out/": "", "out/a.txt": "alpha\n", "out/dir/b.txt": strings.Repeat("bravo ", 5000)}
	archive := artZip(t, files)
	// Chunked, as gitlab-runner sends it.
	r := s.upload(t, build.ID, build.Token, "artifact_format=zip&artifact_type=archive&expire_in=1+week", archive, true)
	artWant(t, r, http.StatusCreated)
	// A report, with a Content-Length.
	artWant(t, s.upload(t, build.ID, build.Token, "artifact_format=gzip&artifact_type=junit", []byte("\x1f\x8bjunit"), false), http.StatusCreated)
	if got, want := s.artRows(t, build.ID), []string{fmt.Sprintf("archive=%d", len(archive)), "junit=7"}; !slices.Equal(got, want) {
		t.Fatalf("rows %v, want %v", got, want)
	}
	// A second archive replaces the first, blob included.
	artWant(t, s.upload(t, build.ID, build.Token, "artifact_type=archive", archive, false), http.StatusCreated)
	if keys := s.artBlobs(t, p.ID); len(keys) != 2 {
		t.Fatalf("blobs after replacing the archive: %v, want 2 (archive, junit)", keys)
	}
	build.finishOK(t, "success")

	test := e.take(t, "test")
	checkRawPayload(t, test.Raw)
	if deps := test.Payload.Dependencies; len(deps) != 1 || deps[0].ID != build.ID || deps[0].Name != "build" ||
		deps[0].Token != test.Token || deps[0].ArtifactsFile.Filename != "artifacts.zip" || deps[0].ArtifactsFile.Size != int64(len(archive)) {
		t.Fatalf("test's dependencies %+v; want build with artifacts.zip of %d bytes and test's own token", deps, len(archive))
	}

	base := "/api/v4/projects/" + itoa(p.ID) + "/jobs/"
	jobArts := base + itoa(build.ID) + "/artifacts"
	wantZip := func(t *testing.T, r *resp, what string) {
		t.Helper()
		if r.Status != http.StatusOK || !bytes.Equal(r.Body, archive) {
			t.Fatalf("%s: %s, %d bytes; want 200 and the archive", what, r, len(r.Body))
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/zip" {
			t.Errorf("%s: Content-Type %q", what, ct)
		}
		if cd := r.Header.Get("Content-Disposition"); cd != "attachment; filename=artifacts.zip" {
			t.Errorf("%s: Content-Disposition %q", what, cd)
		}
		if cl := r.Header.Get("Content-Length"); cl != itoa(int64(len(archive))) {
			t.Errorf("%s: Content-Length %q", what, cl)
		}
	}

	t.Run("runner dependency download", func(t *testing.T) {
		wantZip(t, s.artGet(t, "/api/v4/jobs/"+itoa(build.ID)+"/artifacts", "JOB-TOKEN", test.Token), "GET /jobs/:id/artifacts with a running job's token")
		// The dependency's own token is dead.
		r := s.artGet(t, "/api/v4/jobs/"+itoa(build.ID)+"/artifacts", "JOB-TOKEN", build.Token)
		if r.Status != http.StatusForbidden || r.Header.Get("Job-Status") != "success" {
			t.Errorf("with the finished job's token: %s, Job-Status %q; want 403 success", r, r.Header.Get("Job-Status"))
		}
		for _, tok := range []string{"", "cwjob-unknown-token-0000000000000000"} {
			artWant(t, s.artGet(t, "/api/v4/jobs/"+itoa(build.ID)+"/artifacts", "JOB-TOKEN", tok), http.StatusForbidden)
		}
		// An unknown job looks like one the user may not read.
		artWant(t, s.artGet(t, "/api/v4/jobs/99999999/artifacts", "JOB-TOKEN", test.Token), http.StatusForbidden)
		// The running job itself has no archive: 404.
		artWant(t, s.artGet(t, "/api/v4/jobs/"+itoa(test.ID)+"/artifacts", "JOB-TOKEN", test.Token), http.StatusNotFound)
		// The JOB-TOKEN header is the only transport (runner-protocol.md
		// §10.2): a live token or a Developer's PAT anywhere else leaves
		// the request anonymous, which the runner protocol refuses.
		deps := "/api/v4/jobs/" + itoa(build.ID) + "/artifacts"
		for what, r := range map[string]*resp{
			"?job_token=":     s.artGet(t, deps+"?job_token="+test.Token, "", ""),
			"?token=":         s.artGet(t, deps+"?token="+test.Token, "", ""),
			"?private_token=": s.artGet(t, deps+"?private_token="+e.dev.Token, "", ""),
			"PRIVATE-TOKEN":   s.artGet(t, deps, "PRIVATE-TOKEN", e.dev.Token),
			"Bearer":          s.artGet(t, deps, "Authorization", "Bearer "+test.Token),
		} {
			if r.Status != http.StatusForbidden || !strings.Contains(string(r.Body), "403 Forbidden") {
				t.Errorf("dependency download with the credential in %s: %s, want 403 Forbidden", what, r)
			}
		}
	})
	// Downloads by ref need a successful pipeline: finish this one, and
	// take the job token of a second pipeline's job (reader) from here on.
	test.finishOK(t, "success")
	e.repo.commitPush(t, "again", map[string]string{"x.txt": "x"})
	reader := e.take(t, "build")

	t.Run("API downloads", func(t *testing.T) {
		wantZip(t, s.artGet(t, jobArts, "PRIVATE-TOKEN", e.dev.Token), "by job, PAT")
		wantZip(t, s.artGet(t, jobArts, "PRIVATE-TOKEN", e.reporter.Token), "by job, reporter")
		wantZip(t, s.artGet(t, jobArts, "JOB-TOKEN", reader.Token), "by job, JOB-TOKEN")
		wantZip(t, s.artGet(t, jobArts+"?job_token="+reader.Token, "", ""), "by job, job_token")
		wantZip(t, s.artGet(t, jobArts, "Authorization", "Bearer "+reader.Token), "by job, Bearer job token")
		byRef := base + "artifacts/main/download?job=build"
		wantZip(t, s.artGet(t, byRef, "PRIVATE-TOKEN", e.dev.Token), "by ref, PAT")
		wantZip(t, s.artGet(t, byRef+"&job_token="+reader.Token, "", ""), "by ref, job_token")
		wantZip(t, s.artGet(t, byRef, "JOB-TOKEN", reader.Token), "by ref, JOB-TOKEN")
		r := s.artGet(t, jobArts, "PRIVATE-TOKEN", e.dev.Token)
		// Range requests work (resumed downloads).
		req := s.newRequest(t, "GET", jobArts, nil)
		req.Header.Set("PRIVATE-TOKEN", e.dev.Token)
		req.Header.Set("Range", "bytes=0-9")
		if rr := s.send(t, req); rr.Status != http.StatusPartialContent || !bytes.Equal(rr.Body, r.Body[:10]) {
			t.Errorf("Range 0-9: %s", rr)
		}

		for path, want := range map[string]string{
			jobArts + "/out/a.txt":                              files["out/a.txt"],
			jobArts + "/out/dir/b.txt":                          files["out/dir/b.txt"],
			base + "artifacts/main/raw/out/a.txt?job=build":     files["out/a.txt"],
			base + "artifacts/main/raw/out/dir/b.txt?job=build": files["out/dir/b.txt"],
		} {
			for _, cred := range [][2]string{{"PRIVATE-TOKEN", e.dev.Token}, {"JOB-TOKEN", reader.Token}} {
				r := s.artGet(t, path, cred[0], cred[1])
				if r.Status != http.StatusOK || string(r.Body) != want {
					t.Errorf("%s with %s: %s; want 200 and the file", path, cred[0], r)
				}
				if cl := r.Header.Get("Content-Length"); cl != itoa(int64(len(want))) {
					t.Errorf("%s: Content-Length %q, want %d", path, cl, len(want))
				}
			}
		}
		wantMsg := func(path string, status int, body string) {
			t.Helper()
			r := s.artGet(t, path, "PRIVATE-TOKEN", e.dev.Token)
			if r.Status != status || strings.TrimSpace(string(r.Body)) != body {
				t.Errorf("%s: %s; want %d %s", path, r, status, body)
			}
		}
		wantMsg(jobArts+"/out/missing.txt", 404, `{"message":"404 Not Found"}`)
		wantMsg(jobArts+"/out", 404, `{"message":"404 Not Found"}`) // a directory entry is not a file
		wantMsg(jobArts+"/..%2Fout%2Fa.txt", 400, `{"message":"400 Bad request - invalid artifact path"}`)
		wantMsg(jobArts+"/out%2F..%2F..%2Fetc%2Fpasswd", 400, `{"message":"400 Bad request - invalid artifact path"}`)
		wantMsg(base+"artifacts/main/download", 400, `{"error":"job is missing"}`)
		wantMsg(base+"artifacts/main/download?job=nope", 404, `{"message":"404 Not Found"}`)
		wantMsg(base+"artifacts/nope/download?job=build", 404, `{"message":"404 Not Found"}`)
		wantMsg(base+"artifacts/main/raw/out/missing?job=build", 404, `{"message":"404 Not Found"}`)
		wantMsg(base+"artifacts/main?job=build", 404, `{"error":"404 Not Found"}`)
		wantMsg(base+itoa(test.ID)+"/artifacts", 404, `{"message":"404 Not Found"}`)

		// The job entity shows the artifacts.
		var job struct {
			ArtifactsFile *struct {
				Filename string `json:"filename"`
				Size     int64  `json:"size"`
			} `json:"artifacts_file"`
			Artifacts []struct {
				FileType   string `json:"file_type"`
				Size       int64  `json:"size"`
				Filename   string `json:"filename"`
				FileFormat string `json:"file_format"`
			} `json:"artifacts"`
			ExpireAt *time.Time `json:"artifacts_expire_at"`
		}
		s.expect(t, "GET", "/projects/"+itoa(p.ID)+"/jobs/"+itoa(build.ID), e.dev.Token, nil, 200).JSON(t, &job)
		if job.ArtifactsFile == nil || job.ArtifactsFile.Filename != "artifacts.zip" || job.ArtifactsFile.Size != int64(len(archive)) ||
			len(job.Artifacts) != 2 || job.Artifacts[0].FileType != "archive" || job.Artifacts[0].FileFormat != "zip" ||
			job.Artifacts[1].FileType != "junit" || job.Artifacts[1].FileFormat != "gzip" || job.ExpireAt == nil ||
			time.Until(*job.ExpireAt) < 29*24*time.Hour || time.Until(*job.ExpireAt) > 30*24*time.Hour {
			// The last upload gave no expire_in: GitLab's default, 30 days.
			t.Errorf("job entity artifacts: %+v", job)
		}
		var list []map[string]any
		s.expect(t, "GET", "/projects/"+itoa(p.ID)+"/jobs", e.dev.Token, nil, 200).JSON(t, &list)
		for _, j := range list {
			_, has := j["artifacts_file"]
			if has != (num(t, j, "id") == build.ID) {
				t.Errorf("job list: job %v artifacts_file present %v", j["name"], has)
			}
		}
	})

	t.Run("who may not", func(t *testing.T) {
		paths := []string{jobArts, jobArts + "/out/a.txt", base + "artifacts/main/download?job=build",
			base + "artifacts/main/raw/out/a.txt?job=build"}
		for _, path := range paths {
			// Cannot see the project: 404, signed in or not.
			for _, tok := range []string{e.outsider.Token, ""} {
				r := s.artGet(t, path, "PRIVATE-TOKEN", tok)
				if r.Status != http.StatusNotFound || !strings.Contains(string(r.Body), "404 Project Not Found") {
					t.Errorf("%s as an outsider (token %v): %s, want 404 Project Not Found", path, tok != "", r)
				}
			}
			// A guest sees the project but not its artifacts.
			artWant(t, s.artGet(t, path, "PRIVATE-TOKEN", e.guest.Token), http.StatusForbidden)
			// A dead job token: 401.
			r := s.artGet(t, path, "JOB-TOKEN", build.Token)
			if r.Status != http.StatusUnauthorized || strings.TrimSpace(string(r.Body)) != `{"message":"401 Unauthorized"}` {
				t.Errorf("%s with a finished job's token: %s, want 401", path, r)
			}
		}
		// A job token of a user who cannot see the project: 404 on the
		// API, 403 on the runner's download.
		other := s.createProject(t, s.createGroup(t, "elsewhere", "private"), "other", "private")
		s.addMember(t, "projects", other.ID, e.outsider.ID, 40)
		s.pushCI(t, other, e.outsider, map[string]string{".gitlab-ci.yml": "probe:\n  script: [x]\n"})
		probe := e.take(t, "probe")
		for _, path := range paths {
			r := s.artGet(t, path, "JOB-TOKEN", probe.Token)
			if r.Status != http.StatusNotFound {
				t.Errorf("%s with an outsider's job token: %s, want 404", path, r)
			}
		}
		artWant(t, s.artGet(t, "/api/v4/jobs/"+itoa(build.ID)+"/artifacts", "JOB-TOKEN", probe.Token), http.StatusForbidden)
		probe.finishOK(t, "success")
	})

	t.Run("delete", func(t *testing.T) {
		// Developers may not; a job token is not accepted at all.
		s.expect(t, "DELETE", "/projects/"+itoa(p.ID)+"/jobs/"+itoa(build.ID)+"/artifacts", e.dev.Token, nil, http.StatusForbidden)
		req := s.newRequest(t, "DELETE", jobArts, nil)
		req.Header.Set("JOB-TOKEN", reader.Token)
		artWant(t, s.send(t, req), http.StatusUnauthorized)
		s.expect(t, "DELETE", "/projects/"+itoa(p.ID)+"/jobs/"+itoa(build.ID)+"/artifacts", e.outsider.Token, nil, http.StatusNotFound)
		if keys := s.artBlobs(t, p.ID); len(keys) != 2 {
			t.Fatalf("blobs after refused deletes: %v", keys)
		}
		s.expect(t, "DELETE", "/projects/"+itoa(p.ID)+"/jobs/"+itoa(build.ID)+"/artifacts", e.maint.Token, nil, http.StatusNoContent)
		s.artNothingStored(t, p, build.ID, "after DELETE")
		artWant(t, s.artGet(t, jobArts, "PRIVATE-TOKEN", e.dev.Token), http.StatusNotFound)
		artWant(t, s.artGet(t, base+"artifacts/main/download?job=build", "PRIVATE-TOKEN", e.dev.Token), http.StatusNotFound)
		artWant(t, s.artGet(t, "/api/v4/jobs/"+itoa(build.ID)+"/artifacts", "JOB-TOKEN", reader.Token), http.StatusNotFound)
		s.expect(t, "DELETE", "/projects/"+itoa(p.ID)+"/jobs/"+itoa(build.ID)+"/artifacts", e.maint.Token, nil, http.StatusNoContent)
	})
	reader.finishOK(t, "success")
}

// TestArtifactPathRules: an archive entry with a NUL or another control
// character, or with a "." segment, is refused at upload with a message
// naming the problem and nothing is stored (but for the root directory
// entry "./"); and the same paths are refused (400) by every later read,
// by job and by ref, encoded so that they reach the handler (issue 13
// item 5).
func TestArtifactPathRules(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		s := newServer(t, serverOpts{dialect: dialect})
		e := newArtEnv(t, s, artifactsCI)
		build := e.take(t, "build")
		for _, c := range []struct{ name, shown, why string }{
			{"out/\x00nul", "out/?nul", "a NUL byte"},
			{"out/bell\x07", "out/bell?", "a control character"},
			{"out/new\nline", "out/new?line", "a control character"},
			{"out/del\x7f", "out/del?", "a control character"},
			{"out/c1\u0085", "out/c1?", "a control character"},
			{"./out/a.txt", "./out/a.txt", "a . segment"},
			{"out/./a.txt", "out/./a.txt", "a . segment"},
			{"out/.", "out/.", "a . segment"},
			{".", ".", "a . segment"},
			{"./x/", "./x/", "a . segment"},
		} {
			r := s.upload(t, build.ID, build.Token, "", artZip(t, map[string]string{"out/ok.txt": "ok", c.name: "payload"}), false)
			want := `{"message":"400 Bad request - artifacts archive entry \"` + c.shown + `\" has ` + c.why + `"}`
			if r.Status != http.StatusBadRequest || strings.TrimSpace(string(r.Body)) != want {
				t.Errorf("entry %q: %s; want 400 %s", c.name, r, want)
			}
			s.artNothingStored(t, e.p, build.ID, fmt.Sprintf("entry %q", c.name))
		}
		// Names that only look alike are fine, and so is the root's own
		// directory entry, which gitlab-runner writes for `paths: [.]`.
		ok := map[string]string{"./": "", "out/": "", "out/a.txt": "alpha", "out/.hidden": "h", "out/..a": "dots", "out/a./b": "b"}
		artWant(t, s.upload(t, build.ID, build.Token, "", artZip(t, ok), false), http.StatusCreated)
		build.finishOK(t, "success")
		// By ref needs a successful pipeline.
		e.take(t, "test").finishOK(t, "success")

		jobArts := "/api/v4/projects/" + itoa(e.p.ID) + "/jobs/" + itoa(build.ID) + "/artifacts/"
		byRef := "/api/v4/projects/" + itoa(e.p.ID) + "/jobs/artifacts/main/raw/"
		for _, path := range []string{"out/.hidden", "out/..a", "out/a./b"} {
			for _, base := range []string{jobArts, byRef} {
				if r := s.artGet(t, base+path+"?job=build", "PRIVATE-TOKEN", e.dev.Token); r.Status != http.StatusOK || string(r.Body) != ok[path] {
					t.Errorf("GET %s: %s, want 200 %q", base+path, r, ok[path])
				}
			}
		}
		for _, path := range []string{".%2F", ".%2Fout%2Fa.txt", "out%2F.%2Fa.txt", "out%2F.", "out%2Fa.txt%01", "out%2Fa%0A.txt", "out%2Fa%7F.txt", "out/a%C2%85.txt"} {
			for _, base := range []string{jobArts, byRef} {
				r := s.artGet(t, base+path+"?job=build", "PRIVATE-TOKEN", e.dev.Token)
				if r.Status != http.StatusBadRequest || strings.TrimSpace(string(r.Body)) != `{"message":"400 Bad request - invalid artifact path"}` {
					t.Errorf("GET %s: %s, want 400 invalid artifact path", base+path, r)
				}
			}
		}
	})
}

func TestArtifactUploadRefusals(t *testing.T) {
	const max = 64 << 10
	forEachStorage(t, serverOpts{MaxArtifactsSize: max}, func(t *testing.T, s *testServer) {
		e := newArtEnv(t, s, artifactsCI)
		build := e.take(t, "build")
		refused := func(what string, r *resp, status int) {
			t.Helper()
			if r.Status != status {
				t.Errorf("%s: %s, want %d", what, r, status)
			}
			s.artNothingStored(t, e.p, build.ID, what)
		}
		big := bytes.Repeat([]byte("z"), max+1)
		refused("one byte over, chunked", s.upload(t, build.ID, build.Token, "artifact_type=junit&artifact_format=gzip", big, true), 413)
		refused("one byte over, Content-Length", s.upload(t, build.ID, build.Token, "artifact_type=junit&artifact_format=gzip", big, false), 413)
		huge := bytes.Repeat([]byte("z"), 3*max+(1<<20))
		refused("declared far too large", s.upload(t, build.ID, build.Token, "", huge, false), 413)
		// Exactly the maximum is fine.
		artWant(t, s.upload(t, build.ID, build.Token, "artifact_type=junit&artifact_format=gzip", big[:max], true), http.StatusCreated)
		s.expect(t, "GET", "/projects/"+itoa(e.p.ID)+"/jobs/"+itoa(build.ID), e.dev.Token, nil, 200)
		if rows := s.artRows(t, build.ID); !slices.Equal(rows, []string{fmt.Sprintf("junit=%d", max)}) {
			t.Fatalf("rows after an upload of exactly the maximum: %v", rows)
		}
		s.expect(t, "DELETE", "/projects/"+itoa(e.p.ID)+"/jobs/"+itoa(build.ID)+"/artifacts", e.maint.Token, nil, http.StatusNoContent)

		for _, name := range []string{"../evil.sh", "out/../../evil", "/etc/passwd", `out\..\evil`, "C:/evil", "out/\x00nul", "..", "a/.."} {
			zipBody := artZip(t, map[string]string{"out/ok.txt": "ok", name: "payload"})
			refused(fmt.Sprintf("entry %q", name), s.upload(t, build.ID, build.Token, "artifact_type=archive&artifact_format=zip", zipBody, true), 400)
		}
		refused("not a zip", s.upload(t, build.ID, build.Token, "", []byte("this is not a zip"), false), 400)
		okZip := artZip(t, map[string]string{"out/ok.txt": "ok"})
		for q, what := range map[string]string{
			"expire_in=soonish":                          "bad expire_in",
			"expire_in=3+fortnights":                     "unknown unit",
			"artifact_type=bogus":                        "unknown type",
			"artifact_type=archive&artifact_format=gzip": "archive not zip",
			"artifact_type=junit&artifact_format=tar":    "unknown format",
		} {
			refused(what, s.upload(t, build.ID, build.Token, q, okZip, false), 400)
		}
		ct, body := artMultipart(t, "x.zip", okZip)
		refused("no file field", s.uploadRaw(t, build.ID, build.Token, "", ct, bytes.Replace(body, []byte(`name="file"`), []byte(`name="other"`), 1), false), 400)
		refused("not multipart", s.uploadRaw(t, build.ID, build.Token, "", "application/zip", okZip, false), 400)
		refused("truncated body", s.uploadRaw(t, build.ID, build.Token, "", ct, body[:len(body)-60], true), 400)
		// Tokens: none, another job's, unknown.
		refused("no token", s.upload(t, build.ID, "", "", okZip, false), 403)
		refused("unknown token", s.upload(t, build.ID, "cwjob-nope-nope-nope", "", okZip, false), 403)

		// A client that dies mid-upload leaves nothing either.
		t.Run("aborted upload", func(t *testing.T) {
			ct, body := artMultipart(t, "artifacts.zip", bytes.Repeat([]byte("q"), max/2))
			pr, pw := io.Pipe()
			req, err := http.NewRequest("POST", s.URL+"/api/v4/jobs/"+itoa(build.ID)+"/artifacts?artifact_type=junit&artifact_format=gzip", pr)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", ct)
			req.Header.Set("JOB-TOKEN", build.Token)
			done := make(chan error, 1)
			go func() {
				res, err := s.client.Do(req)
				if err == nil {
					res.Body.Close()
					err = fmt.Errorf("status %d", res.StatusCode)
				}
				done <- err
			}()
			pw.Write(body[:len(body)/2])
			time.Sleep(200 * time.Millisecond) // the server is streaming it
			pw.CloseWithError(io.ErrUnexpectedEOF)
			if err := <-done; err == nil {
				t.Fatalf("aborted upload answered")
			}
			deadline := time.Now().Add(5 * time.Second)
			for len(s.artRows(t, build.ID)) > 0 || len(s.artBlobs(t, e.p.ID)) > 0 {
				if time.Now().After(deadline) {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			s.artNothingStored(t, e.p, build.ID, "aborted upload")
		})

		// A job that finished: 403 with its status.
		build.finishOK(t, "success")
		r := s.upload(t, build.ID, build.Token, "", okZip, false)
		if r.Status != http.StatusForbidden || r.Header.Get("Job-Status") != "success" {
			t.Errorf("upload after the final update: %s, Job-Status %q; want 403 success", r, r.Header.Get("Job-Status"))
		}
		s.artNothingStored(t, e.p, build.ID, "upload after the end")
	})
}

func TestArtifactExpiryAndSweep(t *testing.T) {
	forEachStorage(t, serverOpts{}, func(t *testing.T, s *testServer) {
		e := newArtEnv(t, s, artifactsCI)
		build := e.take(t, "build")
		archive := artZip(t, map[string]string{"out/a.txt": "a"})
		artWant(t, s.upload(t, build.ID, build.Token, "artifact_type=archive&expire_in=1+sec", archive, true), http.StatusCreated)
		artWant(t, s.upload(t, build.ID, build.Token, "artifact_type=junit&artifact_format=gzip&expire_in=never", []byte("j"), false), http.StatusCreated)
		build.finishOK(t, "success")
		jobArts := "/api/v4/projects/" + itoa(e.p.ID) + "/jobs/" + itoa(build.ID) + "/artifacts"
		artWant(t, s.artGet(t, jobArts, "PRIVATE-TOKEN", e.dev.Token), http.StatusOK)
		time.Sleep(1100 * time.Millisecond)

		// Expired: never served, though the sweeper has not run.
		paths := []string{jobArts, jobArts + "/out/a.txt", "/api/v4/projects/" + itoa(e.p.ID) + "/jobs/artifacts/main/download?job=build",
			"/api/v4/projects/" + itoa(e.p.ID) + "/jobs/artifacts/main/raw/out/a.txt?job=build"}
		for _, path := range paths {
			artWant(t, s.artGet(t, path, "PRIVATE-TOKEN", e.dev.Token), http.StatusNotFound)
		}
		job := s.expect(t, "GET", "/projects/"+itoa(e.p.ID)+"/jobs/"+itoa(build.ID), e.dev.Token, nil, 200).Object(t)
		if _, has := job["artifacts_file"]; has || job["artifacts_expire_at"] != nil || len(job["artifacts"].([]any)) != 1 {
			t.Errorf("job entity after expiry: artifacts_file %v, expire_at %v, artifacts %v", job["artifacts_file"], job["artifacts_expire_at"], job["artifacts"])
		}
		test := e.take(t, "test")
		if deps := test.Payload.Dependencies; len(deps) != 1 || deps[0].ArtifactsFile.Filename != "" {
			t.Errorf("dependency on an expired archive: %+v, want no artifacts_file", deps)
		}
		artWant(t, s.artGet(t, "/api/v4/jobs/"+itoa(build.ID)+"/artifacts", "JOB-TOKEN", test.Token), http.StatusNotFound)
		test.finishOK(t, "success")

		sw := &ci.ArtifactSweeper{Store: s.srv.Store(), Blobs: s.srv.Blobs(), Now: time.Now}
		if n, err := sw.Sweep(context.Background()); err != nil || n != 1 {
			t.Fatalf("Sweep = %d, %v; want the one expired archive", n, err)
		}
		if rows := s.artRows(t, build.ID); !slices.Equal(rows, []string{"junit=1"}) {
			t.Errorf("rows after the sweep: %v, want the junit that never expires", rows)
		}
		if keys := s.artBlobs(t, e.p.ID); len(keys) != 1 {
			t.Errorf("blobs after the sweep: %v, want the junit's only", keys)
		}
		if n, err := sw.Sweep(context.Background()); err != nil || n != 0 {
			t.Errorf("second Sweep = %d, %v", n, err)
		}

		// Erasing the job deletes the rest; deleting a pipeline leaves
		// rows the sweeper clears.
		s.expect(t, "POST", "/projects/"+itoa(e.p.ID)+"/jobs/"+itoa(build.ID)+"/erase", e.maint.Token, nil, http.StatusCreated)
		s.artNothingStored(t, e.p, build.ID, "after erase")
	})
}

func TestArtifactsOfDeletedPipelineSwept(t *testing.T) {
	forEachStorage(t, serverOpts{}, func(t *testing.T, s *testServer) {
		e := newArtEnv(t, s, artifactsCI)
		build := e.take(t, "build")
		artWant(t, s.upload(t, build.ID, build.Token, "expire_in=never", artZip(t, map[string]string{"a": "a"}), true), http.StatusCreated)
		build.finishOK(t, "success")
		pl := num(t, s.jobState(t, e.p, build.ID)["pipeline"].(map[string]any), "id")
		s.expect(t, "POST", "/projects/"+itoa(e.p.ID)+"/pipelines/"+itoa(pl)+"/cancel", e.maint.Token, nil, http.StatusCreated)
		s.expect(t, "DELETE", "/projects/"+itoa(e.p.ID)+"/pipelines/"+itoa(pl), rootToken, nil, http.StatusNoContent)
		sw := &ci.ArtifactSweeper{Store: s.srv.Store(), Blobs: s.srv.Blobs(), Now: time.Now}
		if n, err := sw.Sweep(context.Background()); err != nil || n != 1 {
			t.Fatalf("Sweep after deleting the pipeline = %d, %v; want its job's archive", n, err)
		}
		s.artNothingStored(t, e.p, build.ID, "after the sweep")
	})
}

// depsCI exercises every way dependencies[] is filled: earlier stages,
// dependencies: narrowing or emptying them, needs with and without
// artifacts, and needs:project with a variable ref.
const depsCI = `stages: [one, two, three]
a:
  stage: one
  script: [x]
b:
  stage: one
  script: [x]
all:
  stage: two
  script: [x]
only_b:
  stage: two
  dependencies: [b]
  script: [x]
none:
  stage: two
  dependencies: []
  script: [x]
dag:
  stage: three
  needs:
    - job: a
      artifacts: false
    - b
  script: [x]
cross:
  stage: one
  needs:
    - project: grp/app
      job: build
      ref: $CI_COMMIT_REF_NAME
      artifacts: true
    - project: hidden/secret
      job: build
      ref: main
      artifacts: true
  script: [x]
`

func TestPayloadDependencies(t *testing.T) {
	forEachStorage(t, serverOpts{}, func(t *testing.T, s *testServer) {
		e := newArtEnv(t, s, artifactsCI)
		// P's build uploads its archive; its pipeline succeeds.
		build := e.take(t, "build")
		archive := artZip(t, map[string]string{"out/p.txt": "from P"})
		artWant(t, s.upload(t, build.ID, build.Token, "", archive, true), http.StatusCreated)
		build.finishOK(t, "success")
		e.take(t, "test").finishOK(t, "success")

		// A project the dev cannot see, with a successful build too.
		hidden := s.createGroup(t, "hidden", "private")
		secret := s.createProject(t, hidden, "secret", "private")
		s.addMember(t, "projects", secret.ID, e.maint.ID, 40)
		s.pushCI(t, secret, e.maint, map[string]string{".gitlab-ci.yml": "build:\n  script: [x]\n"})
		sb := e.take(t, "build")
		artWant(t, s.upload(t, sb.ID, sb.Token, "", archive, false), http.StatusCreated)
		sb.finishOK(t, "success")

		q := s.createProject(t, s.createGroup(t, "consumer", "private"), "q", "private")
		s.addMember(t, "projects", q.ID, e.dev.ID, 30)
		// P lets q's jobs in; the hidden project would too, but the dev
		// cannot see it.
		s.allowJobTokens(t, e.p, q)
		s.allowJobTokens(t, secret, q)
		s.pushCI(t, q, e.dev, map[string]string{".gitlab-ci.yml": depsCI})

		type dep struct {
			name  string
			files bool
		}
		deps := func(j *runningJob) []dep {
			var out []dep
			for _, d := range j.Payload.Dependencies {
				if d.Token != j.Token {
					t.Errorf("%s: dependency %s carries another token", j.Payload.JobInfo.Name, d.Name)
				}
				out = append(out, dep{d.Name, d.ArtifactsFile.Filename != ""})
			}
			return out
		}
		running := map[string]*runningJob{}
		takeAll := func(n int) {
			for i := 0; i < n; i++ {
				j := e.rc.takeJob(t)
				j.start(t)
				checkRawPayload(t, j.Raw)
				running[j.Payload.JobInfo.Name] = j
			}
		}
		takeAll(3) // a, b, cross
		cross := running["cross"]
		if got := deps(cross); !slices.Equal(got, []dep{{"build", true}}) {
			t.Errorf("cross: dependencies %v; want P's build with its archive (and not the hidden project's)", got)
		} else if cross.Payload.Dependencies[0].ID != build.ID {
			t.Errorf("cross: dependency is job %d, want P's build %d", cross.Payload.Dependencies[0].ID, build.ID)
		}
		// The runner downloads it with cross's own token, across projects.
		r := s.artGet(t, "/api/v4/jobs/"+itoa(build.ID)+"/artifacts", "JOB-TOKEN", cross.Token)
		if r.Status != http.StatusOK || !bytes.Equal(r.Body, archive) {
			t.Errorf("cross-project dependency download: %s", r)
		}
		// But not the hidden project's.
		artWant(t, s.artGet(t, "/api/v4/jobs/"+itoa(sb.ID)+"/artifacts", "JOB-TOKEN", cross.Token), http.StatusForbidden)

		aZip := artZip(t, map[string]string{"a.txt": "a"})
		artWant(t, s.upload(t, running["a"].ID, running["a"].Token, "", aZip, true), http.StatusCreated)
		for _, n := range []string{"a", "b", "cross"} {
			running[n].finishOK(t, "success")
		}
		takeAll(3) // all, only_b, none
		want := map[string][]dep{
			"all":    {{"a", true}, {"b", false}, {"cross", false}},
			"only_b": {{"b", false}},
			"none":   nil,
		}
		for n, w := range want {
			if got := deps(running[n]); !slices.Equal(got, w) {
				t.Errorf("%s: dependencies %v, want %v", n, got, w)
			}
			running[n].finishOK(t, "success")
		}
		takeAll(1)
		if got := deps(running["dag"]); !slices.Equal(got, []dep{{"b", false}}) {
			t.Errorf("dag: dependencies %v, want b only (a is needed without artifacts)", got)
		}
		running["dag"].finishOK(t, "success")
	})
}
