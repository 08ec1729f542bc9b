package mask

import (
	"encoding/binary"
	"errors"
	"io"
)

// blockSize bounds the output buffered per underlying Write, so that a
// large Write does not double its size in memory.
const blockSize = 64 << 10

// ErrClosed is returned by Write after Close.
var ErrClosed = errors.New("mask: write after close")

// Writer masks a stream. Each Write forwards, in one call to the
// underlying writer when it is small, everything that no later byte can
// change; it holds back only bytes a match in progress may still cover:
// the end of a partial secret, or a URL password that awaits its '@'
// (at most MaxLookahead bytes). Close emits the rest.
//
// A Writer is not safe for concurrent use.
type Writer struct {
	e      engine
	w      io.Writer
	err    error
	closed bool
}

// NewWriter returns a Writer that writes the masked stream to w.
func (m *Masker) NewWriter(w io.Writer) *Writer {
	return &Writer{e: engine{m: m}, w: w}
}

// Write masks p and forwards what is settled. It returns len(p) unless
// the underlying writer failed; after a failure every call returns that
// error.
func (w *Writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if w.closed {
		return 0, ErrClosed
	}
	n := 0
	for n < len(p) {
		k := min(len(p)-n, blockSize)
		w.e.write(p[n : n+k])
		if err := w.forward(); err != nil {
			return n, err
		}
		n += k
	}
	return n, nil
}

func (w *Writer) forward() error {
	if len(w.e.out) == 0 {
		return nil
	}
	_, err := w.w.Write(w.e.out)
	w.e.out = w.e.out[:0]
	if err != nil {
		w.err = err
	}
	return err
}

// Close ends the stream: it emits what is held, masked as far as the
// stream proved it must be. It does not close the underlying writer.
func (w *Writer) Close() error {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return nil
	}
	w.closed = true
	w.e.finish()
	return w.forward()
}

// Held returns how many input bytes are held back.
func (w *Writer) Held() int { return len(w.e.held) - w.e.hs }

// State returns what a later Resume needs to continue this stream, so that
// a server can mask a log one HTTP request at a time. It is small: the
// held bytes (bounded by the longest secret pattern or MaxLookahead), one
// bit per held byte, the partial match (bounded by the longest pattern)
// and a few flags. It contains the unmasked beginning of a possible
// secret, so store it like the secrets themselves and never log it.
//
// The partial match is recorded as bytes rather than as a state number,
// so a state survives a rebuilt Masker (a restarted or upgraded server).
// After Close, State returns nil: a new stream starts from nothing.
func (w *Writer) State() []byte {
	if w.closed {
		return nil
	}
	e := &w.e
	b := []byte{stateVersion, e.urlMode, e.qMode, 0}
	if e.prevMasked {
		b[3] |= 1
	}
	if e.word {
		b[3] |= 2
	}
	b = appendBytes(b, e.m.ac.edges.path(e.s))
	if e.qMode == qName {
		b = appendBytes(b, e.m.query.path(e.qNode))
	}
	if e.urlMode == urlPending {
		b = binary.AppendUvarint(b, uint64(e.pos-e.pend))
	}
	held := e.held[e.hs:]
	b = appendBytes(b, held)
	bits := make([]byte, (len(held)+7)/8)
	for i, m := range e.bits[e.hs:] {
		if m {
			bits[i/8] |= 1 << (i % 8)
		}
	}
	return append(b, bits...)
}

const stateVersion = 1

var errBadState = errors.New("mask: invalid writer state")

// Resume returns a Writer that continues the stream whose State was saved,
// writing to w. An empty state starts a new stream. Writing chunk1, saving
// State, resuming and writing chunk2 gives the same output as writing both
// to one Writer.
func (m *Masker) Resume(state []byte, w io.Writer) (*Writer, error) {
	mw := m.NewWriter(w)
	if len(state) == 0 {
		return mw, nil
	}
	if len(state) < 4 || state[0] != stateVersion || state[1] > urlOverflow || state[2] > qValue || state[3] > 3 {
		return nil, errBadState
	}
	e := &mw.e
	e.urlMode, e.qMode = state[1], state[2]
	e.prevMasked, e.word = state[3]&1 != 0, state[3]&2 != 0
	r := state[4:]

	match, r, ok := readBytes(r)
	if !ok {
		return nil, errBadState
	}
	// Replaying the partial match from the root reaches the state that
	// had read it, since a state is the longest suffix of the input that
	// is in the trie.
	for _, c := range match {
		e.s = m.ac.next(e.s, c)
	}
	if e.qMode == qName {
		var name []byte
		if name, r, ok = readBytes(r); !ok {
			return nil, errBadState
		}
		if e.qNode = m.query.walk(name); e.qNode < 0 {
			e.qMode, e.qNode = qIdle, 0
		}
	}
	var dist uint64
	if e.urlMode == urlPending {
		var n int
		if dist, n = binary.Uvarint(r); n <= 0 {
			return nil, errBadState
		}
		r = r[n:]
	}
	held, r, ok := readBytes(r)
	if !ok || len(r) != (len(held)+7)/8 || dist > uint64(len(held)) {
		return nil, errBadState
	}
	e.held = append([]byte(nil), held...)
	e.bits = make([]bool, len(held))
	for i := range e.bits {
		e.bits[i] = r[i/8]&(1<<(i%8)) != 0
	}
	// Positions only matter relative to each other: start the count at
	// the held bytes.
	e.pos = int64(len(held))
	e.pend = e.pos - int64(dist)
	return mw, nil
}

func appendBytes(b, p []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(p)))
	return append(b, p...)
}

func readBytes(r []byte) (p, rest []byte, ok bool) {
	n, k := binary.Uvarint(r)
	if k <= 0 || n > uint64(len(r)-k) {
		return nil, nil, false
	}
	return r[k : k+int(n)], r[k+int(n):], true
}
