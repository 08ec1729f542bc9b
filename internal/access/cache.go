package access

import (
	"context"
	"sync"
	"time"

	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/store"
)

// scopeCache keeps projects' job-token allowlists in memory, so that a
// cross-project decision costs map lookups whatever the lists' size and
// the depth of the caller's group tree. A copy is labelled with the
// project's scope version, which every change to its links bumps in the
// same transaction; each request has just read the projects it decides
// about, so it uses a copy only if the versions match. That keeps every
// replica exact, on PostgreSQL too: removing an entry refuses the very
// next request wherever it lands.
type scopeCache struct {
	mu    sync.RWMutex
	lists map[int64]*scopeLists
	// max bounds memory: one entry per project that took part in a
	// cross-project use.
	max int
}

// scopeLists is one project's links at one version: the projects its
// tokens may reach (outbound) and who may reach it (inbound, by project
// and by group).
type scopeLists struct {
	version  int64
	outbound map[int64]bool
	projects map[int64]*model.ScopeLink
	groups   map[int64]*model.ScopeLink
}

// CacheScopes keeps up to max projects' allowlists in memory.
func (a *Authorizer) CacheScopes(max int) {
	a.cache = &scopeCache{lists: map[int64]*scopeLists{}, max: max}
}

// get returns p's lists at p's version. A copy read for an older version
// of the project than one already kept never replaces it. The version is
// read before the links (p was loaded earlier in the request), so a copy
// is never older than its label.
func (c *scopeCache) get(ctx context.Context, st *store.Store, p *model.Project) (*scopeLists, error) {
	c.mu.RLock()
	l := c.lists[p.ID]
	c.mu.RUnlock()
	if l != nil && l.version == p.JobTokenScopeVersion {
		return l, nil
	}
	links, err := st.ScopeLinks(ctx, p.ID)
	if err != nil {
		return nil, err
	}
	l = &scopeLists{version: p.JobTokenScopeVersion, outbound: map[int64]bool{},
		projects: map[int64]*model.ScopeLink{}, groups: map[int64]*model.ScopeLink{}}
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
	if cur := c.lists[p.ID]; cur == nil || cur.version < l.version {
		if len(c.lists) >= c.max {
			clear(c.lists)
		}
		c.lists[p.ID] = l
	}
	return l, nil
}

// scopeReader is where Scope reads the lists from: the cache or the
// database.
type scopeReader interface {
	outboundAllows(ctx context.Context, source, target *model.Project) (bool, error)
	inboundEntry(ctx context.Context, target, source *model.Project, ancestors []int64) (*model.ScopeLink, error)
}

type dbReader struct{ st *store.Store }

func (r dbReader) outboundAllows(ctx context.Context, source, target *model.Project) (bool, error) {
	return r.st.OutboundAllows(ctx, source.ID, target.ID)
}

func (r dbReader) inboundEntry(ctx context.Context, target, source *model.Project, ancestors []int64) (*model.ScopeLink, error) {
	return r.st.InboundEntry(ctx, target.ID, source.ID, ancestors)
}

type cacheReader struct {
	c  *scopeCache
	st *store.Store
}

func (r cacheReader) outboundAllows(ctx context.Context, source, target *model.Project) (bool, error) {
	l, err := r.c.get(ctx, r.st, source)
	if err != nil {
		return false, err
	}
	return l.outbound[target.ID], nil
}

func (r cacheReader) inboundEntry(ctx context.Context, target, source *model.Project, ancestors []int64) (*model.ScopeLink, error) {
	l, err := r.c.get(ctx, r.st, target)
	if err != nil {
		return nil, err
	}
	var admit []*model.ScopeLink
	if k := l.projects[source.ID]; k != nil {
		admit = append(admit, k)
	}
	for _, g := range ancestors {
		if k := l.groups[g]; k != nil {
			admit = append(admit, k)
		}
	}
	return model.NearestEntry(admit, ancestors), nil
}

// CacheFacts keeps up to max projects (by ID) and effective access levels
// in memory on a database no other process writes (store.NewCache: on
// PostgreSQL every request reads them), so that a personal-token request
// on a project costs map lookups (issue 14). Exact: any change to users,
// projects, namespaces or memberships forgets them all before the writer's
// call returns, and a level is kept no longer than the earliest expiry of
// the memberships it came from.
func (a *Authorizer) CacheFacts(max int) {
	a.projects = store.NewCache[int64, *model.Project](a.Store, max)
	a.levels = store.NewCache[levelKey, levelEntry](a.Store, max)
}

type levelKey struct{ user, project int64 }

type levelEntry struct {
	level model.AccessLevel
	until time.Time // zero: no membership of it expires
}

// project loads a project by ID, from the cache when it is kept. The copy
// is the caller's own (services edit the project they are handed).
func (a *Authorizer) project(ctx context.Context, id int64) (*model.Project, error) {
	p, gen, ok := a.projects.Get(id)
	if !ok {
		var err error
		if p, err = a.Store.Project(ctx, id); err != nil {
			return nil, err
		}
		a.projects.Put(id, gen, p)
	}
	cp, ns := *p, *p.Namespace
	cp.Namespace = &ns
	return &cp, nil
}

// accessLevel is store.ProjectAccessLevel, from the cache while no
// membership it came from has expired.
func (a *Authorizer) accessLevel(ctx context.Context, userID int64, p *model.Project) (model.AccessLevel, error) {
	k := levelKey{userID, p.ID}
	e, gen, ok := a.levels.Get(k)
	if ok {
		if e.until.IsZero() || time.Now().Before(e.until) {
			return e.level, nil
		}
		// A membership it came from expired: read it again (the next
		// request may keep the new level).
		a.levels.Forget(k)
	}
	level, until, err := a.Store.ProjectAccessLevelUntil(ctx, userID, p)
	if err != nil {
		return 0, err
	}
	if !ok {
		a.levels.Put(k, gen, levelEntry{level, until})
	}
	return level, nil
}
