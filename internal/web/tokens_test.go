package web_test

import (
	"net/http"
	"net/url"
	"regexp"
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
