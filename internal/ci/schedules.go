package ci

import (
	"context"
	"errors"
	"strings"
	"time"
	// The IANA zone database inside the binary: cron_timezone must not
	// depend on the host having one.
	_ "time/tzdata"

	"github.com/robfig/cron/v3"

	"github.com/ciwarden/ciwarden/internal/auth"
	"github.com/ciwarden/ciwarden/internal/authz"
	"github.com/ciwarden/ciwarden/internal/model"
)

// Bounds of a schedule's fields (GitLab's column sizes).
const (
	maxScheduleText  = 255
	maxScheduleValue = 64 << 10
)

// ScheduleInput is a schedule's fields as a create or an update gives
// them; nil is "not given".
type ScheduleInput struct {
	Description, Ref, Cron, CronTimezone *string
	Active                               *bool
}

// nextRun is the first time after after that cron expr names in zone tz
// (five fields or a descriptor such as @daily, as GitLab's cron syntax),
// or a validation error naming the field at fault.
func nextRun(expr, tz string, after time.Time) (time.Time, error) {
	loc, err := time.LoadLocation(tz)
	if tz == "" || strings.EqualFold(tz, "local") || err != nil {
		// "Local" is the server's zone, which is no zone a user means.
		return time.Time{}, model.Invalid("cron_timezone", "is invalid syntax")
	}
	sched, err := cron.ParseStandard(expr)
	if err != nil || strings.HasPrefix(strings.TrimSpace(expr), "TZ=") || strings.HasPrefix(strings.TrimSpace(expr), "CRON_TZ=") {
		return time.Time{}, model.Invalid("cron", "is invalid syntax")
	}
	next := sched.Next(after.In(loc))
	if next.IsZero() {
		// A date that never comes (30 February): cron finds none.
		return time.Time{}, model.Invalid("cron", "is invalid syntax")
	}
	return next.UTC(), nil
}

// normalizeRef takes a branch or tag by name or by full ref name.
func normalizeRef(ref string) string {
	for _, p := range []string{"refs/heads/", "refs/tags/"} {
		if strings.HasPrefix(ref, p) {
			return ref[len(p):]
		}
	}
	return ref
}

// applySchedule sets the given fields of in on sc and computes its next run.
func (s *Service) applySchedule(sc *model.Schedule, in ScheduleInput) error {
	fields := map[string][]string{}
	check := func(name string, v *string, required bool) {
		switch {
		case v == nil:
		case required && strings.TrimSpace(*v) == "":
			fields[name] = append(fields[name], "can't be blank")
		case len(*v) > maxScheduleText:
			fields[name] = append(fields[name], "is too long (maximum is 255 characters)")
		}
	}
	check("description", in.Description, true)
	check("ref", in.Ref, true)
	check("cron", in.Cron, true)
	check("cron_timezone", in.CronTimezone, true)
	if len(fields) > 0 {
		return &model.ValidationError{Fields: fields}
	}
	if in.Description != nil {
		sc.Description = *in.Description
	}
	if in.Ref != nil {
		sc.Ref = normalizeRef(*in.Ref)
	}
	if in.Cron != nil {
		sc.Cron = *in.Cron
	}
	if in.CronTimezone != nil {
		sc.CronTimezone = *in.CronTimezone
	}
	if in.Active != nil {
		sc.Active = *in.Active
	}
	now := s.Now()
	next, err := nextRun(sc.Cron, sc.CronTimezone, now)
	if err != nil {
		return err
	}
	sc.NextRunAt, sc.UpdatedAt = next, now
	return nil
}

// CreateSchedule makes a schedule of projectID owned by ownerID (the
// route decided the Developer role it needs).
func (s *Service) CreateSchedule(ctx context.Context, projectID, ownerID int64, in ScheduleInput) (*model.Schedule, error) {
	sc := &model.Schedule{ProjectID: projectID, OwnerID: ownerID, CronTimezone: "UTC", Active: true, CreatedAt: s.Now()}
	if in.CronTimezone != nil && *in.CronTimezone == "" {
		in.CronTimezone = nil // GitLab's default, UTC
	}
	if err := s.applySchedule(sc, in); err != nil {
		return nil, err
	}
	return sc, s.Store.CreateSchedule(ctx, sc)
}

// UpdateSchedule changes the given fields of a schedule (its owner or a
// Maintainer: the handler's decision).
func (s *Service) UpdateSchedule(ctx context.Context, sc *model.Schedule, in ScheduleInput) error {
	if err := s.applySchedule(sc, in); err != nil {
		return err
	}
	return s.Store.UpdateSchedule(ctx, sc)
}

// TakeOwnership makes userID the schedule's owner: its next pipelines run
// as userID.
func (s *Service) TakeOwnership(ctx context.Context, sc *model.Schedule, userID int64) error {
	sc.OwnerID, sc.UpdatedAt = userID, s.Now()
	return s.Store.UpdateSchedule(ctx, sc)
}

// SetScheduleVariable adds (create) or changes a schedule's variable.
func (s *Service) SetScheduleVariable(ctx context.Context, sc *model.Schedule, v *model.ScheduleVariable, create bool) error {
	switch v.VariableType {
	case "":
		v.VariableType = "env_var"
	case "env_var", "file":
	default:
		return model.Invalid("variable_type", "does not have a valid value")
	}
	if len(v.Value) > maxScheduleValue {
		return model.Invalid("value", "is too long")
	}
	err := s.Store.SetScheduleVariable(ctx, sc.ID, v, create)
	if errors.Is(err, model.ErrConflict) {
		return model.Invalid("key", "("+v.Key+") has already been taken")
	}
	return err
}

// PlaySchedule runs a schedule now, as the user who plays it (GitLab: a
// schedule run by hand runs with its player's permissions, not its
// owner's), without moving its next run. The route decided that player may
// run a pipeline on the schedule's ref (authz.PlayScheduleOnRef).
func (s *Service) PlaySchedule(ctx context.Context, sc *model.Schedule, p *model.Project, player *model.User) (*model.Pipeline, error) {
	return s.runSchedule(ctx, sc, CreateInput{Project: p, User: player, Ref: sc.Ref})
}

// RunDueSchedules fires every active schedule whose next run has come by
// now (the sweep's s.Now(); a test's chosen time). Each fires only if this
// call claims its due time (store.ClaimSchedule), moving next_run_at to
// the first time after now: replicas sharing the database fire a due time
// once between them, and a server that was down through several due times
// fires once when it is back, not once for each it missed.
func (s *Service) RunDueSchedules(ctx context.Context, now time.Time) error {
	due, err := s.Store.DueSchedules(ctx, now, 100)
	if err != nil {
		return err
	}
	for _, sc := range due {
		next, err := nextRun(sc.Cron, sc.CronTimezone, now)
		if err != nil {
			// Stored valid; a zone database that lost the zone stops it.
			s.Log.Warn("pipeline schedule cannot compute its next run; deactivated", "schedule_id", sc.ID, "error", err)
			if err := s.Store.DeactivateSchedule(ctx, sc.ID, now); err != nil {
				return err
			}
			continue
		}
		ok, err := s.Store.ClaimSchedule(ctx, sc.ID, sc.NextRunAt, next)
		if err != nil {
			return err
		}
		if !ok {
			continue // another replica fired it, or it was changed
		}
		if _, err := s.fireSchedule(ctx, sc); err != nil && !refused(err) {
			return err
		}
	}
	return nil
}

// ErrScheduleOwner is a schedule whose owner may no longer run pipelines
// in its project: it was made inactive.
var ErrScheduleOwner = errors.New("ci: the schedule's owner cannot run pipelines in its project; the schedule was deactivated")

// refused is a pipeline a schedule could not create for a reason of its
// own (logged), not a failure of the server.
func refused(err error) bool {
	var r *RefusedError
	var v *model.ValidationError
	return errors.Is(err, ErrScheduleOwner) || errors.As(err, &r) || errors.As(err, &v)
}

// fireSchedule creates a due schedule's pipeline as its owner, source
// schedule, with its variables. An owner who is gone, blocked or no
// longer a Developer of the project makes the schedule inactive with no
// pipeline, as GitLab does. An owner who may not run pipelines on the
// schedule's protected ref gets no pipeline either (GitLab creates none,
// and keeps the schedule: the ref's rules may change back); the decision
// is the one every pipeline on a ref takes (authz.CreatePipelineOnRef).
func (s *Service) fireSchedule(ctx context.Context, sc *model.Schedule) (*model.Pipeline, error) {
	p, err := s.Store.Project(ctx, sc.ProjectID)
	if errors.Is(err, model.ErrNotFound) {
		return nil, &RefusedError{Reason: "project not found"}
	}
	if err != nil {
		return nil, err
	}
	in := CreateInput{Project: p, Ref: sc.Ref}
	owner, err := s.Store.User(ctx, sc.OwnerID)
	if err != nil && !errors.Is(err, model.ErrNotFound) {
		return nil, err
	}
	var d authz.Decision
	if err == nil && !owner.Blocked && !p.PendingDeletion() {
		// The ref first, so that one decision covers the project and the
		// ref; a ref that does not exist is CreatePipeline's refusal.
		full, sha, rerr := s.ResolveRef(ctx, p.ID, sc.Ref)
		var refused *RefusedError
		if rerr != nil && !errors.As(rerr, &refused) {
			return nil, rerr
		}
		in.SHA, in.Tag = sha, strings.HasPrefix(full, "refs/tags/")
		who := &auth.Principal{Kind: auth.UserKind, User: owner}
		if d, err = s.access().ProjectRef(ctx, who, p, authz.CreatePipelineOnRef, full); err != nil {
			return nil, err
		}
		in.User = owner
	}
	switch {
	case d.Allowed:
	case d.Check == authz.CheckProtectedRef:
		s.Log.Info("pipeline schedule made no pipeline", "schedule_id", sc.ID, "owner_id", sc.OwnerID, "reason", d.Message)
		return nil, &RefusedError{Reason: authz.ProtectedRefPipelineMessage(sc.Ref)}
	default:
		s.Log.Info("pipeline schedule deactivated: its owner cannot run pipelines in its project", "schedule_id", sc.ID, "owner_id", sc.OwnerID)
		if err := s.Store.DeactivateSchedule(ctx, sc.ID, s.Now()); err != nil {
			return nil, err
		}
		sc.Active = false
		return nil, ErrScheduleOwner
	}
	return s.runSchedule(ctx, sc, in)
}

// runSchedule creates schedule sc's pipeline, source schedule, with its
// variables (a file variable reaches jobs as a file, as a CI/CD variable
// of type file does), and records it as the schedule's last.
func (s *Service) runSchedule(ctx context.Context, sc *model.Schedule, in CreateInput) (*model.Pipeline, error) {
	vars, err := s.Store.ScheduleVariables(ctx, sc.ID)
	if err != nil {
		return nil, err
	}
	in.Source, in.ScheduleID, in.RefuseInvalid = model.SourceSchedule, sc.ID, false
	for _, v := range vars {
		in.Variables = append(in.Variables, model.Variable{Key: v.Key, Value: v.Value, File: v.VariableType == "file"})
	}
	pl, err := s.CreatePipeline(ctx, in)
	if err != nil {
		s.Log.Info("pipeline schedule made no pipeline", "schedule_id", sc.ID, "error", err)
		return nil, err
	}
	sc.LastPipelineID = pl.ID
	return pl, s.Store.SetScheduleLastPipeline(ctx, sc.ID, pl.ID)
}
