package api

import (
	"errors"
	"net/http"
	"strings"

	"github.com/ciwarden/ciwarden/internal/authz"
	"github.com/ciwarden/ciwarden/internal/ci"
	"github.com/ciwarden/ciwarden/internal/gate"
	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/store"
)

// scheduleEntity is GitLab's PipelineSchedule (listings) and, with
// last_pipeline and variables, PipelineScheduleDetails (one schedule).
type scheduleEntity struct {
	ID           int64       `json:"id"`
	Description  string      `json:"description"`
	Ref          string      `json:"ref"`
	Cron         string      `json:"cron"`
	CronTimezone string      `json:"cron_timezone"`
	NextRunAt    string      `json:"next_run_at"`
	Active       bool        `json:"active"`
	CreatedAt    string      `json:"created_at"`
	UpdatedAt    string      `json:"updated_at"`
	Owner        *userEntity `json:"owner"`
}

// scheduleDetailEntity is PipelineScheduleDetails: one schedule.
type scheduleDetailEntity struct {
	*scheduleEntity
	LastPipeline *pipelineEntity          `json:"last_pipeline"`
	Variables    []scheduleVariableEntity `json:"variables"`
}

// scheduleVariableEntity is GitLab's Ci::Variable as a schedule shows it.
type scheduleVariableEntity struct {
	VariableType string `json:"variable_type"`
	Key          string `json:"key"`
	Value        string `json:"value"`
	Raw          bool   `json:"raw"`
}

func scheduleVariableJSON(v *model.ScheduleVariable) scheduleVariableEntity {
	return scheduleVariableEntity{VariableType: v.VariableType, Key: v.Key, Value: v.Value}
}

func (a *API) scheduleJSON(c *Ctx, sc *model.Schedule) *scheduleEntity {
	e := &scheduleEntity{ID: sc.ID, Description: sc.Description, Ref: sc.Ref, Cron: sc.Cron, CronTimezone: sc.CronTimezone,
		NextRunAt: timeJSON(sc.NextRunAt), Active: sc.Active, CreatedAt: timeJSON(sc.CreatedAt), UpdatedAt: timeJSON(sc.UpdatedAt)}
	if u, err := a.Store.User(c.Context(), sc.OwnerID); err == nil {
		e.Owner = a.userJSON(u, false)
	}
	return e
}

// writeSchedule answers one schedule with its last pipeline and, for its
// owner and Maintainers (GitLab's read_pipeline_schedule_variables), its
// variables; others see none.
func (a *API) writeSchedule(c *Ctx, status int, sc *model.Schedule) error {
	ctx := c.Context()
	e := &scheduleDetailEntity{scheduleEntity: a.scheduleJSON(c, sc), Variables: []scheduleVariableEntity{}}
	if sc.LastPipelineID != 0 {
		if p, err := a.Store.Pipeline(ctx, sc.LastPipelineID); err == nil {
			e.LastPipeline = a.pipelineJSON(c, p)
		}
	}
	if c.Can(authz.AdminSchedule, gate.Owner(sc.OwnerID == c.Principal.UserID())) {
		list, err := a.Store.ScheduleVariables(ctx, sc.ID)
		if err != nil {
			return err
		}
		for _, v := range list {
			e.Variables = append(e.Variables, scheduleVariableJSON(v))
		}
	}
	writeJSON(c.W, status, e)
	return nil
}

func (c *Ctx) pathSchedule() (*model.Schedule, error) {
	id, err := c.PathInt("schedule_id")
	if err != nil {
		return nil, err
	}
	sc, err := c.API.Store.Schedule(c.Context(), c.Project.ID, id)
	if errors.Is(err, model.ErrNotFound) {
		return nil, errNotFound("Pipeline Schedule")
	}
	return sc, err
}

// ownedSchedule is the path's schedule once AdminSchedule allows the
// caller to change it: its owner, or a Maintainer.
func (c *Ctx) ownedSchedule() (*model.Schedule, error) {
	sc, err := c.pathSchedule()
	if err != nil {
		return nil, err
	}
	if err := c.Authorize(authz.AdminSchedule, gate.Owner(sc.OwnerID == c.Principal.UserID())); err != nil {
		return nil, err
	}
	return sc, nil
}

// scheduleFullRef is the full name of a schedule's ref: as given if given
// in full, else the branch, else the tag of that name; one that is neither
// is read as a branch, which protected branch rules may cover by name.
func (c *Ctx) scheduleFullRef(ref string) (string, error) {
	if strings.HasPrefix(ref, "refs/") {
		return ref, nil
	}
	full, _, err := c.API.CI.ResolveRef(c.Context(), c.Project.ID, ref)
	var refused *ci.RefusedError
	if errors.As(err, &refused) {
		return "refs/heads/" + ref, nil
	}
	return full, err
}

// authorizeScheduleRef: a schedule goes on a protected ref only by whoever
// may run pipelines there (authz.SaveScheduleOnRef), refused as GitLab's
// schedule services are: 400 {"message":{"base":["The current user is not
// authorized to <verb> the pipeline schedule"]}}.
func (c *Ctx) authorizeScheduleRef(ref, verb string) error {
	full, err := c.scheduleFullRef(ref)
	if err != nil {
		return err
	}
	err = c.AuthorizeRef(authz.SaveScheduleOnRef, full)
	var denied *gate.Denied
	if errors.As(err, &denied) && denied.Decision.Check == authz.CheckProtectedRef {
		return &model.ValidationError{Fields: map[string][]string{"base": {"The current user is not authorized to " + verb + " the pipeline schedule"}}}
	}
	return err
}

// scheduleParams reads description, ref, cron, cron_timezone and active.
func (c *Ctx) scheduleParams() (ci.ScheduleInput, error) {
	var in ci.ScheduleInput
	str := func(name string) *string {
		if v, ok := c.Params.String(name); ok {
			return &v
		}
		return nil
	}
	in.Description, in.Ref, in.Cron, in.CronTimezone = str("description"), str("ref"), str("cron"), str("cron_timezone")
	if v, ok := c.Params.Bool("active"); ok {
		in.Active = &v
	}
	return in, c.Params.Err()
}

func (a *API) listSchedules(c *Ctx) error {
	var active *bool
	switch scope, _ := c.Params.String("scope"); scope {
	case "":
	case "active", "inactive":
		v := scope == "active"
		active = &v
	default:
		return errParam("scope does not have a valid value")
	}
	if err := c.Params.Err(); err != nil {
		return err
	}
	return gate.List(c.Ctx, func(pg store.Page) ([]*model.Schedule, int, error) {
		return a.Store.ListSchedules(c.Context(), c.Project.ID, active, pg)
	}, func(sc *model.Schedule) *scheduleEntity { return a.scheduleJSON(c, sc) })
}

func (a *API) getSchedule(c *Ctx) error {
	sc, err := c.pathSchedule()
	if err != nil {
		return err
	}
	return a.writeSchedule(c, http.StatusOK, sc)
}

// createSchedule is POST /projects/:id/pipeline_schedules (description,
// ref, cron required; cron_timezone UTC and active true by default).
func (a *API) createSchedule(c *Ctx) error {
	c.Params.Require("description", "ref", "cron")
	in, err := c.scheduleParams()
	if err != nil {
		return err
	}
	if err := c.authorizeScheduleRef(*in.Ref, "create"); err != nil {
		return err
	}
	sc, err := a.CI.CreateSchedule(c.Context(), c.Project.ID, c.Principal.UserID(), in)
	if err != nil {
		return err
	}
	return a.writeSchedule(c, http.StatusCreated, sc)
}

func (a *API) updateSchedule(c *Ctx) error {
	sc, err := c.ownedSchedule()
	if err != nil {
		return err
	}
	in, err := c.scheduleParams()
	if err != nil {
		return err
	}
	if in.Ref != nil && *in.Ref != "" {
		if err := c.authorizeScheduleRef(*in.Ref, "update"); err != nil {
			return err
		}
	}
	if err := a.CI.UpdateSchedule(c.Context(), sc, in); err != nil {
		return err
	}
	return a.writeSchedule(c, http.StatusOK, sc)
}

func (a *API) deleteSchedule(c *Ctx) error {
	sc, err := c.ownedSchedule()
	if err != nil {
		return err
	}
	if err := a.Store.DeleteSchedule(c.Context(), c.Project.ID, sc.ID); err != nil {
		return err
	}
	c.W.WriteHeader(http.StatusNoContent)
	return nil
}

// takeScheduleOwnership: the caller (a Maintainer) becomes the owner, and
// the schedule's next pipelines run as them.
func (a *API) takeScheduleOwnership(c *Ctx) error {
	sc, err := c.pathSchedule()
	if err != nil {
		return err
	}
	if err := a.CI.TakeOwnership(c.Context(), sc, c.Principal.UserID()); err != nil {
		return err
	}
	return a.writeSchedule(c, http.StatusCreated, sc)
}

// playSchedule runs the schedule now, as the caller (GitLab: a schedule
// run by hand uses its player's permissions), who must be allowed to run
// a pipeline on its ref if that ref is protected: GitLab's 403 otherwise.
// GitLab answers 201 with a message.
func (a *API) playSchedule(c *Ctx) error {
	sc, err := c.pathSchedule()
	if err != nil {
		return err
	}
	full, err := c.scheduleFullRef(sc.Ref)
	if err != nil {
		return err
	}
	if err := c.AuthorizeRef(authz.PlayScheduleOnRef, full); err != nil {
		return err
	}
	if _, err := a.CI.PlaySchedule(c.Context(), sc, c.Project, c.Principal.User); err != nil {
		return pipelineErr(err)
	}
	writeJSON(c.W, http.StatusCreated, map[string]string{"message": "201 Created"})
	return nil
}

// schedulePipelines is GET /projects/:id/pipeline_schedules/:id/pipelines:
// the pipelines the schedule created, oldest first unless sort=desc
// (GitLab's order), paginated.
func (a *API) schedulePipelines(c *Ctx) error {
	sc, err := c.pathSchedule()
	if err != nil {
		return err
	}
	f := store.PipelineFilter{ProjectID: c.Project.ID, ScheduleID: sc.ID, Sort: c.sortParam("asc")}
	if err := c.Params.Err(); err != nil {
		return err
	}
	return gate.List(c.Ctx, func(pg store.Page) ([]*model.Pipeline, int, error) {
		return a.Store.ListPipelines(c.Context(), f, pg)
	}, func(p *model.Pipeline) *pipelineEntity { return a.pipelineJSON(c, p) })
}

// scheduleVariableParams reads value and variable_type (key is the path's
// on an update, a parameter on a create).
func (c *Ctx) scheduleVariableParams(v *model.ScheduleVariable) error {
	if val, ok := c.Params.String("value"); ok {
		v.Value = val
	}
	if t, ok := c.Params.String("variable_type"); ok {
		v.VariableType = t
	}
	return c.Params.Err()
}

func (a *API) createScheduleVariable(c *Ctx) error {
	sc, err := c.ownedSchedule()
	if err != nil {
		return err
	}
	c.Params.Require("key", "value")
	key, _ := c.Params.String("key")
	v := &model.ScheduleVariable{Key: key}
	if err := c.scheduleVariableParams(v); err != nil {
		return err
	}
	if !validVarName(key) {
		return &model.ValidationError{Fields: map[string][]string{"key": {"can contain only letters, digits and '_'."}}}
	}
	if err := a.CI.SetScheduleVariable(c.Context(), sc, v, true); err != nil {
		return err
	}
	writeJSON(c.W, http.StatusCreated, scheduleVariableJSON(v))
	return nil
}

// pathScheduleVariable is the path's variable of an owned schedule.
func (c *Ctx) pathScheduleVariable() (*model.Schedule, *model.ScheduleVariable, error) {
	sc, err := c.ownedSchedule()
	if err != nil {
		return nil, nil, err
	}
	key := c.R.PathValue("key")
	vars, err := c.API.Store.ScheduleVariables(c.Context(), sc.ID)
	if err != nil {
		return nil, nil, err
	}
	for _, v := range vars {
		if v.Key == key {
			return sc, v, nil
		}
	}
	return nil, nil, errNotFound("Variable")
}

func (a *API) updateScheduleVariable(c *Ctx) error {
	sc, v, err := c.pathScheduleVariable()
	if err != nil {
		return err
	}
	if err := c.scheduleVariableParams(v); err != nil {
		return err
	}
	if err := a.CI.SetScheduleVariable(c.Context(), sc, v, false); err != nil {
		return err
	}
	writeJSON(c.W, http.StatusOK, scheduleVariableJSON(v))
	return nil
}

// deleteScheduleVariable answers the variable removed, 202 (GitLab's).
func (a *API) deleteScheduleVariable(c *Ctx) error {
	sc, v, err := c.pathScheduleVariable()
	if err != nil {
		return err
	}
	if err := a.Store.DeleteScheduleVariable(c.Context(), sc.ID, v.Key); err != nil {
		return err
	}
	writeJSON(c.W, http.StatusAccepted, scheduleVariableJSON(v))
	return nil
}
