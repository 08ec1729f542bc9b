package ci

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Queue tells waiting runners that jobs became pending. Its version is the
// X-GitLab-Last-Update a runner echoes back: a runner whose version is
// current has seen everything and may be held (long polling) until the
// next change. The version carries a per-process nonce, so a runner that
// last spoke to another replica or an earlier process is never held on a
// stale value: such a runner checks the database at once, and is held only
// if nothing is pending for it (Foreign).
//
// A job queued on another replica wakes the runners held here when that
// replica's announcement arrives (PostgreSQL, store.WatchQueued); jobs
// queued without a bump are found when a hold ends, which is bounded for
// that reason.
type Queue struct {
	nonce   string
	mu      sync.Mutex
	counter uint64
	changed chan struct{}
	closed  bool
}

// NewQueue returns an empty queue.
func NewQueue() *Queue {
	b := make([]byte, 4)
	rand.Read(b)
	return &Queue{nonce: hex.EncodeToString(b), changed: make(chan struct{})}
}

// Version is the current queue version.
func (q *Queue) Version() string {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.nonce + "-" + strconv.FormatUint(q.counter, 10)
}

// Foreign reports whether lastUpdate is a version another process gave
// out: another replica's, or an earlier process's (its nonce is not this
// process's). Such a runner has seen what that process knew, so it is
// looked for a job at once; if none is pending for it, it may then be held
// as a current one is, since every job queued later bumps this queue (on
// PostgreSQL also when another replica queued it).
func (q *Queue) Foreign(lastUpdate string) bool {
	nonce, counter, ok := strings.Cut(lastUpdate, "-")
	if !ok || nonce == q.nonce || len(nonce) != len(q.nonce) {
		return false
	}
	if _, err := hex.DecodeString(nonce); err != nil {
		return false
	}
	_, err := strconv.ParseUint(counter, 10, 64)
	return err == nil
}

// Close wakes every held runner and holds none from now on: the server is
// shutting down, and graceful shutdown waits for requests in progress.
func (q *Queue) Close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.closed {
		q.closed = true
		close(q.changed)
	}
}

// Bump records that jobs became pending and wakes every held runner.
func (q *Queue) Bump() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	q.counter++
	close(q.changed)
	q.changed = make(chan struct{})
}

// Wait holds while lastUpdate is the current version, until a Bump, ctx's
// end or max; it returns the version then current.
func (q *Queue) Wait(ctx context.Context, lastUpdate string, max time.Duration) string {
	q.mu.Lock()
	current := q.nonce + "-" + strconv.FormatUint(q.counter, 10)
	ch := q.changed
	closed := q.closed
	q.mu.Unlock()
	if lastUpdate != current || max <= 0 || closed {
		return current
	}
	t := time.NewTimer(max)
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C:
	case <-ctx.Done():
	}
	return q.Version()
}
