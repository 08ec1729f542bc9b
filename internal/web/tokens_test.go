package web_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/ciwarden/ciwarden/internal/testserver"
)

var shownSecret = regexp.MustCompile(`id="new-(?:token|runner-token)">([^<]+)<`)

// TestTokensAndRunnersPages: a user makes a token on the tokens page (its
// secret shown once, working on the API), revokes it (refused at once),
// and cannot revoke another user's; an administrator creates a runner on
// the runners page and sees its glrt- token once; others get no runners
// page.
func TestTokensAndRunnersPages(t *testing.T) {
	t.Parallel()
	s := testserver.New(t, testserver.Options{})
	alice := userWithPassword(t, s, "alice", "alice's password")
	m := s.Expect(t, "POST", testserver.API+"/users", s.RootToken, url.Values{"username": {"admin2"}, "name": {"Admin"},
		"email": {"admin2@example.com"}, "password": {"admin's password"}, "admin": {"true"}}, 201).Object(t)
	_ = m

	b := newBrowser(t, s)
	b.signIn("alice", "alice's password")
	s.Remember(b.cookie("_ciwarden_session"))
	page := "/-/user_settings/personal_access_tokens"
	p := b.post(page, page, url.Values{"name": {"ci"}, "scopes[]": {"read_api"}})
	if p.Status != http.StatusCreated {
		t.Fatalf("create token: %d\n%s", p.Status, p.Body)
	}
	sm := shownSecret.FindStringSubmatch(p.Body)
	if sm == nil {
		t.Fatalf("the new token is not shown:\n%s", p.Body)
	}
	secret := sm[1]
	s.Remember(secret)
	if r := s.Call(t, "GET", testserver.API+"/user", testserver.PrivateToken(secret), nil); r.Status != 200 {
		t.Fatalf("the new token on GET /user: %d", r.Status)
	}
	again := b.get(page)
	if shownSecret.MatchString(again.Body) {
		t.Fatal("the token's secret is shown again")
	}
	mustContain(t, again, "ci", "read_api", "active")
	// Bad input: the API's message.
	if p := b.post(page, page, url.Values{"name": {"x"}, "scopes[]": {"sudo"}}); p.Status != http.StatusBadRequest {
		t.Fatalf("a token with an unknown scope: %d", p.Status)
	}
	tokens := s.Expect(t, "GET", testserver.API+"/personal_access_tokens?user_id="+testserver.Itoa(alice.ID), s.RootToken, nil, 200).List(t)
	var id int64
	for _, tk := range tokens {
		if tk["name"] == "ci" {
			id = int64(tk["id"].(float64))
		}
	}
	// Root's own token: not alice's to revoke.
	rootTokens := s.Expect(t, "GET", testserver.API+"/personal_access_tokens", s.RootToken, nil, 200).List(t)
	rootID := testserver.Itoa(int64(rootTokens[0]["id"].(float64)))
	if p := b.post(page, page+"/"+rootID+"/revoke", url.Values{}); p.Status != http.StatusNotFound {
		t.Fatalf("revoking another user's token: %d, want 404", p.Status)
	}
	if p := b.post(page, page+"/"+testserver.Itoa(id)+"/revoke", url.Values{}); p.Status != http.StatusSeeOther {
		t.Fatalf("revoke: %d\n%s", p.Status, p.Body)
	}
	if r := s.Call(t, "GET", testserver.API+"/user", testserver.PrivateToken(secret), nil); r.Status != http.StatusUnauthorized {
		t.Fatalf("the revoked token on GET /user: %d", r.Status)
	}
	if p := b.get("/admin/runners"); p.Status != http.StatusForbidden {
		t.Fatalf("a non-admin on the runners page: %d, want 403", p.Status)
	}

	a := newBrowser(t, s)
	a.signIn("admin2", "admin's password")
	s.Remember(a.cookie("_ciwarden_session"))
	p = a.post("/admin/runners", "/admin/runners", url.Values{"description": {"shell box"}})
	if p.Status != http.StatusCreated {
		t.Fatalf("create runner: %d\n%s", p.Status, p.Body)
	}
	sm = shownSecret.FindStringSubmatch(p.Body)
	if sm == nil || len(sm[1]) < 10 || sm[1][:5] != "glrt-" {
		t.Fatalf("the runner's token is not shown:\n%s", p.Body)
	}
	s.Remember(sm[1])
	mustContain(t, a.get("/admin/runners"), "shell box", "never contacted")
}

// TestProjectRunnersPage: a project's Maintainer registers a project
// runner on the project's Runners page and sees its glrt- token once; the
// runner serves the project (the API lists it, the token verifies) and
// the page then shows its last contact; a Developer may not open the page
// nor post to it, a non-member gets 404 (issue 19, item 5).
func TestProjectRunnersPage(t *testing.T) {
	t.Parallel()
	s := testserver.New(t, testserver.Options{})
	maint := userWithPassword(t, s, "maint", "maintainer password")
	dev := userWithPassword(t, s, "dev", "developer password")
	userWithPassword(t, s, "out", "outsider password")
	grp := s.CreateGroup(t, "grp", 0, "private")
	app := s.CreateProject(t, grp, "app", "private")
	s.AddMember(t, "projects", app.ID, maint.ID, 40)
	s.AddMember(t, "projects", app.ID, dev.ID, 30)
	page := "/" + app.Path + "/-/runners"

	b := newBrowser(t, s)
	b.signIn("maint", "maintainer password")
	s.Remember(b.cookie("_ciwarden_session"))
	mustContain(t, b.get("/"+app.Path), `href="`+page+`"`)
	mustContain(t, b.get(page), "Create project runner", `action="`+page+`"`)
	p := b.post(page, page, url.Values{"description": {"app box"}})
	if p.Status != http.StatusCreated {
		t.Fatalf("create project runner: %d\n%s", p.Status, p.Body)
	}
	sm := shownSecret.FindStringSubmatch(p.Body)
	if sm == nil || !strings.HasPrefix(sm[1], "glrt-") {
		t.Fatalf("the runner's token is not shown:\n%s", p.Body)
	}
	token := sm[1]
	s.Remember(token)
	again := b.get(page)
	mustContain(t, again, "app box", "project_type", "never contacted")
	if strings.Contains(again.Body, token) {
		t.Fatal("the runner's token is shown again")
	}
	list := s.Expect(t, "GET", testserver.API+"/projects/"+testserver.Itoa(app.ID)+"/runners", maint.Token, nil, 200).List(t)
	if len(list) != 1 || list[0]["description"] != "app box" || list[0]["runner_type"] != "project_type" {
		t.Fatalf("the project's runners in the API: %v", list)
	}
	s.Expect(t, "POST", testserver.API+"/runners/verify", "", map[string]any{"token": token}, 200)
	if p := b.get(page); strings.Contains(p.Body, "never contacted") || !strings.Contains(p.Body, "online") {
		t.Errorf("after the runner's first call the page shows:\n%s", p.Body)
	}

	d := newBrowser(t, s)
	d.signIn("dev", "developer password")
	s.Remember(d.cookie("_ciwarden_session"))
	if strings.Contains(d.get("/"+app.Path).Body, page) {
		t.Error("a Developer's project menu links to Runners")
	}
	if p := d.get(page); p.Status != http.StatusForbidden {
		t.Errorf("a Developer on the runners page: %d, want 403", p.Status)
	}
	csrf := d.csrf("/" + app.Path)
	if p := d.do("POST", page, url.Values{"description": {"x"}, "authenticity_token": {csrf}}); p.Status != http.StatusForbidden {
		t.Errorf("a Developer creates a runner: %d, want 403", p.Status)
	}
	o := newBrowser(t, s)
	o.signIn("out", "outsider password")
	s.Remember(o.cookie("_ciwarden_session"))
	if p := o.get(page); p.Status != http.StatusNotFound {
		t.Errorf("a non-member on the runners page: %d, want 404", p.Status)
	}
}
