package store

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// queuedChannel is the PostgreSQL notification channel on which replicas
// announce that jobs were queued, so that a runner long-polling another
// replica is answered at once rather than when its poll times out.
const queuedChannel = "ciwarden_jobs_queued"

// AnnounceQueued tells every replica that jobs became pending (NOTIFY).
// Call it after the queuing transaction committed. On SQLite this process
// is the only one, and it does nothing.
func (s *Store) AnnounceQueued(ctx context.Context) error {
	if !s.Shared() {
		return nil
	}
	_, err := s.db.ExecContext(ctx, "SELECT pg_notify($1, '')", queuedChannel)
	return err
}

// WatchQueued calls fn whenever any replica (this one included) announced
// queued jobs, until ctx ends. It holds one connection of its own
// (LISTEN), reconnects after an error, and calls fn after every
// (re)connection, for what it may have missed. On SQLite it returns at
// once. onError hears each connection failure.
func (s *Store) WatchQueued(ctx context.Context, fn func(), onError func(error)) {
	if !s.Shared() {
		return
	}
	for ctx.Err() == nil {
		err := s.watchQueued(ctx, fn)
		if ctx.Err() != nil {
			return
		}
		onError(errors.New(cleanErr(err, s.dsn)))
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

func (s *Store) watchQueued(ctx context.Context, fn func()) error {
	conn, err := pgx.Connect(ctx, s.dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+queuedChannel); err != nil {
		return err
	}
	fn()
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return err
		}
		fn()
	}
}
