package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/ciwarden/ciwarden/internal/testserver"
)

// TestArtifactsAndPackagesWithJobToken is issue 6's acceptance, with the
// built-in runner, on both databases and both blob stores:
//
//   - a job in project P uploads artifacts (artifacts:paths) and publishes a
//     generic package with $CI_JOB_TOKEN, with the curl line of GitLab's
//     docs;
//   - a job in project Q downloads P's artifacts by ref and job name with
//     job_token=$CI_JOB_TOKEN, and P's package with the JOB-TOKEN header;
//   - a needs:project job in Q receives P's artifacts in its working tree;
//   - a user without access to P gets 404 on each, with a personal access
//     token and with a job token of their own.
func TestArtifactsAndPackagesWithJobToken(t *testing.T) {
	forEachStorage(t, []string{"--runners", "2", "--runner-long-poll", "2s"}, testArtifactsAndPackages)
}

const producerCI = `build:
  stage: build
  script:
    - mkdir -p out && echo "built by job $CI_JOB_ID" > out/result.txt && echo scratch > out/skip.tmp
    - echo "package payload" > pkg.bin
    - 'curl -sf --header "JOB-TOKEN: $CI_JOB_TOKEN" --upload-file pkg.bin "${CI_API_V4_URL}/projects/${CI_PROJECT_ID}/packages/generic/mypkg/1.0.0/pkg.bin"'
  artifacts:
    paths: [out/]
    exclude: ["out/*.tmp"]
    expire_in: 1 week
`

// consumerCI downloads P's artifacts and package by hand (fetch), and
// receives them through needs:project (cross).
const consumerCI = `fetch:
  stage: test
  script:
    - 'curl -sf --location --output artifacts.zip "$CI_API_V4_URL/projects/$P_ID/jobs/artifacts/main/download?job=build&job_token=$CI_JOB_TOKEN"'
    - unzip -p artifacts.zip out/result.txt | grep "built by job"
    - '! unzip -l artifacts.zip | grep skip.tmp'
    - 'curl -sf --header "JOB-TOKEN: $CI_JOB_TOKEN" --output pkg.bin "$CI_API_V4_URL/projects/$P_ID/packages/generic/mypkg/1.0.0/pkg.bin"'
    - grep "package payload" pkg.bin
cross:
  stage: test
  needs:
    - project: team/producer
      job: build
      ref: main
      artifacts: true
  script:
    - grep "built by job" out/result.txt
`

// outsiderCI is run by a user who cannot see P: every way in is a 404.
const outsiderCI = `probe:
  script:
    - code=$(curl -s -o /dev/null -w '%{http_code}' "$CI_API_V4_URL/projects/$P_ID/jobs/artifacts/main/download?job=build&job_token=$CI_JOB_TOKEN"); echo "artifacts $code"; test "$code" = 404
    - 'code=$(curl -s -o /dev/null -w "%{http_code}" --header "JOB-TOKEN: $CI_JOB_TOKEN" "$CI_API_V4_URL/projects/$P_ID/packages/generic/mypkg/1.0.0/pkg.bin"); echo "package $code"; test "$code" = 404'
`

func testArtifactsAndPackages(t *testing.T, s *testserver.Server) {
	alice := s.CreateUser(t, "alice")
	bob := s.CreateUser(t, "bob")
	team := s.CreateGroup(t, "team", 0, "private")
	s.AddMember(t, "groups", team, alice.ID, 30)
	pID, pPath := s.CreateProject(t, team, "producer", "private").IDPath()
	qID, qPath := s.CreateProject(t, team, "consumer", "private").IDPath()
	bobs := s.CreateGroup(t, "bobs", 0, "private")
	s.AddMember(t, "groups", bobs, bob.ID, 40)
	rID, rPath := s.CreateProject(t, bobs, "outside", "private").IDPath()

	g := testserver.NewGit(t)
	push := func(path, token, ci string) {
		dir := g.Init(t, s.GitURL("u", token, path))
		g.Commit(t, dir, "ci", map[string]string{".gitlab-ci.yml": ci})
		g.Run(t, dir, "push", "--quiet", "origin", "HEAD:main")
	}
	vars := []map[string]string{{"key": "P_ID", "value": testserver.Itoa(pID)}}

	// P lets the consumer's jobs in; the outsider's stay out.
	s.AllowJobTokens(t, pID, qID)
	push(pPath, alice.Token, producerCI)
	producer := waitPipeline(t, s, pID, alice.Token, 0)
	buildJob := pipelineJob(t, s, pID, producer, "build", alice.Token)
	if st := pipelineStatus(t, s, pID, producer, alice.Token); st != "success" {
		t.Fatalf("producer pipeline %s; build log:\n%s", st, jobLog(t, s, pID, buildJob, alice.Token))
	}

	// The consumer's pipeline is created over the API, to pass P's ID.
	push(qPath, alice.Token, consumerCI)
	waitPipeline(t, s, qID, alice.Token, 0) // the push pipeline (P_ID unset) may fail; it is not the one checked
	consumer := testserver.Num(t, s.Expect(t, "POST", api+"/projects/"+testserver.Itoa(qID)+"/pipeline", alice.Token,
		map[string]any{"ref": "main", "variables": vars}, 201).Object(t), "id")
	waitPipeline(t, s, qID, alice.Token, consumer)
	for _, name := range []string{"fetch", "cross"} {
		j := pipelineJob(t, s, qID, consumer, name, alice.Token)
		if st := jobStatus(t, s, qID, j, alice.Token); st != "success" {
			t.Errorf("consumer job %s: %s; log:\n%s", name, st, jobLog(t, s, qID, j, alice.Token))
		}
	}

	// The artifacts and the package, as alice sees them.
	archive := s.Expect(t, "GET", api+"/projects/"+testserver.Itoa(pID)+"/jobs/"+testserver.Itoa(buildJob)+"/artifacts", alice.Token, nil, 200)
	if len(archive.Body) < 22 || string(archive.Body[:2]) != "PK" {
		t.Errorf("artifacts archive: %d bytes, not a zip", len(archive.Body))
	}
	file := s.Expect(t, "GET", api+"/projects/"+testserver.Itoa(pID)+"/jobs/"+testserver.Itoa(buildJob)+"/artifacts/out/result.txt", alice.Token, nil, 200)
	if want := "built by job " + testserver.Itoa(buildJob) + "\n"; string(file.Body) != want {
		t.Errorf("out/result.txt from the archive: %q, want %q", file.Body, want)
	}
	s.Expect(t, "GET", api+"/projects/"+testserver.Itoa(pID)+"/jobs/"+testserver.Itoa(buildJob)+"/artifacts/out/skip.tmp", alice.Token, nil, 404)
	pkg := s.Expect(t, "GET", api+"/projects/"+testserver.Itoa(pID)+"/packages/generic/mypkg/1.0.0/pkg.bin", alice.Token, nil, 200)
	if string(pkg.Body) != "package payload\n" {
		t.Errorf("package file: %q", pkg.Body)
	}

	// bob cannot see P: 404 on each, with his personal access token...
	base := api + "/projects/" + testserver.Itoa(pID)
	for _, path := range []string{
		base + "/jobs/artifacts/main/download?job=build",
		base + "/jobs/artifacts/main/raw/out/result.txt?job=build",
		base + "/jobs/" + testserver.Itoa(buildJob) + "/artifacts",
		base + "/jobs/" + testserver.Itoa(buildJob) + "/artifacts/out/result.txt",
		base + "/packages/generic/mypkg/1.0.0/pkg.bin",
		base + "/packages",
	} {
		if r := s.Do(t, "GET", path, bob.Token, nil); r.Status != 404 {
			t.Errorf("bob GET %s: %d, want 404", strings.TrimPrefix(path, api), r.Status)
		}
	}
	// ... and with a job token of his own project's job.
	push(rPath, bob.Token, outsiderCI)
	waitPipeline(t, s, rID, bob.Token, 0)
	outsider := testserver.Num(t, s.Expect(t, "POST", api+"/projects/"+testserver.Itoa(rID)+"/pipeline", bob.Token,
		map[string]any{"ref": "main", "variables": vars}, 201).Object(t), "id")
	waitPipeline(t, s, rID, bob.Token, outsider)
	probe := pipelineJob(t, s, rID, outsider, "probe", bob.Token)
	log := jobLog(t, s, rID, probe, bob.Token)
	if st := jobStatus(t, s, rID, probe, bob.Token); st != "success" || !strings.Contains(log, "artifacts 404") || !strings.Contains(log, "package 404") {
		t.Errorf("bob's job probing P with its job token: %s; log:\n%s", st, log)
	}
}

// waitPipeline waits until pipeline id of project (or, for id 0, the
// project's newest pipeline) has finished, and returns its ID.
func waitPipeline(t *testing.T, s *testserver.Server, projectID int64, token string, id int64) int64 {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		if id == 0 {
			if ps := listProjectPipelines(t, s, projectID, token); len(ps) > 0 {
				id = testserver.Num(t, ps[0], "id")
			}
		}
		if id != 0 {
			switch st := pipelineStatus(t, s, projectID, id, token); st {
			case "success", "failed", "canceled", "skipped":
				return id
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("pipeline %d of project %d did not finish within 90s", id, projectID)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func pipelineStatus(t *testing.T, s *testserver.Server, projectID, id int64, token string) string {
	t.Helper()
	return testserver.Str(t, s.Expect(t, "GET", api+"/projects/"+testserver.Itoa(projectID)+"/pipelines/"+testserver.Itoa(id), token, nil, 200).Object(t), "status")
}

// pipelineJob is the ID of the job called name in the pipeline.
func pipelineJob(t *testing.T, s *testserver.Server, projectID, pipelineID int64, name, token string) int64 {
	t.Helper()
	for _, j := range s.Expect(t, "GET", api+"/projects/"+testserver.Itoa(projectID)+"/pipelines/"+testserver.Itoa(pipelineID)+"/jobs", token, nil, 200).List(t) {
		if j["name"] == name {
			return testserver.Num(t, j, "id")
		}
	}
	t.Fatalf("pipeline %d has no job %q", pipelineID, name)
	return 0
}

func jobStatus(t *testing.T, s *testserver.Server, projectID, jobID int64, token string) string {
	t.Helper()
	return testserver.Str(t, s.Expect(t, "GET", api+"/projects/"+testserver.Itoa(projectID)+"/jobs/"+testserver.Itoa(jobID), token, nil, 200).Object(t), "status")
}

func jobLog(t *testing.T, s *testserver.Server, projectID, jobID int64, token string) string {
	t.Helper()
	return string(s.Expect(t, "GET", api+"/projects/"+testserver.Itoa(projectID)+"/jobs/"+testserver.Itoa(jobID)+"/trace", token, nil, 200).Body)
}
