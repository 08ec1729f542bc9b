package store

import "sync"

// ChangeListener hears, after commit, of changes to rows that an
// in-process cache may hold copies of. The job-token cache (package auth)
// is the listener: a token dies in the same transaction that ends its job,
// and the cache must forget it before anyone can observe the commit's
// effects through it (security.md §1).
//
// Calls arrive after the transaction committed (or right after the
// statement outside a transaction), possibly concurrently, and must not
// block.
type ChangeListener interface {
	// JobChanged: the job's status, timestamps, runner, token or recorded
	// contact changed, or its log was flushed. A chunk appended to its log
	// is not published (AppendTrace): the job's log fields in a cached
	// copy lag behind, and AppendTrace's compare-and-set refuses them.
	JobChanged(id int64)
	// PipelineChanged: the pipeline's status or times changed, or it was
	// deleted with its jobs.
	PipelineChanged(id int64)
	// Reset: users, projects, namespaces, memberships or personal access
	// tokens changed (blocked users, renamed or deleted projects, a
	// membership added or removed, a token revoked); rare enough that
	// caches drop everything.
	Reset()
}

// change is one recorded change; kind selects the listener method.
type change struct {
	kind changeKind
	id   int64
}

type changeKind uint8

const (
	jobChange changeKind = iota
	pipelineChange
	resetChange
)

// changeHub fans changes out to the listeners. A Store has one; its
// transactions share it.
type changeHub struct {
	mu        sync.RWMutex
	listeners []ChangeListener
}

func (h *changeHub) publish(cs []change) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for _, l := range h.listeners {
		for _, c := range cs {
			switch c.kind {
			case jobChange:
				l.JobChanged(c.id)
			case pipelineChange:
				l.PipelineChanged(c.id)
			case resetChange:
				l.Reset()
			}
		}
	}
}

// Listen adds l to the listeners of every later change made through this
// Store. Changes made by other processes are not heard: see Shared.
func (s *Store) Listen(l ChangeListener) {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	s.hub.listeners = append(s.hub.listeners, l)
}

// Shared reports whether other processes may write to the database
// (PostgreSQL, where replicas share it). An in-process cache invalidated by
// Listen alone is only sound when Shared is false.
func (s *Store) Shared() bool { return s.d.name() == "postgres" }

// changed records a change: published at once outside a transaction,
// after commit inside one (and never if it rolls back).
func (q *Queries) changed(kind changeKind, id int64) {
	if q.hub == nil {
		return
	}
	if q.pending != nil {
		*q.pending = append(*q.pending, change{kind, id})
		return
	}
	q.hub.publish([]change{{kind, id}})
}
