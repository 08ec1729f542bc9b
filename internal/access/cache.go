package access

import (
	"context"
	"sync"

	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/store"
)

// scopeCache keeps projects' job-token allowlists in memory, so that a
// cross-project decision costs map lookups whatever the lists' size and
// the depth of the caller's group tree. Like the job-token cache it is
// sound only when the store's change feed hears every write (store.Shared
// false): a list is dropped when its project's links change, after
// commit, before the write's response, so removing an entry refuses the
// very next request. A generation counter discards a fill that read the
// database before a change was published.
type scopeCache struct {
	mu      sync.Mutex
	gen     uint64
	lists   map[int64]*scopeLists
	enforce *bool
	// max bounds memory: one entry per project that was a source or a
	// target of a cross-project use.
	max int
}

// scopeLists is one project's links: the projects its tokens may reach
// (outbound) and who may reach it (inbound, by project and by group).
type scopeLists struct {
	outbound map[int64]bool
	projects map[int64]*model.ScopeLink
	groups   map[int64]*model.ScopeLink
}

func newScopeCache(max int) *scopeCache {
	return &scopeCache{lists: map[int64]*scopeLists{}, max: max}
}

// CacheScopes keeps up to max projects' allowlists in memory. Only for a
// database no other process writes (store.Shared false).
func (a *Authorizer) CacheScopes(max int) {
	c := newScopeCache(max)
	a.cache = c
	a.Store.Listen(c)
}

func (c *scopeCache) get(ctx context.Context, st *store.Store, project int64) (*scopeLists, error) {
	c.mu.Lock()
	l, gen := c.lists[project], c.gen
	c.mu.Unlock()
	if l != nil {
		return l, nil
	}
	links, err := st.ScopeLinks(ctx, project)
	if err != nil {
		return nil, err
	}
	l = &scopeLists{outbound: map[int64]bool{}, projects: map[int64]*model.ScopeLink{}, groups: map[int64]*model.ScopeLink{}}
	for _, k := range links {
		switch {
		case k.GroupID != 0:
			l.groups[k.GroupID] = k
		case k.Direction == model.Outbound:
			l.outbound[k.ProjectID] = true
		default:
			l.projects[k.ProjectID] = k
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen == c.gen {
		if len(c.lists) >= c.max {
			clear(c.lists)
		}
		c.lists[project] = l
	}
	return l, nil
}

func (c *scopeCache) enforced(ctx context.Context, st *store.Store) (bool, error) {
	c.mu.Lock()
	v, gen := c.enforce, c.gen
	c.mu.Unlock()
	if v != nil {
		return *v, nil
	}
	b, err := st.BoolSetting(ctx, store.SettingEnforceInboundScope, false)
	if err != nil {
		return false, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen == c.gen {
		c.enforce = &b
	}
	return b, nil
}

// ScopeChanged drops a project's lists, or everything for an instance
// setting.
func (c *scopeCache) ScopeChanged(project int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if project == 0 {
		clear(c.lists)
		c.enforce = nil
		return
	}
	delete(c.lists, project)
}

// Reset: projects or namespaces changed (a project deleted, a group
// moved): drop everything.
func (c *scopeCache) Reset() { c.ScopeChanged(0) }

// Jobs and pipelines hold no allowlists.
func (c *scopeCache) JobChanged(int64)      {}
func (c *scopeCache) PipelineChanged(int64) {}

// scopeReader is where Scope reads the lists from: the cache or the
// database.
type scopeReader interface {
	outboundAllows(ctx context.Context, source, target int64) (bool, error)
	enforced(ctx context.Context) (bool, error)
	inboundEntry(ctx context.Context, owner, source int64, ancestors []int64) (*model.ScopeLink, error)
}

type dbReader struct{ st *store.Store }

func (r dbReader) outboundAllows(ctx context.Context, source, target int64) (bool, error) {
	return r.st.OutboundAllows(ctx, source, target)
}

func (r dbReader) enforced(ctx context.Context) (bool, error) {
	return r.st.BoolSetting(ctx, store.SettingEnforceInboundScope, false)
}

func (r dbReader) inboundEntry(ctx context.Context, owner, source int64, ancestors []int64) (*model.ScopeLink, error) {
	return r.st.InboundEntry(ctx, owner, source, ancestors)
}

type cacheReader struct {
	c  *scopeCache
	st *store.Store
}

func (r cacheReader) outboundAllows(ctx context.Context, source, target int64) (bool, error) {
	l, err := r.c.get(ctx, r.st, source)
	if err != nil {
		return false, err
	}
	return l.outbound[target], nil
}

func (r cacheReader) enforced(ctx context.Context) (bool, error) { return r.c.enforced(ctx, r.st) }

func (r cacheReader) inboundEntry(ctx context.Context, owner, source int64, ancestors []int64) (*model.ScopeLink, error) {
	l, err := r.c.get(ctx, r.st, owner)
	if err != nil {
		return nil, err
	}
	var admit []*model.ScopeLink
	if k := l.projects[source]; k != nil {
		admit = append(admit, k)
	}
	for _, g := range ancestors {
		if k := l.groups[g]; k != nil {
			admit = append(admit, k)
		}
	}
	return model.NearestEntry(admit, ancestors), nil
}
