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
	"strconv"

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
	// see CacheFacts; nil keeps nothing
	projects *store.Cache[int64, *model.Project]
	levels   *store.Cache[levelKey, levelEntry]
}

func (a *Authorizer) reader() scopeReader {
	if a.cache != nil {
		return cacheReader{a.cache, a.Store}
	}
	return dbReader{a.Store}
}

// Project decides whether who may do act on p.
func (a *Authorizer) Project(ctx context.Context, who *auth.Principal, p *model.Project, act authz.Action) (authz.Decision, error) {
	_, _, d, err := a.Decide(ctx, who, p, act)
	return d, err
}

// Decide decides act on p for who, records a cross-project job-token use
// in the authentication log, and returns the facts it decided on (the
// gate keeps them for the handler's further questions).
func (a *Authorizer) Decide(ctx context.Context, who *auth.Principal, p *model.Project, act authz.Action) (authz.Subject, authz.Target, authz.Decision, error) {
	s, t, err := a.Facts(ctx, who, p, act)
	if err != nil {
		return s, t, authz.Decision{}, err
	}
	d := authz.Decide(s, t, act)
	a.Record(s, t, act, d)
	return s, t, d, nil
}

// ProjectRef decides act on one branch or tag of p (fullRef:
// refs/heads/..., refs/tags/...; "" for none), with the protected refs
// that cover it (check protected_ref): running a pipeline on a protected
// ref outside a request, as a bridge or a schedule does, is the same
// decision as the trigger API's (gate.Ctx.AuthorizeRef). Recorded as
// Decide records.
func (a *Authorizer) ProjectRef(ctx context.Context, who *auth.Principal, p *model.Project, act authz.Action, fullRef string) (authz.Decision, error) {
	s, t, err := a.Facts(ctx, who, p, act)
	if err != nil {
		return authz.Decision{}, err
	}
	if fullRef != "" {
		rules, err := a.ProtectedRefs(ctx, p)
		if err != nil {
			return authz.Decision{}, err
		}
		t.Ref = RefFacts(rules, fullRef)
	}
	d := authz.Decide(s, t, act)
	a.Record(s, t, act, d)
	return d, nil
}

// Allows answers whether who may do act on p, where the answer shapes
// what a response shows (a delete link) rather than being a use of the
// caller's token: nothing is recorded in the authentication log.
func (a *Authorizer) Allows(ctx context.Context, who *auth.Principal, p *model.Project, act authz.Action) (bool, error) {
	s, t, err := a.Facts(ctx, who, p, act)
	if err != nil {
		return false, err
	}
	return authz.Decide(s, t, act).Allowed, nil
}

// Record puts a cross-project job-token decision in the authentication
// log. A use is logged on the project it reached; a token whose user
// cannot even see the target did not reach it, and its project's name
// must not surface in the target's log.
func (a *Authorizer) Record(s authz.Subject, t authz.Target, act authz.Action, d authz.Decision) {
	if s.Job != nil && t.Kind == authz.Project && s.Job.ProjectID != t.ID && a.Log != nil && d.Check != authz.CheckVisibility {
		a.Log.Record(t.ID, s.Job.ProjectID, act.Policy, d)
	}
}

// GroupFacts loads what the decision needs about who and namespace n: for
// a group, the caller's level there and whether they belong to something
// beneath it; a personal namespace is private and its owner alone holds a
// role there (Owner), so someone else's is "not found".
func (a *Authorizer) GroupFacts(ctx context.Context, who *auth.Principal, n *model.Namespace) (authz.Subject, authz.Target, error) {
	s := who.Subject()
	if !n.IsGroup() {
		t := authz.Target{Kind: authz.Group, ID: n.ID, Visibility: model.Private}
		if n.OwnerID != nil && *n.OwnerID == who.UserID() {
			t.Level = model.Owner
		}
		return s, t, nil
	}
	level, related, err := a.Store.GroupAccessLevel(ctx, who.UserID(), n)
	if err != nil {
		return s, authz.Target{}, err
	}
	return s, authz.Target{Kind: authz.Group, ID: n.ID, Visibility: n.Visibility, Level: level, Related: related}, nil
}

// Group decides whether who may do act in group n.
func (a *Authorizer) Group(ctx context.Context, who *auth.Principal, n *model.Namespace, act authz.Action) (authz.Decision, error) {
	s, t, err := a.GroupFacts(ctx, who, n)
	if err != nil {
		return authz.Decision{}, err
	}
	return authz.Decide(s, t, act), nil
}

// Facts loads what the decision about act needs about who and p: the
// caller's level, and for a job token on a project other than its own, the
// token access scope.
func (a *Authorizer) Facts(ctx context.Context, who *auth.Principal, p *model.Project, act authz.Action) (authz.Subject, authz.Target, error) {
	s := who.Subject()
	level, err := a.accessLevel(ctx, who.UserID(), p)
	if err != nil {
		return s, authz.Target{}, err
	}
	t := authz.Target{Kind: authz.Project, ID: p.ID, Visibility: p.Visibility, Level: level,
		JobTokenPush: p.CIPushRepositoryForJobTokenAllowed}
	if s.Job == nil {
		return s, t, nil
	}
	// Only job-token refusals name the target.
	t.Path = p.FullPath()
	if s.Job.ProjectID != p.ID {
		if who.Project == nil {
			return s, t, errors.New("access: a job token's principal without its project")
		}
		if t.Scope, err = a.Scope(ctx, who.Project, p, act.EntryPolicyRequired); err != nil {
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
// cannot need. needEntry loads the nearest inbound entry even where the
// allowlist is not in force (authz.Action.EntryPolicyRequired).
func (a *Authorizer) Scope(ctx context.Context, source, target *model.Project, needEntry bool) (authz.Scope, error) {
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
	if sc.InboundInForce, err = a.InboundInForce(ctx, target); err != nil || (!sc.InboundInForce && !needEntry) {
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

// FindProject resolves a project ID or full path. A project pending
// deletion does not exist for anyone (model.Project.PendingDeletion).
func (a *Authorizer) FindProject(ctx context.Context, ref string) (*model.Project, error) {
	var p *model.Project
	var err error
	if id, perr := strconv.ParseInt(ref, 10, 64); perr == nil {
		p, err = a.project(ctx, id)
	} else {
		p, err = a.Store.ProjectByPath(ctx, ref)
	}
	if err != nil {
		return nil, err
	}
	if p.PendingDeletion() {
		return nil, model.ErrNotFound
	}
	return p, nil
}

// FindGroup resolves a group ID or full path; personal namespaces and
// groups pending deletion are not groups here.
func (a *Authorizer) FindGroup(ctx context.Context, ref string) (*model.Namespace, error) {
	var n *model.Namespace
	var err error
	if id, perr := strconv.ParseInt(ref, 10, 64); perr == nil {
		n, err = a.Store.Namespace(ctx, id)
	} else {
		n, err = a.Store.NamespaceByPath(ctx, ref)
	}
	if err != nil {
		return nil, err
	}
	if !n.IsGroup() || n.PendingDelete {
		return nil, model.ErrNotFound
	}
	return n, nil
}

// ProtectedRefs loads p's protected branches and tags: the facts of every
// decision about a change to one of its refs (RefFacts).
func (a *Authorizer) ProtectedRefs(ctx context.Context, p *model.Project) (model.ProtectedRefs, error) {
	return a.Store.ProtectedRefs(ctx, p.ID)
}

// RefFacts is what the protected_ref check needs about a full ref name
// (refs/heads/..., refs/tags/...): the rules of rules that cover it. A
// ref that is neither a branch nor a tag is covered by none.
func RefFacts(rules model.ProtectedRefs, fullRef string) *authz.Ref {
	kind, name := model.SplitRef(fullRef)
	if kind == "" {
		return &authz.Ref{Name: name}
	}
	return &authz.Ref{Name: name, Tag: kind == model.RefTag, Rules: rules.Match(kind, name)}
}
