package version

import (
	"runtime/debug"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	stamped := &debug.BuildInfo{Main: debug.Module{Path: "github.com/ciwarden/ciwarden", Version: "v0.0.0-20260101120000-0123456789ab+dirty"},
		Settings: []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"}}}
	cases := []struct {
		name          string
		bi            *debug.BuildInfo
		version, revn string
	}{
		{"no build info", nil, DevVersion, UnknownRevision},
		{"work tree without VCS stamping", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, DevVersion, UnknownRevision},
		{"build from a repository", stamped, "0.0.0-20260101120000-0123456789ab+dirty", "0123456789ab"},
		{"go install at a tag", &debug.BuildInfo{Main: debug.Module{Version: "v1.4.2"}}, "1.4.2", UnknownRevision},
	}
	for _, c := range cases {
		v, r := FromBuildInfo(c.bi)
		if v != c.version || r != c.revn {
			t.Errorf("%s: got (%q, %q), want (%q, %q)", c.name, v, r, c.version, c.revn)
		}
	}
}
