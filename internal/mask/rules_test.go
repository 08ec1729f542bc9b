package mask

import (
	"encoding/base64"
	"strings"
	"testing"
)

// maskAll checks one input against one expected output, one-shot, against
// the reference, and streamed byte by byte.
func maskAll(t *testing.T, r Rules, in, want string) {
	t.Helper()
	m, err := Compile(r)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.MaskString(in); got != want {
		t.Errorf("Mask(%q)\n got %q\nwant %q", in, got, want)
	}
	if ref := string(reference(r, []byte(in))); ref != want {
		t.Errorf("reference(%q)\n got %q\nwant %q", in, ref, want)
	}
	var out strings.Builder
	w := m.NewWriter(&out)
	for i := 0; i < len(in); i++ {
		w.Write([]byte{in[i]})
	}
	w.Close()
	if out.String() != want {
		t.Errorf("byte by byte %q\n got %q\nwant %q", in, out.String(), want)
	}
}

func TestSecrets(t *testing.T) {
	r := Rules{Secrets: []string{"supersecret", "aab12345", "abab1234", "abcdefgh12", "gh12345678", `pa"ss\word`}}
	for _, c := range []struct{ in, want string }{
		{"pre supersecret post", "pre [MASKED] post"},
		{"supersecret", "[MASKED]"},
		{"supersecret tail", "[MASKED] tail"},
		{"head supersecret", "head [MASKED]"},
		{"supersecretsupersecret", "[MASKED]"},
		{"supersecre supersecret! supersecre", "supersecre [MASKED]! supersecre"},
		// Periodic prefixes: the match restarts inside the partial one.
		{"xaaab12345y", "xa[MASKED]y"},
		{"aaaaaaab12345", "aaaaa[MASKED]"},
		{"ababab1234", "ab[MASKED]"},
		{"abababa1234 abab1234", "abababa1234 [MASKED]"},
		// Overlapping secrets: the union of both.
		{"xabcdefgh12345678y", "x[MASKED]y"},
		{"abcdefgh1", "abcdefgh1"},
		// JSON-escaped form.
		{`{"v":"pa\"ss\\word"}`, `{"v":"[MASKED]"}`},
		{`pa"ss\word`, `[MASKED]`},
		{"nothing to see here\n", "nothing to see here\n"},
		{"", ""},
	} {
		maskAll(t, r, c.in, c.want)
	}
}

func TestMultiLineSecret(t *testing.T) {
	key := "-----BEGIN KEY-----\nMIIBOgIBAAJBAK\nshort\n-----END KEY-----\n"
	r := Rules{Secrets: []string{key}}
	for _, c := range []struct{ in, want string }{
		{"x" + key + "y", "x[MASKED]y"},
		{strings.ReplaceAll(key, "\n", "\r\n"), "[MASKED]"},
		{`"` + strings.ReplaceAll(key, "\n", `\n`) + `"`, `"[MASKED]"`},
		// Each line of at least MinSecretLen bytes on its own, not "short".
		{"line MIIBOgIBAAJBAK here\n", "line [MASKED] here\n"},
		{"-----END KEY----- short", "[MASKED] short"},
	} {
		maskAll(t, r, c.in, c.want)
	}
}

func TestTokenEncodings(t *testing.T) {
	r := Rules{Tokens: []string{jobToken, oddToken}}
	b64 := base64.StdEncoding.EncodeToString
	for _, c := range []struct{ in, want string }{
		{jobToken, "[MASKED]"},
		// `echo -n "$X" | base64` with the token at each offset mod 3: the
		// characters that also encode neighbouring bytes stay; the final
		// partial group, whose last character holds token bits and zero
		// bits, is masked with its padding (issue 13 item 6).
		{b64([]byte(jobToken)), "[MASKED]"},
		{b64([]byte("a" + jobToken)), "YW[MASKED]"},
		{b64([]byte("ab" + jobToken)), "YWJ[MASKED]"},
		{b64([]byte("Basic gitlab-ci-token:" + jobToken + "\n")), "QmFzaWMgZ2l0bGFiLWNpLXRva2VuOm[MASKED]kK"},
		// Wrapped at 76 columns, as `base64` does: both pieces.
		{wrap76(b64([]byte("gitlab-ci-token:" + jobToken))), "Z2l0bGFiLWNpLXRva2VuOm[MASKED]\n[MASKED]"},
		// A trace line cut mid-token, the rest after a timestamp.
		{jobToken[:20] + "\n2026-01-02T03:04:05.123456Z 00O+" + jobToken[20:], "[MASKED]\n2026-01-02T03:04:05.123456Z 00O+[MASKED]"},
		// Percent-encoded, query and path forms.
		{"?x=p%40ss%2Fw0rd%2Bx+y%26z%3D1&y", "?x=[MASKED]&y"},
		{"/p@ss%2Fw0rd+x%20y&z=1/", "/[MASKED]/"},
		{"raw p@ss/w0rd+x y&z=1.", "raw [MASKED]."},
		// Fewer than MinSecretLen characters of the token say nothing.
		{jobToken[:7] + " " + jobToken[len(jobToken)-7:], jobToken[:7] + " " + jobToken[len(jobToken)-7:]},
	} {
		maskAll(t, r, c.in, c.want)
	}
}

// TestSecretEncodings: a masked variable's base64 at every alignment, also
// where it ends the data (its final partial group and padding), and its
// percent-encoded forms are masked, as the token's are (issue 13 item 6).
func TestSecretEncodings(t *testing.T) {
	const secret = "s3cr3t-Value+/ok" // 16 bytes: a partial group at two alignments
	r := Rules{Secrets: []string{secret}}
	b64 := base64.StdEncoding.EncodeToString
	for _, c := range []struct{ in, want string }{
		{b64([]byte(secret)), "[MASKED]"},                  // czNjcjN0LVZhbHVlKy9vaw==
		{b64([]byte("a" + secret)), "YX[MASKED]"},          // YXMzY3IzdC1WYWx1ZSsvb2s=
		{b64([]byte("ab" + secret)), "YWJ[MASKED]"},        // YWJzM2NyM3QtVmFsdWUrL29r
		{b64([]byte(secret + "\n")), "[MASKED]wo="},        // 'w' holds bits of '\n' too
		{b64([]byte("a" + secret + "\n")), "YX[MASKED]sK"}, // so does 's'
		{b64([]byte("user:" + secret + "@host")), "dXNlcjp[MASKED]QGhvc3Q="},
		{"?x=s3cr3t-Value%2B%2Fok&y", "?x=[MASKED]&y"},
		{"/s3cr3t-Value+%2Fok/", "/[MASKED]/"},
		// No pieces: a piece of a password may be an ordinary word.
		{secret[:12] + "\n" + b64([]byte(secret))[:12], secret[:12] + "\n" + b64([]byte(secret))[:12]},
	} {
		maskAll(t, r, c.in, c.want)
	}
}

func wrap76(s string) string {
	var b strings.Builder
	for len(s) > 76 {
		b.WriteString(s[:76] + "\n")
		s = s[76:]
	}
	b.WriteString(s)
	return b.String()
}

func TestPrefixes(t *testing.T) {
	r := Rules{Prefixes: append(DefaultPrefixes(), "cwjob-")}
	for _, c := range []struct{ in, want string }{
		{"token glpat-abc123 end", "token glpat-[MASKED] end"},
		{"glpat-abc123", "glpat-[MASKED]"},
		{"GITLAB_TOKEN=glpat-a.b_c=d-e/rest", "GITLAB_TOKEN=glpat-[MASKED]/rest"},
		{"glpat- alone", "glpat- alone"},
		{"xglpat-abc:1", "xglpat-[MASKED]:1"},
		{"cwjob-Qx7vN2kLp9 and glrt-x", "cwjob-[MASKED] and glrt-[MASKED]"},
		{"Cookie: _gitlab_session=0123abcd; path=/", "Cookie: _gitlab_session=[MASKED]; path=/"},
		{"glpat-glpat-abc", "glpat-[MASKED]"},
		{"gl pat- glpa", "gl pat- glpa"},
	} {
		maskAll(t, r, c.in, c.want)
	}
}

func TestURLCredentials(t *testing.T) {
	r := Rules{URLCredentials: true}
	long := strings.Repeat("a", MaxLookahead)
	for _, c := range []struct{ in, want string }{
		{"git clone https://gitlab-ci-token:s3cr3t@host/g/p.git", "git clone https://gitlab-ci-token:[MASKED]@host/g/p.git"},
		{"https://user:pass@host", "https://user:[MASKED]@host"},
		{"redis://:pw12@cache:6379/0", "redis://:[MASKED]@cache:6379/0"},
		{"https://u:a:b@h/", "https://u:[MASKED]@h/"},
		// userinfo ends at the last '@' of the authority, as in net/url.
		{"https://u:p@ss@host/", "https://u:[MASKED]@host/"},
		{"https://u@x:pa@host/", "https://u@x:[MASKED]@host/"},
		{"https://user@host/", "https://user@host/"},
		{"https://host:8080/path", "https://host:8080/path"},
		{"https://host:8080/a@b", "https://host:8080/a@b"},
		{"https://host:1?x@y", "https://host:1?x@y"},
		{`"https://u:p@h"`, `"https://u:[MASKED]@h"`},
		{"https://u:@host/", "https://u:@host/"},
		{"time 12:30:45 user:pw@host", "time 12:30:45 user:pw@host"},
		// A candidate longer than MaxLookahead is masked without '@'.
		{"https://h:" + long + "a rest", "https://h:[MASKED] rest"},
		{"https://h:" + long + " rest", "https://h:" + long + " rest"},
	} {
		maskAll(t, r, c.in, c.want)
	}
	maskAll(t, Rules{}, "https://user:pass@host", "https://user:pass@host")
}

func TestQueryParams(t *testing.T) {
	r := Rules{QueryParams: DefaultQueryParams()}
	for _, c := range []struct{ in, want string }{
		{"GET /api/v4/job?private_token=abc123&x=1 HTTP/1.1", "GET /api/v4/job?private_token=[MASKED]&x=1 HTTP/1.1"},
		{"?x=1&job_token=abc#frag", "?x=1&job_token=[MASKED]#frag"},
		{"?TOKEN=abc", "?TOKEN=[MASKED]"},
		{"?a=1;token=abc", "?a=1;token=[MASKED]"},
		{"?token=a&token=b", "?token=[MASKED]&token=[MASKED]"},
		{"?token=a?b;c=d'", "?token=[MASKED]'"},
		{"?tokens=abc&xtoken=abc&token", "?tokens=abc&xtoken=abc&token"},
		{"?token=&x", "?token=&x"},
		{"token=abc", "token=abc"},
		{"?X-Amz-Signature=f00d&X-Amz-Credential=AKIA/x", "?X-Amz-Signature=[MASKED]&X-Amz-Credential=[MASKED]"},
		{`curl "https://h/api?access_token=abc"`, `curl "https://h/api?access_token=[MASKED]"`},
	} {
		maskAll(t, r, c.in, c.want)
	}
}

// TestQueryValueEnds: a query parameter's value ends at whitespace, a
// quote or a bracket, so the shell and markup around an echoed URL stay
// (issue 13 item 16).
func TestQueryValueEnds(t *testing.T) {
	r := Rules{QueryParams: DefaultQueryParams()}
	for _, c := range []struct{ in, want string }{
		{`$ out=$(curl "$CI_API_V4_URL/job?job_token=$CI_JOB_TOKEN")`, `$ out=$(curl "$CI_API_V4_URL/job?job_token=[MASKED]")`},
		{`$ out=$(wget -qO- $CI_API_V4_URL/job?job_token=$CI_JOB_TOKEN)`, `$ out=$(wget -qO- $CI_API_V4_URL/job?job_token=[MASKED])`},
		{`curl '?private_token=abc')`, `curl '?private_token=[MASKED]')`},
		{"(see ?token=abc) [?token=def] {?token=ghi}", "(see ?token=[MASKED]) [?token=[MASKED]] {?token=[MASKED]}"},
		{"[link](https://h/x?token=abc)", "[link](https://h/x?token=[MASKED])"},
		{"?token=abc\tx ?token=abc\ny", "?token=[MASKED]\tx ?token=[MASKED]\ny"},
		// Within the value, what is not a bracket, quote or space stays
		// masked: masking a little too much is safe.
		{"?token=a,b;c:d$e%2F", "?token=[MASKED]"},
	} {
		maskAll(t, r, c.in, c.want)
	}
}

// TestRulesTogether checks the rules' union where they overlap.
func TestRulesTogether(t *testing.T) {
	r := Rules{
		Secrets:        []string{"s3cr3t-value"},
		Tokens:         []string{jobToken},
		Prefixes:       []string{"cwjob-", "glpat-"},
		URLCredentials: true,
		QueryParams:    []string{"token"},
	}
	for _, c := range []struct{ in, want string }{
		{"https://gitlab-ci-token:" + jobToken + "@h/x", "https://gitlab-ci-token:[MASKED]@h/x"},
		{"https://h/?token=" + jobToken + "&x=1", "https://h/?token=[MASKED]&x=1"},
		{"export T=" + jobToken + ";", "export T=[MASKED];"},
		{"cwjob-other s3cr3t-value glpat-x", "cwjob-[MASKED] [MASKED] glpat-[MASKED]"},
		{"https://u:s3cr3t-value@h/?token=s3cr3t-value", "https://u:[MASKED]@h/?token=[MASKED]"},
	} {
		maskAll(t, r, c.in, c.want)
	}
}

func TestCompileErrors(t *testing.T) {
	secret := "hunter2"
	_, err := Compile(Rules{Secrets: []string{"long-enough-1", secret}, Tokens: []string{"tiny"}})
	if err == nil {
		t.Fatal("short secrets accepted")
	}
	msg := err.Error()
	for _, want := range []string{"Secrets[1]", "Tokens[0]", "8 bytes"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not name %q", msg, want)
		}
	}
	if strings.Contains(msg, secret) || strings.Contains(msg, "tiny") || strings.Contains(msg, "long-enough") {
		t.Errorf("error %q reveals a secret", msg)
	}
	for _, r := range []Rules{
		{Secrets: []string{""}},
		{Prefixes: []string{"gl"}},
		{QueryParams: []string{""}},
		{QueryParams: []string{"a=b"}},
		{QueryParams: []string{"a b"}},
		{QueryParams: []string{strings.Repeat("n", 65)}},
	} {
		if _, err := Compile(r); err == nil {
			t.Errorf("Compile(%+v) accepted", r)
		}
	}
	if _, err := Compile(Rules{}); err != nil {
		t.Errorf("empty rules: %v", err)
	}
}
