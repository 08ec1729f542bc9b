package jobtoken

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/ciwarden/ciwarden/internal/authz"
	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/store"
)

// AuthLog is the authentication log: every cross-project job-token use,
// allowed or denied, summed per (accessed, origin) project pair in memory
// and written in one transaction per flush, so that recording costs the
// request a map update and never a database write.
type AuthLog struct {
	Store *store.Store
	Log   *slog.Logger
	Now   func() time.Time

	mu      sync.Mutex
	pending map[authKey]*model.JobTokenAuthorization
}

type authKey struct{ accessed, origin int64 }

// Record adds one use. The denial reason names the failed check and its
// message, which never holds a token.
func (l *AuthLog) Record(accessed, origin int64, policy string, d authz.Decision) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.pending == nil {
		l.pending = map[authKey]*model.JobTokenAuthorization{}
	}
	k := authKey{accessed, origin}
	e := l.pending[k]
	if e == nil {
		e = &model.JobTokenAuthorization{AccessedProjectID: accessed, OriginProjectID: origin}
		l.pending[k] = e
	}
	e.LastUsedAt, e.LastPolicy, e.LastAllowed = now, policy, d.Allowed
	if d.Allowed {
		e.AllowedCount++
		return
	}
	e.DeniedCount++
	e.LastDeniedAt = &now
	e.LastDenialReason = d.Check + ": " + d.Message
}

func (l *AuthLog) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now().UTC()
}

// Flush writes what was recorded since the last flush. On failure the
// batch is merged back, to be tried again at the next flush.
func (l *AuthLog) Flush(ctx context.Context) error {
	l.mu.Lock()
	batch := l.pending
	l.pending = nil
	l.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	rows := make([]*model.JobTokenAuthorization, 0, len(batch))
	for _, e := range batch {
		rows = append(rows, e)
	}
	err := l.Store.Tx(ctx, func(q *store.Queries) error { return q.RecordAuthorizations(ctx, rows) })
	if err != nil {
		l.mu.Lock()
		for k, e := range batch {
			l.merge(k, e)
		}
		l.mu.Unlock()
	}
	return err
}

// merge folds an unwritten entry back under a newer one, if any; the
// newer one's "last" fields win.
func (l *AuthLog) merge(k authKey, old *model.JobTokenAuthorization) {
	if l.pending == nil {
		l.pending = map[authKey]*model.JobTokenAuthorization{}
	}
	cur := l.pending[k]
	if cur == nil {
		l.pending[k] = old
		return
	}
	cur.AllowedCount += old.AllowedCount
	cur.DeniedCount += old.DeniedCount
	if cur.LastDeniedAt == nil {
		cur.LastDeniedAt, cur.LastDenialReason = old.LastDeniedAt, old.LastDenialReason
	}
}

// Run flushes every interval until ctx ends, then once more.
func (l *AuthLog) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			if err := l.Flush(context.WithoutCancel(ctx)); err != nil {
				l.Log.Warn("authentication log: final flush failed", "err", err)
			}
			return
		case <-t.C:
			if err := l.Flush(ctx); err != nil && ctx.Err() == nil {
				l.Log.Warn("authentication log: flush failed; will retry", "err", err)
			}
		}
	}
}
