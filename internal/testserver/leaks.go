package testserver

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/ciwarden/ciwarden/internal/auth"
)

// The leak check (security.md: no secret in logs or in clear at rest). One
// detector serves the in-process and the child-process harness, for logs,
// the data directory and the database alike. It looks for:
//
//   - every secret the test remembered (root's token, the tokens it made),
//     in clear, percent-encoded, and in base64 (standard and URL alphabet)
//     at each of the three alignments a secret can take inside a longer
//     encoded text;
//   - every token the server minted, which the test cannot all remember
//     (the built-in runner's job tokens never reach it): a token prefix
//     followed by token characters, in clear and in base64 at the three
//     alignments.

// tokenPrefixes are the prefixes of every token ciwarden mints, from the
// code's own list (the one runners are told to mask), next to the token
// formats in package auth.
var tokenPrefixes = auth.MaskPrefixes

// minTokenTail is how many token characters must follow a prefix for a
// match to count as a token: fewer than any minted token has (43 + 6),
// more than prose or a masked "cwjob-[MASKED]" ever shows.
const minTokenTail = 16

// minEncodedTail is the same bound for the base64 form of a token.
const minEncodedTail = minTokenTail * 4 / 3

// maskMarkers are what the server's logger writes in place of a secret it
// had to hide: the server's own log never needs masking, so either one in
// a log is a secret that reached a log call.
var maskMarkers = []string{"[MASKED]", "[REDACTED]"}

var (
	tokenChars  = charClass("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
	base64Chars = charClass("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_")
)

func charClass(s string) *[256]bool {
	var c [256]bool
	for i := range len(s) {
		c[s[i]] = true
	}
	return &c
}

// needle is one byte string to look for. A needle with a tail class is a
// prefix: it matches only when at least tail characters of that class
// follow it.
type needle struct {
	b    []byte
	what string
	tail int
	of   *[256]bool
}

// detector finds needles in bytes in one pass: needles are indexed by
// their first four bytes, and a small bitmap of those keys rules out
// almost every position at the cost of one load.
type detector struct {
	byKey map[uint32][]*needle
	bits  [1 << 16 / 64]uint64
}

// finding is one needle found somewhere.
type finding struct {
	what   string     // which secret or token, and in which form
	where  string     // a file and offset, a log line, a table and column
	file   string     // the file, when it is one
	column string     // table.column, when it is one
	known  *KnownLeak // the known leak it is, if any
}

func (f finding) String() string { return f.what + " in " + f.where }

// key identifies a finding for removing duplicates.
func (f finding) key() string { return f.what + "\x00" + f.where }

func key4(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

func bitOf(k uint32) uint32 { return (k * 0x9E3779B1) >> 16 }

func newDetector(secrets []string) *detector {
	d := &detector{byKey: map[uint32][]*needle{}}
	add := func(n *needle) {
		if len(n.b) < 4 {
			return // too short to tell from noise; no secret is this short
		}
		k := key4(n.b)
		d.byKey[k] = append(d.byKey[k], n)
		b := bitOf(k)
		d.bits[b/64] |= 1 << (b % 64)
	}
	seen := map[string]bool{}
	for _, s := range secrets {
		if s == "" || seen[s] {
			continue
		}
		seen[s] = true
		name := shortSecret(s)
		add(&needle{b: []byte(s), what: "the secret " + name})
		for _, enc := range []string{url.QueryEscape(s), url.PathEscape(s)} {
			if enc != s {
				add(&needle{b: []byte(enc), what: "the secret " + name + ", percent-encoded"})
			}
		}
		for a, frag := range base64Fragments(s) {
			for _, f := range frag {
				add(&needle{b: []byte(f), what: fmt.Sprintf("the secret %s in base64 (alignment %d)", name, a)})
			}
		}
	}
	for _, p := range tokenPrefixes {
		add(&needle{b: []byte(p), what: "a token " + p + "…", tail: minTokenTail, of: tokenChars})
		for a, frag := range base64Fragments(p) {
			for _, f := range frag {
				add(&needle{b: []byte(f), what: fmt.Sprintf("a token %s… in base64 (alignment %d)", p, a),
					tail: minEncodedTail, of: base64Chars})
			}
		}
	}
	return d
}

// shortSecret names a secret in a failure message without disclosing it.
func shortSecret(s string) string {
	for _, p := range tokenPrefixes {
		if strings.HasPrefix(s, p) && len(s) > len(p)+4 {
			return s[:len(p)+4] + "…"
		}
	}
	if len(s) > 8 {
		return s[:4] + "…"
	}
	return "(short)"
}

// base64Fragments returns, for each alignment a (the count of bytes
// before s in its 3-byte group, mod 3), the base64 characters that
// depend on the bytes of s alone, in the standard and the URL alphabet.
// Whatever surrounds s, its encoding contains one of these.
func base64Fragments(s string) [3][]string {
	var out [3][]string
	for a := range 3 {
		buf := make([]byte, a+len(s))
		copy(buf[a:], s)
		enc := base64.StdEncoding.EncodeToString(buf)
		// Character k encodes bits [6k, 6k+6); s holds bits [8a, 8a+8n).
		from := (8*a + 5) / 6
		to := (8*a + 8*len(s)) / 6
		if to <= from {
			continue
		}
		frag := enc[from:to]
		out[a] = append(out[a], frag)
		if u := strings.NewReplacer("+", "-", "/", "_").Replace(frag); u != frag {
			out[a] = append(out[a], u)
		}
	}
	return out
}

// describe names a find: a clear token by its prefix and first
// characters, so that two tokens found in different places can be told
// apart without disclosing either.
func (n *needle) describe(data []byte, off int) string {
	if n.of != tokenChars {
		return n.what
	}
	end := off + len(n.b) + 4
	return "a token " + string(data[off:end]) + "…"
}

// surroundings shows what surrounds a find, to tell where it sits (a JSON
// field, a URL, a log attribute) without disclosing any secret: the find
// itself and every run of eight or more token characters become "…".
func surroundings(data []byte, off int, n *needle) string {
	from, to := max(off-40, 0), min(off+len(n.b)+40, len(data))
	end := off + len(n.b)
	for end < len(data) && (tokenChars[data[end]] || base64Chars[data[end]]) {
		end++
	}
	text := string(data[from:off]) + "«found»" + string(data[min(end, to):to])
	return fmt.Sprintf("%q", longWord.ReplaceAllString(text, "…"))
}

var longWord = regexp.MustCompile(`[A-Za-z0-9+/_-]{8,}`)

// scan calls found for every needle in data, with its offset.
func (d *detector) scan(data []byte, found func(off int, n *needle)) {
	for i := 0; i+4 <= len(data); i++ {
		k := key4(data[i:])
		b := bitOf(k)
		if d.bits[b/64]&(1<<(b%64)) == 0 {
			continue
		}
		for _, n := range d.byKey[k] {
			if !bytes.HasPrefix(data[i:], n.b) {
				continue
			}
			if n.tail > 0 {
				j := i + len(n.b)
				for j < len(data) && j-i-len(n.b) < n.tail && n.of[data[j]] {
					j++
				}
				if j-i-len(n.b) < n.tail {
					continue
				}
			}
			found(i, n)
		}
	}
}

// findings scans data and names each find with where(offset).
func (d *detector) findings(data []byte, where func(off int) string) []finding {
	var out []finding
	d.scan(data, func(off int, n *needle) {
		out = append(out, finding{what: n.describe(data, off), where: where(off) + ", near " + surroundings(data, off, n)})
	})
	return out
}

// scanLog checks a server log: secrets and tokens, and the masking
// markers when marks is set (the log operators see).
func (d *detector) scanLog(name string, log []byte, marks bool) []finding {
	line := func(off int) string {
		return fmt.Sprintf("%s line %d", name, bytes.Count(log[:off], []byte("\n"))+1)
	}
	out := d.findings(log, line)
	if marks {
		for _, m := range maskMarkers {
			for off := 0; ; {
				i := bytes.Index(log[off:], []byte(m))
				if i < 0 {
					break
				}
				out = append(out, finding{what: m + " (the logger had to hide a secret that was logged)", where: line(off + i)})
				off += i + len(m)
			}
		}
	}
	return out
}
