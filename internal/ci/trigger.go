package ci

import (
	"context"
	"errors"
	"strconv"

	"github.com/ciwarden/ciwarden/internal/auth"
	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/store"
)

// MaxDownstreamPerJob bounds the pipelines one job may trigger (through
// the trigger API with its token, or as a bridge): a job looping over
// curl cannot make a server create pipelines without end. GitLab bounds
// this with its pipeline creation rate limit; ciwarden bounds it per job,
// which needs no clock and no shared counter: one indexed count in the
// creating transaction.
const MaxDownstreamPerJob = 100

// ReasonTooManyDownstream refuses a trigger past MaxDownstreamPerJob.
var ReasonTooManyDownstream = "This job has already triggered " + strconv.Itoa(MaxDownstreamPerJob) +
	" pipelines, the most one job may trigger"

// checkDownstream refuses a pipeline whose upstream job has triggered
// MaxDownstreamPerJob already, or that would pass MaxPipelineDepth (a
// trigger loop through job tokens is cut as a bridge loop is).
func (s *Service) checkDownstream(ctx context.Context, q *store.Queries, in CreateInput) error {
	if in.SourceJob == nil {
		return nil
	}
	n, err := q.CountDownstream(ctx, in.SourceJob.ID)
	if err != nil {
		return err
	}
	if n >= MaxDownstreamPerJob {
		return &RefusedError{Reason: ReasonTooManyDownstream}
	}
	if d, err := depth(ctx, q, in.SourceJob.PipelineID); err != nil {
		return err
	} else if d+1 > MaxPipelineDepth {
		return &RefusedError{Reason: ReasonTooDeep}
	}
	return nil
}

// TriggerInput is a call of the trigger API (POST
// /projects/:id/trigger/pipeline and the webhook form), already decided
// by the gate (authz.TriggerPipeline).
type TriggerInput struct {
	Project *model.Project
	// Who is the caller: a job token (the pipeline runs as the job's
	// user, source pipeline, downstream of the job) or a trigger token
	// (as the trigger's owner, source trigger).
	Who       *auth.Principal
	Ref       string
	Variables []model.Variable
	// Payload is the call's parameters but its token, as JSON: the
	// TRIGGER_PAYLOAD file variable of the pipeline (GitLab's, for the
	// webhooks that call the trigger API).
	Payload []byte
}

// TriggerPayloadVariable is the file variable holding a trigger call's
// parameters.
const TriggerPayloadVariable = "TRIGGER_PAYLOAD"

// ErrNotTrigger is a principal the trigger API cannot act for.
var ErrNotTrigger = errors.New("ci: the trigger API needs a job token or a trigger token")

// Trigger creates the pipeline a trigger API call asks for
// (gitlab-compat.md §3.5). The variables are the run's own, which beat
// every variable of the YAML.
func (s *Service) Trigger(ctx context.Context, in TriggerInput) (*model.Pipeline, error) {
	vars := in.Variables
	if in.Payload != nil {
		// After the call's variables, as GitLab adds it: the payload
		// wins over a variables[TRIGGER_PAYLOAD] of the same call.
		vars = append(vars[:len(vars):len(vars)], model.Variable{Key: TriggerPayloadVariable, Value: string(in.Payload), File: true})
	}
	c := CreateInput{Project: in.Project, User: in.Who.User, Ref: in.Ref, Variables: vars, RefuseInvalid: true}
	switch in.Who.Kind {
	case auth.JobKind:
		c.Source, c.SourceJob = model.SourcePipeline, in.Who.Job
	case auth.TriggerKind:
		c.Source, c.TriggerID = model.SourceTrigger, in.Who.Trigger.ID
	default:
		return nil, ErrNotTrigger
	}
	p, err := s.CreatePipeline(ctx, c)
	if err != nil {
		return nil, err
	}
	if in.Who.Trigger != nil {
		// Bookkeeping: a failed write must not fail the trigger.
		_ = s.Store.TouchTrigger(ctx, in.Who.Trigger.ID, s.Now())
	}
	return p, nil
}

// maxTriggerDescription bounds a trigger token's description.
const maxTriggerDescription = 255

// CreateTrigger makes a trigger token for a project, owned by ownerID,
// and returns it with its secret, which is kept only as a digest.
func (s *Service) CreateTrigger(ctx context.Context, projectID, ownerID int64, description string) (*model.Trigger, string, error) {
	if len(description) > maxTriggerDescription {
		return nil, "", model.Invalid("description", "is too long (maximum is 255 characters)")
	}
	secret := auth.NewSecret(auth.TriggerTokenPrefix)
	t := &model.Trigger{ProjectID: projectID, OwnerID: ownerID, Description: description, CreatedAt: s.Now(),
		// GitLab shows four characters of a token it no longer shows whole.
		ShortToken: secret[len(auth.TriggerTokenPrefix) : len(auth.TriggerTokenPrefix)+4]}
	if err := s.Store.CreateTrigger(ctx, t, auth.Digest(secret)); err != nil {
		return nil, "", err
	}
	return t, secret, nil
}

// UpdateTrigger changes a trigger token's description.
func (s *Service) UpdateTrigger(ctx context.Context, t *model.Trigger, description string) error {
	if len(description) > maxTriggerDescription {
		return model.Invalid("description", "is too long (maximum is 255 characters)")
	}
	t.Description = description
	return s.Store.UpdateTriggerDescription(ctx, t, s.Now())
}
