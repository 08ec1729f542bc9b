package e2e

import (
	"net/http"
	"strings"
	"testing"

	gitlab "gitlab.com/gitlab-org/api/client-go/v2"

	"github.com/ciwarden/ciwarden/internal/testserver"
)

// scheduledPrintCI runs only for scheduled pipelines and prints who and
// what they run for.
const scheduledPrintCI = `nightly:
  script:
    - echo "source=$CI_PIPELINE_SOURCE user=$GITLAB_USER_LOGIN nightly=$NIGHTLY"
    - 'echo "conf=$(cat "$CONF") mode=$(stat -c %a "$CONF")"'
  rules:
    - if: $CI_PIPELINE_SOURCE == "schedule"
`

// TestPipelineSchedulesClient drives pipeline schedules with GitLab's Go
// client (PipelineSchedules) against a server with built-in runners: the
// schedule's run is its owner's, source schedule, with its variables;
// take_ownership makes the next run another user's.
func TestPipelineSchedulesClient(t *testing.T) { withRunners(t, testPipelineSchedulesClient) }

func testPipelineSchedulesClient(t *testing.T, s *testserver.Server) {
	alice := s.CreateUser(t, "alice") // Maintainer
	bob := s.CreateUser(t, "bob")     // Developer, the schedule's first owner
	carol := s.CreateUser(t, "carol") // Reporter
	g := s.CreateGroup(t, "g", 0, "private")
	s.AddMember(t, "groups", g, alice.ID, 40)
	s.AddMember(t, "groups", g, bob.ID, 30)
	s.AddMember(t, "groups", g, carol.ID, 20)
	p := s.CreateProject(t, g, "app", "private")
	s.PushCI(t, p.Path, alice, map[string]string{".gitlab-ci.yml": scheduledPrintCI})
	asAlice, asBob, asCarol := newClient(t, s, alice.Token), newClient(t, s, bob.Token), newClient(t, s, carol.Token)

	_, _, err := asCarol.PipelineSchedules.CreatePipelineSchedule(p.ID, &gitlab.CreatePipelineScheduleOptions{
		Description: gitlab.Ptr("x"), Ref: gitlab.Ptr("main"), Cron: gitlab.Ptr("0 1 * * *")})
	wantStatus(t, err, http.StatusForbidden)
	_, _, err = asBob.PipelineSchedules.CreatePipelineSchedule(p.ID, &gitlab.CreatePipelineScheduleOptions{
		Description: gitlab.Ptr("x"), Ref: gitlab.Ptr("main"), Cron: gitlab.Ptr("0 1 * * *"), CronTimezone: gitlab.Ptr("Nowhere/Else")})
	wantStatus(t, err, http.StatusBadRequest)

	sc := must[*gitlab.PipelineSchedule](t, "CreatePipelineSchedule")(asBob.PipelineSchedules.CreatePipelineSchedule(p.ID,
		&gitlab.CreatePipelineScheduleOptions{Description: gitlab.Ptr("nightly"), Ref: gitlab.Ptr("main"), Cron: gitlab.Ptr("0 1 * * *"),
			CronTimezone: gitlab.Ptr("America/New_York"), Active: gitlab.Ptr(true)}))
	if sc.Owner == nil || sc.Owner.Username != "bob" || !sc.Active || sc.NextRunAt == nil || sc.CronTimezone != "America/New_York" {
		t.Fatalf("CreatePipelineSchedule: %+v", sc)
	}
	v := must[*gitlab.PipelineVariable](t, "CreatePipelineScheduleVariable")(asBob.PipelineSchedules.CreatePipelineScheduleVariable(p.ID, sc.ID,
		&gitlab.CreatePipelineScheduleVariableOptions{Key: gitlab.Ptr("NIGHTLY"), Value: gitlab.Ptr("one")}))
	if v.Key != "NIGHTLY" || v.Value != "one" || v.VariableType != "env_var" {
		t.Errorf("CreatePipelineScheduleVariable: %+v", v)
	}
	// A file variable: the job gets a path to a 0600 file holding it.
	fv := must[*gitlab.PipelineVariable](t, "CreatePipelineScheduleVariable")(asBob.PipelineSchedules.CreatePipelineScheduleVariable(p.ID, sc.ID,
		&gitlab.CreatePipelineScheduleVariableOptions{Key: gitlab.Ptr("CONF"), Value: gitlab.Ptr("from-file"),
			VariableType: gitlab.Ptr(gitlab.FileVariableType)}))
	if fv.VariableType != "file" {
		t.Errorf("CreatePipelineScheduleVariable (file): %+v", fv)
	}
	must[*gitlab.PipelineVariable](t, "EditPipelineScheduleVariable")(asAlice.PipelineSchedules.EditPipelineScheduleVariable(p.ID, sc.ID, "NIGHTLY",
		&gitlab.EditPipelineScheduleVariableOptions{Value: gitlab.Ptr("two")}))
	ed := must[*gitlab.PipelineSchedule](t, "EditPipelineSchedule")(asBob.PipelineSchedules.EditPipelineSchedule(p.ID, sc.ID,
		&gitlab.EditPipelineScheduleOptions{Description: gitlab.Ptr("every night")}))
	vals := map[string]string{}
	for _, v := range ed.Variables {
		vals[v.Key] = v.Value + "/" + string(v.VariableType)
	}
	if ed.Description != "every night" || len(vals) != 2 || vals["NIGHTLY"] != "two/env_var" || vals["CONF"] != "from-file/file" {
		t.Errorf("EditPipelineSchedule: %+v", ed)
	}
	list := must[[]*gitlab.PipelineSchedule](t, "ListPipelineSchedules")(asCarol.PipelineSchedules.ListPipelineSchedules(p.ID, nil))
	if len(list) != 1 || list[0].ID != sc.ID {
		t.Errorf("ListPipelineSchedules: %+v", list)
	}

	// run: now, as the player, source schedule, with the schedule's
	// variables.
	run := func(who string, as *gitlab.Client, want string) {
		t.Helper()
		if _, err := as.PipelineSchedules.RunPipelineSchedule(p.ID, sc.ID); err != nil {
			t.Fatalf("RunPipelineSchedule: %v", err)
		}
		got := must[*gitlab.PipelineSchedule](t, "GetPipelineSchedule")(asAlice.PipelineSchedules.GetPipelineSchedule(p.ID, sc.ID))
		if got.LastPipeline == nil {
			t.Fatalf("GetPipelineSchedule after a run: no last_pipeline")
		}
		waitPipeline(t, s, p.ID, alice.Token, got.LastPipeline.ID)
		j := pipelineJob(t, s, p.ID, got.LastPipeline.ID, "nightly", alice.Token)
		if log := jobLog(t, s, p.ID, j, alice.Token); !strings.Contains(log, want) || !strings.Contains(log, "conf=from-file mode=600") {
			t.Errorf("scheduled job run as %s: log\n%s\nwant %q and the file variable", who, log, want)
		}
	}
	run("bob", asBob, "source=schedule user=bob nightly=two")

	_, _, err = asBob.PipelineSchedules.TakeOwnershipOfPipelineSchedule(p.ID, sc.ID)
	wantStatus(t, err, http.StatusForbidden)
	own := must[*gitlab.PipelineSchedule](t, "TakeOwnershipOfPipelineSchedule")(asAlice.PipelineSchedules.TakeOwnershipOfPipelineSchedule(p.ID, sc.ID))
	if own.Owner == nil || own.Owner.Username != "alice" {
		t.Errorf("TakeOwnershipOfPipelineSchedule: owner %+v", own.Owner)
	}
	run("alice", asAlice, "source=schedule user=alice nightly=two")

	// The schedule's pipelines, oldest first (ListPipelinesTriggeredBySchedule).
	pls := must[[]*gitlab.Pipeline](t, "ListPipelinesTriggeredBySchedule")(asCarol.PipelineSchedules.ListPipelinesTriggeredBySchedule(p.ID, sc.ID, nil))
	if len(pls) != 2 || pls[0].ID >= pls[1].ID || pls[0].Source != "schedule" || pls[1].Status != "success" {
		t.Errorf("ListPipelinesTriggeredBySchedule: %+v", pls)
	}
	page := must[[]*gitlab.Pipeline](t, "ListPipelinesTriggeredBySchedule")(asCarol.PipelineSchedules.ListPipelinesTriggeredBySchedule(p.ID, sc.ID,
		&gitlab.ListPipelinesTriggeredByScheduleOptions{ListOptions: gitlab.ListOptions{PerPage: 1, Page: 2}}))
	if len(page) != 1 || len(pls) == 2 && page[0].ID != pls[1].ID {
		t.Errorf("ListPipelinesTriggeredBySchedule page 2 of 1: %+v", page)
	}

	if _, _, err := asAlice.PipelineSchedules.DeletePipelineScheduleVariable(p.ID, sc.ID, "NIGHTLY"); err != nil {
		t.Errorf("DeletePipelineScheduleVariable: %v", err)
	}
	_, err = asBob.PipelineSchedules.DeletePipelineSchedule(p.ID, sc.ID)
	wantStatus(t, err, http.StatusForbidden)
	if _, err := asAlice.PipelineSchedules.DeletePipelineSchedule(p.ID, sc.ID); err != nil {
		t.Fatalf("DeletePipelineSchedule: %v", err)
	}
	_, _, err = asAlice.PipelineSchedules.GetPipelineSchedule(p.ID, sc.ID)
	wantStatus(t, err, http.StatusNotFound)
}
