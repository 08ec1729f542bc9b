package web_test

import (
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/ciwarden/ciwarden/internal/testserver"
)

// linkKeys are the fields whose values are the server's pages: web_url,
// and the releases' and packages' _links, paths and direct asset URLs.
var linkKeys = map[string]bool{"web_url": true, "self": true, "edit_url": true, "web_path": true, "commit_path": true, "tag_path": true,
	"direct_asset_url": true}

// webURLs collects every link to a page in a JSON answer, however deep.
func webURLs(v any, out map[string]bool) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if s, ok := e.(string); ok && linkKeys[k] {
				out[s] = true
			}
			webURLs(e, out)
		}
	case []any:
		for _, e := range x {
			webURLs(e, out)
		}
	}
}

// TestWebURLsResolve: every web_url the API answers (projects, groups,
// namespaces, users, pipelines, jobs, commits, branches, allowlists)
// opens a page, 200, for a signed-in member (issue 19).
func TestWebURLsResolve(t *testing.T) {
	t.Parallel()
	testserver.ForEachDialect(t, func(t *testing.T, dialect string) {
		s := testserver.New(t, testserver.Options{Dialect: dialect})
		alice := userWithPassword(t, s, "alice", "alice's password")
		grp := s.CreateGroup(t, "team", 0, "private")
		sub := s.CreateGroup(t, "sub", grp, "private")
		app := s.CreateProject(t, sub, "app", "private")
		lib := s.CreateProject(t, grp, "lib", "private")
		s.AddMember(t, "groups", grp, alice.ID, 40)
		s.PushCI(t, app.Path, alice, map[string]string{".gitlab-ci.yml": "build:\n  script: [echo hi]\n"})
		archive := testserver.Zip(t, map[string]string{"out/report.txt": "the report\n"})
		job := runWithArchive(t, s, "hi\n", archive)
		appAPI := testserver.API + "/projects/" + testserver.Itoa(app.ID)
		s.Expect(t, "POST", testserver.API+"/projects/"+testserver.Itoa(lib.ID)+"/job_token_scope/groups_allowlist", alice.Token,
			map[string]any{"target_group_id": sub}, 201)

		// A release with an asset link, and a package (their _links).
		s.Expect(t, "POST", appAPI+"/releases", alice.Token, `{"tag_name":"v1","ref":"main","assets":{"links":[`+
			`{"name":"bin","url":"https://example.com/app","direct_asset_path":"/bin/app"}]}}`, 201)
		s.Expect(t, "PUT", appAPI+"/packages/generic/tool/1.0.0/tool.bin", alice.Token, []byte("tool"), 201)

		urls := map[string]bool{}
		for _, path := range []string{
			testserver.API + "/user", testserver.API + "/users/" + testserver.Itoa(alice.ID),
			testserver.API + "/projects", testserver.API + "/groups", testserver.API + "/groups/" + testserver.Itoa(grp),
			appAPI, appAPI + "/pipelines", appAPI + "/jobs", appAPI + "/repository/branches",
			appAPI + "/repository/commits/main", appAPI + "/releases", appAPI + "/packages",
			testserver.API + "/projects/" + testserver.Itoa(lib.ID) + "/job_token_scope/groups_allowlist",
			testserver.API + "/projects/" + testserver.Itoa(lib.ID) + "/job_token_scope/allowlist",
		} {
			var v any
			r := s.Expect(t, "GET", path, alice.Token, nil, 200)
			if err := json.Unmarshal(r.Body, &v); err != nil {
				t.Fatalf("GET %s: %v", path, err)
			}
			webURLs(v, urls)
		}
		var list []string
		for u := range urls {
			list = append(list, u)
		}
		sort.Strings(list)
		if !urls[s.URL+"/alice"] || !urls[s.URL+"/"+app.Path] {
			t.Fatalf("the user's or the project's web_url is missing: %v", list)
		}
		if len(list) < 8 {
			t.Fatalf("only %d web_url values: %v", len(list), list)
		}
		b := newBrowser(t, s)
		b.signIn("alice", "alice's password")
		s.Remember(b.cookie("_ciwarden_session"))
		kinds := map[string]bool{}
		for _, u := range list {
			if strings.HasPrefix(u, "/") { // commit_path, tag_path, web_path
				u = s.URL + u
			}
			if strings.HasPrefix(u, s.URL+testserver.API+"/") {
				continue // a project's _links.self: the API's own URL, not a page
			}
			if !strings.HasPrefix(u, s.URL+"/") {
				t.Errorf("web_url %s is not on the server %s", u, s.URL)
				continue
			}
			p := b.get(strings.TrimPrefix(u, s.URL))
			// A release asset's URL sends on to the link, a tag's path
			// to the tree at the tag; every other link is a page.
			want := http.StatusOK
			switch {
			case strings.Contains(u, "/downloads/"):
				want = http.StatusFound
			case strings.Contains(u, "/-/tags/"):
				want = http.StatusSeeOther
			}
			if p.Status != want {
				t.Errorf("web_url %s: %d, want %d", u, p.Status, want)
			}
			for _, k := range []string{"/-/pipelines/", "/-/jobs/", "/-/commit/", "/-/tree/", "/groups/", "/-/releases/", "/-/packages/", "/edit", "/downloads/", "/-/tags/"} {
				if strings.Contains(u, k) {
					kinds[k] = true
				}
			}
		}
		// The job page lists the artifacts archive, and its link downloads
		// the archive as stored.
		jobPage := "/" + app.Path + "/-/jobs/" + testserver.Itoa(job.ID)
		mustContain(t, b.get(jobPage), "artifacts.zip", jobPage+"/artifacts/download")
		if p := b.get(jobPage + "/artifacts/download"); p.Status != http.StatusOK || p.Body != string(archive) {
			t.Errorf("artifacts download: %d, %d bytes, want the %d bytes uploaded", p.Status, len(p.Body), len(archive))
		}
		if p := b.get(jobPage + "/raw"); p.Status != http.StatusOK || p.Body != "hi\n" {
			t.Errorf("raw log: %d %q, want the log as stored", p.Status, p.Body)
		}
		if p := b.get(jobPage + "/trace.json?offset=1"); p.Status != http.StatusOK ||
			!strings.Contains(p.Body, `"offset":3`) || !strings.Contains(p.Body, `"complete":true`) || !strings.Contains(p.Body, `"html":"<div class=\"line\">i</div>"`) {
			t.Errorf("trace.json from offset 1: %d %s", p.Status, p.Body)
		}
		for _, k := range []string{"/-/pipelines/", "/-/jobs/", "/-/commit/", "/-/tree/", "/groups/", "/-/releases/", "/-/packages/", "/edit", "/downloads/", "/-/tags/"} {
			if !kinds[k] {
				t.Errorf("no web_url of %s among %v", k, list)
			}
		}
	})
}
