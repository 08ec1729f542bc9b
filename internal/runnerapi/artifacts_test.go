package runnerapi_test

// Job artifacts on the runner's side, against a real server on both
// databases and both blob stores: uploads refused (leaving nothing
// stored) and the payload's dependencies[] decoded with gitlab-runner's
// types. The REST downloads are internal/api's tests.

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/ciwarden/ciwarden/internal/testserver"
)

func TestArtifactUploadRefusals(t *testing.T) {
	const max = 64 << 10
	testserver.ForEachStorage(t, testserver.Options{MaxArtifactsSize: max}, func(t *testing.T, s *testserver.Server) {
		e := s.NewTeamCI(t, testserver.ArtifactsCI)
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
		e := s.NewTeamCI(t, testserver.ArtifactsCI)
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
				testserver.CheckRawPayload(t, j.Raw)
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
