package api_test

import (
	"context"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/ciwarden/ciwarden/internal/testdb"
	"github.com/ciwarden/ciwarden/internal/testserver"
)

// scheduledCI runs only for scheduled pipelines, so that pushing it
// creates none.
const scheduledCI = `nightly:
  script: [echo nightly]
  rules:
    - if: $CI_PIPELINE_SOURCE == "schedule"
`

func schedulesPath(projectID int64) string {
	return testserver.API + "/projects/" + testserver.Itoa(projectID) + "/pipeline_schedules"
}

// nextRunAt parses a schedule's next_run_at.
func nextRunAt(t *testing.T, sc map[string]any) time.Time {
	t.Helper()
	at, err := time.Parse(time.RFC3339, testserver.Str(t, sc, "next_run_at"))
	if err != nil {
		t.Fatalf("next_run_at: %v", err)
	}
	return at
}

// runSchedules runs the server's scheduler as if the time were now.
func runSchedules(t *testing.T, s *testserver.Server, now time.Time) {
	t.Helper()
	if err := s.Srv.CI().RunDueSchedules(context.Background(), now); err != nil {
		t.Fatalf("RunDueSchedules(%v): %v", now, err)
	}
}

// schedulePipelines lists a project's pipelines of source schedule.
func schedulePipelines(t *testing.T, s *testserver.Server, projectID int64) []map[string]any {
	t.Helper()
	return s.Expect(t, "GET", testserver.API+"/projects/"+testserver.Itoa(projectID)+"/pipelines?source=schedule", s.RootToken, nil, http.StatusOK).List(t)
}

// TestPipelineSchedulesAPI: the shapes and the rights (Reporters read,
// Developers create, the owner or a Maintainer changes, a Maintainer takes
// ownership), and the refusals of bad input.
func TestPipelineSchedulesAPI(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		team := e.NewTeamCI(t, scheduledCI)
		dev2 := e.CreateUser(t, "dev2")
		e.AddMember(t, "projects", team.Project.ID, dev2.ID, 30)
		base := schedulesPath(team.Project.ID)
		form := func(kv ...string) url.Values {
			v := url.Values{}
			for i := 0; i < len(kv); i += 2 {
				v.Set(kv[i], kv[i+1])
			}
			return v
		}

		wantJSON(t, e.Do(t, "GET", base, team.Outsider.Token, nil), http.StatusNotFound, `{"message":"404 Project Not Found"}`)
		wantJSON(t, e.Do(t, "GET", base, team.Guest.Token, nil), http.StatusForbidden, `{"message":"403 Forbidden"}`)
		wantJSON(t, e.Do(t, "POST", base, team.Reporter.Token, form("description", "x", "ref", "main", "cron", "0 4 * * *")),
			http.StatusForbidden, `{"message":"403 Forbidden"}`)
		wantJSON(t, e.Do(t, "POST", base, team.Dev.Token, form("description", "x", "ref", "main")), http.StatusBadRequest, `{"error":"cron is missing"}`)
		wantJSON(t, e.Do(t, "POST", base, team.Dev.Token, form("description", "x", "ref", "main", "cron", "61 * * * *")),
			http.StatusBadRequest, `{"message":{"cron":["is invalid syntax"]}}`)
		wantJSON(t, e.Do(t, "POST", base, team.Dev.Token, form("description", "x", "ref", "main", "cron", "0 4 30 2 *")),
			http.StatusBadRequest, `{"message":{"cron":["is invalid syntax"]}}`)
		wantJSON(t, e.Do(t, "POST", base, team.Dev.Token, form("description", "x", "ref", "main", "cron", "0 4 * * *", "cron_timezone", "Mars/Olympus")),
			http.StatusBadRequest, `{"message":{"cron_timezone":["is invalid syntax"]}}`)
		wantJSON(t, e.Do(t, "POST", base, team.Dev.Token, form("description", "x", "ref", "main", "cron", "0 4 * * *", "cron_timezone", "Local")),
			http.StatusBadRequest, `{"message":{"cron_timezone":["is invalid syntax"]}}`)
		if n := e.total(t, base+"?private_token="+team.Maint.Token); n != 0 {
			t.Fatalf("refused creations left %d schedules", n)
		}

		// Created: next_run_at is the cron's next time in its zone.
		before := time.Now()
		sc := e.Expect(t, "POST", base, team.Dev.Token, form("description", "New Year", "ref", "refs/heads/main", "cron", "0 4 1 1 *",
			"cron_timezone", "Europe/Berlin"), http.StatusCreated).Object(t)
		berlin, err := time.LoadLocation("Europe/Berlin")
		if err != nil {
			t.Fatal(err)
		}
		want := time.Date(before.In(berlin).Year()+1, 1, 1, 4, 0, 0, 0, berlin)
		if this := time.Date(before.In(berlin).Year(), 1, 1, 4, 0, 0, 0, berlin); this.After(before) {
			want = this
		}
		if got := nextRunAt(t, sc); !got.Equal(want) || sc["ref"] != "main" || sc["active"] != true || sc["cron_timezone"] != "Europe/Berlin" ||
			sc["description"] != "New Year" || sc["last_pipeline"] != nil {
			t.Errorf("created schedule: next_run_at %v (want %v): %v", got, want, sc)
		}
		if u, _ := field(sc, "owner.username"); u != "dev" {
			t.Errorf("owner %v, want dev", u)
		}
		id := testserver.Itoa(testserver.Num(t, sc, "id"))
		one := base + "/" + id

		// Variables: the owner's and the Maintainers'.
		wantJSON(t, e.Do(t, "POST", one+"/variables", team.Dev.Token, form("key", "NIGHTLY", "value", "yes")), http.StatusCreated,
			`{"variable_type":"env_var","key":"NIGHTLY","value":"yes","raw":false}`)
		wantJSON(t, e.Do(t, "POST", one+"/variables", team.Dev.Token, form("key", "NIGHTLY", "value", "again")), http.StatusBadRequest,
			`{"message":{"key":["(NIGHTLY) has already been taken"]}}`)
		wantJSON(t, e.Do(t, "POST", one+"/variables", team.Dev.Token, form("key", "1X", "value", "v")), http.StatusBadRequest,
			`{"message":{"key":["can contain only letters, digits and '_'."]}}`)
		wantJSON(t, e.Do(t, "POST", one+"/variables", team.Dev.Token, form("key", "T", "value", "v", "variable_type", "blob")), http.StatusBadRequest,
			`{"message":{"variable_type":["does not have a valid value"]}}`)
		wantJSON(t, e.Do(t, "POST", one+"/variables", dev2.Token, form("key", "X", "value", "v")), http.StatusForbidden, `{"message":"403 Forbidden"}`)
		wantJSON(t, e.Do(t, "PUT", one+"/variables/NIGHTLY", team.Maint.Token, form("value", "sure")), http.StatusOK,
			`{"variable_type":"env_var","key":"NIGHTLY","value":"sure","raw":false}`)
		wantJSON(t, e.Do(t, "PUT", one+"/variables/NOPE", team.Maint.Token, form("value", "x")), http.StatusNotFound, `{"message":"404 Variable Not Found"}`)
		e.Expect(t, "POST", one+"/variables", team.Dev.Token, form("key", "GONE", "value", "x"), http.StatusCreated)
		wantJSON(t, e.Do(t, "DELETE", one+"/variables/GONE", team.Dev.Token, nil), http.StatusAccepted,
			`{"variable_type":"env_var","key":"GONE","value":"x","raw":false}`)

		// A Reporter reads the schedule, without its variables.
		wantField(t, e.Do(t, "GET", one, team.Reporter.Token, nil), http.StatusOK, "variables", `[]`)
		wantField(t, e.Do(t, "GET", one, team.Dev.Token, nil), http.StatusOK, "variables",
			`[{"variable_type":"env_var","key":"NIGHTLY","value":"sure","raw":false}]`)
		list := e.Expect(t, "GET", base, team.Reporter.Token, nil, http.StatusOK).List(t)
		if len(list) != 1 || list[0]["id"] != sc["id"] {
			t.Errorf("listed schedules: %v", list)
		}
		if n := e.total(t, base+"?scope=inactive&private_token="+team.Maint.Token); n != 0 {
			t.Errorf("%d inactive schedules, want 0", n)
		}
		wantJSON(t, e.Do(t, "GET", base+"?scope=sometimes", team.Maint.Token, nil), http.StatusBadRequest, `{"error":"scope does not have a valid value"}`)
		wantJSON(t, e.Do(t, "GET", base+"/999", team.Maint.Token, nil), http.StatusNotFound, `{"message":"404 Pipeline Schedule Not Found"}`)

		// Changes: the owner or a Maintainer.
		wantJSON(t, e.Do(t, "PUT", one, dev2.Token, form("description", "mine")), http.StatusForbidden, `{"message":"403 Forbidden"}`)
		wantJSON(t, e.Do(t, "PUT", one, team.Dev.Token, form("cron", "every day")), http.StatusBadRequest, `{"message":{"cron":["is invalid syntax"]}}`)
		wantField(t, e.Do(t, "PUT", one, team.Dev.Token, form("active", "false", "cron", "@daily", "cron_timezone", "UTC")), http.StatusOK, "active", `false`)
		if n := e.total(t, base+"?scope=inactive&private_token="+team.Maint.Token); n != 1 {
			t.Errorf("%d inactive schedules, want 1", n)
		}
		got := e.Expect(t, "PUT", one, team.Maint.Token, form("active", "true"), http.StatusOK).Object(t)
		day := time.Now().UTC().Truncate(24 * time.Hour).Add(24 * time.Hour)
		if at := nextRunAt(t, got); !at.Equal(day) && !at.Equal(day.Add(24*time.Hour)) {
			t.Errorf("@daily UTC: next_run_at %v, want %v", at, day)
		}

		// Ownership: a Maintainer takes it.
		wantJSON(t, e.Do(t, "POST", one+"/take_ownership", team.Dev.Token, nil), http.StatusForbidden, `{"message":"403 Forbidden"}`)
		wantField(t, e.Do(t, "POST", one+"/take_ownership", team.Maint.Token, nil), http.StatusCreated, "owner.username", `"maint"`)
		// dev no longer owns it.
		wantJSON(t, e.Do(t, "PUT", one, team.Dev.Token, form("description", "back")), http.StatusForbidden, `{"message":"403 Forbidden"}`)

		wantJSON(t, e.Do(t, "DELETE", one, dev2.Token, nil), http.StatusForbidden, `{"message":"403 Forbidden"}`)
		e.Expect(t, "DELETE", one, team.Maint.Token, nil, http.StatusNoContent)
		wantJSON(t, e.Do(t, "GET", one, team.Maint.Token, nil), http.StatusNotFound, `{"message":"404 Pipeline Schedule Not Found"}`)
		// Its variables went with it.
		db, _ := e.OpenDB(t)
		var n int
		if err := db.QueryRow("SELECT COUNT(*) FROM pipeline_schedule_variables").Scan(&n); err != nil || n != 0 {
			t.Errorf("schedule variables left after the delete: %d (%v)", n, err)
		}
	})
}

// TestScheduleRunsAsOwner: a due schedule fires once per due time (with a
// chosen clock), as its owner, source schedule, with its variables; the
// scheduled job's token reads exactly what the owner can; take_ownership
// changes whose token the next run gets; an owner who lost Developer makes
// the schedule inactive when it comes due, with no pipeline.
func TestScheduleRunsAsOwner(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		team := e.NewTeamCI(t, scheduledCI)
		// dev may read other/x; maint may not.
		other := e.CreateProject(t, e.CreateGroup(t, "other", 0, "private"), "x", "private")
		e.AddMember(t, "projects", other.ID, team.Dev.ID, 30)
		e.AllowJobTokens(t, other.ID, team.Project.ID)
		otherAPI := testserver.API + "/projects/" + testserver.Itoa(other.ID)
		base := schedulesPath(team.Project.ID)
		sc := e.Expect(t, "POST", base, team.Dev.Token, url.Values{"description": {"nightly"}, "ref": {"main"}, "cron": {"0 4 * * *"}},
			http.StatusCreated).Object(t)
		one := base + "/" + testserver.Itoa(testserver.Num(t, sc, "id"))
		e.Expect(t, "POST", one+"/variables", team.Dev.Token, url.Values{"key": {"NIGHTLY"}, "value": {"yes"}}, http.StatusCreated)
		due := nextRunAt(t, sc)

		// Not yet due: nothing. Due: one pipeline, however often the
		// scheduler looks.
		runSchedules(t, e.Server, due.Add(-time.Second))
		if ps := schedulePipelines(t, e.Server, team.Project.ID); len(ps) != 0 {
			t.Fatalf("a schedule not yet due made %d pipelines", len(ps))
		}
		runSchedules(t, e.Server, due)
		runSchedules(t, e.Server, due.Add(time.Minute))
		ps := schedulePipelines(t, e.Server, team.Project.ID)
		if len(ps) != 1 {
			t.Fatalf("a due schedule made %d pipelines, want 1", len(ps))
		}
		got := e.Expect(t, "GET", one, team.Dev.Token, nil, http.StatusOK).Object(t)
		if at := nextRunAt(t, got); !at.Equal(due.Add(24 * time.Hour)) {
			t.Errorf("next_run_at after firing %v, want %v", at, due.Add(24*time.Hour))
		}
		if v, _ := field(got, "last_pipeline.id"); v != ps[0]["id"] {
			t.Errorf("last_pipeline %v, want %v", v, ps[0]["id"])
		}
		j := team.Take(t, "nightly")
		if v, _ := jobVar(j, "CI_PIPELINE_SOURCE"); v != "schedule" {
			t.Errorf("CI_PIPELINE_SOURCE = %q, want schedule", v)
		}
		if v, _ := jobVar(j, "NIGHTLY"); v != "yes" {
			t.Errorf("NIGHTLY = %q, want the schedule's yes", v)
		}
		if u, _ := field(decode(t, e.GetJob(t, j.Token)), "user.username"); u != "dev" {
			t.Errorf("GET /job: user %v, want the owner dev", u)
		}
		wantJSON(t, e.Call(t, "GET", otherAPI+"/packages", testserver.JobToken(j.Token), nil), http.StatusOK, `[]`)
		j.FinishOK(t, "success")

		// maint takes it over; the server was down for three due times:
		// one pipeline, as maint, whose token does not read other/x.
		e.Expect(t, "POST", one+"/take_ownership", team.Maint.Token, nil, http.StatusCreated)
		late := due.Add(24*time.Hour + 3*24*time.Hour + time.Hour)
		runSchedules(t, e.Server, late)
		if ps := schedulePipelines(t, e.Server, team.Project.ID); len(ps) != 2 {
			t.Fatalf("after missed due times: %d pipelines, want 2", len(ps))
		}
		if at := nextRunAt(t, e.Expect(t, "GET", one, team.Maint.Token, nil, http.StatusOK).Object(t)); !at.Equal(due.Add(5 * 24 * time.Hour)) {
			t.Errorf("next_run_at %v, want the first due time after the restart, %v", at, due.Add(5*24*time.Hour))
		}
		j = team.Take(t, "nightly")
		if u, _ := field(decode(t, e.GetJob(t, j.Token)), "user.username"); u != "maint" {
			t.Errorf("GET /job after take_ownership: user %v, want maint", u)
		}
		wantJSON(t, e.Call(t, "GET", otherAPI+"/packages", testserver.JobToken(j.Token), nil), http.StatusNotFound, `{"message":"404 Project Not Found"}`)
		j.FinishOK(t, "success")

		// play runs it now, as the player (dev), without moving its next run.
		wantJSON(t, e.Do(t, "POST", one+"/play", team.Reporter.Token, nil), http.StatusForbidden, `{"message":"403 Forbidden"}`)
		wantJSON(t, e.Do(t, "POST", one+"/play", team.Dev.Token, nil), http.StatusCreated, `{"message":"201 Created"}`)
		ps = schedulePipelines(t, e.Server, team.Project.ID)
		if u, _ := field(ps[0], "user.username"); len(ps) != 3 {
			t.Fatalf("after play: %d pipelines (user %v), want 3", len(ps), u)
		}
		team.Take(t, "nightly").FinishOK(t, "success")

		// maint demoted to Reporter: when it comes due, the schedule turns
		// inactive and makes no pipeline.
		e.Expect(t, "PUT", testserver.API+"/projects/"+testserver.Itoa(team.Project.ID)+"/members/"+testserver.Itoa(team.Maint.ID), e.RootToken,
			url.Values{"access_level": {"20"}}, http.StatusOK)
		runSchedules(t, e.Server, due.Add(5*24*time.Hour))
		if ps := schedulePipelines(t, e.Server, team.Project.ID); len(ps) != 3 {
			t.Errorf("an owner without Developer: %d pipelines, want still 3", len(ps))
		}
		wantField(t, e.Do(t, "GET", one, team.Dev.Token, nil), http.StatusOK, "active", `false`)

		// A blocked owner: the same.
		sc2 := e.Expect(t, "POST", base, team.Dev.Token, url.Values{"description": {"hourly"}, "ref": {"main"}, "cron": {"0 * * * *"}},
			http.StatusCreated).Object(t)
		e.Expect(t, "POST", testserver.API+"/users/"+testserver.Itoa(team.Dev.ID)+"/block", e.RootToken, nil, http.StatusCreated)
		runSchedules(t, e.Server, nextRunAt(t, sc2))
		if ps := schedulePipelines(t, e.Server, team.Project.ID); len(ps) != 3 {
			t.Errorf("a blocked owner: %d pipelines, want still 3", len(ps))
		}
		wantField(t, e.Do(t, "GET", base+"/"+testserver.Itoa(testserver.Num(t, sc2, "id")), team.Maint.Token, nil), http.StatusOK, "active", `false`)
		team.Runner.ExpectNoJob(t)
	})
}

// TestScheduleFiresOnceOnReplicas: two servers on one PostgreSQL database
// run their schedulers at the same due time, many times over: the
// schedule fires once.
func TestScheduleFiresOnceOnReplicas(t *testing.T) {
	if !testdb.HavePostgres() {
		t.Skipf("skipping: two replicas need PostgreSQL; set %s", testdb.EnvPostgres)
	}
	dbURL := testdb.Postgres(t)
	dataDir := t.TempDir()
	a := testserver.New(t, testserver.Options{DatabaseURL: dbURL, DataDir: dataDir})
	b := testserver.New(t, testserver.Options{DatabaseURL: dbURL, DataDir: dataDir})
	team := a.NewTeamCI(t, scheduledCI)
	sc := a.Expect(t, "POST", schedulesPath(team.Project.ID), team.Dev.Token,
		url.Values{"description": {"nightly"}, "ref": {"main"}, "cron": {"*/5 * * * *"}}, http.StatusCreated).Object(t)
	due := nextRunAt(t, sc)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		srv := a
		if i%2 == 1 {
			srv = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- srv.Srv.CI().RunDueSchedules(context.Background(), due.Add(time.Second))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if ps := schedulePipelines(t, a, team.Project.ID); len(ps) != 1 {
		t.Fatalf("two replicas made %d pipelines of one due time, want 1", len(ps))
	}
}

// TestScheduleProtectedRefAndPipelines: a schedule on a protected branch
// is created or moved there, and fires, only for an owner who may push or
// merge to it (GitLab creates no pipeline otherwise, and keeps the
// schedule); playing it needs that right too (GitLab's 403) and runs as
// the player. Its file variables reach the
// job as file variables. GET .../pipeline_schedules/:id/pipelines lists
// the schedule's pipelines and no other's, paginated, oldest first.
func TestScheduleProtectedRefAndPipelines(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		team := e.NewTeamCI(t, scheduledCI)
		project := testserver.API + "/projects/" + testserver.Itoa(team.Project.ID)
		base := schedulesPath(team.Project.ID)
		sc := e.Expect(t, "POST", base, team.Dev.Token, url.Values{"description": {"nightly"}, "ref": {"main"}, "cron": {"0 4 * * *"}},
			http.StatusCreated).Object(t)
		one := base + "/" + testserver.Itoa(testserver.Num(t, sc, "id"))
		e.Expect(t, "POST", one+"/variables", team.Dev.Token, url.Values{"key": {"CONF"}, "value": {"a=b\n"}, "variable_type": {"file"}}, http.StatusCreated)
		e.Expect(t, "POST", one+"/variables", team.Dev.Token, url.Values{"key": {"PLAIN"}, "value": {"p"}}, http.StatusCreated)

		// main protected afterwards: dev may no longer put a schedule on
		// it, by its short or full name (GitLab's schedule services).
		e.protectMain(t, team.Project.ID)
		for _, ref := range []string{"main", "refs/heads/main"} {
			wantJSON(t, e.Do(t, "POST", base, team.Dev.Token, url.Values{"description": {"x"}, "ref": {ref}, "cron": {"0 4 * * *"}}),
				http.StatusBadRequest, `{"message":{"base":["The current user is not authorized to create the pipeline schedule"]}}`)
		}
		wantJSON(t, e.Do(t, "PUT", one, team.Dev.Token, url.Values{"ref": {"main"}}),
			http.StatusBadRequest, `{"message":{"base":["The current user is not authorized to update the pipeline schedule"]}}`)
		wantField(t, e.Do(t, "PUT", one, team.Dev.Token, url.Values{"description": {"nightly build"}}), http.StatusOK, "description", `"nightly build"`)

		// Due, owned by a Developer whom main's rules refuse: no pipeline,
		// still active, its next run moved on.
		due := nextRunAt(t, sc)
		runSchedules(t, e.Server, due.Add(time.Minute))
		if ps := schedulePipelines(t, e.Server, team.Project.ID); len(ps) != 0 {
			t.Fatalf("a schedule on protected main made %d pipelines for a Developer", len(ps))
		}
		got := e.Expect(t, "GET", one, team.Dev.Token, nil, http.StatusOK).Object(t)
		if got["active"] != true || !nextRunAt(t, got).Equal(due.Add(24*time.Hour)) {
			t.Errorf("after a refused run: active %v, next_run_at %v", got["active"], got["next_run_at"])
		}

		// Played by dev: GitLab's 403. By maint: a pipeline as maint.
		wantJSON(t, e.Do(t, "POST", one+"/play", team.Dev.Token, nil), http.StatusForbidden, `{"message":"403 Forbidden"}`)
		wantJSON(t, e.Do(t, "POST", one+"/play", team.Maint.Token, nil), http.StatusCreated, `{"message":"201 Created"}`)
		ps := schedulePipelines(t, e.Server, team.Project.ID)
		if len(ps) != 1 {
			t.Fatalf("after maint's play: %d pipelines, want 1", len(ps))
		}
		pl := e.Expect(t, "GET", project+"/pipelines/"+testserver.Itoa(testserver.Num(t, ps[0], "id")), e.RootToken, nil, http.StatusOK).Object(t)
		if u, _ := field(pl, "user.username"); u != "maint" {
			t.Errorf("played pipeline's user %v, want the player maint", u)
		}
		j := team.Take(t, "nightly")
		if v, file := jobPayloadVar(t, j, "CONF"); v != "a=b\n" || !file {
			t.Errorf("CONF = %q (file %v), want a file variable", v, file)
		}
		if v, file := jobPayloadVar(t, j, "PLAIN"); v != "p" || file {
			t.Errorf("PLAIN = %q (file %v), want an env variable", v, file)
		}
		if u, _ := field(decode(t, e.GetJob(t, j.Token)), "user.username"); u != "maint" {
			t.Errorf("played job's user %v, want the player maint", u)
		}
		j.FinishOK(t, "success")

		// maint takes it over: the next due time fires, as maint.
		e.Expect(t, "POST", one+"/take_ownership", team.Maint.Token, nil, http.StatusCreated)
		runSchedules(t, e.Server, due.Add(24*time.Hour+time.Minute))
		team.Take(t, "nightly").FinishOK(t, "success")

		// Another schedule's pipeline is not this one's.
		sc2 := e.Expect(t, "POST", base, team.Maint.Token, url.Values{"description": {"other"}, "ref": {"main"}, "cron": {"0 5 * * *"}},
			http.StatusCreated).Object(t)
		two := base + "/" + testserver.Itoa(testserver.Num(t, sc2, "id"))
		e.Expect(t, "POST", two+"/play", team.Maint.Token, nil, http.StatusCreated)
		team.Take(t, "nightly").FinishOK(t, "success")

		mine := e.Expect(t, "GET", one+"/pipelines", team.Reporter.Token, nil, http.StatusOK)
		list := mine.List(t)
		if len(list) != 2 || testserver.Num(t, list[0], "id") >= testserver.Num(t, list[1], "id") || list[0]["source"] != "schedule" {
			t.Fatalf("schedule's pipelines: %s, want 2, oldest first", mine.Body)
		}
		if mine.Header.Get("X-Total") != "2" {
			t.Errorf("X-Total %q, want 2", mine.Header.Get("X-Total"))
		}
		desc := e.Expect(t, "GET", one+"/pipelines?sort=desc&per_page=1", team.Reporter.Token, nil, http.StatusOK)
		if l := desc.List(t); len(l) != 1 || l[0]["id"] != list[1]["id"] || desc.Header.Get("X-Total-Pages") != "2" {
			t.Errorf("sort=desc&per_page=1: %s (pages %s), want pipeline %v of 2 pages", desc.Body, desc.Header.Get("X-Total-Pages"), list[1]["id"])
		}
		if l := e.Expect(t, "GET", two+"/pipelines", team.Reporter.Token, nil, http.StatusOK).List(t); len(l) != 1 {
			t.Errorf("the other schedule's pipelines: %v, want 1", l)
		}
		wantJSON(t, e.Do(t, "GET", one+"/pipelines?sort=up", team.Reporter.Token, nil), http.StatusBadRequest, `{"error":"sort does not have a valid value"}`)
		wantJSON(t, e.Do(t, "GET", one+"/pipelines", team.Guest.Token, nil), http.StatusForbidden, `{"message":"403 Forbidden"}`)
		wantJSON(t, e.Do(t, "GET", one+"/pipelines", team.Outsider.Token, nil), http.StatusNotFound, `{"message":"404 Project Not Found"}`)
		wantJSON(t, e.Do(t, "GET", base+"/999/pipelines", team.Reporter.Token, nil), http.StatusNotFound, `{"message":"404 Pipeline Schedule Not Found"}`)
	})
}
