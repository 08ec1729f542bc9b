// Package access is where a caller's access to a project or group is
// decided for every transport (REST, git, the runner's dependency
// download, pipeline creation's needs:project): it loads the caller's role
// and, for a job token on another project, the token access scope, asks
// authz.Decide, and hands cross-project job-token uses to the
// authentication log (a Recorder, kept by package jobtoken).
package access

import (
	"context"
	"errors"

	"github.com/ciwarden/ciwarden/internal/auth"
	"github.com/ciwarden/ciwarden/internal/authz"
	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/store"
)

// Recorder receives every cross-project job-token decision: the
// authentication log (jobtoken.AuthLog). Recording must be cheap, it is
// on the request's path.
type Recorder interface {
	Record(accessed, origin int64, policy string, d authz.Decision)
}

// Authorizer decides access to projects and groups.
type Authorizer struct {
	Store *store.Store
	// Log receives every cross-project job-token decision; nil records
	// nothing.
	Log Recorder

	cache *scopeCache // see CacheScopes
}

func (a *Authorizer) reader() scopeReader {
	if a.cache != nil {
		return cacheReader{a.cache, a.Store}
	}
	return dbReader{a.Store}
}

// Project decides whether who may do act on p, and returns the caller's
// effective level on p (for handlers that need it).
func (a *Authorizer) Project(ctx context.Context, who *auth.Principal, p *model.Project, act authz.Action) (authz.Decision, model.AccessLevel, error) {
	s, t, err := a.Facts(ctx, who, p)
	if err != nil {
		return authz.Decision{}, 0, err
	}
	d := authz.Decide(s, t, act)
	// A use is logged on the project it reached; a token whose user
	// cannot even see the target did not reach it, and its project's name
	// must not surface in the target's log.
	if s.Job != nil && s.Job.ProjectID != p.ID && a.Log != nil && d.Check != authz.CheckVisibility {
		a.Log.Record(p.ID, s.Job.ProjectID, act.Policy, d)
	}
	return d, t.Level, nil
}

// Allows answers whether who may do act on p, where the answer shapes
// what a response shows (a delete link) rather than being a use of the
// caller's token: nothing is recorded in the authentication log.
func (a *Authorizer) Allows(ctx context.Context, who *auth.Principal, p *model.Project, act authz.Action) (bool, error) {
	s, t, err := a.Facts(ctx, who, p)
	if err != nil {
		return false, err
	}
	return authz.Decide(s, t, act).Allowed, nil
}

// Group decides whether who may do act on group n, and returns the
// caller's effective level there. Groups take no job token, so nothing is
// recorded.
func (a *Authorizer) Group(ctx context.Context, who *auth.Principal, n *model.Namespace, act authz.Action) (authz.Decision, model.AccessLevel, error) {
	level, related, err := a.Store.GroupAccessLevel(ctx, who.UserID(), n)
	if err != nil {
		return authz.Decision{}, 0, err
	}
	t := authz.Target{Kind: authz.Group, ID: n.ID, Visibility: n.Visibility, Level: level, Related: related}
	return authz.Decide(who.Subject(), t, act), level, nil
}

// Facts loads what the decision needs about who and p: the caller's
// level, and for a job token on a project other than its own, the token
// access scope.
func (a *Authorizer) Facts(ctx context.Context, who *auth.Principal, p *model.Project) (authz.Subject, authz.Target, error) {
	s := who.Subject()
	level, err := a.Store.ProjectAccessLevel(ctx, who.UserID(), p)
	if err != nil {
		return s, authz.Target{}, err
	}
	t := authz.Target{Kind: authz.Project, ID: p.ID, Visibility: p.Visibility, Level: level}
	if s.Job == nil {
		return s, t, nil
	}
	// Only job-token refusals name the target.
	t.Path = p.FullPath()
	if s.Job.ProjectID != p.ID {
		if who.Project == nil {
			return s, t, errors.New("access: a job token's principal without its project")
		}
		if t.Scope, err = a.Scope(ctx, who.Project, p); err != nil {
			return s, t, err
		}
	}
	return s, t, nil
}

// InboundInForce reports whether p's inbound allowlist applies: its own
// toggle, or the instance's enforcement (gitlab-compat.md §4.2).
func (a *Authorizer) InboundInForce(ctx context.Context, p *model.Project) (bool, error) {
	if p.JobTokenInboundEnabled {
		return true, nil
	}
	return a.Store.BoolSetting(ctx, store.SettingEnforceInboundScope, false)
}

// Scope loads the token access scope between a job's project (source)
// and a target project: at most three indexed reads (or cache lookups),
// whatever the size of the allowlists, and none for what the decision
// cannot need.
func (a *Authorizer) Scope(ctx context.Context, source, target *model.Project) (authz.Scope, error) {
	var sc authz.Scope
	var err error
	r := a.reader()
	if source.JobTokenOutboundEnabled {
		sc.OutboundEnabled = true
		// Public and internal targets are exempt from the outbound limit.
		if target.Visibility == model.Private {
			if sc.InOutboundList, err = r.outboundAllows(ctx, source, target); err != nil {
				return sc, err
			}
		}
	}
	if sc.InboundInForce, err = a.InboundInForce(ctx, target); err != nil || !sc.InboundInForce {
		return sc, err
	}
	var ancestors []int64
	if source.Namespace != nil {
		ancestors = source.Namespace.Traversal
	}
	l, err := r.inboundEntry(ctx, target, source, ancestors)
	if err != nil || l == nil {
		return sc, err
	}
	sc.Entry = &authz.Entry{Kind: "project", ID: l.ProjectID, DefaultPermissions: l.DefaultPermissions, Policies: l.Policies}
	if l.GroupID != 0 {
		sc.Entry.Kind, sc.Entry.ID = "group", l.GroupID
	}
	return sc, nil
}
