package api_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/ciwarden/ciwarden/internal/testserver"
)

// playCI has a manual job, and a manual bridge to b/secret.
const playCI = `deploy:
  script: [deploy]
  when: manual
ship:
  trigger: b/secret
  when: manual
`

// pipelineJob is the job called name in a pipeline, as root sees it (from
// the bridges' listing for a trigger: job, with its downstream).
func pipelineJob(t *testing.T, s *testserver.Server, projectID, pipelineID int64, name string) map[string]any {
	t.Helper()
	base := testserver.API + "/projects/" + testserver.Itoa(projectID) + "/pipelines/" + testserver.Itoa(pipelineID)
	for _, list := range []string{"/bridges", "/jobs"} {
		for _, j := range s.Expect(t, "GET", base+list, s.RootToken, nil, http.StatusOK).List(t) {
			if j["name"] == name {
				return j
			}
		}
	}
	t.Fatalf("pipeline %d has no job %q", pipelineID, name)
	return nil
}

// TestPlayRunsAsPlayer: the seed's "a user can cause a job to run by ...
// triggering a manual job". Playing a manual job makes the player its
// user: its CI_JOB_TOKEN carries the player's permissions, not the
// pusher's (GitLab's behaviour); a retried job runs as the user who
// retried it; a played manual bridge creates its downstream as the
// player.
func TestPlayRunsAsPlayer(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		// dev (A) pushes the pipeline with the manual jobs.
		team := e.NewTeamCI(t, playCI)
		// maint (B) is a Developer of b/secret, which dev (A) cannot see,
		// and which lets grp/app's job tokens in.
		bg := e.CreateGroup(t, "b", 0, "private")
		secret := e.CreateProject(t, bg, "secret", "private")
		e.AddMember(t, "projects", secret.ID, team.Maint.ID, 30)
		e.AllowJobTokens(t, secret.ID, team.Project.ID)
		e.PushCI(t, secret.Path, team.Maint, map[string]string{".gitlab-ci.yml": triggerTargetCI})
		secretAPI := testserver.API + "/projects/" + testserver.Itoa(secret.ID)
		base := testserver.API + "/projects/" + testserver.Itoa(team.Project.ID)

		pid := testserver.Num(t, latestPipeline(t, e, team.Project.ID), "id")
		deploy := testserver.Num(t, pipelineJob(t, e.Server, team.Project.ID, pid, "deploy"), "id")
		play := base + "/jobs/" + testserver.Itoa(deploy) + "/play"

		// A Reporter may not play; an outsider does not see the project.
		wantJSON(t, e.Do(t, "POST", play, team.Reporter.Token, nil), http.StatusForbidden, `{"message":"403 Forbidden"}`)
		wantJSON(t, e.Do(t, "POST", play, team.Outsider.Token, nil), http.StatusNotFound, `{"message":"404 Project Not Found"}`)
		// (On a protected ref the player also needs the right to push or
		// merge to it: authorizeJobRun, as for a retry, TestProtectedRefs.)

		played := e.Expect(t, "POST", play, team.Maint.Token, nil, http.StatusOK).Object(t)
		if u, _ := field(played, "user.username"); u != "maint" || played["status"] != "pending" {
			t.Fatalf("played job: status %v, user %v; want pending, maint", played["status"], u)
		}
		j := team.Take(t, "deploy")
		if j.Payload.JobInfo.UserID != team.Maint.ID {
			t.Errorf("job_info.user_id %d, want the player %d", j.Payload.JobInfo.UserID, team.Maint.ID)
		}
		if u, _ := field(decode(t, e.GetJob(t, j.Token)), "user.username"); u != "maint" {
			t.Errorf("GET /job: user %v, want the player maint", u)
		}
		// The token reads what maint can: b/secret, which dev cannot see.
		wantJSON(t, e.Call(t, "GET", secretAPI+"/packages", testserver.JobToken(j.Token), nil), http.StatusOK, `[]`)
		wantJSON(t, e.Do(t, "GET", secretAPI+"/packages", team.Dev.Token, nil), http.StatusNotFound, `{"message":"404 Project Not Found"}`)
		j.FinishOK(t, "failed")

		// dev retries it: the new job is dev's, and its token no longer
		// reads b/secret.
		retried := e.Expect(t, "POST", base+"/jobs/"+testserver.Itoa(j.ID)+"/retry", team.Dev.Token, nil, http.StatusCreated).Object(t)
		if u, _ := field(retried, "user.username"); u != "dev" {
			t.Errorf("retried job's user %v, want dev", u)
		}
		r := team.Take(t, "deploy")
		if r.ID != testserver.Num(t, retried, "id") || r.Payload.JobInfo.UserID != team.Dev.ID {
			t.Errorf("took job %d of user %d; want the retry %v of dev %d", r.ID, r.Payload.JobInfo.UserID, retried["id"], team.Dev.ID)
		}
		if u, _ := field(decode(t, e.GetJob(t, r.Token)), "user.username"); u != "dev" {
			t.Errorf("GET /job of the retry: user %v, want dev", u)
		}
		wantJSON(t, e.Call(t, "GET", secretAPI+"/packages", testserver.JobToken(r.Token), nil), http.StatusNotFound, `{"message":"404 Project Not Found"}`)
		r.FinishOK(t, "success")

		// A manual bridge played by maint creates its downstream as maint
		// (dev could not: b/secret is invisible to dev).
		ship := testserver.Num(t, pipelineJob(t, e.Server, team.Project.ID, pid, "ship"), "id")
		e.Expect(t, "POST", base+"/jobs/"+testserver.Itoa(ship)+"/play", team.Maint.Token, nil, http.StatusOK)
		b := pipelineJob(t, e.Server, team.Project.ID, pid, "ship")
		dp, _ := b["downstream_pipeline"].(map[string]any)
		if b["status"] != "success" || dp == nil || dp["project_id"] != float64(secret.ID) {
			t.Fatalf("played bridge: %v", b)
		}
		down := e.Expect(t, "GET", secretAPI+"/pipelines/"+testserver.Itoa(testserver.Num(t, dp, "id")), e.RootToken, nil, http.StatusOK).Object(t)
		if u, _ := field(down, "user.username"); u != "maint" || down["source"] != "pipeline" {
			t.Errorf("downstream of the played bridge: user %v, source %v; want maint, pipeline", u, down["source"])
		}
	})
}

// TestPlayWakesHeldRunner: a runner held in a long poll gets a manual job
// as soon as it is played, not when its poll ends. The poll here outlasts
// the test's patience many times over, so a played job that did not wake
// the runner fails the test rather than slowing it.
func TestPlayWakesHeldRunner(t *testing.T) {
	testserver.ForEachDialect(t, func(t *testing.T, dialect string) {
		t.Parallel()
		s := testserver.New(t, testserver.Options{Dialect: dialect, LongPoll: time.Hour})
		team := s.NewTeamCI(t, "deploy:\n  script: [deploy]\n  when: manual\n")
		pid := testserver.Num(t, s.Expect(t, "GET", testserver.API+"/projects/"+testserver.Itoa(team.Project.ID)+"/pipelines",
			s.RootToken, nil, http.StatusOK).List(t)[0], "id")
		deploy := testserver.Num(t, pipelineJob(t, s, team.Project.ID, pid, "deploy"), "id")
		// The first request learns the queue's version (nothing pending:
		// 204 at once); the next one, with that version, is held. Whether
		// it arrives before or after the play, only a bump answers it.
		team.Runner.ExpectNoJob(t)
		type answer struct {
			r   *testserver.Resp
			err error
		}
		held := make(chan answer, 1)
		req := team.Runner.BuildRequest(t, team.Runner.LastUpdate)
		go func() {
			r, err := s.Try(req)
			held <- answer{r, err}
		}()
		s.Expect(t, "POST", testserver.API+"/projects/"+testserver.Itoa(team.Project.ID)+"/jobs/"+testserver.Itoa(deploy)+"/play",
			team.Dev.Token, nil, http.StatusOK)
		select {
		case h := <-held:
			if h.err != nil {
				t.Fatalf("held job request: %v", h.err)
			}
			if h.r.Status != http.StatusCreated {
				t.Fatalf("held job request: %s, want 201 with the played job", h.r)
			}
			j := team.Runner.DecodeJob(t, h.r)
			if j.ID != deploy {
				t.Fatalf("got job %d, want the played %d", j.ID, deploy)
			}
			j.Start(t)
			j.FinishOK(t, "success")
		case <-time.After(time.Minute):
			t.Fatal("the runner is still held a minute after the play: playing did not wake it")
		}
	})
}
