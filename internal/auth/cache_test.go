package auth

import (
	"testing"

	"github.com/ciwarden/ciwarden/internal/model"
)

func cachedPrincipal(jobID, pipelineID int64) *Principal {
	return &Principal{Kind: JobKind, Job: &model.Job{ID: jobID, PipelineID: pipelineID},
		Pipeline: &model.Pipeline{ID: pipelineID}, User: &model.User{ID: 7}}
}

func TestTokenCacheHitReturnsCopy(t *testing.T) {
	c := newTokenCache(10)
	p, gen := c.get("d1")
	if p != nil {
		t.Fatalf("empty cache returned %+v", p)
	}
	c.put("d1", gen, cachedPrincipal(1, 10))
	got, _ := c.get("d1")
	if got == nil || got.Job.ID != 1 {
		t.Fatalf("get after put: %+v, want job 1", got)
	}
	got.Kind = Anonymous // a handler scribbling on its principal
	if again, _ := c.get("d1"); again.Kind != JobKind {
		t.Errorf("cached principal changed through a returned copy: kind %v", again.Kind)
	}
}

// A fill that read the database before a change was published must not
// land: it may hold the job as running after the job ended.
func TestTokenCacheFillRacingAChangeIsDropped(t *testing.T) {
	for name, change := range map[string]func(c *tokenCache){
		"job":       func(c *tokenCache) { c.JobChanged(1) },
		"other job": func(c *tokenCache) { c.JobChanged(99) },
		"pipeline":  func(c *tokenCache) { c.PipelineChanged(10) },
		"reset":     func(c *tokenCache) { c.Reset() },
	} {
		t.Run(name, func(t *testing.T) {
			c := newTokenCache(10)
			_, gen := c.get("d1")
			change(c) // published between the read and the fill
			c.put("d1", gen, cachedPrincipal(1, 10))
			if p, _ := c.get("d1"); p != nil {
				t.Errorf("stale fill stored after a %s change", name)
			}
		})
	}
}

func TestTokenCacheEviction(t *testing.T) {
	fill := func() *tokenCache {
		c := newTokenCache(10)
		for _, e := range []struct {
			d          string
			job, pipel int64
		}{{"a", 1, 10}, {"b", 2, 10}, {"c", 3, 20}} {
			_, gen := c.get(e.d)
			c.put(e.d, gen, cachedPrincipal(e.job, e.pipel))
		}
		return c
	}
	cached := func(c *tokenCache, d string) bool { p, _ := c.get(d); return p != nil }

	c := fill()
	c.JobChanged(2)
	if !cached(c, "a") || cached(c, "b") || !cached(c, "c") {
		t.Errorf("JobChanged(2): a %v b %v c %v, want only b gone", cached(c, "a"), cached(c, "b"), cached(c, "c"))
	}
	c = fill()
	c.PipelineChanged(10)
	if cached(c, "a") || cached(c, "b") || !cached(c, "c") {
		t.Errorf("PipelineChanged(10): a %v b %v c %v, want a and b gone", cached(c, "a"), cached(c, "b"), cached(c, "c"))
	}
	c = fill()
	c.Reset()
	if c.size() != 0 {
		t.Errorf("Reset left %d entries", c.size())
	}
}

func TestTokenCacheBounded(t *testing.T) {
	c := newTokenCache(3)
	for i := int64(1); i <= 10; i++ {
		d := string(rune('a' + i))
		_, gen := c.get(d)
		c.put(d, gen, cachedPrincipal(i, 1))
		if c.size() > 3 {
			t.Fatalf("%d entries after %d puts, bound 3", c.size(), i)
		}
	}
}
