package mask

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"math/rand"
	"net/url"
	"strings"
	"testing"
)

// propRules has every rule and the awkward secrets: periodic prefixes,
// overlapping pairs, a multi-line value, one that JSON escapes.
func propRules() Rules {
	return Rules{
		Secrets: []string{
			"aab12345", "abab1234", "abcdefgh12", "gh12345678", `pa"ss\w0rd`,
			"-----BEGIN KEY-----\nMIIBOgIBAAJBAK\nxyz\n-----END KEY-----",
		},
		Tokens:         []string{jobToken, oddToken},
		Prefixes:       append(DefaultPrefixes(), "cwjob-"),
		URLCredentials: true,
		QueryParams:    DefaultQueryParams(),
	}
}

// leaks lists what must never reach the output under propRules: every
// secret and line; every secret's and token's base64 at each alignment,
// also where it ends the encoded data, and percent-encoded forms; every
// MinSecretLen-byte window of each token and of its base64.
func leaks(r Rules) []string {
	var l []string
	for _, s := range append(append([]string{}, r.Secrets...), r.Tokens...) {
		l = append(l, s, url.QueryEscape(s), url.PathEscape(s))
		for _, line := range strings.Split(s, "\n") {
			if len(line) >= MinSecretLen {
				l = append(l, line)
			}
		}
		for align := 0; align < 3; align++ {
			l = append(l, refBase64(s, align, false), refBase64(s, align, true))
		}
	}
	for _, t := range r.Tokens {
		for _, e := range []string{t, refBase64(t, 0, false), refBase64(t, 1, false), refBase64(t, 2, false),
			refBase64(t, 0, true), refBase64(t, 1, true), refBase64(t, 2, true)} {
			for k := 0; k+MinSecretLen <= len(e); k++ {
				l = append(l, e[k:k+MinSecretLen])
			}
		}
	}
	return l
}

// refBase64 is what of s's base64 must not be seen when s starts align
// bytes (mod 3) into the encoded data, found by encoding it between
// neighbours that differ in every bit and keeping what both encodings
// share: with end, s ends the data (the final group and its padding).
func refBase64(s string, align int, end bool) string {
	enc := func(fill byte) string {
		b := bytes.Repeat([]byte{fill}, align)
		b = append(b, s...)
		if !end {
			b = append(b, fill, fill, fill)
			for len(b)%3 != 0 { // no padding to share
				b = append(b, fill)
			}
		}
		return base64.StdEncoding.EncodeToString(b)
	}
	a, b := enc(0x00), enc(0xff)
	i := 0
	for a[i] != b[i] {
		i++
	}
	j := len(a)
	for a[j-1] != b[j-1] {
		j--
	}
	return a[i:j]
}

func randString(rng *rand.Rand, n int, chars string) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = chars[rng.Intn(len(chars))]
	}
	return string(b)
}

const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// embed returns one of the ways a secret shows up in a log, and any
// further value that must be masked (a random URL password or query
// value, a prefixed word's body), "" if none.
func embed(rng *rand.Rand, r Rules) (text, secret string) {
	tok := r.Tokens[rng.Intn(len(r.Tokens))]
	b64 := base64.StdEncoding.EncodeToString
	around := func(s string) string {
		return randString(rng, rng.Intn(40), alnum+" :") + s + randString(rng, rng.Intn(10), alnum+"\n")
	}
	val := r.Secrets[rng.Intn(len(r.Secrets))]
	switch rng.Intn(20) {
	case 0:
		return r.Secrets[rng.Intn(len(r.Secrets))], ""
	case 1:
		return tok, ""
	case 2:
		return b64([]byte(around(tok))), ""
	case 3: // `echo -n "$X" | base64`, wrapped at 76 columns
		return wrap76(b64([]byte(around(tok)))), ""
	case 4: // wrapped, and each line timestamped by the runner
		enc := wrap76(b64([]byte("gitlab-ci-token:" + tok)))
		return strings.ReplaceAll(enc, "\n", "\n2026-01-02T03:04:05.123456Z 00O "), ""
	case 5:
		return url.QueryEscape(tok), ""
	case 6:
		return url.PathEscape(tok), ""
	case 7:
		return "git clone https://gitlab-ci-token:" + tok + "@gitlab.example.com/g/p.git", ""
	case 8:
		pw := randString(rng, 8+rng.Intn(20), alnum+"-._~!$")
		return "https://user:" + pw + "@host:8443/path", pw
	case 9:
		return "curl 'https://h/api/v4/job?private_token=" + tok + "&x=1'", ""
	case 10:
		v := randString(rng, 8+rng.Intn(30), alnum+"%-._")
		return "GET /x?a=1&" + []string{"token", "JOB_TOKEN", "access_token"}[rng.Intn(3)] + "=" + v + " HTTP/1.1", v
	case 11:
		w := randString(rng, 8+rng.Intn(30), alnum+"._=-")
		return []string{"glpat-", "cwjob-", "glrt-", "_gitlab_session="}[rng.Intn(4)] + w, w
	case 12:
		s := r.Secrets[len(r.Secrets)-1]
		if rng.Intn(2) == 0 {
			s = strings.ReplaceAll(s, "\n", "\r\n")
		}
		return s, ""
	case 13:
		return jsonEscape(r.Secrets[rng.Intn(len(r.Secrets))]), ""
	case 14: // near misses: periodic prefixes, partial secrets
		return []string{"xaaab12345y", "aaaab1234", "ababab1234", "abab123", "abcdefgh12345678", "aab1234 aab12345", "glpat-", "https://host:8080/x", "?token="}[rng.Intn(9)], ""
	case 15: // a trace line cut inside the token
		k := MinSecretLen + rng.Intn(len(jobToken)-2*MinSecretLen)
		return jobToken[:k] + "\n2026-01-02T03:04:05.123456Z 00O+" + jobToken[k:], ""
	case 16: // a masked value's base64, at any alignment
		return b64([]byte(around(val))), ""
	case 17: // a token or masked value that ends the encoded data
		return b64([]byte(randString(rng, rng.Intn(3), alnum) + []string{tok, val}[rng.Intn(2)])), ""
	case 18:
		return []func(string) string{url.QueryEscape, url.PathEscape}[rng.Intn(2)](val), ""
	default:
		return "https://host.example.com:" + fmt.Sprint(rng.Intn(65536)) + "/a?b=c&d=e", ""
	}
}

// propCase builds a log of n or so bytes with secrets at random places.
func propCase(rng *rand.Rand, r Rules, n int) (in []byte, extra []string) {
	text := logText(rng, n)
	var b bytes.Buffer
	for len(text) > 0 {
		k := rng.Intn(min(len(text), 120) + 1)
		b.Write(text[:k])
		text = text[k:]
		s, secret := embed(rng, r)
		b.WriteString(s)
		if secret != "" {
			extra = append(extra, secret)
		}
	}
	return b.Bytes(), extra
}

// stream writes in cut at the given offsets; with resume it saves the
// State and resumes a new Writer at every cut.
func stream(t *testing.T, m *Masker, in []byte, cuts []int, resume bool) []byte {
	t.Helper()
	var out bytes.Buffer
	w := m.NewWriter(&out)
	prev := 0
	for _, c := range append(cuts, len(in)) {
		if _, err := w.Write(in[prev:c]); err != nil {
			t.Fatal(err)
		}
		prev = c
		if resume {
			var err error
			if w, err = m.Resume(w.State(), &out); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func checkCase(t *testing.T, m *Masker, r Rules, in []byte, mustHide []string) []byte {
	t.Helper()
	want := m.Mask(in)
	if ref := reference(r, in); !bytes.Equal(want, ref) {
		t.Fatalf("Mask and reference differ for %q\nMask: %q\nref:  %q", in, want, ref)
	}
	for _, l := range mustHide {
		if bytes.Contains(want, []byte(l)) {
			t.Fatalf("%q leaks in %q", l, want)
		}
	}
	return want
}

// TestStreamEqualsOneShot: for random logs with secrets, the masked output
// hides every secret and encoding, equals the reference, and is the same
// for every two-chunk split, with and without Resume in between, for
// random multi-chunk splits and for 1-byte writes.
func TestStreamEqualsOneShot(t *testing.T) {
	r := propRules()
	m, err := Compile(r)
	if err != nil {
		t.Fatal(err)
	}
	always := leaks(r)
	const groups, perGroup = 10, 30 // 300 cases
	n := perGroup
	if testing.Short() {
		n = 3
	}
	for g := 0; g < groups; g++ {
		t.Run(fmt.Sprint("seeds", g*perGroup), func(t *testing.T) {
			t.Parallel()
			for seed := g * perGroup; seed < g*perGroup+n; seed++ {
				streamCase(t, m, r, always, seed)
			}
		})
	}
}

func streamCase(t *testing.T, m *Masker, r Rules, always []string, seed int) {
	rng := rand.New(rand.NewSource(int64(seed)))
	in, extra := propCase(rng, r, 100+rng.Intn(200))
	want := checkCase(t, m, r, in, append(extra, always...))
	for k := 0; k <= len(in); k++ {
		for _, resume := range []bool{false, true} {
			if got := stream(t, m, in, []int{k}, resume); !bytes.Equal(got, want) {
				t.Fatalf("seed %d, cut at %d (resume %v):\n got %q\nwant %q", seed, k, resume, got, want)
			}
		}
	}
	for i := 0; i < 5; i++ {
		var cuts []int
		for c := rng.Intn(20); c < len(in); c += 1 + rng.Intn(40) {
			cuts = append(cuts, c)
		}
		resume := i%2 == 1
		if got := stream(t, m, in, cuts, resume); !bytes.Equal(got, want) {
			t.Fatalf("seed %d, cuts %v (resume %v):\n got %q\nwant %q", seed, cuts, resume, got, want)
		}
	}
	ones := make([]int, 0, len(in))
	for c := 1; c < len(in); c++ {
		ones = append(ones, c)
	}
	if got := stream(t, m, in, ones, seed%2 == 0); !bytes.Equal(got, want) {
		t.Fatalf("seed %d, 1-byte writes:\n got %q\nwant %q", seed, got, want)
	}
}

// TestLongLogs runs whole logs of realistic size with secrets every few
// KiB through the fast paths, in chunk sizes the runner uses.
func TestLongLogs(t *testing.T) {
	r := propRules()
	m, err := Compile(r)
	if err != nil {
		t.Fatal(err)
	}
	always := leaks(r)
	for seed := 0; seed < 4; seed++ {
		rng := rand.New(rand.NewSource(int64(1000 + seed)))
		var in bytes.Buffer
		var extra []string
		for in.Len() < 1<<20 {
			in.Write(logText(rng, rng.Intn(8<<10)))
			s, secret := embed(rng, r)
			in.WriteString(s)
			if secret != "" {
				extra = append(extra, secret)
			}
		}
		want := checkCase(t, m, r, in.Bytes(), append(extra, always...))
		for _, size := range []int{4 << 10, 1 << 20, 7919} {
			var cuts []int
			for c := size; c < in.Len(); c += size {
				cuts = append(cuts, c)
			}
			if got := stream(t, m, in.Bytes(), cuts, true); !bytes.Equal(got, want) {
				t.Fatalf("seed %d, chunks of %d differ", seed, size)
			}
		}
	}
}
