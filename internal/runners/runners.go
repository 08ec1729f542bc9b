// Package runners keeps the runners that take jobs: their creation (a
// glrt- token minted, only its digest stored), their contact with the
// server, their removal, and their listings.
package runners

import (
	"context"
	"time"

	"github.com/ciwarden/ciwarden/internal/auth"
	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/store"
)

// Service creates and tracks runners.
type Service struct {
	Store *store.Store
	Now   func() time.Time
}

// Types are the runner types GitLab knows.
var Types = map[string]bool{model.InstanceRunner: true, model.GroupRunner: true, model.ProjectRunner: true}

// Create stores r with a new runner token and returns the token, which is
// shown this once.
func (s *Service) Create(ctx context.Context, r *model.Runner) (string, error) {
	token := auth.NewSecret(auth.RunnerTokenPrefix)
	r.CreatedAt = s.Now()
	if err := s.Store.CreateRunner(ctx, r, auth.Digest(token)); err != nil {
		return "", err
	}
	return token, nil
}

// contactEvery throttles the record of a runner's contact: a runner polls
// every few seconds, and a poll need not write.
const contactEvery = time.Minute

// Contact records that r called from the installation systemID (cut to 64
// characters); a poll within contactEvery of the last records nothing
// unless always (a verify, which a runner makes once).
func (s *Service) Contact(ctx context.Context, r *model.Runner, systemID string, always bool) error {
	if len(systemID) > 64 {
		systemID = systemID[:64]
	}
	now := s.Now()
	if !always && r.ContactedAt != nil && now.Sub(*r.ContactedAt) < contactEvery {
		return nil
	}
	return s.Store.TouchRunner(ctx, r.ID, systemID, now)
}

// Remove deletes r (legacy unregister).
func (s *Service) Remove(ctx context.Context, r *model.Runner) error {
	return s.Store.DeleteRunner(ctx, r.ID)
}

// RemoveManager forgets one installation of r; model.ErrNotFound when r
// has none of that system ID.
func (s *Service) RemoveManager(ctx context.Context, r *model.Runner, systemID string) error {
	return s.Store.DeleteRunnerManager(ctx, r.ID, systemID)
}

// List is a page of the runners f selects, with their total.
func (s *Service) List(ctx context.Context, f store.RunnerFilter, pg store.Page) ([]*model.Runner, int, error) {
	return s.Store.ListRunners(ctx, f, pg)
}

// maxListed bounds the runners a filtered listing reads: their number is
// small, and which ones a caller manages is decided one by one.
const maxListed = 10000

// Manageable is the page pg of the runners f selects that manages says
// the caller may see, with their total.
func (s *Service) Manageable(ctx context.Context, f store.RunnerFilter, pg store.Page, manages func(*model.Runner) bool) ([]*model.Runner, int, error) {
	all, _, err := s.Store.ListRunners(ctx, f, store.Page{Number: 1, PerPage: maxListed})
	if err != nil {
		return nil, 0, err
	}
	var keep []*model.Runner
	for _, r := range all {
		if manages(r) {
			keep = append(keep, r)
		}
	}
	start := min(pg.Offset(), len(keep))
	end := min(start+pg.Limit(), len(keep))
	return keep[start:end], len(keep), nil
}
