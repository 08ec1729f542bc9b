package ci

// CachedMaskers is how many compiled maskers t keeps, for the tests.
func (t *Traces) CachedMaskers() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.maskers)
}
