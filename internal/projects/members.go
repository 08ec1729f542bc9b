package projects

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/store"
)

// MemberError is a refusal with GitLab's status and message.
type MemberError struct {
	Status  int
	Message string
}

func (e *MemberError) Error() string { return e.Message }

// ErrMemberExists is GitLab's 409 for adding an existing member.
var ErrMemberExists = &MemberError{Status: http.StatusConflict, Message: "Member already exists"}

// ErrLastOwner refuses to leave a group without an owner.
var ErrLastOwner = &MemberError{Status: http.StatusForbidden, Message: "403 Forbidden - A group must keep at least one owner"}

// ErrOwnerNeedsOwner refuses a non-owner granting or touching Owner.
var ErrOwnerNeedsOwner = &MemberError{Status: http.StatusForbidden, Message: "403 Forbidden"}

// MemberInput is POST and PUT .../members.
type MemberInput struct {
	UserID      int64
	AccessLevel model.AccessLevel
	ExpiresAt   *time.Time
	// MayManageOwners: authz let the caller grant, change or remove the
	// Owner role here (authz.ManageOwners: Owners and administrators).
	MayManageOwners bool
	ActorID         int64
}

func (in MemberInput) check(existing model.AccessLevel) error {
	if !in.AccessLevel.Valid() {
		return model.Invalid("access_level", "does not have a valid value")
	}
	if in.ExpiresAt != nil && !in.ExpiresAt.After(time.Now()) {
		return model.Invalid("expires_at", "cannot be a date in the past")
	}
	if !in.MayManageOwners && (in.AccessLevel == model.Owner || existing == model.Owner) {
		return ErrOwnerNeedsOwner
	}
	return nil
}

// AddMember adds user in.UserID to a project or group.
func (s *Service) AddMember(ctx context.Context, kind string, sourceID int64, in MemberInput) (*model.Member, error) {
	if err := in.check(0); err != nil {
		return nil, err
	}
	m := &model.Member{SourceKind: kind, SourceID: sourceID, UserID: in.UserID, AccessLevel: in.AccessLevel,
		ExpiresAt: in.ExpiresAt, CreatedBy: in.ActorID, CreatedAt: s.Now().UTC()}
	if err := s.Store.AddMember(ctx, m); err != nil {
		if errors.Is(err, model.ErrConflict) {
			return nil, ErrMemberExists
		}
		return nil, err
	}
	return s.Store.Member(ctx, kind, sourceID, in.UserID)
}

// UpdateMember changes a direct membership.
func (s *Service) UpdateMember(ctx context.Context, kind string, sourceID int64, in MemberInput) (*model.Member, error) {
	err := s.Store.Tx(ctx, func(q *store.Queries) error {
		cur, err := q.Member(ctx, kind, sourceID, in.UserID)
		if err != nil {
			return err
		}
		if err := in.check(cur.AccessLevel); err != nil {
			return err
		}
		if err := s.keepOwner(ctx, q, kind, sourceID, cur, in.AccessLevel); err != nil {
			return err
		}
		cur.AccessLevel, cur.ExpiresAt = in.AccessLevel, in.ExpiresAt
		return q.UpdateMember(ctx, cur)
	})
	if err != nil {
		return nil, err
	}
	return s.Store.Member(ctx, kind, sourceID, in.UserID)
}

// RemoveMember removes a direct membership; an Owner's only if
// mayManageOwners (authz.ManageOwners).
func (s *Service) RemoveMember(ctx context.Context, kind string, sourceID, userID int64, mayManageOwners bool) error {
	return s.Store.Tx(ctx, func(q *store.Queries) error {
		cur, err := q.Member(ctx, kind, sourceID, userID)
		if err != nil {
			return err
		}
		if cur.AccessLevel == model.Owner && !mayManageOwners {
			return ErrOwnerNeedsOwner
		}
		if err := s.keepOwner(ctx, q, kind, sourceID, cur, model.NoAccess); err != nil {
			return err
		}
		return q.RemoveMember(ctx, kind, sourceID, userID)
	})
}

// keepOwner refuses to demote or remove a group's last direct owner.
func (s *Service) keepOwner(ctx context.Context, q *store.Queries, kind string, sourceID int64, cur *model.Member, next model.AccessLevel) error {
	if kind != model.SourceNamespace || cur.AccessLevel != model.Owner || next == model.Owner {
		return nil
	}
	n, err := q.CountOwners(ctx, sourceID)
	if err != nil {
		return err
	}
	if n <= 1 {
		return ErrLastOwner
	}
	return nil
}
