package version

import (
	"runtime/debug"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	rev := "0123456789abcdef0123456789abcdef01234567"
	for _, tc := range []struct {
		name string
		bi   *debug.BuildInfo
		ok   bool
		want Info
	}{
		{"no build info", nil, false, Info{Version: "(devel)"}},
		{"release", &debug.BuildInfo{Main: debug.Module{Version: "v1.2.0"}}, true, Info{Version: "v1.2.0"}},
		{"from a clean checkout", &debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20260101120000-0123456789ab"},
			Settings: []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: "false"}}},
			true, Info{Version: "v0.0.0-20260101120000-0123456789ab", Revision: rev}},
		{"from a modified checkout", &debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20260101120000-0123456789ab+dirty"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: "true"}}},
			true, Info{Version: "v0.0.0-20260101120000-0123456789ab+dirty", Revision: rev, Modified: true}},
		{"no version recorded", &debug.BuildInfo{}, true, Info{Version: "(devel)"}},
	} {
		if got := FromBuildInfo(tc.bi, tc.ok); got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
	if got, want := Get(), FromBuildInfo(debug.ReadBuildInfo()); got != want {
		t.Errorf("Get() = %+v, want %+v", got, want)
	}
}
