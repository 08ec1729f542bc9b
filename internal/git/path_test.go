package git

import (
	"net/http/httptest"
	"testing"
)

func TestParseGitPath(t *testing.T) {
	tests := []struct {
		target string
		ok     bool
		want   request
	}{
		{"/grp/app.git/info/refs?service=git-upload-pack", true, request{projectPath: "grp/app", service: "git-upload-pack", advertise: true}},
		{"/grp/app/info/refs?service=git-upload-pack", true, request{projectPath: "grp/app", service: "git-upload-pack", advertise: true}},
		{"/grp/app.git/info/refs?service=git-receive-pack", true, request{projectPath: "grp/app", service: "git-receive-pack", advertise: true}},
		{"/grp/app.git/info/refs", true, request{projectPath: "grp/app", advertise: true}},
		{"/grp/app.git/info/refs?service=git-upload-archive", true, request{projectPath: "grp/app", service: "git-upload-archive", advertise: true}},
		{"/grp/app.git/git-upload-pack", true, request{projectPath: "grp/app", service: "git-upload-pack"}},
		{"/grp/app/git-upload-pack", true, request{projectPath: "grp/app", service: "git-upload-pack"}},
		{"/grp/app.git/git-receive-pack", true, request{projectPath: "grp/app", service: "git-receive-pack"}},
		// The service of a POST comes from the path, never the query.
		{"/grp/app.git/git-upload-pack?service=git-receive-pack", true, request{projectPath: "grp/app", service: "git-upload-pack"}},
		{"/grp/sub/deeper/app.git/info/refs?service=git-upload-pack", true, request{projectPath: "grp/sub/deeper/app", service: "git-upload-pack", advertise: true}},
		{"/grp/sub/deeper/app/git-receive-pack", true, request{projectPath: "grp/sub/deeper/app", service: "git-receive-pack"}},
		{"/user.name/my-app.git/git-upload-pack", true, request{projectPath: "user.name/my-app", service: "git-upload-pack"}},
		{"/grp/my%20app.git/git-upload-pack", true, request{projectPath: "grp/my app", service: "git-upload-pack"}},
		// Only one .git is removed.
		{"/grp/app.git.git/git-upload-pack", true, request{projectPath: "grp/app.git", service: "git-upload-pack"}},

		// Not git requests: no namespace, no project, other files.
		{"/app.git/info/refs?service=git-upload-pack", false, request{}},
		{"/app/git-upload-pack", false, request{}},
		{"/info/refs?service=git-upload-pack", false, request{}},
		{"/git-upload-pack", false, request{}},
		{"/.git/git-upload-pack", false, request{}},
		{"/", false, request{}},
		{"/grp/app.git", false, request{}},
		{"/grp/app.git/", false, request{}},
		{"/grp/app.git/HEAD", false, request{}},
		{"/grp/app.git/objects/info/packs", false, request{}},
		{"/grp/app.git/objects/12/3456789012345678901234567890123456789", false, request{}},
		{"/grp/app.git/info/refs/", false, request{}},
		{"/grp/app.git/info/refs/extra", false, request{}},
		{"/grp/app.git/git-upload-archive", false, request{}},
		{"/grp/app.git/git-upload-pack/", false, request{}},
		{"/grp/app.git/git-upload-packs", false, request{}},
		{"/api/v4/projects", false, request{}},
		{"/-/health", false, request{}},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", tt.target, nil)
		got, ok := parseGitPath(r)
		if ok != tt.ok {
			t.Errorf("parseGitPath(%q) ok = %v, want %v (got %+v)", tt.target, ok, tt.ok, got)
			continue
		}
		if IsGitRequest(r) != tt.ok {
			t.Errorf("IsGitRequest(%q) = %v, want %v", tt.target, !tt.ok, tt.ok)
		}
		if tt.ok && got != tt.want {
			t.Errorf("parseGitPath(%q) = %+v, want %+v", tt.target, got, tt.want)
		}
	}
}
