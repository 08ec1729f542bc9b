package jobtoken

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/ciwarden/ciwarden/internal/auth"
	"github.com/ciwarden/ciwarden/internal/authz"
	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/store"
)

// HiddenProject stands, in the authentication log, for an origin project
// its reader cannot see.
const HiddenProject = "a project you cannot see"

// LogEntry is one row of the authentication log as its reader may see
// it: when they cannot see the origin project (a job that tried and was
// refused), Origin is nil, OriginPath is HiddenProject and the denial
// reason no longer names it.
type LogEntry struct {
	model.JobTokenAuthorization
	OriginPath string
}

// Authorizations is one page of p's authentication log, newest first, as
// who may see it. This process's pending uses are written first, so the
// log includes every use this replica has seen.
func (s *Service) Authorizations(ctx context.Context, who *auth.Principal, p *model.Project, pg store.Page) ([]*LogEntry, int, error) {
	if err := s.Log.Flush(ctx); err != nil {
		return nil, 0, err
	}
	rows, total, err := s.Store.Authorizations(ctx, p.ID, pg)
	if err != nil {
		return nil, 0, err
	}
	out := make([]*LogEntry, 0, len(rows))
	for _, r := range rows {
		e, err := s.logEntry(ctx, who, r)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, e)
	}
	return out, total, nil
}

// AllAuthorizations is the whole of p's authentication log (the CSV
// export), read a thousand rows at a time.
func (s *Service) AllAuthorizations(ctx context.Context, who *auth.Principal, p *model.Project) ([]*LogEntry, error) {
	var all []*LogEntry
	for n := 1; ; n++ {
		rows, total, err := s.Authorizations(ctx, who, p, store.Page{Number: n, PerPage: 1000})
		if err != nil {
			return nil, err
		}
		all = append(all, rows...)
		if len(rows) == 0 || len(all) >= total {
			return all, nil
		}
	}
}

func (s *Service) logEntry(ctx context.Context, who *auth.Principal, r *model.JobTokenAuthorization) (*LogEntry, error) {
	e := &LogEntry{JobTokenAuthorization: *r, OriginPath: r.Origin.FullPath()}
	seen, err := s.allowed(ctx, who, r.Origin, authz.ReadProject)
	if err != nil || seen {
		return e, err
	}
	// The scope's messages name the source project.
	e.LastDenialReason = strings.ReplaceAll(e.LastDenialReason, e.OriginPath, HiddenProject)
	e.Origin, e.OriginPath = nil, HiddenProject
	return e, nil
}

// Explanation is every check the decision runs for a job's token doing
// one thing on a project, with the first failure.
type Explanation struct {
	Job *model.Job
	// Source is the job's project's path, Target the project asked about.
	Source, Target string
	Policy         string
	Decision       authz.Decision
	// Steps leaves out the checks that never concern a job token.
	Steps []authz.Step
	// Entry is the allowlist entry that admitted the job's project, shown
	// only to those who may read the target's scope; nil otherwise.
	Entry *authz.Entry
}

// Explain explains job jobID's token doing act on p, for who: those who
// may read p's scope (Maintainers) and the job's user, who must also see
// the job's project. Anyone else, like a job that does not exist, learns
// nothing: model.ErrNotFound.
func (s *Service) Explain(ctx context.Context, who *auth.Principal, p *model.Project, jobID int64, act authz.Action) (*Explanation, error) {
	maintainer, err := s.allowed(ctx, who, p, authz.ReadJobTokenScope)
	if err != nil {
		return nil, err
	}
	missing := model.Refuse(model.ErrNotFound, "Job")
	j, err := s.Store.Job(ctx, jobID)
	if errors.Is(err, model.ErrNotFound) || (err == nil && !maintainer && j.UserID != who.UserID()) {
		return nil, missing
	} else if err != nil {
		return nil, err
	}
	token, err := auth.LoadJobPrincipal(ctx, s.Store, j)
	if err != nil {
		return nil, err
	}
	if token.Project == nil {
		return nil, missing // its project is gone
	}
	// Explaining a job reveals that it exists, whether it runs and which
	// entries admit its project: only to a caller who may see that
	// project (the job's user normally does).
	if seen, err := s.allowed(ctx, who, token.Project, authz.ReadProject); err != nil {
		return nil, err
	} else if !seen {
		return nil, missing
	}
	subj, target, err := s.Access.Facts(ctx, token, p, act)
	if err != nil {
		return nil, err
	}
	d, steps := authz.Explain(subj, target, act)
	shown := steps[:0]
	for _, st := range steps {
		if st.Check != authz.CheckAuthentication && st.Check != authz.CheckTokenScope && st.Check != authz.CheckAdmin {
			shown = append(shown, st)
		}
	}
	e := &Explanation{Job: j, Source: subj.Job.ProjectPath, Target: p.FullPath(), Policy: act.Policy, Decision: d, Steps: shown}
	if maintainer {
		e.Entry = target.Scope.Entry
	}
	return e, nil
}

// csvColumns are the authentication log export's header: the REST
// entity's fields but origin_project.
var csvColumns = []string{"origin_project_id", "origin_project_path", "last_used_at", "allowed_count",
	"denied_count", "last_policy", "last_result", "last_denial_reason", "last_denied_at"}

// csvTime is the API's time format (ISO 8601, milliseconds, UTC).
const csvTime = "2006-01-02T15:04:05.000Z"

// CSV is the authentication log export, header first: the REST API's
// ?format=csv and the settings page's download. An origin its reader
// cannot see has an empty ID.
func CSV(entries []*LogEntry) [][]string {
	recs := [][]string{csvColumns}
	for _, e := range entries {
		id, deniedAt, result := "", "", "allowed"
		if e.Origin != nil {
			id = strconv.FormatInt(e.OriginProjectID, 10)
		}
		if e.LastDeniedAt != nil {
			deniedAt = e.LastDeniedAt.UTC().Format(csvTime)
		}
		if !e.LastAllowed {
			result = "denied"
		}
		recs = append(recs, []string{id, e.OriginPath, e.LastUsedAt.UTC().Format(csvTime), strconv.FormatInt(e.AllowedCount, 10),
			strconv.FormatInt(e.DeniedCount, 10), e.LastPolicy, result, e.LastDenialReason, deniedAt})
	}
	return recs
}
