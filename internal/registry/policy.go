package registry

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/store"
)

// The values GitLab accepts for a cleanup policy (its API docs, "Projects
// API", container_expiration_policy_attributes): anything else is a 400
// naming the field.
var (
	policyCadences  = []string{"1d", "7d", "14d", "1month", "3month"}
	policyKeepN     = []int{1, 5, 10, 25, 50, 100}
	policyOlderThan = []string{"7d", "14d", "30d", "60d", "90d"}
)

// DefaultPolicy is a project's policy until one is set: GitLab's defaults,
// disabled.
func DefaultPolicy(projectID int64) *model.ContainerPolicy {
	keepN, olderThan := 10, "90d"
	return &model.ContainerPolicy{ProjectID: projectID, Cadence: "1d", KeepN: &keepN, OlderThan: &olderThan}
}

// Opt is an attribute that may be sent as null: Set says it was sent,
// Value nil that it was null (no such limit).
type Opt[T any] struct {
	Set   bool
	Value *T
}

// PolicyInput is container_expiration_policy_attributes of PUT
// /projects/:id; a field not sent is unchanged. NameRegex is name_regex or
// its newer name name_regex_delete.
type PolicyInput struct {
	Enabled       *bool
	Cadence       *string
	KeepN         Opt[int]
	OlderThan     Opt[string]
	NameRegex     Opt[string]
	NameRegexKeep Opt[string]
}

// ApplyPolicy validates in and copies it onto p (a project's policy, or
// DefaultPolicy). The next run is a cadence after now when the policy is
// enabled or its cadence changes (GitLab's schedule_next_run!), none while
// it is disabled.
func ApplyPolicy(p *model.ContainerPolicy, in PolicyInput, now time.Time) error {
	old := *p
	if in.Enabled != nil {
		p.Enabled = *in.Enabled
	}
	if in.Cadence != nil {
		if !slices.Contains(policyCadences, *in.Cadence) {
			return model.Invalid("container_expiration_policy.cadence", "is not included in the list")
		}
		p.Cadence = *in.Cadence
	}
	if in.KeepN.Set {
		if in.KeepN.Value != nil && !slices.Contains(policyKeepN, *in.KeepN.Value) {
			return model.Invalid("container_expiration_policy.keep_n", "is not included in the list")
		}
		p.KeepN = in.KeepN.Value
	}
	if in.OlderThan.Set {
		if in.OlderThan.Value != nil && !slices.Contains(policyOlderThan, *in.OlderThan.Value) {
			return model.Invalid("container_expiration_policy.older_than", "is not included in the list")
		}
		p.OlderThan = in.OlderThan.Value
	}
	for _, f := range []struct {
		name string
		in   Opt[string]
		out  **string
	}{{"name_regex", in.NameRegex, &p.NameRegex}, {"name_regex_keep", in.NameRegexKeep, &p.NameRegexKeep}} {
		if !f.in.Set {
			continue
		}
		if f.in.Value != nil && *f.in.Value != "" {
			// The rule the cleanup matches with (fullMatch), checked now so
			// that a policy never fails later on its own regex.
			if _, err := fullMatch(f.name, *f.in.Value); err != nil {
				return model.Invalid("container_expiration_policy."+f.name, "not valid RE2 syntax")
			}
		}
		*f.out = f.in.Value
	}
	switch {
	case !p.Enabled:
		p.NextRunAt = time.Time{}
	case !old.Enabled || old.Cadence != p.Cadence || p.NextRunAt.IsZero():
		p.NextRunAt = nextPolicyRun(p.Cadence, now)
	}
	p.UpdatedAt = now
	if p.CreatedAt.IsZero() {
		p.CreatedAt = now
	}
	return nil
}

// nextPolicyRun is a cadence after now; months are calendar months.
func nextPolicyRun(cadence string, now time.Time) time.Time {
	switch cadence {
	case "1month":
		return now.AddDate(0, 1, 0)
	case "3month":
		return now.AddDate(0, 3, 0)
	case "7d":
		return now.AddDate(0, 0, 7)
	case "14d":
		return now.AddDate(0, 0, 14)
	}
	return now.AddDate(0, 0, 1)
}

// LoadPolicy is a project's cleanup policy, its defaults when none was
// set.
func LoadPolicy(ctx context.Context, q *store.Queries, projectID int64) (*model.ContainerPolicy, error) {
	p, err := q.ContainerPolicy(ctx, projectID)
	if errors.Is(err, model.ErrNotFound) {
		return DefaultPolicy(projectID), nil
	}
	return p, err
}

// Policy is a project's cleanup policy (LoadPolicy).
func (s *Repositories) Policy(ctx context.Context, projectID int64) (*model.ContainerPolicy, error) {
	return LoadPolicy(ctx, &s.Store.Queries, projectID)
}

// RunDuePolicies runs every enabled cleanup policy whose next run has come
// by now (the server's scheduler sweep; a test's chosen time). Each runs
// only if this call claims its due time (store.ClaimContainerPolicy),
// moving next_run_at a cadence past now, as pipeline schedules are fired:
// replicas sharing the database run a due policy once between them, and a
// server that was down through several runs catches up with one.
func (s *Repositories) RunDuePolicies(ctx context.Context, now time.Time) error {
	due, err := s.Store.DueContainerPolicies(ctx, now, 100)
	if err != nil {
		return err
	}
	for _, p := range due {
		ok, err := s.Store.ClaimContainerPolicy(ctx, p.ProjectID, p.NextRunAt, nextPolicyRun(p.Cadence, now))
		if err != nil {
			return err
		}
		if ok {
			if err := s.runPolicy(ctx, p); err != nil {
				return err
			}
		}
	}
	return nil
}

// runPolicy deletes, in each of the project's repositories, the tags the
// policy names, by the rule of the bulk tag deletion (DeleteTags), which
// the policy's fields are GitLab's inputs of. No name_regex deletes
// nothing (GitLab's rule). A repository whose images cannot be read is
// logged and skipped: the others are still cleaned.
func (s *Repositories) runPolicy(ctx context.Context, p *model.ContainerPolicy) error {
	if p.NameRegex == nil || *p.NameRegex == "" {
		return nil
	}
	in := BulkDelete{NameRegexDelete: *p.NameRegex}
	if p.NameRegexKeep != nil {
		in.NameRegexKeep = *p.NameRegexKeep
	}
	if p.KeepN != nil {
		in.KeepN = *p.KeepN
	}
	if p.OlderThan != nil {
		in.OlderThan = *p.OlderThan
	}
	repos, _, err := s.Store.ListContainerRepositories(ctx, p.ProjectID, store.Page{Number: 1, PerPage: maxPolicyRepositories})
	if err != nil {
		return err
	}
	for _, r := range repos {
		deleted, err := s.DeleteTags(ctx, r, in)
		if err != nil {
			s.log().Warn("container cleanup policy: a repository was not cleaned", "project_id", p.ProjectID, "repository_id", r.ID, "error", err)
			continue
		}
		if len(deleted) > 0 {
			s.log().Info("container cleanup policy deleted tags", "project_id", p.ProjectID, "repository_id", r.ID, "count", len(deleted))
		}
	}
	return nil
}

// maxPolicyRepositories bounds one run's work, as maxBulkTags bounds a
// repository's.
const maxPolicyRepositories = 1000
