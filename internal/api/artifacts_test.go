package api_test

// Job artifacts through the REST API against a real server, on both
// databases and both blob stores: uploaded by a runner (chunked and with
// a length) and fetched by its dependants, every REST download with a
// personal access token and with the job token, who may not, expiry and
// the sweeper, deletion.

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ciwarden/ciwarden/internal/ci"
	"github.com/ciwarden/ciwarden/internal/testserver"
)

func TestArtifactsRoundTrip(t *testing.T) {
	testserver.ForEachStorage(t, testserver.Options{}, testArtifactsRoundTrip)
}

func testArtifactsRoundTrip(t *testing.T, s *testserver.Server) {
	e := s.NewTeamCI(t, testserver.ArtifactsCI)
	p := e.Project
	build := e.Take(t, "build")

	// The payload asks for the archive and the junit report.
	testserver.CheckRawPayload(t, build.Raw)
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
	archive := testserver.Zip(t, files)
	// Chunked, as gitlab-runner sends it.
	r := s.UploadArtifact(t, build.ID, build.Token, "artifact_format=zip&artifact_type=archive&expire_in=1+week", archive, true)
	testserver.WantStatus(t, r, http.StatusCreated)
	// A report, with a Content-Length.
	testserver.WantStatus(t, s.UploadArtifact(t, build.ID, build.Token, "artifact_format=gzip&artifact_type=junit", []byte("\x1f\x8bjunit"), false), http.StatusCreated)
	if got, want := s.ArtifactRows(t, build.ID), []string{fmt.Sprintf("archive=%d", len(archive)), "junit=7"}; !slices.Equal(got, want) {
		t.Fatalf("rows %v, want %v", got, want)
	}
	// A second archive replaces the first, blob included.
	testserver.WantStatus(t, s.UploadArtifact(t, build.ID, build.Token, "artifact_type=archive", archive, false), http.StatusCreated)
	if keys := s.ArtifactBlobs(t, p.ID); len(keys) != 2 {
		t.Fatalf("blobs after replacing the archive: %v, want 2 (archive, junit)", keys)
	}
	build.FinishOK(t, "success")

	test := e.Take(t, "test")
	testserver.CheckRawPayload(t, test.Raw)
	if deps := test.Payload.Dependencies; len(deps) != 1 || deps[0].ID != build.ID || deps[0].Name != "build" ||
		deps[0].Token != test.Token || deps[0].ArtifactsFile.Filename != "artifacts.zip" || deps[0].ArtifactsFile.Size != int64(len(archive)) {
		t.Fatalf("test's dependencies %+v; want build with artifacts.zip of %d bytes and test's own token", deps, len(archive))
	}

	base := "/api/v4/projects/" + testserver.Itoa(p.ID) + "/jobs/"
	jobArts := base + testserver.Itoa(build.ID) + "/artifacts"
	wantZip := func(t *testing.T, r *testserver.Resp, what string) {
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
		if cl := r.Header.Get("Content-Length"); cl != testserver.Itoa(int64(len(archive))) {
			t.Errorf("%s: Content-Length %q", what, cl)
		}
	}

	t.Run("runner dependency download", func(t *testing.T) {
		wantZip(t, s.GetWith(t, "/api/v4/jobs/"+testserver.Itoa(build.ID)+"/artifacts", "JOB-TOKEN", test.Token), "GET /jobs/:id/artifacts with a running job's token")
		// The dependency's own token is dead.
		r := s.GetWith(t, "/api/v4/jobs/"+testserver.Itoa(build.ID)+"/artifacts", "JOB-TOKEN", build.Token)
		if r.Status != http.StatusForbidden || r.Header.Get("Job-Status") != "success" {
			t.Errorf("with the finished job's token: %s, Job-Status %q; want 403 success", r, r.Header.Get("Job-Status"))
		}
		for _, tok := range []string{"", "cwjob-unknown-token-0000000000000000"} {
			testserver.WantStatus(t, s.GetWith(t, "/api/v4/jobs/"+testserver.Itoa(build.ID)+"/artifacts", "JOB-TOKEN", tok), http.StatusForbidden)
		}
		// An unknown job looks like one the user may not read.
		testserver.WantStatus(t, s.GetWith(t, "/api/v4/jobs/99999999/artifacts", "JOB-TOKEN", test.Token), http.StatusForbidden)
		// The running job itself has no archive: 404.
		testserver.WantStatus(t, s.GetWith(t, "/api/v4/jobs/"+testserver.Itoa(test.ID)+"/artifacts", "JOB-TOKEN", test.Token), http.StatusNotFound)
		// The JOB-TOKEN header is the only transport (runner-protocol.md
		// §10.2): a live token or a Developer's PAT anywhere else leaves
		// the request anonymous, which the runner protocol refuses.
		deps := "/api/v4/jobs/" + testserver.Itoa(build.ID) + "/artifacts"
		for what, r := range map[string]*testserver.Resp{
			"?job_token=":     s.GetWith(t, deps+"?job_token="+test.Token, "", ""),
			"?token=":         s.GetWith(t, deps+"?token="+test.Token, "", ""),
			"?private_token=": s.GetWith(t, deps+"?private_token="+e.Dev.Token, "", ""),
			"PRIVATE-TOKEN":   s.GetWith(t, deps, "PRIVATE-TOKEN", e.Dev.Token),
			"Bearer":          s.GetWith(t, deps, "Authorization", "Bearer "+test.Token),
		} {
			if r.Status != http.StatusForbidden || !strings.Contains(string(r.Body), "403 Forbidden") {
				t.Errorf("dependency download with the credential in %s: %s, want 403 Forbidden", what, r)
			}
		}
	})
	// Downloads by ref need a successful pipeline: finish this one, and
	// take the job token of a second pipeline's job (reader) from here on.
	test.FinishOK(t, "success")
	e.Repo.CommitPush(t, "again", map[string]string{"x.txt": "x"})
	reader := e.Take(t, "build")

	t.Run("API downloads", func(t *testing.T) {
		wantZip(t, s.GetWith(t, jobArts, "PRIVATE-TOKEN", e.Dev.Token), "by job, PAT")
		wantZip(t, s.GetWith(t, jobArts, "PRIVATE-TOKEN", e.Reporter.Token), "by job, reporter")
		wantZip(t, s.GetWith(t, jobArts, "JOB-TOKEN", reader.Token), "by job, JOB-TOKEN")
		wantZip(t, s.GetWith(t, jobArts+"?job_token="+reader.Token, "", ""), "by job, job_token")
		wantZip(t, s.GetWith(t, jobArts, "Authorization", "Bearer "+reader.Token), "by job, Bearer job token")
		byRef := base + "artifacts/main/download?job=build"
		wantZip(t, s.GetWith(t, byRef, "PRIVATE-TOKEN", e.Dev.Token), "by ref, PAT")
		wantZip(t, s.GetWith(t, byRef+"&job_token="+reader.Token, "", ""), "by ref, job_token")
		wantZip(t, s.GetWith(t, byRef, "JOB-TOKEN", reader.Token), "by ref, JOB-TOKEN")
		r := s.GetWith(t, jobArts, "PRIVATE-TOKEN", e.Dev.Token)
		// Range requests work (resumed downloads).
		req := s.NewRequest(t, "GET", jobArts, "", nil)
		req.Header.Set("PRIVATE-TOKEN", e.Dev.Token)
		req.Header.Set("Range", "bytes=0-9")
		if rr := s.Send(t, req); rr.Status != http.StatusPartialContent || !bytes.Equal(rr.Body, r.Body[:10]) {
			t.Errorf("Range 0-9: %s", rr)
		}

		for path, want := range map[string]string{
			jobArts + "/out/a.txt":                              files["out/a.txt"],
			jobArts + "/out/dir/b.txt":                          files["out/dir/b.txt"],
			base + "artifacts/main/raw/out/a.txt?job=build":     files["out/a.txt"],
			base + "artifacts/main/raw/out/dir/b.txt?job=build": files["out/dir/b.txt"],
		} {
			for _, cred := range [][2]string{{"PRIVATE-TOKEN", e.Dev.Token}, {"JOB-TOKEN", reader.Token}} {
				r := s.GetWith(t, path, cred[0], cred[1])
				if r.Status != http.StatusOK || string(r.Body) != want {
					t.Errorf("%s with %s: %s; want 200 and the file", path, cred[0], r)
				}
				if cl := r.Header.Get("Content-Length"); cl != testserver.Itoa(int64(len(want))) {
					t.Errorf("%s: Content-Length %q, want %d", path, cl, len(want))
				}
			}
		}
		wantMsg := func(path string, status int, body string) {
			t.Helper()
			r := s.GetWith(t, path, "PRIVATE-TOKEN", e.Dev.Token)
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
		wantMsg(base+testserver.Itoa(test.ID)+"/artifacts", 404, `{"message":"404 Not Found"}`)

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
		s.Expect(t, "GET", testserver.API+"/projects/"+testserver.Itoa(p.ID)+"/jobs/"+testserver.Itoa(build.ID), e.Dev.Token, nil, 200).JSON(t, &job)
		if job.ArtifactsFile == nil || job.ArtifactsFile.Filename != "artifacts.zip" || job.ArtifactsFile.Size != int64(len(archive)) ||
			len(job.Artifacts) != 2 || job.Artifacts[0].FileType != "archive" || job.Artifacts[0].FileFormat != "zip" ||
			job.Artifacts[1].FileType != "junit" || job.Artifacts[1].FileFormat != "gzip" || job.ExpireAt == nil ||
			time.Until(*job.ExpireAt) < 29*24*time.Hour || time.Until(*job.ExpireAt) > 30*24*time.Hour {
			// The last upload gave no expire_in: GitLab's default, 30 days.
			t.Errorf("job entity artifacts: %+v", job)
		}
		var list []map[string]any
		s.Expect(t, "GET", testserver.API+"/projects/"+testserver.Itoa(p.ID)+"/jobs", e.Dev.Token, nil, 200).JSON(t, &list)
		for _, j := range list {
			_, has := j["artifacts_file"]
			if has != (testserver.Num(t, j, "id") == build.ID) {
				t.Errorf("job list: job %v artifacts_file present %v", j["name"], has)
			}
		}
	})

	t.Run("who may not", func(t *testing.T) {
		paths := []string{jobArts, jobArts + "/out/a.txt", base + "artifacts/main/download?job=build",
			base + "artifacts/main/raw/out/a.txt?job=build"}
		for _, path := range paths {
			// Cannot see the project: 404, signed in or not.
			for _, tok := range []string{e.Outsider.Token, ""} {
				r := s.GetWith(t, path, "PRIVATE-TOKEN", tok)
				if r.Status != http.StatusNotFound || !strings.Contains(string(r.Body), "404 Project Not Found") {
					t.Errorf("%s as an outsider (token %v): %s, want 404 Project Not Found", path, tok != "", r)
				}
			}
			// A guest sees the project but not its artifacts.
			testserver.WantStatus(t, s.GetWith(t, path, "PRIVATE-TOKEN", e.Guest.Token), http.StatusForbidden)
			// A dead job token: 401.
			r := s.GetWith(t, path, "JOB-TOKEN", build.Token)
			if r.Status != http.StatusUnauthorized || strings.TrimSpace(string(r.Body)) != `{"message":"401 Unauthorized"}` {
				t.Errorf("%s with a finished job's token: %s, want 401", path, r)
			}
		}
		// A job token of a user who cannot see the project: 404 on the
		// API, 403 on the runner's download.
		other := s.CreateProject(t, s.CreateGroup(t, "elsewhere", 0, "private"), "other", "private")
		s.AddMember(t, "projects", other.ID, e.Outsider.ID, 40)
		s.PushCI(t, other.Path, e.Outsider, map[string]string{".gitlab-ci.yml": "probe:\n  script: [x]\n"})
		probe := e.Take(t, "probe")
		for _, path := range paths {
			r := s.GetWith(t, path, "JOB-TOKEN", probe.Token)
			if r.Status != http.StatusNotFound {
				t.Errorf("%s with an outsider's job token: %s, want 404", path, r)
			}
		}
		testserver.WantStatus(t, s.GetWith(t, "/api/v4/jobs/"+testserver.Itoa(build.ID)+"/artifacts", "JOB-TOKEN", probe.Token), http.StatusForbidden)
		probe.FinishOK(t, "success")
	})

	t.Run("delete", func(t *testing.T) {
		// Developers may not; a job token is not accepted at all.
		s.Expect(t, "DELETE", testserver.API+"/projects/"+testserver.Itoa(p.ID)+"/jobs/"+testserver.Itoa(build.ID)+"/artifacts", e.Dev.Token, nil, http.StatusForbidden)
		req := s.NewRequest(t, "DELETE", jobArts, "", nil)
		req.Header.Set("JOB-TOKEN", reader.Token)
		testserver.WantStatus(t, s.Send(t, req), http.StatusUnauthorized)
		s.Expect(t, "DELETE", testserver.API+"/projects/"+testserver.Itoa(p.ID)+"/jobs/"+testserver.Itoa(build.ID)+"/artifacts", e.Outsider.Token, nil, http.StatusNotFound)
		if keys := s.ArtifactBlobs(t, p.ID); len(keys) != 2 {
			t.Fatalf("blobs after refused deletes: %v", keys)
		}
		s.Expect(t, "DELETE", testserver.API+"/projects/"+testserver.Itoa(p.ID)+"/jobs/"+testserver.Itoa(build.ID)+"/artifacts", e.Maint.Token, nil, http.StatusNoContent)
		s.NoArtifactsStored(t, p.ID, build.ID, "after DELETE")
		testserver.WantStatus(t, s.GetWith(t, jobArts, "PRIVATE-TOKEN", e.Dev.Token), http.StatusNotFound)
		testserver.WantStatus(t, s.GetWith(t, base+"artifacts/main/download?job=build", "PRIVATE-TOKEN", e.Dev.Token), http.StatusNotFound)
		testserver.WantStatus(t, s.GetWith(t, "/api/v4/jobs/"+testserver.Itoa(build.ID)+"/artifacts", "JOB-TOKEN", reader.Token), http.StatusNotFound)
		s.Expect(t, "DELETE", testserver.API+"/projects/"+testserver.Itoa(p.ID)+"/jobs/"+testserver.Itoa(build.ID)+"/artifacts", e.Maint.Token, nil, http.StatusNoContent)
	})
	reader.FinishOK(t, "success")
}

// TestArtifactPathRules: an archive entry with a NUL or another control
// character, or with a "." segment, is refused at upload with a message
// naming the problem and nothing is stored (but for the root directory
// entry "./"); and the same paths are refused (400) by every later read,
// by job and by ref, encoded so that they reach the handler (issue 13
// item 5).
func TestArtifactPathRules(t *testing.T) {
	testserver.ForEachDialect(t, func(t *testing.T, dialect string) {
		s := testserver.New(t, testserver.Options{Dialect: dialect})
		e := s.NewTeamCI(t, testserver.ArtifactsCI)
		build := e.Take(t, "build")
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
			r := s.UploadArtifact(t, build.ID, build.Token, "", testserver.Zip(t, map[string]string{"out/ok.txt": "ok", c.name: "payload"}), false)
			want := `{"message":"400 Bad request - artifacts archive entry \"` + c.shown + `\" has ` + c.why + `"}`
			if r.Status != http.StatusBadRequest || strings.TrimSpace(string(r.Body)) != want {
				t.Errorf("entry %q: %s; want 400 %s", c.name, r, want)
			}
			s.NoArtifactsStored(t, e.Project.ID, build.ID, fmt.Sprintf("entry %q", c.name))
		}
		// Names that only look alike are fine, and so is the root's own
		// directory entry, which gitlab-runner writes for `paths: [.]`.
		ok := map[string]string{"./": "", "out/": "", "out/a.txt": "alpha", "out/.hidden": "h", "out/..a": "dots", "out/a./b": "b"}
		testserver.WantStatus(t, s.UploadArtifact(t, build.ID, build.Token, "", testserver.Zip(t, ok), false), http.StatusCreated)
		build.FinishOK(t, "success")
		// By ref needs a successful pipeline.
		e.Take(t, "test").FinishOK(t, "success")

		jobArts := "/api/v4/projects/" + testserver.Itoa(e.Project.ID) + "/jobs/" + testserver.Itoa(build.ID) + "/artifacts/"
		byRef := "/api/v4/projects/" + testserver.Itoa(e.Project.ID) + "/jobs/artifacts/main/raw/"
		for _, path := range []string{"out/.hidden", "out/..a", "out/a./b"} {
			for _, base := range []string{jobArts, byRef} {
				if r := s.GetWith(t, base+path+"?job=build", "PRIVATE-TOKEN", e.Dev.Token); r.Status != http.StatusOK || string(r.Body) != ok[path] {
					t.Errorf("GET %s: %s, want 200 %q", base+path, r, ok[path])
				}
			}
		}
		for _, path := range []string{".%2F", ".%2Fout%2Fa.txt", "out%2F.%2Fa.txt", "out%2F.", "out%2Fa.txt%01", "out%2Fa%0A.txt", "out%2Fa%7F.txt", "out/a%C2%85.txt"} {
			for _, base := range []string{jobArts, byRef} {
				r := s.GetWith(t, base+path+"?job=build", "PRIVATE-TOKEN", e.Dev.Token)
				if r.Status != http.StatusBadRequest || strings.TrimSpace(string(r.Body)) != `{"message":"400 Bad request - invalid artifact path"}` {
					t.Errorf("GET %s: %s, want 400 invalid artifact path", base+path, r)
				}
			}
		}
	})
}

func TestArtifactExpiryAndSweep(t *testing.T) {
	testserver.ForEachStorage(t, testserver.Options{}, func(t *testing.T, s *testserver.Server) {
		e := s.NewTeamCI(t, testserver.ArtifactsCI)
		build := e.Take(t, "build")
		archive := testserver.Zip(t, map[string]string{"out/a.txt": "a"})
		testserver.WantStatus(t, s.UploadArtifact(t, build.ID, build.Token, "artifact_type=archive&expire_in=1+sec", archive, true), http.StatusCreated)
		testserver.WantStatus(t, s.UploadArtifact(t, build.ID, build.Token, "artifact_type=junit&artifact_format=gzip&expire_in=never", []byte("j"), false), http.StatusCreated)
		build.FinishOK(t, "success")
		jobArts := "/api/v4/projects/" + testserver.Itoa(e.Project.ID) + "/jobs/" + testserver.Itoa(build.ID) + "/artifacts"
		testserver.WantStatus(t, s.GetWith(t, jobArts, "PRIVATE-TOKEN", e.Dev.Token), http.StatusOK)
		time.Sleep(1100 * time.Millisecond)

		// Expired: never served, though the sweeper has not run.
		paths := []string{jobArts, jobArts + "/out/a.txt", "/api/v4/projects/" + testserver.Itoa(e.Project.ID) + "/jobs/artifacts/main/download?job=build",
			"/api/v4/projects/" + testserver.Itoa(e.Project.ID) + "/jobs/artifacts/main/raw/out/a.txt?job=build"}
		for _, path := range paths {
			testserver.WantStatus(t, s.GetWith(t, path, "PRIVATE-TOKEN", e.Dev.Token), http.StatusNotFound)
		}
		job := s.Expect(t, "GET", testserver.API+"/projects/"+testserver.Itoa(e.Project.ID)+"/jobs/"+testserver.Itoa(build.ID), e.Dev.Token, nil, 200).Object(t)
		if _, has := job["artifacts_file"]; has || job["artifacts_expire_at"] != nil || len(job["artifacts"].([]any)) != 1 {
			t.Errorf("job entity after expiry: artifacts_file %v, expire_at %v, artifacts %v", job["artifacts_file"], job["artifacts_expire_at"], job["artifacts"])
		}
		test := e.Take(t, "test")
		if deps := test.Payload.Dependencies; len(deps) != 1 || deps[0].ArtifactsFile.Filename != "" {
			t.Errorf("dependency on an expired archive: %+v, want no artifacts_file", deps)
		}
		testserver.WantStatus(t, s.GetWith(t, "/api/v4/jobs/"+testserver.Itoa(build.ID)+"/artifacts", "JOB-TOKEN", test.Token), http.StatusNotFound)
		test.FinishOK(t, "success")

		sw := &ci.ArtifactSweeper{Store: s.Srv.Store(), Blobs: s.Srv.Blobs(), Now: time.Now}
		if n, err := sw.Sweep(context.Background()); err != nil || n != 1 {
			t.Fatalf("Sweep = %d, %v; want the one expired archive", n, err)
		}
		if rows := s.ArtifactRows(t, build.ID); !slices.Equal(rows, []string{"junit=1"}) {
			t.Errorf("rows after the sweep: %v, want the junit that never expires", rows)
		}
		if keys := s.ArtifactBlobs(t, e.Project.ID); len(keys) != 1 {
			t.Errorf("blobs after the sweep: %v, want the junit's only", keys)
		}
		if n, err := sw.Sweep(context.Background()); err != nil || n != 0 {
			t.Errorf("second Sweep = %d, %v", n, err)
		}

		// Erasing the job deletes the rest; deleting a pipeline leaves
		// rows the sweeper clears.
		s.Expect(t, "POST", testserver.API+"/projects/"+testserver.Itoa(e.Project.ID)+"/jobs/"+testserver.Itoa(build.ID)+"/erase", e.Maint.Token, nil, http.StatusCreated)
		s.NoArtifactsStored(t, e.Project.ID, build.ID, "after erase")
	})
}

func TestArtifactsOfDeletedPipelineSwept(t *testing.T) {
	testserver.ForEachStorage(t, testserver.Options{}, func(t *testing.T, s *testserver.Server) {
		e := s.NewTeamCI(t, testserver.ArtifactsCI)
		build := e.Take(t, "build")
		testserver.WantStatus(t, s.UploadArtifact(t, build.ID, build.Token, "expire_in=never", testserver.Zip(t, map[string]string{"a": "a"}), true), http.StatusCreated)
		build.FinishOK(t, "success")
		pl := testserver.Num(t, s.Job(t, e.Project.ID, build.ID)["pipeline"].(map[string]any), "id")
		s.Expect(t, "POST", testserver.API+"/projects/"+testserver.Itoa(e.Project.ID)+"/pipelines/"+testserver.Itoa(pl)+"/cancel", e.Maint.Token, nil, http.StatusCreated)
		s.Expect(t, "DELETE", testserver.API+"/projects/"+testserver.Itoa(e.Project.ID)+"/pipelines/"+testserver.Itoa(pl), s.RootToken, nil, http.StatusNoContent)
		sw := &ci.ArtifactSweeper{Store: s.Srv.Store(), Blobs: s.Srv.Blobs(), Now: time.Now}
		if n, err := sw.Sweep(context.Background()); err != nil || n != 1 {
			t.Fatalf("Sweep after deleting the pipeline = %d, %v; want its job's archive", n, err)
		}
		s.NoArtifactsStored(t, e.Project.ID, build.ID, "after the sweep")
	})
}
