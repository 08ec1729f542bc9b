package api_test

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/ciwarden/ciwarden/internal/testserver"
)

// relEnv is a private project grp/app with one commit on main, pushed by
// its Maintainer alice; carol is a Developer, rita a Reporter, gus a
// Guest, bob nothing.
type relEnv struct {
	*env
	f                *fixture
	rita, gus        testserver.User
	sha, rel         string // main's commit; the releases endpoint
	alice, carol     string // tokens
	repo             *testserver.Repo
	releasesListPath string
}

func newRelEnv(t *testing.T, e *env) *relEnv {
	f := e.fixture(t)
	r := &relEnv{env: e, f: f, alice: f.alice.Token, carol: f.carol.Token}
	r.rita, r.gus = e.CreateUser(t, "rita"), e.CreateUser(t, "gus")
	e.AddMember(t, "projects", f.project, r.rita.ID, 20)
	e.AddMember(t, "projects", f.project, r.gus.ID, 10)
	r.repo, r.sha = e.PushCI(t, "grp/app", f.alice, map[string]string{"README.md": "hello\n", "src/a.txt": "a\n"})
	r.rel = f.projAPI + "/releases"
	r.releasesListPath = r.rel + "?private_token=" + e.RootToken
	return r
}

func (r *relEnv) count(t *testing.T) int { return r.total(t, r.rel) }

// TestReleasesAPI: GitLab's shapes, a tag created from ref as its caller,
// links, the permalink and the download redirect, update and delete.
func TestReleasesAPI(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		r := newRelEnv(t, e)
		body := `{"tag_name":"v1.0","ref":"main","tag_message":"First","name":"One","description":"## Notes\n*bold*",
			"assets":{"links":[{"name":"bin","url":"https://example.com/app","direct_asset_path":"/bin/app","link_type":"package"},
			{"name":"docs","url":"http://example.com/docs"}]}}`
		rec := e.postJSON(t, r.rel, r.carol, body)
		got := wantStatus(t, rec, http.StatusCreated).(map[string]any)
		for k, want := range map[string]any{"tag_name": "v1.0", "name": "One", "description": "## Notes\n*bold*", "upcoming_release": false,
			"commit_path": "/grp/app/-/commit/" + r.sha, "tag_path": "/grp/app/-/tags/v1.0"} {
			if got[k] != want {
				t.Errorf("%s = %v, want %v", k, got[k], want)
			}
		}
		if c, _ := field(got, "commit.id"); c != r.sha {
			t.Errorf("commit.id = %v, want %s", c, r.sha)
		}
		if a, _ := field(got, "author.username"); a != "carol" {
			t.Errorf("author = %v, want carol", a)
		}
		assets := got["assets"].(map[string]any)
		links := assets["links"].([]any)
		if assets["count"] != float64(6) || len(links) != 2 || len(assets["sources"].([]any)) != 4 {
			t.Fatalf("assets %v", assets)
		}
		bin := links[0].(map[string]any)
		if bin["name"] != "bin" || bin["link_type"] != "package" || bin["direct_asset_url"] != e.URL+"/grp/app/-/releases/v1.0/downloads/bin/app" {
			t.Errorf("link %v", bin)
		}
		src := assets["sources"].([]any)[0].(map[string]any)
		if src["format"] != "zip" || src["url"] != e.URL+r.f.projAPI+"/repository/archive.zip?sha=v1.0" {
			t.Errorf("source %v", src)
		}
		// The tag exists now, annotated, as carol made it.
		tags := e.call(t, "GET", r.f.projAPI+"/repository/tags", r.alice, "", "")
		if !strings.Contains(string(tags.Body), `"name":"v1.0","message":"First"`) {
			t.Errorf("tags: %s", tags.Body)
		}
		wantJSON(t, e.postJSON(t, r.rel, r.carol, `{"tag_name":"v1.0"}`), http.StatusConflict, `{"message":"Release already exists"}`)
		// A release of an existing tag, named after it, released earlier.
		wantField(t, e.postJSON(t, r.rel, r.carol, `{"tag_name":"v0.9","ref":"`+r.sha+`","released_at":"2020-01-02T03:04:05Z"}`),
			http.StatusCreated, "name", `"v0.9"`)
		// An upcoming one is no permalink's.
		wantField(t, e.postJSON(t, r.rel, r.carol, `{"tag_name":"v2.0","ref":"main","released_at":"2999-01-01T00:00:00Z"}`),
			http.StatusCreated, "upcoming_release", "true")

		list := e.call(t, "GET", r.rel, r.rita.Token, "", "")
		if l := wantStatus(t, list, http.StatusOK).([]any); len(l) != 3 || l[0].(map[string]any)["tag_name"] != "v2.0" ||
			l[2].(map[string]any)["tag_name"] != "v0.9" || list.Header.Get("X-Total") != "3" {
			t.Errorf("list %s", shorten(string(list.Body)))
		}
		asc := wantStatus(t, e.call(t, "GET", r.rel+"?order_by=created_at&sort=asc", r.rita.Token, "", ""), http.StatusOK).([]any)
		if asc[0].(map[string]any)["tag_name"] != "v1.0" {
			t.Errorf("created_at asc starts with %v", asc[0].(map[string]any)["tag_name"])
		}
		wantJSON(t, e.call(t, "GET", r.rel+"?order_by=name", r.rita.Token, "", ""), http.StatusBadRequest, `{"error":"order_by does not have a valid value"}`)

		rec = e.call(t, "GET", r.rel+"/permalink/latest/assets/links?per_page=5", r.rita.Token, "", "")
		if rec.Status != http.StatusFound || rec.Header.Get("Location") != r.rel+"/v1.0/assets/links?per_page=5" {
			t.Errorf("permalink: %d %q", rec.Status, rec.Header.Get("Location"))
		}
		rec = e.call(t, "GET", r.rel+"/v1.0/downloads/bin/app", r.rita.Token, "", "")
		if rec.Status != http.StatusFound || rec.Header.Get("Location") != "https://example.com/app" {
			t.Errorf("download: %d %q", rec.Status, rec.Header.Get("Location"))
		}
		wantJSON(t, e.call(t, "GET", r.rel+"/v1.0/downloads/nope", r.rita.Token, "", ""), http.StatusNotFound, `{"message":"404 Not Found"}`)
		wantJSON(t, e.call(t, "GET", r.rel+"/v9", r.rita.Token, "", ""), http.StatusNotFound, `{"message":"404 Not Found"}`)

		// Links.
		lp := r.rel + "/v1.0/assets/links"
		rec = e.postJSON(t, lp, r.carol, `{"name":"img","url":"https://example.com/i.png","filepath":"img/i.png","link_type":"image"}`)
		wantField(t, rec, http.StatusCreated, "direct_asset_url", `"`+e.URL+`/grp/app/-/releases/v1.0/downloads/img/i.png"`)
		id := testserver.Itoa(idOf(t, rec))
		wantJSON(t, e.postJSON(t, lp, r.carol, `{"name":"img","url":"https://example.com/other"}`), http.StatusBadRequest,
			`{"message":{"name":["has already been taken"]}}`)
		wantField(t, e.call(t, "PUT", lp+"/"+id, r.carol, jsonCT, `{"name":"image"}`), http.StatusOK, "name", `"image"`)
		wantField(t, e.call(t, "GET", lp+"/"+id, r.rita.Token, "", ""), http.StatusOK, "name", `"image"`)
		if n := e.total(t, lp); n != 3 {
			t.Errorf("%d links, want 3", n)
		}
		wantField(t, e.call(t, "DELETE", lp+"/"+id, r.carol, "", ""), http.StatusOK, "name", `"image"`)
		wantJSON(t, e.call(t, "GET", lp+"/"+id, r.rita.Token, "", ""), http.StatusNotFound, `{"message":"404 Not Found"}`)

		// Update and delete.
		wantField(t, e.call(t, "PUT", r.rel+"/v1.0", r.carol, jsonCT, `{"description":"changed"}`), http.StatusOK, "description", `"changed"`)
		wantField(t, e.call(t, "GET", r.rel+"/v1.0", r.rita.Token, "", ""), http.StatusOK, "name", `"One"`)
		// null leaves a field as it is (GitLab's Go client sends it).
		wantField(t, e.call(t, "PUT", r.rel+"/v1.0", r.carol, jsonCT, `{"name":null,"description":null,"released_at":"2021-01-01T00:00:00Z"}`),
			http.StatusOK, "description", `"changed"`)
		wantField(t, e.call(t, "DELETE", r.rel+"/v0.9", r.carol, "", ""), http.StatusOK, "tag_name", `"v0.9"`)
		if n := r.count(t); n != 2 {
			t.Errorf("%d releases after the deletion, want 2", n)
		}
	})
}

// TestReleasesRights: Reporters read a private project's releases,
// Developers write them; a Guest, a stranger and the anonymous do not; a
// protected tag needs the right to create it.
func TestReleasesRights(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		r := newRelEnv(t, e)
		wantStatus(t, e.postJSON(t, r.rel, r.carol, `{"tag_name":"v1","ref":"main"}`), http.StatusCreated)
		wantStatus(t, e.call(t, "GET", r.rel+"/v1", r.rita.Token, "", ""), http.StatusOK)
		wantJSON(t, e.call(t, "GET", r.rel+"/v1", r.gus.Token, "", ""), http.StatusForbidden, `{"message":"403 Forbidden"}`)
		wantJSON(t, e.call(t, "GET", r.rel, r.f.bob.Token, "", ""), http.StatusNotFound, `{"message":"404 Project Not Found"}`)
		wantJSON(t, e.call(t, "GET", r.rel, "", "", ""), http.StatusNotFound, `{"message":"404 Project Not Found"}`)
		r.unchanged(t, r.releasesListPath, func() {
			wantJSON(t, e.postJSON(t, r.rel, r.rita.Token, `{"tag_name":"v2","ref":"main"}`), http.StatusForbidden, `{"message":"403 Forbidden"}`)
			wantJSON(t, e.call(t, "DELETE", r.rel+"/v1", r.rita.Token, "", ""), http.StatusForbidden, `{"message":"403 Forbidden"}`)
		})

		// v* protected, created by Maintainers only.
		wantStatus(t, e.postJSON(t, r.f.projAPI+"/protected_tags", r.alice, `{"name":"v*","create_access_level":40}`), http.StatusCreated)
		msg := `{"message":"You are not allowed to create this tag as it is protected."}`
		r.unchanged(t, r.releasesListPath, func() {
			wantJSON(t, e.postJSON(t, r.rel, r.carol, `{"tag_name":"v3","ref":"main"}`), http.StatusForbidden, msg)
			wantJSON(t, e.call(t, "PUT", r.rel+"/v1", r.carol, jsonCT, `{"name":"x"}`), http.StatusForbidden, msg)
			wantJSON(t, e.call(t, "DELETE", r.rel+"/v1", r.carol, "", ""), http.StatusForbidden, msg)
		})
		if tags := e.call(t, "GET", r.f.projAPI+"/repository/tags", r.alice, "", ""); strings.Contains(string(tags.Body), `"v3"`) {
			t.Errorf("refused release left its tag: %s", tags.Body)
		}
		wantStatus(t, e.postJSON(t, r.rel, r.alice, `{"tag_name":"v3","ref":"main"}`), http.StatusCreated)
		wantStatus(t, e.postJSON(t, r.rel, r.carol, `{"tag_name":"other","ref":"main"}`), http.StatusCreated)
	})
}

// TestReleasesBadInput: refused whole with a 4xx, no release and no tag
// left behind.
func TestReleasesBadInput(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		r := newRelEnv(t, e)
		badTag := `{"message":"400 Bad request - Tag name invalid"}`
		r.unchanged(t, r.releasesListPath, func() {
			for _, tag := range []string{"a..b", "a b", "a\\u0001b", "-x", "x.lock", "a:b"} {
				wantJSON(t, e.postJSON(t, r.rel, r.carol, `{"tag_name":"`+tag+`","ref":"main"}`), http.StatusBadRequest, badTag)
			}
			wantJSON(t, e.postJSON(t, r.rel, r.carol, `{"ref":"main"}`), http.StatusBadRequest, `{"error":"tag_name is missing"}`)
			wantJSON(t, e.postJSON(t, r.rel, r.carol, `{"tag_name":"v1"}`), http.StatusUnprocessableEntity, `{"message":"Ref is not specified"}`)
			wantJSON(t, e.postJSON(t, r.rel, r.carol, `{"tag_name":"v1","ref":"nope"}`), http.StatusBadRequest,
				`{"message":"400 Bad request - Target nope is invalid"}`)
			for _, u := range []string{"javascript:alert(1)", "ftp://example.com/x", "file:///etc/passwd", "not a url"} {
				wantJSON(t, e.postJSON(t, r.rel, r.carol, `{"tag_name":"v1","ref":"main","assets":{"links":[{"name":"x","url":"`+u+`"}]}}`),
					http.StatusBadRequest, `{"message":{"url":["is blocked: Only allowed schemes are http, https"]}}`)
			}
			for _, p := range []string{"/../x", "/a/../../b", "/a//b", "/a b"} {
				wantJSON(t, e.postJSON(t, r.rel, r.carol, `{"tag_name":"v1","ref":"main","assets":{"links":[{"name":"x","url":"https://e.com","direct_asset_path":"`+p+`"}]}}`),
					http.StatusBadRequest, `{"message":{"direct_asset_path":["is in an invalid format"]}}`)
			}
			wantJSON(t, e.postJSON(t, r.rel, r.carol, `{"tag_name":"v1","ref":"main","assets":{"links":[{"name":"x","url":"https://e.com","link_type":"evil"}]}}`),
				http.StatusBadRequest, `{"message":{"link_type":["does not have a valid value"]}}`)
			wantJSON(t, e.postJSON(t, r.rel, r.carol, `{"tag_name":"v1","ref":"main","assets":{"links":[{"name":"x","url":"https://e.com/1"},{"name":"x","url":"https://e.com/2"}]}}`),
				http.StatusBadRequest, `{"message":{"name":["has already been taken"]}}`)
			wantJSON(t, e.postJSON(t, r.rel, r.carol, `{"tag_name":"v1","ref":"main","assets":"x"}`), http.StatusBadRequest, `{"error":"assets is invalid"}`)
			wantJSON(t, e.postJSON(t, r.rel, r.carol, `{"tag_name":"v1","ref":"main","released_at":"yesterday"}`), http.StatusBadRequest, `{"error":"released_at is invalid"}`)
		})
		if tags := e.call(t, "GET", r.f.projAPI+"/repository/tags", r.alice, "", ""); string(bytes.TrimSpace(tags.Body)) != "[]" {
			t.Errorf("refused releases left tags: %s", tags.Body)
		}
		wantStatus(t, e.postJSON(t, r.rel, r.carol, `{"tag_name":"v1","ref":"main"}`), http.StatusCreated)
		lp := r.rel + "/v1/assets/links"
		wantJSON(t, e.postJSON(t, lp, r.carol, `{"name":"x","url":"javascript:alert(1)"}`), http.StatusBadRequest,
			`{"message":{"url":["is blocked: Only allowed schemes are http, https"]}}`)
		wantJSON(t, e.postJSON(t, lp, r.carol, `{"name":"x"}`), http.StatusBadRequest, `{"error":"url is missing"}`)
		wantJSON(t, e.call(t, "GET", r.rel+"/v1/downloads/a/%2E%2E/b", r.carol, "", ""), http.StatusBadRequest,
			`{"message":"400 Bad Request - Potential path traversal attempt detected"}`)
		wantJSON(t, e.call(t, "GET", r.rel+"/v1/downloads/a..b", r.carol, "", ""), http.StatusBadRequest,
			`{"message":{"direct_asset_path":["is in an invalid format"]}}`)
		wantJSON(t, e.call(t, "PUT", lp+"/1", r.carol, jsonCT, `{}`), http.StatusNotFound, `{"message":"404 Not Found"}`)
	})
}

// TestReleasesJobToken: a job's token acts as its user with
// read_releases / admin_releases; another project's token needs the
// allowlist, and an entry's policies bind it.
func TestReleasesJobToken(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		r := newRelEnv(t, e)
		other := e.CreateProject(t, e.CreateGroup(t, "ogrp", 0, "private"), "other", "private")
		e.AddMember(t, "projects", other.ID, r.f.carol.ID, 30)
		e.PushCI(t, "ogrp/other", r.f.carol, map[string]string{".gitlab-ci.yml": "job:\n  script: [x]\n"})
		r.repo.CommitPush(t, "ci", map[string]string{".gitlab-ci.yml": "job:\n  script: [x]\n"})
		_, tok := e.CreateRunner(t, nil)
		rc := e.NewRunnerClient(tok)
		j1, j2 := rc.TakeJob(t), rc.TakeJob(t)
		j1.Start(t)
		j2.Start(t)
		own, foreign := j1, j2
		if own.Payload.JobInfo.ProjectID != r.f.project {
			own, foreign = j2, j1
		}
		body := map[string]any{"tag_name": "v1", "ref": "main", "assets": map[string]any{"links": []any{map[string]any{"name": "a", "url": "https://e.com/a"}}}}
		pipelines := r.f.projAPI + "/pipelines"
		before := e.total(t, pipelines)
		testserver.WantStatus(t, e.Call(t, "POST", r.rel, testserver.JobToken(own.Token), body), http.StatusCreated)
		// A tag a job's token created starts no pipeline (as its push
		// would not); one a user created starts the tag's pipeline.
		if n := e.total(t, pipelines); n != before {
			t.Errorf("%d pipelines after a job's release, want %d", n, before)
		}
		wantStatus(t, e.postJSON(t, r.rel, r.alice, `{"tag_name":"v5","ref":"main"}`), http.StatusCreated)
		latest := wantStatus(t, e.call(t, "GET", pipelines+"?per_page=1", r.alice, "", ""), http.StatusOK).([]any)
		if p := latest[0].(map[string]any); p["ref"] != "v5" || p["source"] != "push" {
			t.Errorf("latest pipeline %v, want v5's tag pipeline", p)
		}
		testserver.WantStatus(t, e.Call(t, "GET", r.rel+"/v1/assets/links", testserver.JobToken(own.Token), nil), http.StatusOK)
		scope := `{"message":"Authentication by CI/CD job token not allowed from ogrp/other to grp/app."}`
		pkgWant(t, e.Call(t, "GET", r.rel+"/v1", testserver.JobToken(foreign.Token), nil), http.StatusForbidden, scope)
		pkgWant(t, e.Call(t, "POST", r.rel, testserver.JobToken(foreign.Token), map[string]any{"tag_name": "v2", "ref": "main"}), http.StatusForbidden, scope)
		// Listed with read_releases only: reads, but no writes.
		e.Expect(t, "POST", r.f.projAPI+"/job_token_scope/allowlist", e.RootToken,
			map[string]any{"target_project_id": other.ID, "default_permissions": false, "job_token_policies": []string{"read_releases"}}, http.StatusCreated)
		testserver.WantStatus(t, e.Call(t, "GET", r.rel+"/v1", testserver.JobToken(foreign.Token), nil), http.StatusOK)
		pkgWant(t, e.Call(t, "POST", r.rel, testserver.JobToken(foreign.Token), map[string]any{"tag_name": "v2", "ref": "main"}), http.StatusForbidden,
			`{"message":"Insufficient permissions to access this resource in project grp/app. The following token permission is required: admin_releases."}`)
		if n := r.count(t); n != 2 {
			t.Errorf("%d releases, want 2", n)
		}
		// explain names the refusal, as for every policy.
		out := e.Expect(t, "GET", r.f.projAPI+"/job_token_scope/explain?job_id="+testserver.Itoa(foreign.ID)+"&permission=admin_releases",
			e.RootToken, nil, http.StatusOK).Object(t)
		if out["allowed"] != false || out["failed_check"] != "entry_policy" {
			t.Errorf("explain admin_releases: %v", out)
		}
		out = e.Expect(t, "GET", r.f.projAPI+"/job_token_scope/explain?job_id="+testserver.Itoa(foreign.ID)+"&permission=read_releases",
			e.RootToken, nil, http.StatusOK).Object(t)
		if out["allowed"] != true {
			t.Errorf("explain read_releases: %v", out)
		}
	})
}

// TestRepositoryArchive: git archive of a tag, branch or commit, zip and
// tar.gz, under GitLab's prefix; bad input is a 4xx.
func TestRepositoryArchive(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		r := newRelEnv(t, e)
		wantStatus(t, e.postJSON(t, r.rel, r.carol, `{"tag_name":"v1","ref":"main"}`), http.StatusCreated)
		prefix := "app-v1-" + r.sha + "/"
		rec := e.call(t, "GET", r.f.projAPI+"/repository/archive.zip?sha=v1", r.rita.Token, "", "")
		if rec.Status != http.StatusOK || rec.Header.Get("Content-Disposition") != `attachment; filename="app-v1-`+r.sha+`.zip"` {
			t.Fatalf("zip: %d %v", rec.Status, rec.Header)
		}
		zr, err := zip.NewReader(bytes.NewReader(rec.Body), int64(len(rec.Body)))
		if err != nil {
			t.Fatal(err)
		}
		files := map[string]bool{}
		for _, f := range zr.File {
			files[f.Name] = true
		}
		if !files[prefix+"README.md"] || !files[prefix+"src/a.txt"] {
			t.Errorf("zip holds %v", files)
		}
		rec = e.call(t, "GET", r.f.projAPI+"/repository/archive?format=tar.gz", r.rita.Token, "", "")
		testserver.WantStatus(t, rec, http.StatusOK)
		gz, err := gzip.NewReader(bytes.NewReader(rec.Body))
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(gz)
		var names []string
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			names = append(names, h.Name)
		}
		if !strings.Contains(strings.Join(names, " "), "app-main-"+r.sha+"/README.md") {
			t.Errorf("tar.gz holds %v", names)
		}
		testserver.WantStatus(t, e.call(t, "GET", r.f.projAPI+"/repository/archive.tar.bz2?sha="+r.sha, r.rita.Token, "", ""), http.StatusOK)
		wantJSON(t, e.call(t, "GET", r.f.projAPI+"/repository/archive?format=rar", r.rita.Token, "", ""), http.StatusBadRequest,
			`{"error":"format does not have a valid value"}`)
		for _, sha := range []string{"nope", "--output=x", "a..b", strings.Repeat("a", 2000)} {
			rec := e.call(t, "GET", r.f.projAPI+"/repository/archive.zip?sha="+sha, r.rita.Token, "", "")
			if rec.Status != http.StatusNotFound && rec.Status != http.StatusBadRequest {
				t.Errorf("sha %q: %d", sha, rec.Status)
			}
		}
		wantJSON(t, e.call(t, "GET", r.f.projAPI+"/repository/archive.zip", r.gus.Token, "", ""), http.StatusForbidden, `{"message":"403 Forbidden"}`)
		wantJSON(t, e.call(t, "GET", r.f.projAPI+"/repository/archive.zip", r.f.bob.Token, "", ""), http.StatusNotFound, `{"message":"404 Project Not Found"}`)
	})
}
