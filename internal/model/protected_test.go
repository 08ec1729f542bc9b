package model

import "testing"

func TestProtectedRefMatches(t *testing.T) {
	for _, c := range []struct {
		pattern, name string
		want          bool
	}{
		{"main", "main", true},
		{"main", "main2", false},
		{"main", "xmain", false},
		{"release/*", "release/1.0", true},
		{"release/*", "release/x/1.0", true},
		{"release/*", "release/", true},
		{"release/*", "release", false},
		{"release/*", "releases/1", false},
		{"*", "anything/at/all", true},
		{"*-stable", "1-0-stable", true},
		{"*-stable", "1-0-stable-x", false},
		{"v*.*", "v1.2", true},
		{"v*.*", "v12", false},
		{"a*a", "a", false},
		{"a*a", "aa", true},
		{"*ab*ab", "abab", true},
		{"*ab*ab", "ab", false},
	} {
		r := &ProtectedRef{Name: c.pattern}
		if got := r.Matches(c.name); got != c.want {
			t.Errorf("%q matches %q: %v, want %v", c.pattern, c.name, got, c.want)
		}
	}
	rs := ProtectedRefs{{Kind: RefBranch, Name: "v*"}, {Kind: RefTag, Name: "v*"}, {Kind: RefTag, Name: "v1"}}
	if got := rs.Match(RefTag, "v1"); len(got) != 2 || got[0] != rs[1] || got[1] != rs[2] {
		t.Errorf("Match(tag v1) = %v", got)
	}
	if k, n := SplitRef("refs/heads/release/1"); k != RefBranch || n != "release/1" {
		t.Errorf("SplitRef = %q %q", k, n)
	}
	if k, n := SplitRef("refs/pipelines/1"); k != "" || n != "refs/pipelines/1" {
		t.Errorf("SplitRef = %q %q", k, n)
	}
}
