// Package jobtoken is the CI/CD job token's access scope as a service
// (gitlab-compat.md §4, §5): each project's inbound and outbound toggles
// and the instance's enforcement, the project and group allowlists with
// GitLab's limit, lock and duplicate rules, the authentication log, and
// explain. The decisions themselves are authz's and their facts access's;
// this package keeps what the scope's REST API changes and reads.
package jobtoken

import (
	"context"
	"errors"
	"slices"
	"strconv"

	"github.com/ciwarden/ciwarden/internal/access"
	"github.com/ciwarden/ciwarden/internal/auth"
	"github.com/ciwarden/ciwarden/internal/authz"
	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/store"
)

// Service is the token access scope.
type Service struct {
	Store *store.Store
	// Access decides on the targets an entry names: a caller may list
	// only what they can see, and explain runs its decision.
	Access *access.Authorizer
	// Log is the authentication log, flushed before it is read.
	Log *AuthLog
}

// GitLab's words for the scope's refusals (lib/api/ci/job_token_scope.rb
// and the Ci::JobTokenScope services), and ciwarden's for its additions.
const (
	msgProjectAlreadyListed = "Target project is already in the job token scope"
	msgGroupAlreadyListed   = "This group is already in the job token allowlist."
	msgSelfLink             = "Validation failed: Target project can't be the same as the source project"
	msgProjectLinkLimit     = "Validation failed: Source project exceeds the allowable number of project links in this direction"
	msgGroupLinkLimit       = "Validation failed: Source project exceeds the allowable number of group links"
	msgProjectNotListed     = "Target project is not in the job token scope"
	msgGroupNotListed       = "Target group is not in the job token scope"
	msgSelfRemoval          = "Source project cannot be removed from the job token scope"
	msgInboundEnforced      = "The instance enforces the job token allowlist on every project; it cannot be turned off"
	msgOutboundNeedsTarget  = "Insufficient permissions to add the target project: the Maintainer role is required on it too"
)

// What a missing target is called: not_found!'s argument on each route.
// A POST names the parameter, as GitLab's; DELETE of a project link
// answers as find_project! does.
const (
	missingTargetProject = "target_project_id not found"
	missingTargetGroup   = "target_group_id not found"
	missingProject       = "Project"
)

// Scope is a project's two toggles as they apply.
type Scope struct {
	// InboundEnabled is the effective value: the instance's enforcement
	// keeps the allowlist in force whatever the project's own toggle says.
	InboundEnabled  bool
	OutboundEnabled bool
}

// Scope reads p's toggles.
func (s *Service) Scope(ctx context.Context, p *model.Project) (Scope, error) {
	inbound, err := s.Access.InboundInForce(ctx, p)
	return Scope{InboundEnabled: inbound, OutboundEnabled: p.JobTokenOutboundEnabled}, err
}

// SetScope changes p's toggles; nil leaves one as it is. Switching the
// inbound allowlist off is refused while the instance enforces it, and
// then nothing changes.
func (s *Service) SetScope(ctx context.Context, p *model.Project, inbound, outbound *bool) error {
	return s.Store.Tx(ctx, func(q *store.Queries) error {
		if inbound != nil && !*inbound {
			enforced, err := q.BoolSetting(ctx, store.SettingEnforceInboundScope, false)
			if err != nil {
				return err
			}
			if enforced {
				return model.Refuse(model.ErrInvalid, msgInboundEnforced)
			}
		}
		return q.SetJobTokenScope(ctx, p.ID, inbound, outbound)
	})
}

// InboundEnforced is the instance setting
// enforce_ci_inbound_job_token_scope_enabled.
func (s *Service) InboundEnforced(ctx context.Context) (bool, error) {
	return s.Store.BoolSetting(ctx, store.SettingEnforceInboundScope, false)
}

// SetInboundEnforced changes the instance setting.
func (s *Service) SetInboundEnforced(ctx context.Context, v bool) error {
	return s.Store.Tx(ctx, func(q *store.Queries) error {
		return q.SetBoolSetting(ctx, store.SettingEnforceInboundScope, v)
	})
}

// Permissions is what an add or an update says about an inbound entry's
// fine-grained permissions.
type Permissions struct {
	// Default, when set, is default_permissions.
	Default *bool
	// Policies replaces the entry's job_token_policies when Listed.
	// Listing policies without default_permissions means they apply.
	Policies []string
	Listed   bool
}

func (pm Permissions) apply(l *model.ScopeLink) {
	if pm.Listed {
		l.Policies = slices.Compact(slices.Sorted(slices.Values(pm.Policies)))
		l.DefaultPermissions = false
	}
	if pm.Default != nil {
		l.DefaultPermissions = *pm.Default
	}
}

// ProjectAllowlist is one page of p's project entries in dir: p itself
// first (always in scope, never stored), then its links, each with its
// project loaded.
func (s *Service) ProjectAllowlist(ctx context.Context, p *model.Project, dir string, pg store.Page) ([]*model.ScopeLink, int, error) {
	// At most 200 links (plus those kept over a lowered limit): read them
	// all and page in memory, the project itself included.
	links, _, err := s.Store.ProjectLinks(ctx, p.ID, dir, store.Page{Number: 1, PerPage: 10 * model.MaxScopeLinks})
	if err != nil {
		return nil, 0, err
	}
	self := &model.ScopeLink{OwnerProjectID: p.ID, Direction: dir, ProjectID: p.ID, DefaultPermissions: true, Project: p}
	all := append([]*model.ScopeLink{self}, links...)
	lo := min(pg.Offset(), len(all))
	hi := min(lo+pg.Limit(), len(all))
	return all[lo:hi], len(all), nil
}

// GroupAllowlist is one page of p's group entries, each with its group
// loaded.
func (s *Service) GroupAllowlist(ctx context.Context, p *model.Project, pg store.Page) ([]*model.ScopeLink, int, error) {
	return s.Store.GroupLinks(ctx, p.ID, pg)
}

// AddProject lists project targetID on p's allowlist in dir, by who. A
// target that does not exist and one who cannot see answer alike, so that
// adding an entry reveals nothing (security.md §3); an outbound entry
// needs Maintainer on the target too (the seed). pm applies to inbound
// entries; an outbound one only says where the token may go, its
// permissions belonging to the accessed project's entry.
func (s *Service) AddProject(ctx context.Context, who *auth.Principal, p *model.Project, dir string, targetID int64, pm Permissions) (*model.ScopeLink, error) {
	target, err := s.visibleProject(ctx, who, targetID)
	if errors.Is(err, model.ErrNotFound) {
		return nil, model.Refuse(model.ErrNotFound, missingTargetProject)
	} else if err != nil {
		return nil, err
	}
	if target.ID == p.ID {
		return nil, model.Refuse(model.ErrInvalid, msgSelfLink)
	}
	l := &model.ScopeLink{OwnerProjectID: p.ID, Direction: dir, ProjectID: target.ID, DefaultPermissions: true, AddedByID: who.UserID()}
	if dir == model.Outbound {
		if ok, err := s.allowed(ctx, who, target, authz.LinkOutboundTarget); err != nil {
			return nil, err
		} else if !ok {
			return nil, model.Refuse(model.ErrForbidden, msgOutboundNeedsTarget)
		}
	} else {
		pm.apply(l)
	}
	err = s.addLink(ctx, p,
		func(q *store.Queries) (int, error) { return q.CountProjectLinks(ctx, p.ID, dir) },
		func(q *store.Queries) error { return q.AddProjectLink(ctx, l) },
		msgProjectLinkLimit, msgProjectAlreadyListed)
	return l, err
}

// AddGroup lists group targetID on p's inbound allowlist, by who; a group
// who cannot see answers as a missing one.
func (s *Service) AddGroup(ctx context.Context, who *auth.Principal, p *model.Project, targetID int64, pm Permissions) (*model.ScopeLink, error) {
	g, err := s.visibleGroup(ctx, who, targetID)
	if errors.Is(err, model.ErrNotFound) {
		return nil, model.Refuse(model.ErrNotFound, missingTargetGroup)
	} else if err != nil {
		return nil, err
	}
	l := &model.ScopeLink{OwnerProjectID: p.ID, Direction: model.Inbound, GroupID: g.ID, DefaultPermissions: true, AddedByID: who.UserID()}
	pm.apply(l)
	err = s.addLink(ctx, p,
		func(q *store.Queries) (int, error) { return q.CountGroupLinks(ctx, p.ID) },
		func(q *store.Queries) error { return q.AddGroupLink(ctx, l) },
		msgGroupLinkLimit, msgGroupAlreadyListed)
	return l, err
}

// addLink adds one entry within the limit of model.MaxScopeLinks (as
// counted by count), under p's lock so that concurrent adds cannot both
// pass it; an entry already there is refused with duplicate.
func (s *Service) addLink(ctx context.Context, p *model.Project, count func(*store.Queries) (int, error), add func(*store.Queries) error, overLimit, duplicate string) error {
	err := s.Store.Tx(ctx, func(q *store.Queries) error {
		if err := q.LockProject(ctx, p.ID); err != nil {
			return err
		}
		n, err := count(q)
		if err != nil {
			return err
		}
		if n >= model.MaxScopeLinks {
			return model.Refuse(model.ErrInvalid, overLimit)
		}
		return add(q)
	})
	if errors.Is(err, model.ErrConflict) {
		return model.Refuse(model.ErrInvalid, duplicate)
	}
	return err
}

// UpdateProject changes the permissions of p's inbound entry for project
// targetID.
func (s *Service) UpdateProject(ctx context.Context, p *model.Project, targetID int64, pm Permissions) (*model.ScopeLink, error) {
	return s.updateLink(ctx, pm, msgProjectNotListed, func(q *store.Queries) (*model.ScopeLink, error) {
		return q.ProjectLink(ctx, p.ID, model.Inbound, targetID)
	})
}

// UpdateGroup changes the permissions of p's entry for group targetID.
func (s *Service) UpdateGroup(ctx context.Context, p *model.Project, targetID int64, pm Permissions) (*model.ScopeLink, error) {
	return s.updateLink(ctx, pm, msgGroupNotListed, func(q *store.Queries) (*model.ScopeLink, error) {
		return q.GroupLink(ctx, p.ID, targetID)
	})
}

func (s *Service) updateLink(ctx context.Context, pm Permissions, unlisted string, find func(*store.Queries) (*model.ScopeLink, error)) (*model.ScopeLink, error) {
	var l *model.ScopeLink
	err := s.Store.Tx(ctx, func(q *store.Queries) error {
		var err error
		if l, err = find(q); errors.Is(err, model.ErrNotFound) {
			return model.Refuse(model.ErrInvalid, unlisted)
		} else if err != nil {
			return err
		}
		pm.apply(l)
		return q.SetLinkPermissions(ctx, l)
	})
	return l, err
}

// RemoveProject takes project targetID off p's allowlist in dir. The
// removal bumps p's scope version, so the next request of a token the
// entry admitted is refused on every replica.
func (s *Service) RemoveProject(ctx context.Context, who *auth.Principal, p *model.Project, dir string, targetID int64) error {
	target, err := s.Access.FindProject(ctx, strconv.FormatInt(targetID, 10))
	if errors.Is(err, model.ErrNotFound) {
		return model.Refuse(model.ErrNotFound, missingProject)
	} else if err != nil {
		return err
	}
	if target.ID == p.ID {
		return model.Refuse(model.ErrInvalid, msgSelfRemoval)
	}
	return s.removeLink(ctx,
		func(q *store.Queries) error { return q.DeleteProjectLink(ctx, p.ID, dir, target.ID) },
		func() (bool, error) { return s.allowed(ctx, who, target, authz.ReadProject) },
		missingProject, msgProjectNotListed)
}

// RemoveGroup takes group targetID off p's allowlist.
func (s *Service) RemoveGroup(ctx context.Context, who *auth.Principal, p *model.Project, targetID int64) error {
	g, err := s.Access.FindGroup(ctx, strconv.FormatInt(targetID, 10))
	if errors.Is(err, model.ErrNotFound) {
		return model.Refuse(model.ErrNotFound, missingTargetGroup)
	} else if err != nil {
		return err
	}
	return s.removeLink(ctx,
		func(q *store.Queries) error { return q.DeleteGroupLink(ctx, p.ID, g.ID) },
		func() (bool, error) { return s.groupAllowed(ctx, who, g, authz.ReadGroup) },
		missingTargetGroup, msgGroupNotListed)
}

// removeLink deletes one entry. A listed target is removable even when
// the caller cannot see it; an unlisted one they cannot see answers as a
// missing one, so that DELETE reveals nothing (security.md §3).
func (s *Service) removeLink(ctx context.Context, del func(*store.Queries) error, visible func() (bool, error), missing, unlisted string) error {
	err := s.Store.Tx(ctx, del)
	if !errors.Is(err, model.ErrNotFound) {
		return err
	}
	switch ok, err := visible(); {
	case err != nil:
		return err
	case !ok:
		return model.Refuse(model.ErrNotFound, missing)
	}
	return model.Refuse(model.ErrInvalid, unlisted)
}

// visibleProject is project id if it exists and who can see it, else
// model.ErrNotFound: one answer for both, so that no refusal reveals a
// project.
func (s *Service) visibleProject(ctx context.Context, who *auth.Principal, id int64) (*model.Project, error) {
	p, err := s.Access.FindProject(ctx, strconv.FormatInt(id, 10))
	if err != nil {
		return nil, err
	}
	switch ok, err := s.allowed(ctx, who, p, authz.ReadProject); {
	case err != nil:
		return nil, err
	case !ok:
		return nil, model.ErrNotFound
	}
	return p, nil
}

// visibleGroup is visibleProject for groups.
func (s *Service) visibleGroup(ctx context.Context, who *auth.Principal, id int64) (*model.Namespace, error) {
	g, err := s.Access.FindGroup(ctx, strconv.FormatInt(id, 10))
	if err != nil {
		return nil, err
	}
	switch ok, err := s.groupAllowed(ctx, who, g, authz.ReadGroup); {
	case err != nil:
		return nil, err
	case !ok:
		return nil, model.ErrNotFound
	}
	return g, nil
}

// allowed is the one authorizer's answer for who doing act on p.
func (s *Service) allowed(ctx context.Context, who *auth.Principal, p *model.Project, act authz.Action) (bool, error) {
	d, err := s.Access.Project(ctx, who, p, act)
	return d.Allowed, err
}

func (s *Service) groupAllowed(ctx context.Context, who *auth.Principal, g *model.Namespace, act authz.Action) (bool, error) {
	d, err := s.Access.Group(ctx, who, g, act)
	return d.Allowed, err
}
