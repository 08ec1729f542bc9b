package web

import "testing"

// TestRenderLog: colours become classes, section markers disappear (the
// start's line is marked as a section header), a carriage return keeps
// what was written last, and the log's text is escaped.
func TestRenderLog(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain <b>&\n", `<div class="line">plain &lt;b&gt;&amp;</div>`},
		{"\x1b[32;1mok\x1b[0m done\n", `<div class="line"><span class="fg32 b">ok</span> done</div>`},
		{"section_start:1700000000:build_script[collapsed=true]\r\x1b[0KBuilding\n",
			`<div class="line section-start" data-section="build_script">Building</div>`},
		{"section_end:1700000001:build_script\r\x1b[0K\n", ``},
		{"10%\r50%\r100%\n", `<div class="line">100%</div>`},
		{"\x1b[31mred\x1b[39m \x1b[2Kx\n", `<div class="line"><span class="fg31">red</span> x</div>`},
	} {
		if got := RenderLog(tc.in); got != tc.want {
			t.Errorf("RenderLog(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestMatch: the dispatcher's patterns, a full path standing for nested
// groups, never across GitLab's /-/ nor into git's .git paths.
func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, path string
		ok            bool
		vals          map[string]string
	}{
		{"/", "/", true, nil},
		{"/{id...}", "/a/b/c", true, map[string]string{"id": "a/b/c"}},
		{"/{id...}", "/a/-/pipelines", false, nil},
		{"/{id...}", "/a/b.git/info/refs", false, nil},
		{"/{id...}/-/pipelines/{pipeline_id}", "/g/s/p/-/pipelines/7", true, map[string]string{"id": "g/s/p", "pipeline_id": "7"}},
		{"/{id...}/-/tree/{ref...}", "/g/p/-/tree/feature/x", true, map[string]string{"id": "g/p", "ref": "feature/x"}},
		{"/{id...}/-/pipelines/{pipeline_id}", "/g/p/-/pipelines/", false, nil},
		{"/users/sign_in", "/users/sign_in", true, map[string]string{}},
		{"/groups/{id...}", "/groups", false, nil},
	} {
		vals, ok := match(tc.pattern, tc.path)
		if ok != tc.ok {
			t.Errorf("match(%q, %q) = %v, want %v", tc.pattern, tc.path, ok, tc.ok)
			continue
		}
		for k, v := range tc.vals {
			if vals[k] != v {
				t.Errorf("match(%q, %q)[%s] = %q, want %q", tc.pattern, tc.path, k, vals[k], v)
			}
		}
	}
}

// TestSafeRedirect: sign-in sends the browser back on this server only.
func TestSafeRedirect(t *testing.T) {
	for in, want := range map[string]string{
		"/a/b?x=1": "/a/b?x=1", "": "/", "//evil.example/x": "/", "/\\evil.example": "/",
		"https://evil.example/": "/", "javascript:alert(1)": "/",
	} {
		if got := safeRedirect(in); got != want {
			t.Errorf("safeRedirect(%q) = %q, want %q", in, got, want)
		}
	}
}
