package config

import (
	"strings"
	"unicode/utf8"
)

// maxBraceAlternatives bounds {a,b} expansion: nested braces multiply.
const maxBraceAlternatives = 1024

// Match reports whether a repository path matches a rules:changes or
// rules:exists pattern, with the semantics GitLab gets from Ruby's
// File.fnmatch with FNM_PATHNAME, FNM_DOTMATCH and FNM_EXTGLOB:
//
//   - "*" matches any run of characters except "/", "?" any one character
//     except "/", and "[...]" a character class ("[!...]" or "[^...]"
//     negated); none of them treat a leading dot specially.
//   - A "**/" path segment matches zero or more directories; "**" anywhere
//     else is the same as "*" (so "docs/**" matches "docs/a" but not
//     "docs/a/b", exactly as in Ruby).
//   - "{a,b}" matches either alternative; braces nest.
//   - A backslash makes the next character literal.
func Match(pattern, path string) bool {
	for _, p := range ExpandBraces(pattern, maxBraceAlternatives) {
		if matchPath(p, path) {
			return true
		}
	}
	return false
}

// ExpandBraces returns the patterns `{a,b}` alternatives stand for, in
// order (`x/{a,b{c,d}}` gives x/a, x/bc, x/bd), at most max of them: nested
// groups multiply. A backslash escapes the next character; an unbalanced
// brace is literal. The runner's artifact globs use it too.
func ExpandBraces(p string, max int) []string {
	return expandBraces(p, nil, max)
}

// expandBraces expands the first {…,…} group of p and recurses on the
// results.
func expandBraces(p string, out []string, max int) []string {
	if len(out) >= max {
		return out
	}
	depth, open := 0, -1
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '\\':
			i++
		case '{':
			if depth == 0 {
				open = i
			}
			depth++
		case '}':
			if depth == 0 {
				continue
			}
			depth--
			if depth > 0 {
				continue
			}
			for _, alt := range splitAlternatives(p[open+1 : i]) {
				out = expandBraces(p[:open]+alt+p[i+1:], out, max)
				if len(out) >= max {
					return out
				}
			}
			return out
		}
	}
	return append(out, p)
}

// splitAlternatives splits the inside of a brace group at its top-level
// commas.
func splitAlternatives(s string) []string {
	var parts []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '{':
			depth++
		case '}':
			depth--
		case ',':
			if depth == 0 {
				parts = append(parts, s[start:i])
				start = i + 1
			}
		}
	}
	return append(parts, s[start:])
}

// matchPath matches segment by segment; seen memoizes failed (pattern
// segment, path segment) pairs so that many "**/" stay polynomial.
func matchPath(pattern, path string) bool {
	ps := strings.Split(pattern, "/")
	ss := strings.Split(path, "/")
	failed := make(map[[2]int]bool)
	var match func(i, j int) bool
	match = func(i, j int) bool {
		if i == len(ps) {
			return j == len(ss)
		}
		key := [2]int{i, j}
		if failed[key] {
			return false
		}
		ok := false
		if ps[i] == "**" && i+1 < len(ps) {
			for k := j; k <= len(ss) && !ok; k++ {
				ok = match(i+1, k)
			}
		} else if j < len(ss) && matchSegment(ps[i], ss[j]) {
			ok = match(i+1, j+1)
		}
		if !ok {
			failed[key] = true
		}
		return ok
	}
	return match(0, 0)
}

// matchSegment matches one path segment against one pattern segment with
// *, ? and [...], backtracking only to the last star, which is enough
// because a star matches any run.
func matchSegment(p, s string) bool {
	px, sx := 0, 0
	starP, starS := -1, -1
	for {
		if px < len(p) && p[px] == '*' {
			starP, starS = px, sx
			px++
			continue
		}
		if sx == len(s) {
			for px < len(p) && p[px] == '*' {
				px++
			}
			return px == len(p)
		}
		if px < len(p) {
			if n, ok := matchOne(p[px:], s[sx:]); ok {
				px += n
				_, size := utf8.DecodeRuneInString(s[sx:])
				sx += size
				continue
			}
		}
		if starP < 0 {
			return false
		}
		_, size := utf8.DecodeRuneInString(s[starS:])
		starS += size
		px, sx = starP+1, starS
	}
}

// matchOne matches the pattern element at the start of p (not a star)
// against the first character of s, returning the element's length.
func matchOne(p, s string) (n int, ok bool) {
	r, _ := utf8.DecodeRuneInString(s)
	switch p[0] {
	case '?':
		return 1, true
	case '[':
		if n, matched, valid := matchClass(p, r); valid {
			return n, matched
		}
		return 1, r == '['
	case '\\':
		if len(p) > 1 {
			pr, size := utf8.DecodeRuneInString(p[1:])
			return 1 + size, pr == r
		}
	}
	pr, size := utf8.DecodeRuneInString(p)
	return size, pr == r
}

// matchClass matches r against the class at the start of p. valid is false
// when the class is not closed, in which case "[" is a literal.
func matchClass(p string, r rune) (n int, matched, valid bool) {
	i := 1
	negate := false
	if i < len(p) && (p[i] == '!' || p[i] == '^') {
		negate = true
		i++
	}
	first := true
	for i < len(p) {
		if p[i] == ']' && !first {
			return i + 1, matched != negate, true
		}
		first = false
		lo, size := classChar(p[i:])
		i += size
		hi := lo
		if i+1 < len(p) && p[i] == '-' && p[i+1] != ']' {
			hi, size = classChar(p[i+1:])
			i += 1 + size
		}
		if lo <= r && r <= hi {
			matched = true
		}
	}
	return 0, false, false
}

func classChar(p string) (rune, int) {
	if p[0] == '\\' && len(p) > 1 {
		r, size := utf8.DecodeRuneInString(p[1:])
		return r, 1 + size
	}
	return utf8.DecodeRuneInString(p)
}
