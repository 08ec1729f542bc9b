package mask

import (
	"bytes"
	"strings"
)

// reference masks b straight from the definitions, with nothing shared
// with the Masker but the derivation of patterns: every occurrence found
// by bytes.Index, every rule applied by a plain loop over the whole input,
// its own character classes. The streaming engine must agree with it.
func reference(r Rules, b []byte) []byte {
	masked := make([]bool, len(b))
	mark := func(from, to int) {
		for i := from; i < to; i++ {
			masked[i] = true
		}
	}
	for _, p := range patterns(r) {
		for i := 0; ; {
			j := bytes.Index(b[i:], []byte(p.s))
			if j < 0 {
				break
			}
			at := i + j
			end := at + len(p.s)
			switch p.kind {
			case kindSecret:
				mark(at, end)
			case kindPrefix:
				for end < len(b) && refWord(b[end]) {
					masked[end] = true
					end++
				}
			case kindURL:
				refURL(b, end, mark)
			}
			i = at + 1
		}
	}
	for k, c := range b {
		if c != '?' && c != '&' && c != ';' {
			continue
		}
		for _, q := range r.QueryParams {
			v := k + 1 + len(q)
			if v < len(b) && refFold(b[k+1:v], q) && b[v] == '=' {
				for v++; v < len(b) && refValue(b[v]); v++ {
					masked[v] = true
				}
			}
		}
	}
	var out []byte
	for i, c := range b {
		switch {
		case !masked[i]:
			out = append(out, c)
		case i == 0 || !masked[i-1]:
			out = append(out, Replacement...)
		}
	}
	return out
}

// refURL masks the password of the authority that starts at a: from
// after its first ':' to its last '@'; a candidate longer than
// MaxLookahead is masked to the end of the authority.
func refURL(b []byte, a int, mark func(from, to int)) {
	colon, pend := -1, 0
	for j := a; j < len(b) && !refURLStop(b[j]); j++ {
		switch {
		case colon < 0:
			if b[j] == ':' {
				colon, pend = j, j+1
			}
		case b[j] == '@':
			mark(pend, j)
			pend = j
		case j+1-pend > MaxLookahead:
			end := j
			for end < len(b) && !refURLStop(b[end]) {
				end++
			}
			mark(pend, end)
			return
		}
	}
}

func refWord(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '.' || c == '_' || c == '=' || c == '-'
}

func refValue(c byte) bool {
	return c > ' ' && c != 0x7f && !strings.ContainsRune("&#\"'<>`()[]{}", rune(c))
}

func refURLStop(c byte) bool {
	return c <= ' ' || c == 0x7f || strings.ContainsRune("/?#\\\"'<>`", rune(c))
}

func refFold(b []byte, q string) bool {
	lower := func(c byte) byte {
		if 'A' <= c && c <= 'Z' {
			return c + 'a' - 'A'
		}
		return c
	}
	for i := range b {
		if lower(b[i]) != lower(q[i]) {
			return false
		}
	}
	return true
}
