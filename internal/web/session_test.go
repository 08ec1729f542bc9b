package web_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/ciwarden/ciwarden/internal/testserver"
)

// browser is an HTTP client that keeps cookies and does not follow
// redirects, so that tests see each answer.
type browser struct {
	t   *testing.T
	s   *testserver.Server
	c   *http.Client
	jar *cookiejar.Jar
}

func newBrowser(t *testing.T, s *testserver.Server) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, s: s, jar: jar, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

type page struct {
	Status int
	Header http.Header
	Body   string
}

func (b *browser) do(method, path string, form url.Values) page {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.s.URL+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Accept", "text/html")
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return page{resp.StatusCode, resp.Header, string(data)}
}

func (b *browser) get(path string) page { b.t.Helper(); return b.do("GET", path, nil) }

var csrfField = regexp.MustCompile(`name="authenticity_token" value="([^"]+)"`)

// csrf is the token of the first form on the page at path.
func (b *browser) csrf(path string) string {
	b.t.Helper()
	p := b.get(path)
	m := csrfField.FindStringSubmatch(p.Body)
	if m == nil {
		b.t.Fatalf("GET %s (%d): no CSRF token in the page:\n%s", path, p.Status, p.Body)
	}
	return m[1]
}

// post submits a form of the page at from, with its CSRF token.
func (b *browser) post(from, path string, form url.Values) page {
	b.t.Helper()
	form.Set("authenticity_token", b.csrf(from))
	return b.do("POST", path, form)
}

func (b *browser) signIn(login, password string) page {
	b.t.Helper()
	return b.post("/users/sign_in", "/users/sign_in", url.Values{"login": {login}, "password": {password}})
}

func (b *browser) cookie(name string) string {
	u, _ := url.Parse(b.s.URL)
	for _, c := range b.jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// userWithPassword creates a user with a password through POST /users.
func userWithPassword(t *testing.T, s *testserver.Server, name, password string) testserver.User {
	t.Helper()
	m := s.Expect(t, "POST", testserver.API+"/users", s.RootToken, url.Values{
		"username": {name}, "name": {"User " + name}, "email": {name + "@example.com"}, "password": {password},
	}, http.StatusCreated).Object(t)
	u := testserver.User{ID: testserver.Num(t, m, "id"), Username: name}
	u.TokenID, u.Token = s.CreateToken(t, u.ID, "api")
	return u
}

func mustContain(t *testing.T, p page, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(p.Body, w) {
			t.Errorf("page (%d) does not contain %q:\n%s", p.Status, w, p.Body)
		}
	}
}

// TestSignIn: password sign-in opens a session kept in the database (only
// its digest), in an HttpOnly SameSite=Lax cookie; a wrong password gets
// GitLab's one message; sign out ends the session everywhere; a password
// change ends every session of the user; the API takes no session.
func TestSignIn(t *testing.T) {
	t.Parallel()
	testserver.ForEachDialect(t, func(t *testing.T, dialect string) {
		s := testserver.New(t, testserver.Options{Dialect: dialect})
		alice := userWithPassword(t, s, "alice", "correct horse battery")
		grp := s.CreateGroup(t, "team", 0, "private")
		proj := s.CreateProject(t, grp, "app", "private")
		s.AddMember(t, "projects", proj.ID, alice.ID, 30)

		b := newBrowser(t, s)
		// Signed out: every page sends the browser to sign in.
		p := b.get("/")
		if p.Status != http.StatusFound || p.Header.Get("Location") != "/users/sign_in?redirect_to=%2F" {
			t.Fatalf("GET / signed out: %d Location %q, want 302 to sign in", p.Status, p.Header.Get("Location"))
		}
		p = b.get("/" + proj.Path)
		if p.Status != http.StatusFound || !strings.HasPrefix(p.Header.Get("Location"), "/users/sign_in?redirect_to=") {
			t.Fatalf("GET private project signed out: %d Location %q, want 302 to sign in", p.Status, p.Header.Get("Location"))
		}

		p = b.signIn("alice", "wrong password")
		if p.Status != http.StatusUnauthorized {
			t.Fatalf("wrong password: %d, want 401", p.Status)
		}
		mustContain(t, p, "Invalid login or password.")
		if b.cookie("_ciwarden_session") != "" {
			t.Fatal("a wrong password set a session cookie")
		}

		p = b.signIn("alice", "correct horse battery")
		if p.Status != http.StatusSeeOther || p.Header.Get("Location") != "/" {
			t.Fatalf("sign in: %d Location %q, want 303 to /\n%s", p.Status, p.Header.Get("Location"), p.Body)
		}
		var setCookie string
		for _, c := range p.Header.Values("Set-Cookie") {
			if strings.HasPrefix(c, "_ciwarden_session=") {
				setCookie = c
			}
		}
		for _, attr := range []string{"HttpOnly", "SameSite=Lax", "Path=/"} {
			if !strings.Contains(setCookie, attr) {
				t.Errorf("session cookie %q lacks %s", setCookie, attr)
			}
		}
		if strings.Contains(setCookie, "Secure") {
			t.Errorf("session cookie %q is Secure on an http server", setCookie)
		}
		secret := b.cookie("_ciwarden_session")
		s.Remember(secret) // the data scan fails the test if it is stored in clear

		p = b.get("/")
		if p.Status != http.StatusOK {
			t.Fatalf("dashboard: %d\n%s", p.Status, p.Body)
		}
		mustContain(t, p, "Your projects", "team/app", "alice")
		p = b.get("/" + proj.Path)
		if p.Status != http.StatusOK {
			t.Fatalf("project page: %d\n%s", p.Status, p.Body)
		}
		// A Developer sees pipelines but no settings.
		mustContain(t, p, "/team/app/-/pipelines")
		if strings.Contains(p.Body, "/-/settings/ci_cd") {
			t.Error("a Developer's project page links to the settings")
		}

		// The API takes no session cookie (GitLab's API v4 without its
		// CSRF token does not either).
		req := s.NewRequest(t, "GET", testserver.API+"/user", "", nil)
		req.AddCookie(&http.Cookie{Name: "_ciwarden_session", Value: secret})
		if r := s.Send(t, req); r.Status != http.StatusUnauthorized {
			t.Errorf("GET /user with only the session cookie: %d, want 401", r.Status)
		}

		// Another browser with the same cookie is the same session
		// (the database holds it: every replica accepts it).
		other := newBrowser(t, s)
		u, _ := url.Parse(s.URL)
		other.jar.SetCookies(u, []*http.Cookie{{Name: "_ciwarden_session", Value: secret}})
		if p := other.get("/"); p.Status != http.StatusOK {
			t.Fatalf("the session in another client: %d", p.Status)
		}

		// Sign out ends it for both.
		p = b.post("/", "/users/sign_out", url.Values{})
		if p.Status != http.StatusSeeOther {
			t.Fatalf("sign out: %d", p.Status)
		}
		if p := other.get("/"); p.Status != http.StatusFound {
			t.Fatalf("the session after sign out: %d, want 302 to sign in", p.Status)
		}

		// A password change (PUT /users/:id) ends every session.
		b.signIn("alice", "correct horse battery")
		if p := b.get("/"); p.Status != http.StatusOK {
			t.Fatalf("signed in again: %d", p.Status)
		}
		s.Expect(t, "PUT", testserver.API+"/users/"+testserver.Itoa(alice.ID), s.RootToken, url.Values{"password": {"short"}}, http.StatusBadRequest)
		s.Expect(t, "PUT", testserver.API+"/users/"+testserver.Itoa(alice.ID), alice.Token, url.Values{"password": {"a new password"}}, http.StatusForbidden)
		s.Expect(t, "PUT", testserver.API+"/users/"+testserver.Itoa(alice.ID), s.RootToken, url.Values{"password": {"a new password"}}, http.StatusOK)
		if p := b.get("/"); p.Status != http.StatusFound {
			t.Fatalf("the session after a password change: %d, want 302 to sign in", p.Status)
		}
		if p := b.signIn("alice", "correct horse battery"); p.Status != http.StatusUnauthorized {
			t.Fatalf("the old password after the change: %d, want 401", p.Status)
		}
		if p := b.signIn("alice@example.com", "a new password"); p.Status != http.StatusSeeOther {
			t.Fatalf("the new password, by email: %d, want 303", p.Status)
		}
	})
}

// TestPagesRefuse: a form post without its CSRF token is refused (422); a
// signed-in user who is not a member gets the 404 page for a private
// project; repeated wrong passwords are throttled; a user without a
// password cannot sign in; redirect_to stays on the server.
func TestPagesRefuse(t *testing.T) {
	t.Parallel()
	s := testserver.New(t, testserver.Options{})
	userWithPassword(t, s, "bob", "bob's long password")
	s.CreateUser(t, "nopass")
	grp := s.CreateGroup(t, "secret", 0, "private")
	proj := s.CreateProject(t, grp, "app", "private")

	b := newBrowser(t, s)
	b.get("/users/sign_in") // the signed-out CSRF cookie
	p := b.do("POST", "/users/sign_in", url.Values{"login": {"bob"}, "password": {"bob's long password"}})
	if p.Status != http.StatusUnprocessableEntity {
		t.Fatalf("sign in without the CSRF token: %d, want 422", p.Status)
	}
	mustContain(t, p, "Can&#39;t verify CSRF token authenticity.")
	p = b.do("POST", "/users/sign_in", url.Values{"login": {"bob"}, "password": {"bob's long password"}, "authenticity_token": {"forged"}})
	if p.Status != http.StatusUnprocessableEntity {
		t.Fatalf("sign in with a forged CSRF token: %d, want 422", p.Status)
	}

	p = b.post("/users/sign_in", "/users/sign_in", url.Values{"login": {"bob"}, "password": {"bob's long password"},
		"redirect_to": {"//evil.example/"}})
	if p.Status != http.StatusSeeOther || p.Header.Get("Location") != "/" {
		t.Fatalf("sign in with an off-site redirect_to: %d Location %q, want 303 to /", p.Status, p.Header.Get("Location"))
	}
	s.Remember(b.cookie("_ciwarden_session"))
	if p := b.do("POST", "/users/sign_out", url.Values{}); p.Status != http.StatusUnprocessableEntity {
		t.Fatalf("sign out without the CSRF token: %d, want 422", p.Status)
	}
	p = b.get("/" + proj.Path)
	if p.Status != http.StatusNotFound || !strings.Contains(p.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("a non-member on a private project: %d %s, want the HTML 404 page", p.Status, p.Header.Get("Content-Type"))
	}
	mustContain(t, p, "404 Project Not Found")
	if p := b.get("/" + proj.Path + "/-/pipelines"); p.Status != http.StatusNotFound {
		t.Fatalf("a non-member on a private project's pipelines: %d, want 404", p.Status)
	}
	if p := b.get("/no/such/page/-/nothing"); p.Status != http.StatusNotFound {
		t.Fatalf("an unknown page: %d, want 404", p.Status)
	}

	nb := newBrowser(t, s)
	if p := nb.signIn("nopass", ""); p.Status != http.StatusUnauthorized {
		t.Fatalf("a user without a password: %d, want 401", p.Status)
	}
	for i := 0; i < 10; i++ {
		nb.signIn("bob", "guess")
	}
	p = nb.signIn("bob", "bob's long password")
	if p.Status != http.StatusTooManyRequests {
		t.Fatalf("the right password after 10 failures: %d, want 429", p.Status)
	}
	mustContain(t, p, "Too many failed sign-in attempts.")
}

// TestPasswordPage: a user changes their own password on
// /-/user_settings/password: the current password and the new one twice;
// a refusal shows GitLab's message on the form; success keeps this
// browser signed in and signs out the user's other browsers (issue 19).
func TestPasswordPage(t *testing.T) {
	t.Parallel()
	s := testserver.New(t, testserver.Options{})
	userWithPassword(t, s, "alice", "alice's old password")
	const page = "/-/user_settings/password"
	if p := newBrowser(t, s).get(page); p.Status != http.StatusFound || !strings.HasPrefix(p.Header.Get("Location"), "/users/sign_in") {
		t.Fatalf("signed out on the password page: %d %q, want a redirect to sign in", p.Status, p.Header.Get("Location"))
	}
	a, b := newBrowser(t, s), newBrowser(t, s)
	for _, x := range []*browser{a, b} {
		x.signIn("alice", "alice's old password")
		s.Remember(x.cookie("_ciwarden_session"))
	}
	mustContain(t, a.get("/"), `href="`+page+`"`)
	mustContain(t, a.get(page), "Current password", "New password", "Password confirmation")
	form := func(current, next, confirm string) url.Values {
		return url.Values{"current_password": {current}, "new_password": {next}, "password_confirmation": {confirm}}
	}
	p := a.post(page, page, form("wrong password", "alice's new password", "alice's new password"))
	if p.Status != http.StatusBadRequest {
		t.Fatalf("wrong current password: %d", p.Status)
	}
	mustContain(t, p, "You must provide a valid current password.")
	p = a.post(page, page, form("alice's old password", "alice's new password", "alice's other password"))
	if p.Status != http.StatusBadRequest {
		t.Fatalf("confirmation mismatch: %d", p.Status)
	}
	mustContain(t, p, "Password confirmation doesn&#39;t match Password")
	if p := a.post(page, page, form("alice's old password", "short", "short")); p.Status != http.StatusBadRequest || !strings.Contains(p.Body, "too short") {
		t.Fatalf("a short password: %d\n%s", p.Status, p.Body)
	}
	if p := a.do("POST", page, form("alice's old password", "alice's new password", "alice's new password")); p.Status != http.StatusUnprocessableEntity {
		t.Fatalf("a change without the CSRF token: %d, want 422", p.Status)
	}
	p = a.post(page, page, form("alice's old password", "alice's new password", "alice's new password"))
	if p.Status != http.StatusSeeOther || p.Header.Get("Location") != page+"?updated=1" {
		t.Fatalf("change: %d %q\n%s", p.Status, p.Header.Get("Location"), p.Body)
	}
	s.Remember(a.cookie("_ciwarden_session"))
	mustContain(t, a.get(page+"?updated=1"), "Password was successfully updated.")
	if p := a.get("/"); p.Status != http.StatusOK {
		t.Errorf("the browser that changed the password: %d, want still signed in", p.Status)
	}
	if p := b.get("/"); p.Status != http.StatusFound || !strings.HasPrefix(p.Header.Get("Location"), "/users/sign_in") {
		t.Errorf("the other browser after the change: %d %q, want sent to sign in", p.Status, p.Header.Get("Location"))
	}
	if p := newBrowser(t, s).signIn("alice", "alice's old password"); p.Status != http.StatusUnauthorized {
		t.Errorf("the old password: %d, want 401", p.Status)
	}
	c := newBrowser(t, s)
	if p := c.signIn("alice", "alice's new password"); p.Status != http.StatusSeeOther {
		t.Errorf("the new password: %d, want 303", p.Status)
	}
	s.Remember(c.cookie("_ciwarden_session"))
}
