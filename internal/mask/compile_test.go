package mask

import (
	"math/rand"
	"reflect"
	"testing"
)

// compileAtOnce builds a Masker from scratch, every pattern and trigger
// in one pass, as Compile did before it kept the shared part of the rules.
func compileAtOnce(r Rules) *Masker {
	m := &Masker{class: classes}
	ps := patterns(r)
	m.ac = buildAutomaton(ps)
	names := queryNames(r)
	m.query, m.qTerm = buildTrie(names)
	m.hasQuery = len(names) > 0
	m.addTriggers(triggers(ps, names))
	m.stop, m.masks = modeTables()
	return m
}

// TestCompileSharesStaticPart: a Masker compiled from the kept shared part
// of its rules (prefixes, URL passwords, query parameters) plus its own
// secrets and tokens equals, field by field, the one built from scratch,
// so it masks the same bytes; on the first use of a rule set and on every
// later one, with rule sets interleaved.
func TestCompileSharesStaticPart(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	server := Rules{Prefixes: append(DefaultPrefixes(), "cwjob-", "cwpat-", "glrt-"), URLCredentials: true,
		QueryParams: DefaultQueryParams()}
	withToken := func(r Rules, tok string, secrets ...string) Rules {
		r.Tokens, r.Secrets = []string{tok}, secrets
		return r
	}
	cases := map[string]Rules{
		"empty":             {},
		"shared part alone": server,
		"job token":         withToken(server, jobToken),
		"another job token": withToken(server, "cwjob-8Hn2Qw4Lz0Xy6Rt1Vb3Kp9Md5Sj7Gc2Fa4Ue6Io8_-Tq3Wz1"),
		"token and secrets": withToken(server, oddToken, "hunter2hunter2", "line one\nline two\r\nthree", `quote"back\slash`),
		"full":              fullRules(rng),
		"secrets only":      {Secrets: []string{"supersecret", "p@ss/w0rd+x y&z=1"}},
		"no URL rule":       {Tokens: []string{jobToken}, Prefixes: []string{"cwjob-"}, QueryParams: []string{"Token"}},
		// A secret whose head is a prefix's: the union of the filters
		// must not depend on which part brought a trigger.
		"secret like a prefix": withToken(server, "glpat-0123456789abcdef", "cwjob-not-a-token"),
	}
	for round := 0; round < 2; round++ {
		for name, r := range cases {
			got, err := Compile(r)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if want := compileAtOnce(r); !reflect.DeepEqual(got, want) {
				t.Errorf("round %d, %s: Compile differs from a compile from scratch", round, name)
			}
		}
	}
}
