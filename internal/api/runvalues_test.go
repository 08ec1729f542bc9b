package api_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/ciwarden/ciwarden/internal/testserver"
)

// runValuesCI has a YAML variable, a job that runs at once and a manual
// one.
const runValuesCI = `variables:
  YAML_SECRET: "yaml-Secret-value-77"
build:
  script: [echo build]
deploy:
  script: [echo deploy]
  when: manual
`

// TestRunValuesSealed (issue 16, "Encrypted at rest"): the values a
// pipeline is given, by the API, a trigger, a schedule and a manual play,
// and the YAML variables frozen in its jobs' specs, reach the jobs, and
// none is in clear in the database, its WAL or on PostgreSQL: the
// harness's data check fails the test on any of the remembered values
// (pipelines.variables, pipeline_schedule_variables.value and jobs.spec
// held them in clear before migration 00024).
func TestRunValuesSealed(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		secrets := map[string]string{
			"API_VAR": "api-Secret-value-11", "TRIG_VAR": "trig-Secret-value-22", "SCHED_VAR": "sched-Secret-value-33",
			"PLAY_VAR": "play-Secret-value-44", "YAML_SECRET": "yaml-Secret-value-77",
		}
		for _, v := range secrets {
			e.Remember(v)
		}
		team := e.NewTeamCI(t, runValuesCI)
		pid := testserver.Itoa(team.Project.ID)
		base := testserver.API + "/projects/" + pid

		apiPipeline := e.CreatePipeline(t, team.Project.ID, team.Maint.Token, map[string]string{"API_VAR": secrets["API_VAR"]})

		tr := e.Expect(t, "POST", base+"/triggers", team.Maint.Token, map[string]any{"description": "deploys"}, http.StatusCreated).Object(t)
		trTok := testserver.Str(t, tr, "token")
		e.Remember(trTok)
		e.Expect(t, "POST", base+"/trigger/pipeline", "", url.Values{"token": {trTok}, "ref": {"main"},
			"variables[TRIG_VAR]": {secrets["TRIG_VAR"]}}, http.StatusCreated)

		sc := e.Expect(t, "POST", base+"/pipeline_schedules", team.Maint.Token,
			url.Values{"description": {"nightly"}, "ref": {"main"}, "cron": {"0 4 * * *"}}, http.StatusCreated).Object(t)
		scPath := base + "/pipeline_schedules/" + testserver.Itoa(testserver.Num(t, sc, "id"))
		e.Expect(t, "POST", scPath+"/variables", team.Maint.Token,
			url.Values{"key": {"SCHED_VAR"}, "value": {secrets["SCHED_VAR"]}}, http.StatusCreated)
		got := e.Expect(t, "GET", scPath, team.Maint.Token, nil, http.StatusOK).Object(t)
		if vs, _ := got["variables"].([]any); len(vs) != 1 || vs[0].(map[string]any)["value"] != secrets["SCHED_VAR"] {
			t.Fatalf("the schedule's variables read back: %v", got["variables"])
		}
		e.Expect(t, "POST", scPath+"/play", team.Maint.Token, nil, http.StatusCreated)

		var deploy int64
		for _, j := range e.Expect(t, "GET", base+"/pipelines/"+testserver.Itoa(apiPipeline)+"/jobs", team.Maint.Token, nil, http.StatusOK).List(t) {
			if j["name"] == "deploy" {
				deploy = testserver.Num(t, j, "id")
			}
		}
		play := base + "/jobs/" + testserver.Itoa(deploy) + "/play"
		r := e.Do(t, "POST", play, team.Maint.Token, map[string]any{"job_variables_attributes": []map[string]string{{"key": "BAD-KEY", "value": "x"}}})
		wantJSON(t, r, http.StatusBadRequest, `{"error":"job_variables_attributes is invalid"}`)
		// A played job's variables outrank the pipeline's (API_VAR).
		const override = "played-over-Api-var"
		e.Remember(override)
		e.Expect(t, "POST", play, team.Maint.Token, map[string]any{"job_variables_attributes": []map[string]string{
			{"key": "PLAY_VAR", "value": secrets["PLAY_VAR"]}, {"key": "API_VAR", "value": override}}}, http.StatusOK)

		// Four pipelines' build jobs (push, API, trigger, schedule) and
		// the played deploy: every value reaches a job, opened.
		seen := map[string]int{}
		for range 5 {
			j := team.Runner.TakeJob(t)
			got := map[string]string{} // the last value of each, as the runner reads them
			for _, v := range j.Payload.Variables {
				got[v.Key] = v.Value
			}
			for key, want := range secrets {
				v, ok := got[key]
				if j.Payload.JobInfo.Name == "deploy" && key == "API_VAR" {
					want = override
				}
				if ok && v != want {
					t.Errorf("job %s: %s = %q, want %q", j.Payload.JobInfo.Name, key, v, want)
				}
				if ok {
					seen[key]++
				}
			}
		}
		team.Runner.ExpectNoJob(t)
		for key, want := range map[string]int{"API_VAR": 2, "TRIG_VAR": 1, "SCHED_VAR": 1, "PLAY_VAR": 1, "YAML_SECRET": 5} {
			if seen[key] != want {
				t.Errorf("%s reached %d jobs, want %d", key, seen[key], want)
			}
		}
	})
}

// TestEnvironmentNameExpanded (issue 16): a job's environment name is
// expanded as GitLab does (`review/$CI_COMMIT_REF_SLUG` on feature/X is
// review/feature-x) before the CI/CD variables' environment_scope is
// matched: an exact scope and a wildcard one reach it, another name's
// does not; CI_ENVIRONMENT_NAME is the expanded name.
func TestEnvironmentNameExpanded(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		team := e.NewTeamCI(t, "")
		vars := testserver.API + "/projects/" + testserver.Itoa(team.Project.ID) + "/variables"
		for _, v := range []struct{ key, scope string }{
			{"WILDCARD", "review/*"}, {"EXACT", "review/feature-x"}, {"OTHER", "review/other"}, {"LITERAL", "review/$CI_COMMIT_REF_SLUG"},
		} {
			e.Expect(t, "POST", vars, team.Maint.Token, map[string]any{"key": v.key, "value": "v-" + v.key, "environment_scope": v.scope}, http.StatusCreated)
		}
		ci := "review:\n  script: [echo review]\n  environment:\n    name: review/$CI_COMMIT_REF_SLUG\n"
		repo, _ := e.PushCI(t, team.Project.Path, team.Maint, map[string]string{".gitlab-ci.yml": ci})
		j := team.Runner.TakeJob(t) // main's
		repo.Git.Run(t, repo.Dir, "push", "--quiet", "origin", "HEAD:refs/heads/feature/X")
		j = team.Runner.TakeJob(t)
		got := map[string]string{}
		for _, v := range j.Payload.Variables {
			got[v.Key] = v.Value
		}
		want := map[string]string{"WILDCARD": "v-WILDCARD", "EXACT": "v-EXACT", "OTHER": "", "LITERAL": "", "CI_ENVIRONMENT_NAME": "review/feature-x"}
		for k, w := range want {
			if got[k] != w {
				t.Errorf("%s = %q, want %q", k, got[k], w)
			}
		}
	})
}
