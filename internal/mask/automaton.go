package mask

import (
	"encoding/binary"
	"math/bits"
	"slices"
	"strings"
	"sync"
)

// trie is a flattened byte trie; node 0 is the root. Node s's children are
// label/to[start[s]:start[s+1]], sorted by label.
type trie struct {
	start  []int32
	label  []byte
	to     []int32
	parent []int32
	in     []byte // the byte on the edge into each node
}

func (t *trie) child(s int32, c byte) int32 { return t.search(t.start[s], t.start[s+1], c) }

// search finds label c among the edges lo..hi; -1 if absent.
func (t *trie) search(lo, hi int32, c byte) int32 {
	if hi-lo > 8 {
		end := hi
		for lo < hi {
			mid := int32(uint32(lo+hi) >> 1)
			if t.label[mid] < c {
				lo = mid + 1
			} else {
				hi = mid
			}
		}
		if lo < end && t.label[lo] == c {
			return t.to[lo]
		}
		return -1
	}
	for i := lo; i < hi; i++ {
		if t.label[i] == c {
			return t.to[i]
		}
	}
	return -1
}

// path returns the bytes from the root to s.
func (t *trie) path(s int32) []byte {
	var b []byte
	for ; s != 0; s = t.parent[s] {
		b = append(b, t.in[s])
	}
	slices.Reverse(b)
	return b
}

// walk follows b from the root without failure links; -1 if it leaves
// the trie.
func (t *trie) walk(b []byte) int32 {
	s := int32(0)
	for _, c := range b {
		if s = t.child(s, c); s < 0 {
			return -1
		}
	}
	return s
}

// trieBuilder grows a trie, then flattens it. Each state's children are a
// linked list through edges, so that building allocates little.
type trieBuilder struct {
	root   [256]int32 // the root's children, 0 if none: the root has many
	head   []int32    // first edge of each state, -1 if none
	kids   []int32    // number of children
	edges  []edge
	parent []int32
	in     []byte
}

type edge struct {
	c    byte
	to   int32
	next int32 // the state's next edge, -1 at the end
}

// newTrieBuilder expects about size states.
func newTrieBuilder(size int) *trieBuilder {
	b := &trieBuilder{
		head:   make([]int32, 1, size),
		kids:   make([]int32, 1, size),
		edges:  make([]edge, 0, size),
		parent: make([]int32, 1, size),
		in:     make([]byte, 1, size),
	}
	b.head[0] = -1
	return b
}

func (b *trieBuilder) child(s int32, c byte) int32 {
	if s == 0 {
		if t := b.root[c]; t != 0 {
			return t
		}
		return -1
	}
	for i := b.head[s]; i >= 0; i = b.edges[i].next {
		if b.edges[i].c == c {
			return b.edges[i].to
		}
	}
	return -1
}

func (b *trieBuilder) next(s int32, c byte) int32 {
	if t := b.child(s, c); t >= 0 {
		return t
	}
	t := int32(len(b.head))
	b.edges = append(b.edges, edge{c: c, to: t, next: b.head[s]})
	b.head[s] = int32(len(b.edges) - 1)
	b.kids[s]++
	if s == 0 {
		b.root[c] = t
	}
	b.head = append(b.head, -1)
	b.kids = append(b.kids, 0)
	b.parent = append(b.parent, s)
	b.in = append(b.in, c)
	return t
}

func (b *trieBuilder) flatten() trie {
	n := len(b.head)
	t := trie{
		start:  make([]int32, n+1),
		label:  make([]byte, 0, len(b.edges)),
		to:     make([]int32, 0, len(b.edges)),
		parent: b.parent,
		in:     b.in,
	}
	for s := 0; s < n; s++ {
		lo := len(t.label)
		t.start[s] = int32(lo)
		for i := b.head[s]; i >= 0; i = b.edges[i].next {
			t.label = append(t.label, b.edges[i].c)
			t.to = append(t.to, b.edges[i].to)
		}
		// Sort this state's few children by label (insertion sort).
		for i := lo + 1; i < len(t.label); i++ {
			for j := i; j > lo && t.label[j-1] > t.label[j]; j-- {
				t.label[j-1], t.label[j] = t.label[j], t.label[j-1]
				t.to[j-1], t.to[j] = t.to[j], t.to[j-1]
			}
		}
	}
	t.start[n] = int32(len(t.label))
	return t
}

func buildTrie(words []string) (trie, []bool) {
	b := newTrieBuilder(64)
	var ends []int32
	for _, w := range words {
		s := int32(0)
		for i := 0; i < len(w); i++ {
			s = b.next(s, w[i])
		}
		ends = append(ends, s)
	}
	term := make([]bool, len(b.head))
	for _, s := range ends {
		term[s] = true
	}
	return b.flatten(), term
}

// Triggers carried by automaton states.
const (
	trigWord = 1 << iota // a token prefix just ended: mask the word after it
	trigURL              // "://" just ended: a URL authority follows
)

// automaton is an Aho–Corasick automaton over bytes. Failure links give the
// proper fallback that a restart-on-mismatch matcher lacks: after "xaaab"
// the state is still "aab", so "aab12345" is found. Per state it keeps the
// union of everything that ends there (span, trig) and how many of the
// bytes just read could still become masked (hold).
type automaton struct {
	nodes []acNode
	edges trie // children, and the way back to the root for State
	// Shallow states with many children (the root among them) are
	// visited most and searched slowest: they get a full row of
	// transitions, failure links already followed.
	rows [][256]int32
}

// acNode holds what a step reads, in one cache line.
type acNode struct {
	row   int32 // index into rows, or -1
	fail  int32
	lo    int32 // children: edges.label/to[lo:hi]
	hi    int32
	span  int32 // mask the last span bytes: the longest match ending here
	hold  int32 // hold back the last hold bytes: a longer match may cover them
	depth int32
	trig  uint8
}

func buildAutomaton(ps []pattern) automaton {
	size := 1
	for _, p := range ps {
		size += len(p.s)
	}
	b := newTrieBuilder(size)
	nodes := make([]acNode, 1, size)
	nodes[0].row = -1
	grow := func() {
		for len(nodes) < len(b.head) {
			nodes = append(nodes, acNode{row: -1})
		}
	}
	for _, p := range ps {
		s := int32(0)
		for i := 0; i < len(p.s); i++ {
			s = b.next(s, p.s[i])
			grow()
			nodes[s].depth = int32(i + 1)
			// A partial match may still become p: hold it back.
			if p.kind == kindSecret && i+1 < len(p.s) {
				nodes[s].hold = max(nodes[s].hold, int32(i+1))
			}
		}
		switch p.kind {
		case kindSecret:
			nodes[s].span = max(nodes[s].span, int32(len(p.s)))
		case kindPrefix:
			nodes[s].trig |= trigWord
		case kindURL:
			nodes[s].trig |= trigURL
		}
	}

	// Breadth-first, so that each state's failure target, being
	// shallower, is complete before the state inherits from it or a row
	// is filled from it.
	order := bfs(b)
	for _, u := range order {
		if f := nodes[u].fail; f != 0 {
			nodes[u].span = max(nodes[u].span, nodes[f].span)
			nodes[u].hold = max(nodes[u].hold, nodes[f].hold)
			nodes[u].trig |= nodes[f].trig
		}
		for i := b.head[u]; i >= 0; i = b.edges[i].next {
			e := b.edges[i]
			f := nodes[u].fail
			for u != 0 && f != 0 && b.child(f, e.c) < 0 {
				f = nodes[f].fail
			}
			if t := b.child(f, e.c); t >= 0 && t != e.to {
				nodes[e.to].fail = t
			}
		}
	}
	a := automaton{nodes: nodes, edges: b.flatten()}
	for s := range a.nodes {
		a.nodes[s].lo, a.nodes[s].hi = a.edges.start[s], a.edges.start[s+1]
	}
	for _, u := range order {
		if u != 0 && b.kids[u] <= 8 {
			continue
		}
		// Where u has no child, it goes where its failure target goes.
		var r [256]int32
		if f := a.nodes[u].fail; u == 0 {
		} else if fr := a.nodes[f].row; fr >= 0 {
			r = a.rows[fr]
		} else {
			for c := range r {
				r[c] = a.next(f, byte(c))
			}
		}
		for i := b.head[u]; i >= 0; i = b.edges[i].next {
			r[b.edges[i].c] = b.edges[i].to
		}
		a.nodes[u].row = int32(len(a.rows))
		a.rows = append(a.rows, r)
	}
	return a
}

// bfs lists the states breadth-first, the root first.
func bfs(b *trieBuilder) []int32 {
	order := make([]int32, 1, len(b.head))
	for i := 0; i < len(order); i++ {
		for j := b.head[order[i]]; j >= 0; j = b.edges[j].next {
			order = append(order, b.edges[j].to)
		}
	}
	return order
}

// next is the transition function.
func (a *automaton) next(s int32, c byte) int32 {
	for {
		n := &a.nodes[s]
		if n.row >= 0 {
			return a.rows[n.row][c]
		}
		if t := a.edges.search(n.lo, n.hi, c); t >= 0 {
			return t
		}
		s = n.fail
	}
}

// triHash gives a trigger's first three bytes two bit positions in the
// tri filter (a Bloom filter): with one, a common trigram of log text that
// shared its bit with a trigger stopped the scanner wherever it occurred.
func triHash(a, b, c byte) (h1, h2 uint32) {
	x := (uint64(a) | uint64(b)<<8 | uint64(c)<<16) * 0x9E3779B97F4A7C15
	return uint32(x >> 48), uint32(x>>32) & 0xffff
}

func (m *Masker) triHas(h uint32) bool { return m.tri[h>>6]&(1<<(h&63)) != 0 }

// maxOffset is the furthest into a trigger the scanner samples: the pair
// it watches starts at offset -1 (any byte, then the trigger's first) up to
// maxOffset, so pairs[...] bit d+1 means "a trigger starts d bytes before".
const maxOffset = 5

// A trigger is what the scanner must not skip: the beginning (up to 8
// bytes) of an automaton pattern or of a query parameter, as one set of
// one or two bytes (two for a letter in either case) per position.
type trigger struct {
	n    int
	set  [maxOffset + 3][2]byte
	size [maxOffset + 3]uint8
}

func (t *trigger) add(b ...byte) {
	t.size[t.n] = uint8(copy(t.set[t.n][:], b))
	t.n++
}

func (t *trigger) at(i int) []byte { return t.set[i][:t.size[i]] }

// triggers lists what the scanner must not skip for the patterns ps and
// the query parameter names: each pattern's head (its first bytes) once,
// and each name after each separator.
func triggers(ps []pattern, names []string) []trigger {
	var ts []trigger
	seen := map[string]bool{}
	for _, p := range ps {
		head := p.s[:min(len(p.s), maxOffset+3)]
		if seen[head] {
			continue
		}
		seen[head] = true
		var t trigger
		for i := 0; i < len(head); i++ {
			t.add(head[i])
		}
		ts = append(ts, t)
	}
	for _, q := range names {
		for _, sep := range []byte("?&;") {
			var t trigger
			t.add(sep)
			for i := 0; i < len(q) && t.n < maxOffset+3; i++ {
				t.add(cases(q[i])...)
			}
			if t.n == len(q)+1 && t.n < maxOffset+3 {
				t.add('=') // the whole name fits: '=' too
			}
			ts = append(ts, t)
		}
	}
	return ts
}

// filterWeights are how costly each byte pair is to watch: how often log
// text has it. They depend on nothing but the estimates below.
var filterWeights = sync.OnceValue(func() *weights {
	w := &weights{freq: logByteFreq(), common: commonPairs()}
	for b := 0; b < 256; b++ {
		for a := 0; a < 256; a++ {
			w.before[b] += w.weight(byte(a), byte(b))
		}
	}
	return w
})

type weights struct {
	freq   [256]float64
	common *[1024]uint64
	// before[b] is the cost of the pairs (any byte, b).
	before [256]float64
}

func (w *weights) weight(a, b byte) float64 {
	i := uint16(a) | uint16(b)<<8
	if w.common[i>>6]&(1<<(i&63)) != 0 {
		return 8 * w.freq[a] * w.freq[b]
	}
	return w.freq[a] * w.freq[b]
}

// addTriggers adds triggers to the scanner's filters: each one's first
// three bytes in tri, and two adjacent byte pairs in pairs, chosen where
// log text is least likely to have them. The scanner looks at every second
// position only, and one of two adjacent pairs always falls on one. What a
// trigger adds depends on it alone, so the filters of a rule set are the
// union of those of its parts, in any order.
func (m *Masker) addTriggers(ts []trigger) {
	w := filterWeights()
	cost := func(t *trigger, d int) float64 {
		var sum float64
		for _, b := range t.at(d + 1) {
			if d < 0 {
				sum += w.before[b]
				continue
			}
			for _, a := range t.at(d) {
				sum += w.weight(a, b)
			}
		}
		return sum
	}
	pair := func(a, b byte, d int) { m.pairs[uint16(a)|uint16(b)<<8] |= 1 << (d + 1) }
	for i := range ts {
		t := &ts[i]
		best, bestCost := -1, cost(t, -1)+cost(t, 0)
		for o := 0; o <= min(maxOffset, t.n-3); o++ {
			if c := cost(t, o) + cost(t, o+1); c < bestCost {
				best, bestCost = o, c
			}
		}
		for d := best; d <= best+1; d++ {
			for _, b := range t.at(d + 1) {
				if d < 0 {
					for a := 0; a < 256; a++ {
						pair(byte(a), b, d)
					}
					continue
				}
				for _, a := range t.at(d) {
					pair(a, b, d)
				}
			}
		}
		for _, a := range t.at(0) {
			for _, b := range t.at(1) {
				for _, c := range t.at(2) {
					h1, h2 := triHash(a, b, c)
					m.tri[h1>>6] |= 1 << (h1 & 63)
					m.tri[h2>>6] |= 1 << (h2 & 63)
				}
			}
		}
	}
}

// commonPairs marks byte pairs that log text has far more often than its
// bytes' frequencies suggest: frequent English bigrams and the digit-'T'
// and digit-'Z' of RFC 3339 timestamps.
func commonPairs() *[1024]uint64 {
	var set [1024]uint64
	add := func(a, b byte) {
		i := uint16(a) | uint16(b)<<8
		set[i>>6] |= 1 << (i & 63)
	}
	for _, p := range strings.Fields(`th he in er an re on at en nd ti es or te of ed is
		it al ar st to nt ng se ha as ou io le ve co me de hi ri ro ic ne ea ra ce li
		ch ll be ma si om ur ca el ta la ns ge ag di ac il lo ol et ut pe ct us ec
		ad ly ow ke ck pa rt mo ss im ai ir ie un id ia ab ue ot gi ok gl`) {
		add(p[0], p[1])
	}
	for d := byte('0'); d <= '9'; d++ {
		add(d, 'T')
		add(d, 'Z')
	}
	return &set
}

// logByteFreq estimates how common each byte is in CI job logs: English
// words, paths, timestamps. It only steers which pairs the scanner
// watches, so rough figures do.
func logByteFreq() [256]float64 {
	var f [256]float64
	for c := range f {
		f[c] = 0.01
	}
	for i, c := range []byte("etaoinsrhldcumpfgbywvkxjzq") {
		f[c] = 10 - 0.35*float64(i)
	}
	for c := 'A'; c <= 'Z'; c++ {
		f[c] = 0.4
	}
	for c := '0'; c <= '9'; c++ {
		f[c] = 2.5
	}
	for c, w := range map[byte]float64{
		' ': 15, '\n': 3, '.': 2.5, '/': 2.5, '-': 2, ':': 2, '_': 1, '=': 0.5,
		',': 0.6, '"': 0.5, '\'': 0.3, '(': 0.3, ')': 0.3, '[': 0.2, ']': 0.2,
		'\t': 0.3, '@': 0.1, '+': 0.1, '%': 0.1, '&': 0.05, '?': 0.05,
		';': 0.1, '#': 0.1, '*': 0.1, '<': 0.05, '>': 0.1, '$': 0.1,
		'{': 0.1, '}': 0.1, '|': 0.05, '!': 0.05, '\r': 0.1,
	} {
		f[c] = w
	}
	return f
}

func cases(c byte) []byte {
	switch {
	case 'a' <= c && c <= 'z':
		return []byte{c, c - 'a' + 'A'}
	case 'A' <= c && c <= 'Z':
		return []byte{c, c - 'A' + 'a'}
	}
	return []byte{c}
}

// modeTables precomputes, for every combination of running rules the
// scanner can skip through, which bytes end the skip and whether the
// skipped bytes are masked.
func modeTables() (stop [16][256]bool, masks [16]bool) {
	for mode := 0; mode < 16; mode++ {
		word, value, url := mode&1 != 0, mode&2 != 0, mode>>2
		for c := 0; c < 256; c++ {
			k := classes[c]
			stop[mode][c] = word && k&clsWord == 0 ||
				value && k&clsValue == 0 ||
				url == urlAuthority && (k&clsURLStop != 0 || c == ':') ||
				url == urlOverflow && k&clsURLStop != 0
		}
		masks[mode] = word || value || url == urlOverflow
	}
	return stop, masks
}

// starts reports whether a trigger may start at p[s] (p[s+2] must exist).
func (m *Masker) starts(p []byte, s int) bool {
	h1, h2 := triHash(p[s], p[s+1], p[s+2])
	return m.triHas(h1) && m.triHas(h2)
}

// scan returns the first s >= from at which a trigger may start or, if
// none may, the first position it could not judge near the end of p. It
// reads pairs at every second position, eight bytes at a time.
func (m *Masker) scan(p []byte, from int) int {
	t := &m.pairs
	best := len(p)
	k := from
	// A trigger at s shows at s+maxOffset+1 at the latest: once a
	// candidate is found, look that far past it for an earlier one.
	for ; k+10 <= len(p) && k <= best+maxOffset+1; k += 8 {
		w := binary.LittleEndian.Uint64(p[k:])
		f0, f1, f2, f3 := t[uint16(w)], t[uint16(w>>16)], t[uint16(w>>32)], t[uint16(w>>48)]
		if f0|f1|f2|f3 == 0 {
			continue
		}
		if f0 != 0 {
			best = min(best, m.check(p, from, k, f0))
		}
		if f1 != 0 {
			best = min(best, m.check(p, from, k+2, f1))
		}
		if f2 != 0 {
			best = min(best, m.check(p, from, k+4, f2))
		}
		if f3 != 0 {
			best = min(best, m.check(p, from, k+6, f3))
		}
	}
	for ; k+3 < len(p) && k <= best+maxOffset+1; k += 2 {
		if f := t[uint16(p[k])|uint16(p[k+1])<<8]; f != 0 {
			best = min(best, m.check(p, from, k, f))
		}
	}
	return min(best, max(from, k-maxOffset-2))
}

// scanMode is scan while rules run, byte by byte: it also stops at a byte
// in stop, from i on (earlier bytes were already read).
func (m *Masker) scanMode(p []byte, from, i int, stop *[256]bool) int {
	best := len(p)
	k := from
	for k+3 < len(p) && k <= best+maxOffset+1 {
		if k >= i && k < best && stop[p[k]] {
			best = k
		}
		if f := m.pairs[uint16(p[k])|uint16(p[k+1])<<8]; f != 0 {
			best = min(best, m.check(p, from, k, f))
		}
		k++
	}
	return min(best, max(from, k-maxOffset-2))
}

// check returns the earliest start s >= from that f, the flags of the pair
// at k, suggests and the 3-byte filter admits, or len(p). p[k+3] must
// exist.
func (m *Masker) check(p []byte, from, k int, f uint8) int {
	best := len(p)
	for ; f != 0; f &= f - 1 {
		s := k + 1 - bits.TrailingZeros8(f)
		if s >= from && s < best && m.starts(p, s) {
			best = s
		}
	}
	return best
}
