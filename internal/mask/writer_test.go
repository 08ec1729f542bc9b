package mask

import (
	"bytes"
	"errors"
	"math/rand"
	"strings"
	"testing"
)

// TestHeldBack: a Writer forwards at once whatever no later byte can
// change, and holds only what a match in progress may still cover.
func TestHeldBack(t *testing.T) {
	r := Rules{
		Secrets:        []string{"supersecret", "aab12345"},
		Tokens:         []string{jobToken},
		Prefixes:       []string{"glpat-", "cwjob-"},
		URLCredentials: true,
		QueryParams:    []string{"token"},
	}
	m, err := Compile(r)
	if err != nil {
		t.Fatal(err)
	}
	// fromPatterns: the longest suffix that is a proper prefix of a
	// secret pattern, brute force.
	const fromPatterns = -1
	for _, c := range []struct {
		writes []string
		out    string // forwarded after the last write
		held   int
	}{
		{[]string{"a line without secrets\n"}, "a line without secrets\n", 0},
		{[]string{"2026-01-02T03:04:05Z 00O go build ./...\nok  \tpkg\t0.1s\n"}, "2026-01-02T03:04:05Z 00O go build ./...\nok  \tpkg\t0.1s\n", 0},
		{[]string{"log: supers"}, "log: ", 6},
		{[]string{"log: supers", "ecret!\n"}, "log: [MASKED]!\n", 0},
		{[]string{"xaaab1"}, "xa", 4},
		{[]string{"xaaab1", "2345 "}, "xa[MASKED] ", 0},
		{[]string{"token glpat-abc"}, "token glpat-[MASKED]", fromPatterns},
		{[]string{"?token=abc;"}, "?token=[MASKED]", fromPatterns},
		{[]string{"clone https://user:pa"}, "clone https://user:", 2},
		{[]string{"clone https://user:pa", "ss@host"}, "clone https://user:[MASKED]", 5},
		{[]string{"clone https://user:pa", "ss@host", "/x\n"}, "clone https://user:[MASKED]@host/x\n", 0},
		{[]string{"https://h:" + strings.Repeat("a", 3*MaxLookahead)}, "https://h:[MASKED]", fromPatterns},
		{[]string{"https://h:" + strings.Repeat("a", MaxLookahead)}, "https://h:", MaxLookahead},
		{[]string{jobToken[:30]}, "", 30},
		{[]string{"ends with a word"}, "", fromPatterns},
	} {
		var out bytes.Buffer
		w := m.NewWriter(&out)
		all := ""
		for _, s := range c.writes {
			if n, err := w.Write([]byte(s)); n != len(s) || err != nil {
				t.Fatalf("Write = %d, %v", n, err)
			}
			all += s
		}
		held := c.held
		if held == fromPatterns {
			held = longestPartial(r, all)
			if c.out == "" {
				c.out = all[:len(all)-held]
			}
		}
		if out.String() != c.out || w.Held() != held {
			t.Errorf("after %.60q: forwarded %.60q, held %d; want %.60q, %d", c.writes, out.String(), w.Held(), c.out, held)
		}
	}
}

// longestPartial is the longest suffix of s that is a proper prefix of a
// secret pattern of r.
func longestPartial(r Rules, s string) int {
	best := 0
	for _, p := range patterns(r) {
		if p.kind != kindSecret {
			continue
		}
		for n := len(p.s) - 1; n > best; n-- {
			if strings.HasSuffix(s, p.s[:n]) {
				best = n
				break
			}
		}
	}
	return best
}

// TestState: the state is small, survives a Masker compiled again from
// the same rules, and is rejected when damaged.
func TestState(t *testing.T) {
	r := propRules()
	m, err := Compile(r)
	if err != nil {
		t.Fatal(err)
	}
	w := m.NewWriter(&bytes.Buffer{})
	w.Write([]byte("a line without secrets\n"))
	if st := w.State(); len(st) > 8 {
		t.Errorf("state after a plain line is %d bytes", len(st))
	}

	// A state in the middle of everything: a partial token, a pending URL
	// password, a query name, a masked run.
	in := []byte("x glpat-abc https://u:" + jobToken + "@h?tok" + "en=v&to")
	want := m.Mask(append(append([]byte{}, in...), "ken=x rest"...))
	for k := 0; k <= len(in); k++ {
		var out bytes.Buffer
		w := m.NewWriter(&out)
		w.Write(in[:k])
		st := w.State()
		if len(st) > w.Held()+(w.Held()+7)/8+len(jobToken)+16 {
			t.Errorf("state of %d bytes for %d held", len(st), w.Held())
		}
		again, err := Compile(r)
		if err != nil {
			t.Fatal(err)
		}
		w2, err := again.Resume(st, &out)
		if err != nil {
			t.Fatalf("Resume at %d: %v", k, err)
		}
		w2.Write(in[k:])
		w2.Write([]byte("ken=x rest"))
		w2.Close()
		if !bytes.Equal(out.Bytes(), want) {
			t.Fatalf("resumed at %d with a new Masker:\n got %q\nwant %q", k, out.Bytes(), want)
		}
	}

	w = m.NewWriter(&bytes.Buffer{})
	w.Write(in)
	st := w.State()
	for k := 1; k < len(st); k++ {
		if _, err := m.Resume(st[:k], &bytes.Buffer{}); err == nil {
			t.Errorf("Resume accepted the state cut at %d of %d", k, len(st))
		}
	}
	for _, bad := range [][]byte{{9, 0, 0, 0, 0, 0}, {1, 4, 0, 0, 0, 0}, {1, 0, 3, 0, 0, 0}, {1, 0, 0, 4, 0, 0}, append(st, 0)} {
		if _, err := m.Resume(bad, &bytes.Buffer{}); err == nil {
			t.Errorf("Resume accepted %v", bad)
		}
	}
	rng := rand.New(rand.NewSource(7))
	for i := 0; i < 2000; i++ {
		b := make([]byte, rng.Intn(40))
		rng.Read(b)
		if len(b) > 0 {
			b[0] = stateVersion
		}
		if w, err := m.Resume(b, &bytes.Buffer{}); err == nil {
			w.Write([]byte("more text " + jobToken))
			w.Close()
		}
	}
}

func TestCloseAndErrors(t *testing.T) {
	m, err := Compile(Rules{Secrets: []string{"supersecret"}})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	w := m.NewWriter(&out)
	w.Write([]byte("end: supersec"))
	if err := w.Close(); err != nil || out.String() != "end: supersec" {
		t.Errorf("Close: %v, %q", err, out.String())
	}
	if w.State() != nil {
		t.Error("State after Close is not nil")
	}
	if _, err := w.Write([]byte("x")); !errors.Is(err, ErrClosed) {
		t.Errorf("Write after Close: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if w, err := m.Resume(nil, &out); err != nil || w.Held() != 0 {
		t.Errorf("Resume(nil) = %v", err)
	}

	boom := errors.New("disk full")
	fw := m.NewWriter(failWriter{boom})
	if _, err := fw.Write([]byte("text\n")); !errors.Is(err, boom) {
		t.Errorf("Write to a failing writer: %v", err)
	}
	if _, err := fw.Write([]byte("more\n")); !errors.Is(err, boom) {
		t.Errorf("Write after a failure: %v", err)
	}
	if err := fw.Close(); !errors.Is(err, boom) {
		t.Errorf("Close after a failure: %v", err)
	}
}

type failWriter struct{ err error }

func (f failWriter) Write([]byte) (int, error) { return 0, f.err }
