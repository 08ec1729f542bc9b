package runner

import (
	"path"
	"strings"

	"github.com/ciwarden/ciwarden/internal/ci/config"
)

// Artifact path patterns follow gitlab-runner's (doublestar) syntax:
// `*`, `?` and `[...]` match within one path segment, a `**` segment
// matches any number of segments including none, and `{a,b}` is an
// alternative. Patterns and paths are slash-separated and relative to
// the build directory.

// maxBraceExpansions bounds `{a,b}{c,d}...`, which grows exponentially.
const maxBraceExpansions = 256

// globMeta reports whether a segment needs matching rather than a lookup.
func globMeta(s string) bool { return strings.ContainsAny(s, `*?[{\`) }

// splitGlob returns the literal leading directories of a pattern (where
// the walk starts) and the segments of the whole pattern.
func splitGlob(pattern string) (base string, segs []string) {
	segs = strings.Split(pattern, "/")
	i := 0
	for i < len(segs) && !globMeta(segs[i]) {
		i++
	}
	if i == 0 {
		return ".", segs
	}
	return strings.Join(segs[:i], "/"), segs
}

// matchSegs reports whether name (path segments) matches the pattern
// segments in full.
func matchSegs(pat, name []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			for len(pat) > 1 && pat[1] == "**" {
				pat = pat[1:]
			}
			for i := 0; i <= len(name); i++ {
				if matchSegs(pat[1:], name[i:]) {
					return true
				}
			}
			return false
		}
		if len(name) == 0 {
			return false
		}
		if ok, err := path.Match(pat[0], name[0]); err != nil || !ok {
			return false
		}
		pat, name = pat[1:], name[1:]
	}
	return len(name) == 0
}

// mayMatchBelow reports whether something under the directory dir could
// still match: the walk skips directories for which it cannot.
func mayMatchBelow(pat, dir []string) bool {
	for len(dir) > 0 {
		if len(pat) == 0 {
			return false
		}
		if pat[0] == "**" {
			return true
		}
		if ok, err := path.Match(pat[0], dir[0]); err != nil || !ok {
			return false
		}
		pat, dir = pat[1:], dir[1:]
	}
	return true
}

// globMatch matches one slash-separated relative path against a pattern,
// alternatives included.
func globMatch(pattern, name string) bool {
	segs := strings.Split(name, "/")
	if name == "." {
		segs = nil
	}
	for _, alt := range expandBraces(pattern) {
		p := strings.Split(path.Clean(alt), "/")
		if alt == "." {
			p = nil
		}
		if matchSegs(p, segs) {
			return true
		}
	}
	return false
}

// expandBraces turns `a/{b,c}/d` into `a/b/d` and `a/c/d`, as rules:changes
// patterns do (nested braces allowed; an unbalanced brace is literal).
func expandBraces(p string) []string { return config.ExpandBraces(p, maxBraceExpansions) }
