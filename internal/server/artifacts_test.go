package server_test

// Job artifacts end to end against a real server, on both databases and
// both blob stores: the runner's upload (chunked and with a length) and
// dependency download, every REST download with a personal access token
// and with the job token, refusals that must leave nothing stored,
// expiry and the sweeper, deletion, and the payload's artifacts[] and
// dependencies[] decoded with gitlab-runner's types.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ciwarden/ciwarden/internal/ci"
	"github.com/ciwarden/ciwarden/internal/testserver"
)

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

func TestArtifactsRoundTrip(t *testing.T) {
	testserver.ForEachStorage(t, testserver.Options{}, testArtifactsRoundTrip)
}

func testArtifactsRoundTrip(t *testing.T, s *testserver.Server) {
	e := s.NewTeamCI(t, artifactsCI)
	p := e.Project
	build := e.Take(t, "build")

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
	checkRawPayload(t, test.Raw)
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

func TestArtifactUploadRefusals(t *testing.T) {
	const max = 64 << 10
	testserver.ForEachStorage(t, testserver.Options{MaxArtifactsSize: max}, func(t *testing.T, s *testserver.Server) {
		e := s.NewTeamCI(t, artifactsCI)
		build := e.Take(t, "build")
		refused := func(what string, r *testserver.Resp, status int) {
			t.Helper()
			if r.Status != status {
				t.Errorf("%s: %s, want %d", what, r, status)
			}
			s.NoArtifactsStored(t, e.Project.ID, build.ID, what)
		}
		big := bytes.Repeat([]byte("z"), max+1)
		refused("one byte over, chunked", s.UploadArtifact(t, build.ID, build.Token, "artifact_type=junit&artifact_format=gzip", big, true), 413)
		refused("one byte over, Content-Length", s.UploadArtifact(t, build.ID, build.Token, "artifact_type=junit&artifact_format=gzip", big, false), 413)
		huge := bytes.Repeat([]byte("z"), 3*max+(1<<20))
		refused("declared far too large", s.UploadArtifact(t, build.ID, build.Token, "", huge, false), 413)
		// Exactly the maximum is fine.
		testserver.WantStatus(t, s.UploadArtifact(t, build.ID, build.Token, "artifact_type=junit&artifact_format=gzip", big[:max], true), http.StatusCreated)
		s.Expect(t, "GET", testserver.API+"/projects/"+testserver.Itoa(e.Project.ID)+"/jobs/"+testserver.Itoa(build.ID), e.Dev.Token, nil, 200)
		if rows := s.ArtifactRows(t, build.ID); !slices.Equal(rows, []string{fmt.Sprintf("junit=%d", max)}) {
			t.Fatalf("rows after an upload of exactly the maximum: %v", rows)
		}
		s.Expect(t, "DELETE", testserver.API+"/projects/"+testserver.Itoa(e.Project.ID)+"/jobs/"+testserver.Itoa(build.ID)+"/artifacts", e.Maint.Token, nil, http.StatusNoContent)

		for _, name := range []string{"../evil.sh", "out/../../evil", "/etc/passwd", `out\..\evil`, "C:/evil", "out/\x00nul", "..", "a/.."} {
			zipBody := testserver.Zip(t, map[string]string{"out/ok.txt": "ok", name: "payload"})
			refused(fmt.Sprintf("entry %q", name), s.UploadArtifact(t, build.ID, build.Token, "artifact_type=archive&artifact_format=zip", zipBody, true), 400)
		}
		refused("not a zip", s.UploadArtifact(t, build.ID, build.Token, "", []byte("this is not a zip"), false), 400)
		okZip := testserver.Zip(t, map[string]string{"out/ok.txt": "ok"})
		for q, what := range map[string]string{
			"expire_in=soonish":                          "bad expire_in",
			"expire_in=3+fortnights":                     "unknown unit",
			"artifact_type=bogus":                        "unknown type",
			"artifact_type=archive&artifact_format=gzip": "archive not zip",
			"artifact_type=junit&artifact_format=tar":    "unknown format",
		} {
			refused(what, s.UploadArtifact(t, build.ID, build.Token, q, okZip, false), 400)
		}
		ct, body := testserver.ArtifactMultipart(t, "x.zip", okZip)
		refused("no file field", s.UploadArtifactRaw(t, build.ID, build.Token, "", ct, bytes.Replace(body, []byte(`name="file"`), []byte(`name="other"`), 1), false), 400)
		refused("not multipart", s.UploadArtifactRaw(t, build.ID, build.Token, "", "application/zip", okZip, false), 400)
		refused("truncated body", s.UploadArtifactRaw(t, build.ID, build.Token, "", ct, body[:len(body)-60], true), 400)
		// Tokens: none, another job's, unknown.
		refused("no token", s.UploadArtifact(t, build.ID, "", "", okZip, false), 403)
		refused("unknown token", s.UploadArtifact(t, build.ID, "cwjob-nope-nope-nope", "", okZip, false), 403)

		// A client that dies mid-upload leaves nothing either.
		t.Run("aborted upload", func(t *testing.T) {
			ct, body := testserver.ArtifactMultipart(t, "artifacts.zip", bytes.Repeat([]byte("q"), max/2))
			pr, pw := io.Pipe()
			req, err := http.NewRequest("POST", s.URL+"/api/v4/jobs/"+testserver.Itoa(build.ID)+"/artifacts?artifact_type=junit&artifact_format=gzip", pr)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", ct)
			req.Header.Set("JOB-TOKEN", build.Token)
			done := make(chan error, 1)
			go func() {
				res, err := s.Client().Do(req)
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
			for len(s.ArtifactRows(t, build.ID)) > 0 || len(s.ArtifactBlobs(t, e.Project.ID)) > 0 {
				if time.Now().After(deadline) {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			s.NoArtifactsStored(t, e.Project.ID, build.ID, "aborted upload")
		})

		// A job that finished: 403 with its status.
		build.FinishOK(t, "success")
		r := s.UploadArtifact(t, build.ID, build.Token, "", okZip, false)
		if r.Status != http.StatusForbidden || r.Header.Get("Job-Status") != "success" {
			t.Errorf("upload after the final update: %s, Job-Status %q; want 403 success", r, r.Header.Get("Job-Status"))
		}
		s.NoArtifactsStored(t, e.Project.ID, build.ID, "upload after the end")
	})
}

func TestArtifactExpiryAndSweep(t *testing.T) {
	testserver.ForEachStorage(t, testserver.Options{}, func(t *testing.T, s *testserver.Server) {
		e := s.NewTeamCI(t, artifactsCI)
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
		e := s.NewTeamCI(t, artifactsCI)
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
	testserver.ForEachStorage(t, testserver.Options{}, func(t *testing.T, s *testserver.Server) {
		e := s.NewTeamCI(t, artifactsCI)
		// P's build uploads its archive; its pipeline succeeds.
		build := e.Take(t, "build")
		archive := testserver.Zip(t, map[string]string{"out/p.txt": "from P"})
		testserver.WantStatus(t, s.UploadArtifact(t, build.ID, build.Token, "", archive, true), http.StatusCreated)
		build.FinishOK(t, "success")
		e.Take(t, "test").FinishOK(t, "success")

		// A project the dev cannot see, with a successful build too.
		hidden := s.CreateGroup(t, "hidden", 0, "private")
		secret := s.CreateProject(t, hidden, "secret", "private")
		s.AddMember(t, "projects", secret.ID, e.Maint.ID, 40)
		s.PushCI(t, secret.Path, e.Maint, map[string]string{".gitlab-ci.yml": "build:\n  script: [x]\n"})
		sb := e.Take(t, "build")
		testserver.WantStatus(t, s.UploadArtifact(t, sb.ID, sb.Token, "", archive, false), http.StatusCreated)
		sb.FinishOK(t, "success")

		q := s.CreateProject(t, s.CreateGroup(t, "consumer", 0, "private"), "q", "private")
		s.AddMember(t, "projects", q.ID, e.Dev.ID, 30)
		// P lets q's jobs in; the hidden project would too, but the dev
		// cannot see it.
		s.AllowJobTokens(t, e.Project.ID, q.ID)
		s.AllowJobTokens(t, secret.ID, q.ID)
		s.PushCI(t, q.Path, e.Dev, map[string]string{".gitlab-ci.yml": depsCI})

		type dep struct {
			name  string
			files bool
		}
		deps := func(j *testserver.RunningJob) []dep {
			var out []dep
			for _, d := range j.Payload.Dependencies {
				if d.Token != j.Token {
					t.Errorf("%s: dependency %s carries another token", j.Payload.JobInfo.Name, d.Name)
				}
				out = append(out, dep{d.Name, d.ArtifactsFile.Filename != ""})
			}
			return out
		}
		running := map[string]*testserver.RunningJob{}
		takeAll := func(n int) {
			for i := 0; i < n; i++ {
				j := e.Runner.TakeJob(t)
				j.Start(t)
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
		r := s.GetWith(t, "/api/v4/jobs/"+testserver.Itoa(build.ID)+"/artifacts", "JOB-TOKEN", cross.Token)
		if r.Status != http.StatusOK || !bytes.Equal(r.Body, archive) {
			t.Errorf("cross-project dependency download: %s", r)
		}
		// But not the hidden project's.
		testserver.WantStatus(t, s.GetWith(t, "/api/v4/jobs/"+testserver.Itoa(sb.ID)+"/artifacts", "JOB-TOKEN", cross.Token), http.StatusForbidden)

		aZip := testserver.Zip(t, map[string]string{"a.txt": "a"})
		testserver.WantStatus(t, s.UploadArtifact(t, running["a"].ID, running["a"].Token, "", aZip, true), http.StatusCreated)
		for _, n := range []string{"a", "b", "cross"} {
			running[n].FinishOK(t, "success")
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
			running[n].FinishOK(t, "success")
		}
		takeAll(1)
		if got := deps(running["dag"]); !slices.Equal(got, []dep{{"b", false}}) {
			t.Errorf("dag: dependencies %v, want b only (a is needed without artifacts)", got)
		}
		running["dag"].FinishOK(t, "success")
	})
}
