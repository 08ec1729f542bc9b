package runnerapi_test

import (
	"archive/zip"
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ciwarden/ciwarden/internal/testserver"
)

// builtinArtifactsCI: build writes files and declares artifacts (with an
// exclude); test, a later stage, must find them in its checkout; a
// failing job uploads its on_failure artifacts and not its on_success
// ones.
const builtinArtifactsCI = `
stages: [build, test]
build:
  stage: build
  script:
    - mkdir -p out/sub
    - echo hello > out/a.txt
    - echo deep > out/sub/b.txt
    - echo scratch > out/skip.tmp
    - chmod 755 out/sub/b.txt
  artifacts:
    name: bundle
    paths: [out/]
    exclude: ["out/*.tmp"]
    expire_in: 1 week
broken:
  stage: build
  script:
    - echo evidence > crash.log
    - exit 3
  allow_failure: true
  artifacts:
    when: on_failure
    paths: [crash.log]
test:
  stage: test
  dependencies: [build]
  script:
    - test "$(cat out/a.txt)" = hello
    - test "$(cat out/sub/b.txt)" = deep
    - test -x out/sub/b.txt
    - test ! -e out/skip.tmp
    - test ! -e crash.log
`

// waitPipeline polls until the pipeline is finished and returns its jobs
// by name.
func waitPipeline(t *testing.T, s *testserver.Server, p testserver.Project, id int64) (string, map[string]map[string]any) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		pl := s.Expect(t, "GET", testserver.API+"/projects/"+testserver.Itoa(p.ID)+"/pipelines/"+testserver.Itoa(id), s.RootToken, nil, http.StatusOK).Object(t)
		status, _ := pl["status"].(string)
		switch status {
		case "success", "failed", "canceled":
			var list []map[string]any
			s.Expect(t, "GET", testserver.API+"/projects/"+testserver.Itoa(p.ID)+"/pipelines/"+testserver.Itoa(id)+"/jobs", s.RootToken, nil, http.StatusOK).JSON(t, &list)
			jobs := map[string]map[string]any{}
			for _, j := range list {
				name, _ := j["name"].(string)
				jobs[name] = j
			}
			return status, jobs
		}
		if time.Now().After(deadline) {
			t.Fatalf("pipeline %d still %s", id, status)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestBuiltinRunnerArtifacts(t *testing.T) {
	testserver.ForEachStorage(t, testserver.Options{}, testBuiltinRunnerArtifacts)
}

func testBuiltinRunnerArtifacts(t *testing.T, s *testserver.Server) {
	group := s.CreateGroup(t, "arts", 0, "private")
	p := s.CreateProject(t, group, "app", "private")
	dev := s.CreateUser(t, "dev")
	s.AddMember(t, "groups", group, dev.ID, 30)
	s.StartBuiltinRunner(t)
	s.PushCI(t, p.Path, dev, map[string]string{".gitlab-ci.yml": builtinArtifactsCI})
	var list []map[string]any
	s.Expect(t, "GET", testserver.API+"/projects/"+testserver.Itoa(p.ID)+"/pipelines", s.RootToken, nil, http.StatusOK).JSON(t, &list)
	if len(list) != 1 {
		t.Fatalf("%d pipelines", len(list))
	}
	status, jobs := waitPipeline(t, s, p, testserver.Num(t, list[0], "id"))
	trace := func(name string) string {
		return string(s.Expect(t, "GET", testserver.API+"/projects/"+testserver.Itoa(p.ID)+"/jobs/"+testserver.Itoa(testserver.Num(t, jobs[name], "id"))+"/trace", s.RootToken, nil, http.StatusOK).Body)
	}
	if status != "success" || jobs["build"]["status"] != "success" || jobs["test"]["status"] != "success" || jobs["broken"]["status"] != "failed" {
		t.Fatalf("pipeline %s, jobs build=%v broken=%v test=%v\nbuild:\n%s\ntest:\n%s", status, jobs["build"]["status"],
			jobs["broken"]["status"], jobs["test"]["status"], trace("build"), trace("test"))
	}
	buildID := testserver.Num(t, jobs["build"], "id")

	// The logs say what happened, as gitlab-runner's do.
	for name, wants := range map[string][]string{
		"build": {"Uploading artifacts for successful job", "out: found 4 matching artifact files and directories",
			"out/*.tmp: excluded 1 files", `Uploading artifacts as "archive" to coordinator... 201 Created`},
		"test":   {"Downloading artifacts for build (" + testserver.Itoa(buildID) + ")...", "Downloading artifacts from coordinator... ok"},
		"broken": {"Uploading artifacts for failed job", "crash.log: found 1 matching artifact files and directories"},
	} {
		tr := trace(name)
		for _, w := range wants {
			if !strings.Contains(tr, w) {
				t.Errorf("%s log lacks %q:\n%s", name, w, tr)
			}
		}
	}

	// The archive is downloadable through the API, as uploaded.
	r := s.Expect(t, "GET", testserver.API+"/projects/"+testserver.Itoa(p.ID)+"/jobs/"+testserver.Itoa(buildID)+"/artifacts", dev.Token, nil, http.StatusOK)
	zr, err := zip.NewReader(bytes.NewReader(r.Body), int64(len(r.Body)))
	if err != nil {
		t.Fatalf("artifacts are not a zip: %v", err)
	}
	got := map[string]string{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		got[f.Name] = string(b)
		if f.Name == "out/sub/b.txt" && f.Mode().Perm() != 0o755 {
			t.Errorf("b.txt mode %v, want 0755", f.Mode())
		}
	}
	want := map[string]string{"out/": "", "out/a.txt": "hello\n", "out/sub/": "", "out/sub/b.txt": "deep\n"}
	if len(got) != len(want) {
		t.Fatalf("archive entries %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	// The failed job's on_failure artifacts are there too.
	r = s.Expect(t, "GET", testserver.API+"/projects/"+testserver.Itoa(p.ID)+"/jobs/"+testserver.Itoa(testserver.Num(t, jobs["broken"], "id"))+"/artifacts", dev.Token, nil, http.StatusOK)
	if zr, err := zip.NewReader(bytes.NewReader(r.Body), int64(len(r.Body))); err != nil || len(zr.File) != 1 || zr.File[0].Name != "crash.log" {
		t.Fatalf("broken's artifacts: %v %v", err, zr)
	}
	// The test job declared none.
	s.Expect(t, "GET", testserver.API+"/projects/"+testserver.Itoa(p.ID)+"/jobs/"+testserver.Itoa(testserver.Num(t, jobs["test"], "id"))+"/artifacts", dev.Token, nil, http.StatusNotFound)
}
