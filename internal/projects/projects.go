// Package projects holds the rules for groups, projects and memberships:
// naming, visibility bounds, inheritance of roles, and deletion in two
// steps (hidden at once, removed by the reaper).
//
// Its rules are tested through the API, against a real server on SQLite
// and PostgreSQL: names, paths and bad input in internal/api
// (TestNamesAndPaths, TestMalformedBodies, TestMemberAccessLevels,
// TestUnknownIDs), visibility and inherited roles for every kind of
// caller in e2e (TestAccessMatrix, TestPrivateGroups), deletion and the
// reaper in e2e (TestDeletion), renames in e2e (TestGroupRename).
package projects

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ciwarden/ciwarden/internal/blob"
	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/registry"
	"github.com/ciwarden/ciwarden/internal/store"
)

// Service creates, changes and removes groups, projects and members.
type Service struct {
	Store *store.Store
	Now   func() time.Time
	Log   *slog.Logger
	// Repos keeps each project's repository; nil in tests that need none.
	Repos Repos
	// Blobs keeps artifacts and package files; nil in tests that need none.
	Blobs blob.Store
	// DeleteImages removes a project's container images; nil where there
	// is no registry.
	DeleteImages func(ctx context.Context, projectID int64) error
	// HasImages reports whether a container image repository at or below
	// a full path has tags; nil where there is no registry.
	HasImages func(ctx context.Context, fullPath string) (bool, error)
}

// Images are stored under their path: a project or group whose images
// would be left behind keeps its path, with GitLab's messages
// (Projects::UpdateService, Groups::UpdateService).
const (
	renameProjectWithImages = "Cannot rename project because it contains container registry tags!"
	renameGroupWithImages   = "Cannot update the path because there are projects under this group that contain Docker images in their Container Registry. Please remove the images from your projects first and try again."
)

// refuseWithImages refuses to move fullPath when images live below it.
func (s *Service) refuseWithImages(ctx context.Context, fullPath, message string) error {
	if s.HasImages == nil {
		return nil
	}
	has, err := s.HasImages(ctx, fullPath)
	if err != nil {
		return err
	}
	if has {
		return model.Refuse(model.ErrInvalid, message)
	}
	return nil
}

// Repos is the repository storage a project's life cycle drives.
type Repos interface {
	Create(ctx context.Context, projectID int64, defaultBranch string) error
	SetHead(ctx context.Context, projectID int64, branch string) error
	Remove(projectID int64) error
}

// GroupInput is POST /groups and PUT /groups/:id; nil fields are unchanged.
type GroupInput struct {
	Name        *string
	Path        *string
	Description *string
	Visibility  *model.Visibility
}

func taken(field string) error { return model.Invalid(field, "has already been taken") }

// CreateGroup creates a group (under parent, if any) whose creator becomes
// its Owner.
func (s *Service) CreateGroup(ctx context.Context, creator *model.User, parent *model.Namespace, in GroupInput) (*model.Namespace, error) {
	if in.Name == nil || in.Path == nil {
		return nil, model.Invalid("name", "can't be blank")
	}
	if err := model.ValidateName("name", *in.Name); err != nil {
		return nil, err
	}
	if err := model.ValidatePath("path", *in.Path, parent == nil); err != nil {
		return nil, err
	}
	vis := model.Private
	if in.Visibility != nil {
		vis = *in.Visibility
	}
	n := &model.Namespace{Kind: model.NamespaceGroup, Name: *in.Name, Path: *in.Path, FullPath: *in.Path, FullName: *in.Name,
		Visibility: vis, CreatedAt: s.Now().UTC()}
	if in.Description != nil {
		n.Description = *in.Description
	}
	if parent != nil {
		if vis.Rank() > parent.Visibility.Rank() {
			return nil, model.Invalid("visibility_level", fmt.Sprintf("%s is not allowed since the parent group has a %s visibility.", vis, parent.Visibility))
		}
		n.ParentID = &parent.ID
		n.FullPath = parent.FullPath + "/" + n.Path
		n.FullName = parent.FullName + " / " + n.Name
	}
	err := s.Store.Tx(ctx, func(q *store.Queries) error {
		if err := pathFree(ctx, q, n.FullPath, 0, 0); err != nil {
			return err
		}
		if err := q.CreateNamespace(ctx, n); err != nil {
			return mapTaken(err, "path")
		}
		return q.AddMember(ctx, &model.Member{SourceKind: model.SourceNamespace, SourceID: n.ID, UserID: creator.ID,
			AccessLevel: model.Owner, CreatedBy: creator.ID, CreatedAt: n.CreatedAt})
	})
	if err != nil {
		return nil, err
	}
	return n, nil
}

// pathFree checks no namespace or project already answers to fullPath
// (other than the namespace or project being renamed: a change of case
// only must pass).
func pathFree(ctx context.Context, q *store.Queries, fullPath string, selfNamespace, selfProject int64) error {
	if n, err := q.NamespaceByPath(ctx, fullPath); err == nil && n.ID != selfNamespace {
		return taken("path")
	} else if err != nil && !errors.Is(err, model.ErrNotFound) {
		return err
	}
	if p, err := q.ProjectByPath(ctx, fullPath); err == nil && p.ID != selfProject {
		return taken("path")
	} else if err != nil && !errors.Is(err, model.ErrNotFound) {
		return err
	}
	return nil
}

func mapTaken(err error, field string) error {
	if errors.Is(err, model.ErrConflict) {
		return taken(field)
	}
	return err
}

// UpdateGroup changes a group's name, path, description or visibility. A
// visibility may not exceed the parent's nor fall below a child's.
func (s *Service) UpdateGroup(ctx context.Context, old *model.Namespace, in GroupInput) (*model.Namespace, error) {
	n := *old
	if in.Name != nil {
		if err := model.ValidateName("name", *in.Name); err != nil {
			return nil, err
		}
		n.Name = *in.Name
	}
	if in.Path != nil {
		if err := model.ValidatePath("path", *in.Path, old.ParentID == nil); err != nil {
			return nil, err
		}
		n.Path = *in.Path
	}
	if in.Description != nil {
		n.Description = *in.Description
	}
	if in.Visibility != nil {
		n.Visibility = *in.Visibility
	}
	if n.Path != old.Path {
		if err := s.refuseWithImages(ctx, old.FullPath, renameGroupWithImages); err != nil {
			return nil, err
		}
	}
	err := s.Store.Tx(ctx, func(q *store.Queries) error {
		n.FullPath, n.FullName = n.Path, n.Name
		if old.ParentID != nil {
			parent, err := q.Namespace(ctx, *old.ParentID)
			if err != nil {
				return err
			}
			if n.Visibility.Rank() > parent.Visibility.Rank() {
				return model.Invalid("visibility_level", fmt.Sprintf("%s is not allowed since the parent group has a %s visibility.", n.Visibility, parent.Visibility))
			}
			n.FullPath = parent.FullPath + "/" + n.Path
			n.FullName = parent.FullName + " / " + n.Name
		}
		if n.Visibility.Rank() < old.Visibility.Rank() {
			max, err := q.MaxChildVisibility(ctx, old.ID)
			if err != nil {
				return err
			}
			if max.Rank() > n.Visibility.Rank() {
				return model.Invalid("visibility_level", fmt.Sprintf("%s is not allowed since there are sub-groups or projects with higher visibility.", n.Visibility))
			}
		}
		if n.FullPath != old.FullPath {
			if err := pathFree(ctx, q, n.FullPath, old.ID, 0); err != nil {
				return err
			}
		}
		return mapTaken(q.UpdateNamespace(ctx, old, &n), "path")
	})
	if err != nil {
		return nil, err
	}
	return &n, nil
}

// DeleteGroup hides a group, its subgroups and projects at once.
func (s *Service) DeleteGroup(ctx context.Context, n *model.Namespace) error {
	return s.Store.Tx(ctx, func(q *store.Queries) error { return q.MarkNamespaceForDeletion(ctx, n) })
}

// ProjectInput is POST /projects and PUT /projects/:id; nil fields are
// unchanged (or defaulted on create).
type ProjectInput struct {
	Name          *string
	Path          *string
	Description   *string
	Visibility    *model.Visibility
	DefaultBranch *string
	// CIPushRepositoryForJobTokenAllowed is GitLab's
	// ci_push_repository_for_job_token_allowed.
	CIPushRepositoryForJobTokenAllowed *bool
	// ContainerPolicy is container_expiration_policy_attributes: the
	// container registry's cleanup policy (PUT only).
	ContainerPolicy *registry.PolicyInput
}

// CreateProject creates a project in namespace ns.
func (s *Service) CreateProject(ctx context.Context, creator *model.User, ns *model.Namespace, in ProjectInput) (*model.Project, error) {
	p := &model.Project{NamespaceID: ns.ID, Namespace: ns, CreatorID: creator.ID, Visibility: model.Private, DefaultBranch: "main"}
	if in.Name == nil && in.Path == nil {
		return nil, model.Invalid("name", "can't be blank")
	}
	if in.Name != nil {
		p.Name = *in.Name
	} else {
		p.Name = *in.Path
	}
	if in.Path != nil {
		p.Path = *in.Path
	} else {
		p.Path = model.Slug(p.Name)
	}
	if err := s.applyProject(p, ns, in); err != nil {
		return nil, err
	}
	err := s.Store.Tx(ctx, func(q *store.Queries) error {
		if err := pathFree(ctx, q, p.FullPath(), 0, 0); err != nil {
			return err
		}
		if err := q.CreateProject(ctx, p); err != nil {
			return mapTaken(err, "path")
		}
		if err := q.AddProtectedRef(ctx, DefaultBranchRule(p.ID, p.DefaultBranch)); err != nil {
			return err
		}
		// Inside the transaction: a repository that cannot be created
		// leaves no project behind.
		if s.Repos != nil {
			return s.Repos.Create(ctx, p.ID, p.DefaultBranch)
		}
		return nil
	})
	if err != nil {
		if p.ID != 0 && s.Repos != nil {
			s.Repos.Remove(p.ID)
		}
		return nil, err
	}
	return p, nil
}

// applyProject validates in and copies it onto p.
func (s *Service) applyProject(p *model.Project, ns *model.Namespace, in ProjectInput) error {
	if in.Name != nil {
		p.Name = *in.Name
	}
	if in.Path != nil {
		p.Path = *in.Path
	}
	if err := model.ValidateName("name", p.Name); err != nil {
		return err
	}
	if err := model.ValidatePath("path", p.Path, false); err != nil {
		return err
	}
	if in.Description != nil {
		p.Description = *in.Description
	}
	if in.Visibility != nil {
		p.Visibility = *in.Visibility
	}
	if ns.IsGroup() && p.Visibility.Rank() > ns.Visibility.Rank() {
		return model.Invalid("visibility_level", fmt.Sprintf("%s is not allowed in a %s group.", p.Visibility, ns.Visibility))
	}
	if in.DefaultBranch != nil {
		if err := validateBranch(*in.DefaultBranch); err != nil {
			return err
		}
		p.DefaultBranch = *in.DefaultBranch
	}
	if in.CIPushRepositoryForJobTokenAllowed != nil {
		p.CIPushRepositoryForJobTokenAllowed = *in.CIPushRepositoryForJobTokenAllowed
	}
	return nil
}

// validateBranch applies the main rules of git check-ref-format to a
// branch name.
func validateBranch(b string) error {
	if !model.GitRefNameOK(b) {
		return model.Invalid("default_branch", "is not a valid branch name")
	}
	return nil
}

// UpdateProject changes a project's settings.
func (s *Service) UpdateProject(ctx context.Context, old *model.Project, in ProjectInput) (*model.Project, error) {
	p := *old
	if err := s.applyProject(&p, old.Namespace, in); err != nil {
		return nil, err
	}
	if p.Path != old.Path {
		if err := s.refuseWithImages(ctx, old.FullPath(), renameProjectWithImages); err != nil {
			return nil, err
		}
	}
	err := s.Store.Tx(ctx, func(q *store.Queries) error {
		if p.Path != old.Path {
			if err := pathFree(ctx, q, p.FullPath(), 0, p.ID); err != nil {
				return err
			}
		}
		if err := mapTaken(q.UpdateProject(ctx, &p), "path"); err != nil {
			return err
		}
		if in.ContainerPolicy == nil {
			return nil
		}
		pol, err := registry.LoadPolicy(ctx, q, p.ID)
		if err != nil {
			return err
		}
		if err := registry.ApplyPolicy(pol, *in.ContainerPolicy, s.Now()); err != nil {
			return err
		}
		return q.SaveContainerPolicy(ctx, pol)
	})
	if err != nil {
		return nil, err
	}
	if p.DefaultBranch != old.DefaultBranch && s.Repos != nil {
		if err := s.Repos.SetHead(ctx, p.ID, p.DefaultBranch); err != nil {
			s.Log.Error("set repository HEAD", "project_id", p.ID, "err", err)
		}
	}
	return &p, nil
}

// DeleteProject hides a project at once; Reap removes it.
func (s *Service) DeleteProject(ctx context.Context, p *model.Project) error {
	return s.Store.MarkProjectForDeletion(ctx, p.ID)
}

// Reap removes everything marked for deletion. It runs in the background;
// a crash in between leaves rows still marked, and the next run finishes.
func (s *Service) Reap(ctx context.Context) error {
	projects, namespaces, err := s.Store.PendingDeletion(ctx)
	if err != nil {
		return err
	}
	for _, id := range projects {
		if err := s.removeProject(ctx, id); err != nil {
			return err
		}
	}
	for _, id := range namespaces {
		// Projects beneath were marked with the group and removed above,
		// so no repository is orphaned by the cascade.
		if err := s.Store.DeleteNamespaceRow(ctx, id); err != nil {
			return err
		}
	}
	return nil
}

// removeProject deletes the repository and the blobs first: if that fails,
// the row stays marked and the next run tries again.
func (s *Service) removeProject(ctx context.Context, id int64) error {
	if s.Repos != nil {
		if err := s.Repos.Remove(id); err != nil {
			return err
		}
	}
	if s.Blobs != nil {
		if err := blob.DeletePrefix(ctx, s.Blobs, blob.ProjectPrefix(id)); err != nil {
			return err
		}
	}
	if s.DeleteImages != nil {
		if err := s.DeleteImages(ctx, id); err != nil {
			return err
		}
	}
	return s.Store.DeleteProjectRow(ctx, id)
}

// RunReaper calls Reap every interval until ctx ends.
func (s *Service) RunReaper(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := s.Reap(ctx); err != nil && ctx.Err() == nil {
			s.Log.Error("reaper", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
