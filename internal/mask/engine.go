package mask

// URL rule modes.
const (
	urlIdle      = iota
	urlAuthority // after "://", no ':' yet: nothing can be masked so far
	urlPending   // after the first ':': held until an '@' proves a password
	urlOverflow  // a candidate outgrew MaxLookahead: mask to the end
)

// Query rule modes.
const (
	qIdle  = iota
	qName  // after a separator, reading a name
	qValue // after a listed name and '=': masking
)

// engine is the streaming state shared by Mask and Writer. Which bytes it
// masks depends on positions in the stream only; when it emits them
// depends on how the input was cut, and never changes what it emits.
type engine struct {
	m   *Masker
	s   int32 // automaton state
	pos int64 // input bytes read

	// held[hs:] are the last bytes read, not yet emitted because a match
	// may still cover them; bits says which of them are already masked.
	held []byte
	bits []bool
	hs   int

	prevMasked bool // the last byte emitted was masked: extend its run
	word       bool // inside a prefixed token word
	qMode      uint8
	qNode      int32
	urlMode    uint8
	pend       int64 // urlPending: first byte an '@' would mask

	// acStart, acEnd: the last run the automaton masked.
	acStart, acEnd int64

	out []byte
}

// write reads p. Where no match is in progress and the running rules (a
// prefixed word, a query value, a URL authority) would treat every byte
// alike, it skips ahead with the scanner and copies or masks the run
// whole; elsewhere it steps byte by byte.
func (e *engine) write(p []byte) {
	m := e.m
	i := 0
	for i < len(p) {
		if len(p)-i > 2 && e.qMode != qName && e.urlMode != urlPending {
			// A match in progress started at most depth bytes ago; at most
			// two, or the scanner must not judge from here.
			d := int(m.ac.nodes[e.s].depth)
			if d <= 2 && i >= d {
				mode := e.mode()
				var j int
				if mode == 0 {
					j = m.scan(p, i-d)
				} else {
					j = m.scanMode(p, i-d, i, &m.stop[mode])
				}
				if j >= i {
					// Nothing can start in p[i-d:j]: what is held cannot
					// be covered any more, the skipped run keeps the
					// running rules' verdict, and the automaton state at
					// j is as good as the root.
					e.release(len(e.held) - e.hs)
					if j > i {
						e.run(p[i:j], m.masks[mode])
						e.pos += int64(j - i)
					}
					e.s = 0
					i = j
				}
			}
		}
		e.step(p[i])
		i++
	}
}

func (e *engine) mode() int {
	mode := int(e.urlMode) << 2
	if e.word {
		mode |= 1
	}
	if e.qMode == qValue {
		mode |= 2
	}
	return mode
}

// step reads one byte: first the rules started by earlier bytes, then the
// automaton, whose matches end at this byte.
func (e *engine) step(c byte) {
	m := e.m
	k := m.class[c]
	masked := false

	if e.word {
		if k&clsWord != 0 {
			masked = true
		} else {
			e.word = false
		}
	}

	if m.hasQuery {
		switch e.qMode {
		case qIdle:
			if k&clsSep != 0 {
				e.qMode, e.qNode = qName, 0
			}
		case qName:
			switch {
			case k&clsSep != 0:
				e.qNode = 0
			case c == '=':
				if m.qTerm[e.qNode] {
					e.qMode = qValue
				} else {
					e.qMode = qIdle
				}
			default:
				lc := c
				if 'A' <= c && c <= 'Z' {
					lc += 'a' - 'A'
				}
				if e.qNode = m.query.child(e.qNode, lc); e.qNode < 0 {
					e.qMode, e.qNode = qIdle, 0
				}
			}
		case qValue:
			switch {
			case k&clsValue != 0:
				masked = true
			case c == '&':
				e.qMode, e.qNode = qName, 0
			default:
				e.qMode = qIdle
			}
		}
	}

	switch e.urlMode {
	case urlAuthority:
		if k&clsURLStop != 0 {
			e.urlMode = urlIdle
		} else if c == ':' {
			e.urlMode, e.pend = urlPending, e.pos+1
		}
	case urlPending:
		switch {
		case k&clsURLStop != 0:
			e.urlMode = urlIdle
		case c == '@':
			// userinfo runs to the last '@' of the authority, as in
			// net/url; this '@' is masked too if another one follows.
			e.markFrom(e.pend)
			e.pend = e.pos
		case e.pos+1-e.pend > MaxLookahead:
			e.markFrom(e.pend)
			masked = true
			e.urlMode = urlOverflow
		}
	case urlOverflow:
		if k&clsURLStop != 0 {
			e.urlMode = urlIdle
		} else {
			masked = true
		}
	}

	s := m.ac.next(e.s, c)
	e.s = s
	n := &m.ac.nodes[s]
	if sp := n.span; sp > 0 {
		masked = true
		// Overlapping matches (a token's windows) extend the run that
		// ended at the previous byte: only what lies before it is new.
		from := e.pos + 1 - int64(sp)
		if e.acEnd == e.pos {
			e.markRange(from, e.acStart)
			from = min(from, e.acStart)
		} else {
			e.markRange(from, e.pos)
		}
		e.acStart, e.acEnd = from, e.pos+1
	}
	if t := n.trig; t != 0 {
		if t&trigWord != 0 {
			e.word = true
		}
		if t&trigURL != 0 {
			e.urlMode = urlAuthority
		}
	}
	e.pos++

	keep := int(n.hold)
	if e.urlMode == urlPending {
		keep = max(keep, int(e.pos-e.pend))
	}
	live := len(e.held) - e.hs
	if live == 0 && keep == 0 {
		e.emit(c, masked)
		return
	}
	e.held = append(e.held, c)
	e.bits = append(e.bits, masked)
	if settled := live + 1 - keep; settled > 0 {
		e.release(settled)
	}
}

// markRange masks the held bytes at stream positions [from, to); the
// current byte, at e.pos, is not held yet.
func (e *engine) markRange(from, to int64) {
	base := e.pos - int64(len(e.held)-e.hs)
	lo := e.hs + int(max(from-base, 0))
	hi := e.hs + int(max(to-base, 0))
	for i := lo; i < hi && i < len(e.bits); i++ {
		e.bits[i] = true
	}
}

// markFrom masks the held bytes from stream position from on.
func (e *engine) markFrom(from int64) { e.markRange(from, e.pos) }

// release emits the first n held bytes.
func (e *engine) release(n int) {
	if n <= 0 {
		return
	}
	end := e.hs + n
	for i := e.hs; i < end; {
		if e.bits[i] {
			for i < end && e.bits[i] {
				i++
			}
			e.mask()
			continue
		}
		j := i
		for j < end && !e.bits[j] {
			j++
		}
		e.out = append(e.out, e.held[i:j]...)
		e.prevMasked = false
		i = j
	}
	e.hs = end
	switch {
	case e.hs == len(e.held):
		e.held, e.bits, e.hs = e.held[:0], e.bits[:0], 0
	case e.hs >= 4096 && 2*e.hs >= len(e.held):
		// Shift the live bytes down now and then, so that holding a long
		// partial match costs amortised O(1) per byte.
		n := copy(e.held, e.held[e.hs:])
		copy(e.bits, e.bits[e.hs:])
		e.held, e.bits, e.hs = e.held[:n], e.bits[:n], 0
	}
}

func (e *engine) mask() {
	if !e.prevMasked {
		e.out = append(e.out, Replacement...)
	}
	e.prevMasked = true
}

func (e *engine) emit(c byte, masked bool) {
	if masked {
		e.mask()
		return
	}
	e.out = append(e.out, c)
	e.prevMasked = false
}

// run emits bytes the scanner skipped, all masked or all not.
func (e *engine) run(b []byte, masked bool) {
	if masked {
		e.mask()
		return
	}
	e.out = append(e.out, b...)
	e.prevMasked = false
}

// finish ends the stream: nothing more can match, so everything held is
// emitted as it stands, and a URL candidate without '@' was no password.
func (e *engine) finish() {
	e.release(len(e.held) - e.hs)
	e.s, e.word, e.qMode, e.qNode, e.urlMode, e.pend = 0, false, qIdle, 0, urlIdle, 0
}
