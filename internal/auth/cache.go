package auth

import "sync"

// tokenCache remembers the principals of live job tokens by digest, so that
// a job's repeated API calls cost a map lookup instead of three database
// reads. It is sound only when every change that could end a token's life
// reaches it before the change can be observed: the store publishes its
// changes after commit (store.ChangeListener), and the server installs the
// cache only when no other process writes to the database (store.Shared).
//
// The race it must win: a request reads a job as running, the job ends and
// its change is published, then the request stores what it read. A
// generation counter, bumped by every change, closes it: a fill that began
// before a change is discarded.
type tokenCache struct {
	mu      sync.Mutex
	gen     uint64
	byToken map[string]*Principal
	byJob   map[int64]string // job ID -> digest, for JobChanged
	// max bounds memory; live tokens number the running jobs, far fewer.
	max int
}

func newTokenCache(max int) *tokenCache {
	return &tokenCache{byToken: map[string]*Principal{}, byJob: map[int64]string{}, max: max}
}

// get returns a copy of the cached principal for digest, or nil and the
// generation to pass to put.
func (c *tokenCache) get(digest string) (*Principal, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p, ok := c.byToken[digest]; ok {
		cp := *p
		return &cp, 0
	}
	return nil, c.gen
}

// put stores p unless something changed since gen was read.
func (c *tokenCache) put(digest string, gen uint64, p *Principal) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if len(c.byToken) >= c.max {
		c.clearLocked()
	}
	c.byToken[digest] = p
	c.byJob[p.Job.ID] = digest
}

func (c *tokenCache) clearLocked() {
	clear(c.byToken)
	clear(c.byJob)
}

// JobChanged forgets the job's token.
func (c *tokenCache) JobChanged(id int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if d, ok := c.byJob[id]; ok {
		delete(c.byToken, d)
		delete(c.byJob, id)
	}
}

// PipelineChanged forgets the tokens of the pipeline's jobs, whose cached
// principals carry the pipeline. Live tokens are few (one per running job),
// so a scan is cheap.
func (c *tokenCache) PipelineChanged(id int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for d, p := range c.byToken {
		if p.Pipeline != nil && p.Pipeline.ID == id {
			delete(c.byToken, d)
			delete(c.byJob, p.Job.ID)
		}
	}
}

// Reset forgets everything: a user, project or namespace changed.
func (c *tokenCache) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.clearLocked()
}

func (c *tokenCache) size() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.byToken)
}

// JobTokenCached reports whether secret's principal is in the cache, so
// that tests can show a token died with its cache entry warm.
func (a *Authenticator) JobTokenCached(secret string) bool {
	if a.cache == nil {
		return false
	}
	a.cache.mu.Lock()
	defer a.cache.mu.Unlock()
	_, ok := a.cache.byToken[Digest(secret)]
	return ok
}
