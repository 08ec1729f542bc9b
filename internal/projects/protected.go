package projects

import (
	"context"
	"errors"
	"strings"
	"unicode"

	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/store"
)

// Protected branches and tags (issue 16). The rules are kept here; the
// decisions they feed are authz's (check protected_ref).

// ProtectInput is a new rule, or a change to one (nil: unchanged).
type ProtectInput struct {
	Name           string
	PushLevel      *model.AccessLevel // a tag's create_access_level
	MergeLevel     *model.AccessLevel
	AllowForcePush *bool
}

// ErrRefProtected: a rule of that kind and name exists already.
var ErrRefProtected = errors.New("protected ref exists")

// maxRefName bounds a rule's name (a git ref name has no set limit; GitLab
// keeps names in a 255-character column).
const maxRefName = 255

// DefaultBranchRule is the protection of a new project's default branch:
// Maintainers push and merge, nobody force-pushes (GitLab's default
// branch protection, "fully protected").
func DefaultBranchRule(projectID int64, branch string) *model.ProtectedRef {
	return &model.ProtectedRef{ProjectID: projectID, Kind: model.RefBranch, Name: branch,
		PushLevel: model.Maintainer, MergeLevel: model.Maintainer}
}

func validRefName(name string) error {
	if name == "" {
		return model.Refuse(model.ErrInvalid, "name is missing")
	}
	if len(name) > maxRefName || strings.ContainsFunc(name, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r) || strings.ContainsRune("~^:?[\\", r)
	}) || strings.HasPrefix(name, "/") || strings.HasSuffix(name, "/") || strings.Contains(name, "..") {
		return model.Refuse(model.ErrInvalid, "name is invalid")
	}
	return nil
}

func validLevel(field string, l *model.AccessLevel) error {
	if l != nil && !model.ValidRefLevel(*l) {
		return model.Refuse(model.ErrInvalid, field+" does not have a valid value")
	}
	return nil
}

// ProtectRef adds a rule of kind to project projectID. Levels default to
// Maintainers (GitLab's default for both kinds); a tag has no merge level.
func (s *Service) ProtectRef(ctx context.Context, projectID int64, kind string, in ProtectInput) (*model.ProtectedRef, error) {
	if err := validRefName(in.Name); err != nil {
		return nil, err
	}
	r := &model.ProtectedRef{ProjectID: projectID, Kind: kind, Name: in.Name, PushLevel: model.Maintainer}
	if kind == model.RefBranch {
		r.MergeLevel = model.Maintainer
	}
	if err := s.applyRef(r, in); err != nil {
		return nil, err
	}
	if err := s.Store.AddProtectedRef(ctx, r); err != nil {
		if errors.Is(err, model.ErrConflict) {
			return nil, ErrRefProtected
		}
		return nil, err
	}
	return r, nil
}

func (s *Service) applyRef(r *model.ProtectedRef, in ProtectInput) error {
	pushField := "push_access_level"
	if r.Kind == model.RefTag {
		pushField = "create_access_level"
	}
	if err := errors.Join(validLevel(pushField, in.PushLevel), validLevel("merge_access_level", in.MergeLevel)); err != nil {
		return err
	}
	if in.PushLevel != nil {
		r.PushLevel = *in.PushLevel
	}
	if in.MergeLevel != nil && r.Kind == model.RefBranch {
		r.MergeLevel = *in.MergeLevel
	}
	if in.AllowForcePush != nil && r.Kind == model.RefBranch {
		r.AllowForcePush = *in.AllowForcePush
	}
	return nil
}

// UpdateProtectedRef changes a rule's levels or force-push flag.
func (s *Service) UpdateProtectedRef(ctx context.Context, projectID int64, kind, name string, in ProtectInput) (*model.ProtectedRef, error) {
	var r *model.ProtectedRef
	err := s.Store.Tx(ctx, func(q *store.Queries) error {
		var err error
		if r, err = q.ProtectedRef(ctx, projectID, kind, name); err != nil {
			return err
		}
		if err := s.applyRef(r, in); err != nil {
			return err
		}
		return q.UpdateProtectedRef(ctx, r)
	})
	return r, err
}

// UnprotectRef removes a rule.
func (s *Service) UnprotectRef(ctx context.Context, projectID int64, kind, name string) error {
	return s.Store.RemoveProtectedRef(ctx, projectID, kind, name)
}

// ProtectedRefs lists a project's rules of one kind, by name.
func (s *Service) ProtectedRefs(ctx context.Context, projectID int64, kind string) ([]*model.ProtectedRef, error) {
	all, err := s.Store.ProtectedRefs(ctx, projectID)
	var out []*model.ProtectedRef
	for _, r := range all {
		if r.Kind == kind {
			out = append(out, r)
		}
	}
	return out, err
}

// ProtectedRef loads one rule by its exact name (a wildcard by its
// pattern).
func (s *Service) ProtectedRef(ctx context.Context, projectID int64, kind, name string) (*model.ProtectedRef, error) {
	return s.Store.ProtectedRef(ctx, projectID, kind, name)
}
