package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"

	gitlab "gitlab.com/gitlab-org/api/client-go/v2"

	"github.com/ciwarden/ciwarden/internal/testserver"
)

// seedTriggerCI is the seed's trigger_pipeline job, verbatim (the issue's
// form of it: $CI_API_V4_URL for the host).
const seedTriggerCI = `trigger_pipeline:
  stage: deploy
  script:
    - curl --request POST --form "token=$CI_JOB_TOKEN" --form ref=main "$CI_API_V4_URL/projects/9/trigger/pipeline"
  rules:
    - if: $CI_COMMIT_TAG
`

// seedTroubleshootCI is the seed's troubleshooting call, from a job.
const seedTroubleshootCI = `probe:
  script:
    - curl --verbose --request POST --form "token=$CI_JOB_TOKEN" --form ref=master "$CI_API_V4_URL/projects/9/trigger/pipeline"
`

// downstreamCI runs in project 9 for pipelines nothing pushed, and prints
// where its pipeline came from.
const downstreamCI = `downstream:
  script:
    - echo "source=$CI_PIPELINE_SOURCE user=$GITLAB_USER_LOGIN triggered=${CI_PIPELINE_TRIGGERED:-no}"
    - echo "upstream=${CI_UPSTREAM_PROJECT_ID:-none}/${CI_UPSTREAM_PIPELINE_ID:-none}/${CI_UPSTREAM_JOB_ID:-none}"
    - 'echo "payload=$(cat "$TRIGGER_PAYLOAD") mode=$(stat -c %a "$TRIGGER_PAYLOAD")"'
  rules:
    - if: $CI_PIPELINE_SOURCE != "push"
`

// TestSeedTriggerPipeline runs the seed's multi-project trigger with the
// built-in runner: a tag push runs trigger_pipeline, whose job token
// makes a pipeline in project 9 as the pusher, source pipeline, linked
// to the job; and the seed's troubleshooting call from a job whose user
// cannot see project 9 gets exactly 404 {"message":"404 Not Found"}.
func TestSeedTriggerPipeline(t *testing.T) { withRunners(t, testSeedTriggerPipeline) }

// withRunners runs fn against each database, on a server with two
// built-in runners.
func withRunners(t *testing.T, fn func(t *testing.T, s *testserver.Server)) {
	testserver.ForEachDialect(t, func(t *testing.T, d string) {
		fn(t, start(t, testserver.Options{Dialect: d, Args: []string{"--runners", "2", "--runner-long-poll", "2s"}}))
	})
}

func testSeedTriggerPipeline(t *testing.T, s *testserver.Server) {
	alice := s.CreateUser(t, "alice") // pushes the tag; Developer of project 9
	bob := s.CreateUser(t, "bob")     // sees nothing of project 9
	apps := s.CreateGroup(t, "apps", 0, "private")
	s.AddMember(t, "groups", apps, alice.ID, 30)
	up := s.CreateProject(t, apps, "up", "private")
	bobs := s.CreateGroup(t, "bobs", 0, "private")
	s.AddMember(t, "groups", bobs, bob.ID, 30)
	probe := s.CreateProject(t, bobs, "probe", "private")
	// Make the target project 9, as the seed names it.
	svc := s.CreateGroup(t, "svc", 0, "private")
	var target testserver.Project
	for i := 0; target.ID < 9; i++ {
		target = s.CreateProject(t, svc, "p"+testserver.Itoa(int64(i)), "private")
	}
	if target.ID != 9 {
		t.Fatalf("target project has ID %d, want 9", target.ID)
	}
	s.AddMember(t, "projects", target.ID, alice.ID, 30)
	s.AllowJobTokens(t, target.ID, up.ID)
	s.PushCI(t, target.Path, alice, map[string]string{".gitlab-ci.yml": downstreamCI})

	// main: the tag rule keeps trigger_pipeline out, so no pipeline.
	repo, _ := s.PushCI(t, up.Path, alice, map[string]string{".gitlab-ci.yml": seedTriggerCI})
	repo.Git.Run(t, repo.Dir, "tag", "v1.0")
	repo.Git.Run(t, repo.Dir, "push", "--quiet", "origin", "v1.0")
	upPL := waitPipeline(t, s, up.ID, alice.Token, 0)
	job := pipelineJob(t, s, up.ID, upPL, "trigger_pipeline", alice.Token)
	if st := jobStatus(t, s, up.ID, job, alice.Token); st != "success" {
		t.Fatalf("trigger_pipeline: %s; log:\n%s", st, jobLog(t, s, up.ID, job, alice.Token))
	}
	if ps := listProjectPipelines(t, s, up.ID, alice.Token); len(ps) != 1 || ps[0]["ref"] != "v1.0" {
		t.Errorf("apps/up's pipelines: %v, want only the tag's", ps)
	}

	// The downstream pipeline in project 9.
	var downID int64
	deadline := time.Now().Add(60 * time.Second)
	for downID == 0 {
		for _, p := range listProjectPipelines(t, s, target.ID, alice.Token) {
			if p["source"] == "pipeline" {
				downID = testserver.Num(t, p, "id")
			}
		}
		if downID == 0 && time.Now().After(deadline) {
			t.Fatalf("no downstream pipeline in project 9; trigger_pipeline's log:\n%s", jobLog(t, s, up.ID, job, alice.Token))
		}
		time.Sleep(100 * time.Millisecond)
	}
	waitPipeline(t, s, target.ID, alice.Token, downID)
	d := s.Expect(t, "GET", api+"/projects/9/pipelines/"+testserver.Itoa(downID), alice.Token, nil, http.StatusOK).Object(t)
	if d["source"] != "pipeline" || d["ref"] != "main" || d["status"] != "success" || entityUsername(d) != "alice" {
		t.Errorf("downstream pipeline: source %v, ref %v, status %v, user %v", d["source"], d["ref"], d["status"], entityUsername(d))
	}
	tb, _ := d["triggered_by"].(map[string]any)
	if tb == nil || testserver.Num(t, tb, "id") != upPL || testserver.Num(t, tb, "project_id") != up.ID {
		t.Errorf("downstream pipeline's triggered_by: %v, want pipeline %d of project %d", d["triggered_by"], upPL, up.ID)
	} else if sj, _ := tb["source_job"].(map[string]any); sj == nil || testserver.Num(t, sj, "id") != job || sj["name"] != "trigger_pipeline" {
		t.Errorf("downstream pipeline's source_job: %v, want job %d", tb["source_job"], job)
	}
	dj := pipelineJob(t, s, target.ID, downID, "downstream", alice.Token)
	// Its job sees its upstream (CI_UPSTREAM_*) and the call's parameters
	// but the token, in the file TRIGGER_PAYLOAD, written 0600.
	upstream := "upstream=" + testserver.Itoa(up.ID) + "/" + testserver.Itoa(upPL) + "/" + testserver.Itoa(job)
	if log := jobLog(t, s, target.ID, dj, alice.Token); !strings.Contains(log, "source=pipeline user=alice triggered=no") ||
		!strings.Contains(log, upstream) || !strings.Contains(log, `payload={"id":"9","ref":"main"} mode=600`) {
		t.Errorf("downstream job's log:\n%s\nwant %s and the payload", log, upstream)
	}

	// The troubleshooting call, from bob's job: exactly the seed's answer.
	s.PushCI(t, probe.Path, bob, map[string]string{".gitlab-ci.yml": seedTroubleshootCI})
	pp := waitPipeline(t, s, probe.ID, bob.Token, 0)
	pj := pipelineJob(t, s, probe.ID, pp, "probe", bob.Token)
	log := jobLog(t, s, probe.ID, pj, bob.Token)
	if !strings.Contains(log, "< HTTP/1.1 404 Not Found") || !strings.Contains(log, `{"message":"404 Not Found"}`) {
		t.Errorf("the troubleshooting call's log:\n%s", log)
	}
	if n := len(listProjectPipelines(t, s, target.ID, alice.Token)); n != 1 {
		t.Errorf("project 9 has %d pipelines, want the one downstream", n)
	}
}

// TestPipelineTriggersClient drives trigger tokens and bridges with
// GitLab's Go client (PipelineTriggers, Jobs.ListPipelineBridges).
func TestPipelineTriggersClient(t *testing.T) { withRunners(t, testPipelineTriggersClient) }

func testPipelineTriggersClient(t *testing.T, s *testserver.Server) {
	alice := s.CreateUser(t, "alice")
	bob := s.CreateUser(t, "bob")
	g := s.CreateGroup(t, "g", 0, "private")
	s.AddMember(t, "groups", g, alice.ID, 40)
	s.AddMember(t, "groups", g, bob.ID, 30)
	p := s.CreateProject(t, g, "app", "private")
	s.PushCI(t, p.Path, alice, map[string]string{".gitlab-ci.yml": downstreamCI})
	asAlice, asBob := newClient(t, s, alice.Token), newClient(t, s, bob.Token)

	tr := must[*gitlab.PipelineTrigger](t, "AddPipelineTrigger")(asAlice.PipelineTriggers.AddPipelineTrigger(p.ID,
		&gitlab.AddPipelineTriggerOptions{Description: gitlab.Ptr("deploys")}))
	s.Remember(tr.Token)
	if !strings.HasPrefix(tr.Token, "glptt-") || tr.Description != "deploys" || tr.Owner == nil || tr.Owner.Username != "alice" {
		t.Fatalf("AddPipelineTrigger: %+v", tr)
	}
	list := must[[]*gitlab.PipelineTrigger](t, "ListPipelineTriggers")(asAlice.PipelineTriggers.ListPipelineTriggers(p.ID, nil))
	if len(list) != 1 || list[0].ID != tr.ID || list[0].Token != tr.Token[6:10] {
		t.Errorf("ListPipelineTriggers: %+v", list)
	}
	_, _, err := asBob.PipelineTriggers.ListPipelineTriggers(p.ID, nil)
	wantStatus(t, err, http.StatusForbidden)
	ed := must[*gitlab.PipelineTrigger](t, "EditPipelineTrigger")(asAlice.PipelineTriggers.EditPipelineTrigger(p.ID, tr.ID,
		&gitlab.EditPipelineTriggerOptions{Description: gitlab.Ptr("renamed")}))
	if ed.Description != "renamed" {
		t.Errorf("EditPipelineTrigger: %+v", ed)
	}

	// Run it, as the client does (JSON, variables as a hash); the client
	// also sends bob's PRIVATE-TOKEN, which the trigger API ignores.
	pl := must[*gitlab.Pipeline](t, "RunPipelineTrigger")(asBob.PipelineTriggers.RunPipelineTrigger(p.ID, &gitlab.RunPipelineTriggerOptions{
		Ref: gitlab.Ptr("main"), Token: gitlab.Ptr(tr.Token), Variables: map[string]string{"DEPLOY_ENV": "staging"}}))
	if pl.Source != "trigger" || pl.User == nil || pl.User.Username != "alice" || pl.Ref != "main" {
		t.Errorf("RunPipelineTrigger: source %v, user %+v, ref %v", pl.Source, pl.User, pl.Ref)
	}
	waitPipeline(t, s, p.ID, alice.Token, pl.ID)
	j := pipelineJob(t, s, p.ID, pl.ID, "downstream", alice.Token)
	if log := jobLog(t, s, p.ID, j, alice.Token); !strings.Contains(log, "source=trigger user=alice triggered=true") ||
		!strings.Contains(log, "upstream=none/none/none") ||
		!strings.Contains(log, `payload={"id":"`+testserver.Itoa(p.ID)+`","ref":"main","variables":{"DEPLOY_ENV":"staging"}} mode=600`) {
		t.Errorf("triggered job's log:\n%s", log)
	}
	_, _, err = asBob.PipelineTriggers.RunPipelineTrigger(p.ID, &gitlab.RunPipelineTriggerOptions{Ref: gitlab.Ptr("nope"), Token: gitlab.Ptr(tr.Token)})
	wantStatus(t, err, http.StatusBadRequest)

	// Bridges: a child pipeline with strategy: depend, run by the
	// built-in runner, listed with ListPipelineBridges.
	parent := s.CreateProject(t, g, "parent", "private")
	s.PushCI(t, parent.Path, alice, map[string]string{
		".gitlab-ci.yml": "kid:\n  trigger:\n    include: child.yml\n    strategy: depend\n",
		"child.yml":      "inner:\n  script: [echo \"child source=$CI_PIPELINE_SOURCE\"]\n",
	})
	ppl := testserver.Num(t, s.Expect(t, "GET", api+"/projects/"+testserver.Itoa(parent.ID)+"/pipelines?source=push", alice.Token, nil,
		http.StatusOK).List(t)[0], "id")
	waitPipeline(t, s, parent.ID, alice.Token, ppl)
	bridges := must[[]*gitlab.Bridge](t, "ListPipelineBridges")(asBob.Jobs.ListPipelineBridges(parent.ID, ppl, nil))
	if len(bridges) != 1 || bridges[0].Name != "kid" || bridges[0].Status != "success" || bridges[0].DownstreamPipeline == nil {
		t.Fatalf("ListPipelineBridges: %+v", bridges)
	}
	child := bridges[0].DownstreamPipeline
	if child.ProjectID != parent.ID || child.Status != "success" {
		t.Errorf("downstream pipeline: %+v", child)
	}
	if st := pipelineStatus(t, s, parent.ID, ppl, alice.Token); st != "success" {
		t.Errorf("parent pipeline %s, want success (mirroring its child)", st)
	}
	cj := pipelineJob(t, s, parent.ID, child.ID, "inner", alice.Token)
	if log := jobLog(t, s, parent.ID, cj, alice.Token); !strings.Contains(log, "child source=parent_pipeline") {
		t.Errorf("child job's log:\n%s", log)
	}
	_, _, err = newClient(t, s, "").Jobs.ListPipelineBridges(parent.ID, ppl, nil)
	wantStatus(t, err, http.StatusNotFound)

	if _, err := asAlice.PipelineTriggers.DeletePipelineTrigger(p.ID, tr.ID); err != nil {
		t.Fatalf("DeletePipelineTrigger: %v", err)
	}
	_, _, err = asAlice.PipelineTriggers.GetPipelineTrigger(p.ID, tr.ID)
	wantStatus(t, err, http.StatusNotFound)
	_, _, err = asBob.PipelineTriggers.RunPipelineTrigger(p.ID, &gitlab.RunPipelineTriggerOptions{Ref: gitlab.Ptr("main"), Token: gitlab.Ptr(tr.Token)})
	wantStatus(t, err, http.StatusNotFound)
}
