// Package mask hides secrets in job logs.
//
// One Masker, compiled from a job's Rules, serves the built-in runner
// (before a trace leaves the machine), the server (when a trace chunk
// arrives) and the server's own log and error paths, so that all of them
// hide the same bytes the same way (security.md §4, runner-protocol.md §13).
//
// What is masked:
//   - every secret, also JSON-escaped, with CRLF line ends, and line by line
//     when it spans lines;
//   - every token's percent-encoded forms, and every run of at least
//     MinSecretLen bytes of the token or of its standard base64 encoding at
//     any of the three byte alignments, so that a token cut by a line break
//     (`base64` wraps at 76 columns; the runner splits long trace lines) is
//     masked piece by piece;
//   - the rest of every word that starts with a token prefix:
//     "glpat-abc" becomes "glpat-[MASKED]";
//   - the password of a URL: "https://user:[MASKED]@host/";
//   - the values of chosen query parameters: "?private_token=[MASKED]".
//
// Each maximal run of masked bytes becomes one Replacement. Which bytes are
// masked depends only on the input, never on how it was cut into writes or
// HTTP requests, so a Writer's output equals Mask of the whole stream.
package mask

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
)

// MinSecretLen is the shortest value Compile accepts as a secret. GitLab
// refuses shorter masked variables as well: a short value would hide
// ordinary words and protect little.
const MinSecretLen = 8

// MinPrefixLen is the shortest token prefix Compile accepts; a shorter one
// would mask ordinary words (and the scanner relies on every trigger being
// at least three bytes long).
const MinPrefixLen = 3

// MaxLookahead bounds how much a Writer holds back while it cannot yet tell
// whether text after "scheme://user:" is a URL password. A candidate that
// grows past it is masked anyway rather than held any longer.
const MaxLookahead = 4096

// maxQueryParamLen bounds query parameter names; real ones are short.
const maxQueryParamLen = 64

// Replacement is what each run of masked bytes becomes.
const Replacement = "[MASKED]"

// Rules says what one job's logs must hide.
type Rules struct {
	// Secrets are literal values to hide: masked variables, the job token.
	Secrets []string
	// Tokens are secrets whose encodings leak too (the job token): each is
	// masked like a Secret, and also in base64 and percent-encoding and in
	// pieces of at least MinSecretLen bytes. Only random values belong
	// here: a piece of a password may be an ordinary word.
	Tokens []string
	// Prefixes start token words, e.g. "cwjob-", "glpat-": every word that
	// starts with one keeps the prefix and loses the rest.
	Prefixes []string
	// URLCredentials masks the password in "scheme://user:password@host".
	URLCredentials bool
	// QueryParams are query parameter names (ASCII, matched without regard
	// to case) whose values are masked after '?', '&' or ';'.
	QueryParams []string
}

// DefaultPrefixes returns gitlab-runner's default token prefixes
// (runner-protocol.md §13). Callers add their own, such as the job
// token's prefix.
func DefaultPrefixes() []string {
	return []string{
		"glpat-", "gloas-", "gldt-", "glrt-", "glcbt-", "glrtr-", "glptt-",
		"glft-", "glimt-", "glagent-", "glsoat-", "glffct-", "_gitlab_session=",
		"gltok-",
	}
}

// DefaultQueryParams returns the query parameters that carry credentials:
// the ones GitLab accepts tokens in (private_token, job_token, token,
// access_token) and the ones gitlab-runner masks.
func DefaultQueryParams() []string {
	return []string{
		"private_token", "job_token", "token", "access_token",
		"authenticity_token", "rss_token",
		"x-amz-signature", "x-amz-credential", "x-amz-security-token",
	}
}

// Masker is a compiled rule set. It is immutable, so one Masker may serve
// any number of goroutines and Writers at once.
type Masker struct {
	ac       automaton
	query    trie // lower-cased query parameter names
	qTerm    []bool
	hasQuery bool

	// class holds each byte's character classes (cls* bits).
	class [256]uint8
	// pairs and tri are the scanner's filters for triggers (anything that
	// can start a match or a rule): per byte pair, bit d+1 says a trigger
	// may start d bytes before it; per hashed first three bytes, two bits.
	pairs [1 << 16]uint8
	tri   [1024]uint64
	// stop[mode] marks the bytes that end a run the scanner may skip in
	// that mode; masks[mode] says whether such a run is masked.
	stop  [16][256]bool
	masks [16]bool
}

// Character classes.
const (
	clsWord     = 1 << iota // continues a prefixed token word
	clsValue                // continues a query parameter value
	clsURLStop              // ends a URL authority
	clsSep                  // starts a query parameter name
	clsNameChar             // may appear in a query parameter name
)

// Compile checks r and builds a Masker. Every problem is reported, secrets
// by their index only, so that the error can be shown or logged.
//
// What the rules a server gives every job have in common (the token
// prefixes, URL passwords, the query parameters) is prepared once per
// distinct set and kept (shared): a job's Compile copies it and adds only
// its own secrets and tokens, to the automaton and to the scanner's
// filters. The Masker is the one a compile from scratch builds
// (TestCompileSharesStaticPart), so masking is the same byte for byte.
func Compile(r Rules) (*Masker, error) {
	var errs []error
	for i, s := range r.Secrets {
		if len(s) < MinSecretLen {
			errs = append(errs, fmt.Errorf("mask: Secrets[%d] is shorter than %d bytes and cannot be masked", i, MinSecretLen))
		}
	}
	for i, s := range r.Tokens {
		if len(s) < MinSecretLen {
			errs = append(errs, fmt.Errorf("mask: Tokens[%d] is shorter than %d bytes and cannot be masked", i, MinSecretLen))
		}
	}
	for i, p := range r.Prefixes {
		if len(p) < MinPrefixLen {
			errs = append(errs, fmt.Errorf("mask: Prefixes[%d] %q is shorter than %d bytes", i, p, MinPrefixLen))
		}
	}
	for i, q := range r.QueryParams {
		if !validName(q) {
			errs = append(errs, fmt.Errorf("mask: QueryParams[%d] %q is not a query parameter name", i, q))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	sh := sharedFor(r)
	m := &Masker{}
	*m = sh.base
	own := secretPatterns(r)
	m.ac = buildAutomaton(sortedPatterns(own, sh.patterns))
	m.addTriggers(triggers(setPatterns(own), nil))
	return m, nil
}

// shared is what Compile derives from the rules every job of a server
// has in common: base holds the character classes, the scanner's modes,
// the query parameter trie and the filters for the shared patterns and
// parameters, and no automaton.
type shared struct {
	base     Masker
	patterns []pattern // the prefix and URL patterns
}

// maxShared bounds the kept shared parts; a server has one or two rule
// sets (the job logs', its own log's).
const maxShared = 16

var sharedParts struct {
	sync.Mutex
	m map[string]*shared
}

// sharedFor returns the shared part of r's rules, prepared on first use.
func sharedFor(r Rules) *shared {
	var k strings.Builder
	for _, p := range r.Prefixes {
		k.WriteString(p)
		k.WriteByte(0)
	}
	k.WriteByte(1)
	for _, q := range r.QueryParams {
		k.WriteString(q)
		k.WriteByte(0)
	}
	if r.URLCredentials {
		k.WriteByte(2)
	}
	key := k.String()
	sharedParts.Lock()
	defer sharedParts.Unlock()
	if sh, ok := sharedParts.m[key]; ok {
		return sh
	}
	sh := newShared(r)
	if sharedParts.m == nil || len(sharedParts.m) >= maxShared {
		sharedParts.m = map[string]*shared{} // start over rather than track age
	}
	sharedParts.m[key] = sh
	return sh
}

func newShared(r Rules) *shared {
	sh := &shared{patterns: setPatterns(staticPatterns(r))}
	m := &sh.base
	m.class = classes
	m.stop, m.masks = modeTables()
	names := queryNames(r)
	m.query, m.qTerm = buildTrie(names)
	m.hasQuery = len(names) > 0
	m.addTriggers(triggers(sh.patterns, names))
	return sh
}

// patterns derives what the automaton looks for, in a fixed order so that
// the same Rules always build the same automaton.
func patterns(r Rules) []pattern {
	return sortedPatterns(secretPatterns(r), setPatterns(staticPatterns(r)))
}

// secretPatterns are the patterns of r's secrets and tokens: each job's
// own.
func secretPatterns(r Rules) patternSet {
	ps := patternSet{}
	for _, s := range r.Secrets {
		ps.addSecret(s)
		ps.addEncoded(s)
	}
	for _, t := range r.Tokens {
		ps.addSecret(t)
		ps.addToken(t)
	}
	return ps
}

// staticPatterns are the patterns of r's prefixes and URL rule.
func staticPatterns(r Rules) patternSet {
	ps := patternSet{}
	for _, p := range r.Prefixes {
		ps[pattern{s: p, kind: kindPrefix}] = struct{}{}
	}
	if r.URLCredentials {
		ps[pattern{s: "://", kind: kindURL}] = struct{}{}
	}
	return ps
}

func setPatterns(ps patternSet) []pattern {
	out := make([]pattern, 0, len(ps))
	for p := range ps {
		out = append(out, p)
	}
	return out
}

// sortedPatterns is the union of ps and more (distinct patterns), sorted.
func sortedPatterns(ps patternSet, more []pattern) []pattern {
	out := make([]pattern, 0, len(ps)+len(more))
	for p := range ps {
		out = append(out, p)
	}
	for _, p := range more {
		if _, dup := ps[p]; !dup {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b pattern) int {
		if c := strings.Compare(a.s, b.s); c != 0 {
			return c
		}
		return int(a.kind) - int(b.kind)
	})
	return out
}

func queryNames(r Rules) []string {
	names := make([]string, 0, len(r.QueryParams))
	for _, q := range r.QueryParams {
		names = append(names, strings.ToLower(q))
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// classes holds each byte's character classes; they do not depend on the
// rules.
var classes = func() (class [256]uint8) {
	for c := 0; c < 256; c++ {
		b := byte(c)
		var k uint8
		if 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || strings.IndexByte("._=-", b) >= 0 {
			k |= clsWord
		}
		ctl := b <= ' ' || b == 0x7f
		// Values end where a URL in a log usually ends: at whitespace, a
		// quote or a bracket (`curl "...?job_token=$T")` keeps its `")`;
		// no token or percent-encoded value contains one). Anything else,
		// ',' and ';' among them, is masked with the value because
		// masking a little too much is safe.
		if !ctl && strings.IndexByte("&#\"'<>`()[]{}", b) < 0 {
			k |= clsValue
		}
		if ctl || strings.IndexByte("/?#\\\"'<>`", b) >= 0 {
			k |= clsURLStop
		}
		if b == '?' || b == '&' || b == ';' {
			k |= clsSep
		}
		if !ctl && b < 0x80 && strings.IndexByte("?&;=#\"'<>`", b) < 0 {
			k |= clsNameChar
		}
		class[c] = k
	}
	return class
}()

func validName(q string) bool {
	if q == "" || len(q) > maxQueryParamLen {
		return false
	}
	for i := 0; i < len(q); i++ {
		if classes[q[i]]&clsNameChar == 0 {
			return false
		}
	}
	return true
}

// Mask returns a masked copy of b.
func (m *Masker) Mask(b []byte) []byte {
	e := engine{m: m, out: make([]byte, 0, len(b)+len(Replacement))}
	e.write(b)
	e.finish()
	return e.out
}

// MaskString is Mask for strings, for log lines and error messages.
func (m *Masker) MaskString(s string) string {
	return string(m.Mask([]byte(s)))
}

// Pattern kinds in the automaton.
const (
	kindSecret = iota // mask the match
	kindPrefix        // mask the word that follows
	kindURL           // "://": a URL authority follows
)

type pattern struct {
	s    string
	kind uint8
}

type patternSet map[pattern]struct{}

func (ps patternSet) add(s string) { ps[pattern{s: s}] = struct{}{} }

// addSecret adds a secret and the forms it takes when printed in other
// ways: JSON-escaped (jq, env dumps), with CRLF line ends (a terminal), and
// each line on its own (security.md: multi-line secrets).
func (ps patternSet) addSecret(s string) {
	ps.add(s)
	ps.add(jsonEscape(s))
	if strings.Contains(s, "\n") {
		lf := strings.ReplaceAll(s, "\r\n", "\n")
		ps.add(lf)
		ps.add(strings.ReplaceAll(lf, "\n", "\r\n"))
		for _, line := range strings.Split(lf, "\n") {
			if len(line) >= MinSecretLen {
				ps.add(line)
			}
		}
	}
}

// addEncoded adds a masked value's encodings (security.md §4): its
// standard base64 at each of the three alignments, also where the value
// ends the encoded data (the final partial group and its padding: "...w=="),
// and its percent-encoded forms, both Go's (query and path), which also
// cover what curl and browsers produce.
func (ps patternSet) addEncoded(s string) {
	for align := 0; align < 3; align++ {
		mid, end := stableBase64(s, align)
		ps.add(mid)
		ps.add(end)
	}
	ps.add(url.QueryEscape(s))
	ps.add(url.PathEscape(s))
}

// addToken adds the forms a token leaks in besides its own: those of
// addEncoded, and their pieces.
//
// A token is random, so any MinSecretLen bytes of it, or of one of its
// base64 encodings, identify it: every such window is a pattern, and their
// union masks every piece of at least that length. So the token stays
// masked when `base64` wraps its encoding at 76 columns, or when a trace
// line is cut and the next piece starts after a timestamp. A masked
// variable gets no windows: a piece of a password may be an ordinary word.
func (ps patternSet) addToken(t string) {
	ps.addEncoded(t)
	ps.addWindows(t)
	for align := 0; align < 3; align++ {
		mid, end := stableBase64(t, align)
		ps.addWindows(mid)
		// And those that reach into the padding. One that ends at the
		// partial character would also match where the data goes on.
		for k := len(mid) + 2; k <= len(end); k++ {
			ps.add(end[k-MinSecretLen : k])
		}
	}
}

func (ps patternSet) addWindows(s string) {
	for k := 0; k+MinSecretLen <= len(s); k++ {
		ps.add(s[k : k+MinSecretLen])
	}
}

// stableBase64 returns the standard base64 characters that encode only
// bits of t when t starts at offset align (mod 3) of the encoded data: mid
// wherever t is in the data, end where t ends it. end is mid followed by
// the final partial group, whose last character holds t's last 2 or 4 bits
// and zero bits, and its padding; it equals mid when the data ends on a
// group boundary.
func stableBase64(t string, align int) (mid, end string) {
	n := align + len(t)
	buf := make([]byte, n)
	copy(buf[align:], t)
	enc := base64.StdEncoding.EncodeToString(buf)
	first := (8*align + 5) / 6 // first character whose 6 bits start inside t
	last := (8*n)/6 - 1        // last character whose 6 bits end inside t
	return enc[first : last+1], enc[first:]
}

// jsonEscape writes s as the inside of a JSON string, as encoders do
// without HTML escaping.
func jsonEscape(s string) string {
	const hex = "0123456789abcdef"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\r':
			b.WriteString(`\r`)
		case c == '\t':
			b.WriteString(`\t`)
		case c < 0x20:
			b.WriteString(`\u00`)
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
