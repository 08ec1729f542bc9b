package store

import "sync"

// Cache keeps copies of rows that change rarely (personal access tokens
// with their users, projects, effective access levels) for a database no
// other process writes (Shared false), so that a request costs map lookups
// instead of point reads. It is exact the way the job-token cache is
// (security.md §1): every change to users, projects, namespaces,
// memberships or tokens is published after its transaction commits
// (Reset), and forgets every copy before the writer's call returns; a fill
// that read the database before such a change is discarded (a generation
// counter), so a copy is never older than the last change published.
//
// What ends by the clock alone (a token's or a membership's expiry) is not
// a change: callers keep the deadline with the copy and check it on every
// use.
type Cache[K comparable, V any] struct {
	mu    sync.Mutex
	gen   uint64
	items map[K]V
	max   int // bounds memory; the whole cache is dropped when it fills
}

// NewCache makes a cache of up to max entries and has st's change feed
// clear it. On a shared database (PostgreSQL) other replicas' changes are
// not heard: it returns nil, and a nil cache keeps nothing.
func NewCache[K comparable, V any](st *Store, max int) *Cache[K, V] {
	if st.Shared() {
		return nil
	}
	c := &Cache[K, V]{items: map[K]V{}, max: max}
	st.Listen(c)
	return c
}

// Get returns k's copy, or ok false and the generation to pass to Put.
func (c *Cache[K, V]) Get(k K) (v V, gen uint64, ok bool) {
	if c == nil {
		return v, 0, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok = c.items[k]; ok {
		return v, 0, true
	}
	return v, c.gen, false
}

// Put keeps v for k unless something changed since Get returned gen.
func (c *Cache[K, V]) Put(k K, gen uint64, v V) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if len(c.items) >= c.max {
		clear(c.items)
	}
	c.items[k] = v
}

// Forget drops k's copy (one whose deadline passed).
func (c *Cache[K, V]) Forget(k K) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.items, k)
}

// Update applies fn to k's copy, if kept, under the cache's lock
// (bookkeeping such as a token's last use, which is no change to publish).
func (c *Cache[K, V]) Update(k K, fn func(V) V) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.items[k]; ok {
		c.items[k] = fn(v)
	}
}

// Has reports whether k's copy is kept (tests warm the cache with it).
func (c *Cache[K, V]) Has(k K) bool {
	_, _, ok := c.Get(k)
	return ok
}

// JobChanged and PipelineChanged concern none of the rows kept here.
func (c *Cache[K, V]) JobChanged(int64)      {}
func (c *Cache[K, V]) PipelineChanged(int64) {}

// Reset forgets everything: a user, project, namespace, membership or
// token changed.
func (c *Cache[K, V]) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	clear(c.items)
}
