package e2e

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/ciwarden/ciwarden/internal/testserver"
)

func TestTokens(t *testing.T) { forEachDialect(t, testTokens) }

func testTokens(t *testing.T, s *testserver.Server) {
	u := s.CreateUser(t, "tokuser")
	other := s.CreateUser(t, "other")
	grp := s.CreateGroup(t, "pubgrp", 0, "public")
	pub := s.CreateProject(t, grp, "pubproj", "public").ID
	pubPath := api + "/projects/" + testserver.Itoa(pub)

	whoAmI := func(t *testing.T, r *testserver.Resp, want string) {
		t.Helper()
		if r.Status != http.StatusOK {
			t.Errorf("%s: status %d, want 200; body: %s", r.Req, r.Status, r.Body)
			return
		}
		if got := testserver.Str(t, r.Object(t), "username"); got != want {
			t.Errorf("%s: authenticated as %q, want %q", r.Req, got, want)
		}
	}

	t.Run("transports", func(t *testing.T) {
		whoAmI(t, s.Do(t, "GET", api+"/user", u.Token, nil), u.Username)

		req := s.NewRequest(t, "GET", api+"/user", "", nil)
		req.Header.Set("Authorization", "Bearer "+u.Token)
		whoAmI(t, s.Send(t, req), u.Username)

		whoAmI(t, s.Do(t, "GET", api+"/user?private_token="+url.QueryEscape(u.Token), "", nil), u.Username)

		// The parameter in a form body counts too: the group is theirs.
		s.Expect(t, "POST", api+"/groups", "", url.Values{
			"private_token": {u.Token}, "name": {"Mine"}, "path": {"mine"},
		}, http.StatusCreated)
		r := s.Expect(t, "GET", api+"/groups/mine/members/"+testserver.Itoa(u.ID), s.RootToken, nil, http.StatusOK)
		if testserver.Num(t, r.Object(t), "access_level") != 50 {
			t.Errorf("creator's membership: %s", r.Body)
		}
	})

	t.Run("ambiguous", func(t *testing.T) {
		q := url.QueryEscape(u.Token)
		r := s.Do(t, "GET", api+"/user?private_token="+q+"&private_token="+q, "", nil)
		checkStatus(t, r, http.StatusUnauthorized, "")
		r = s.Do(t, "GET", api+"/user?private_token[]="+q, "", nil)
		checkStatus(t, r, http.StatusUnauthorized, "")
		req := s.NewRequest(t, "GET", api+"/user", "", nil)
		req.Header.Add("PRIVATE-TOKEN", u.Token)
		req.Header.Add("PRIVATE-TOKEN", u.Token)
		checkStatus(t, s.Send(t, req), http.StatusUnauthorized, "")
	})

	t.Run("garbage", func(t *testing.T) {
		// Anonymous reads of public things work...
		s.Expect(t, "GET", pubPath, "", nil, http.StatusOK)
		s.Expect(t, "GET", api+"/projects", "", nil, http.StatusOK)
		// ...but a bad credential is refused, never downgraded to anonymous.
		for _, path := range []string{pubPath, api + "/projects", api + "/user"} {
			checkStatus(t, s.Do(t, "GET", path, "garbage", nil), http.StatusUnauthorized, "")
			checkStatus(t, s.Do(t, "GET", path+"?private_token=garbage", "", nil), http.StatusUnauthorized, "")
			req := s.NewRequest(t, "GET", path, "", nil)
			req.Header.Set("Authorization", "Bearer garbage")
			checkStatus(t, s.Send(t, req), http.StatusUnauthorized, "")
		}
	})

	t.Run("blocked", func(t *testing.T) {
		r := s.Expect(t, "POST", api+"/users/"+testserver.Itoa(u.ID)+"/block", s.RootToken, nil, http.StatusCreated)
		checkJSON(t, r, `true`)
		checkStatus(t, s.Do(t, "GET", api+"/user", u.Token, nil), http.StatusUnauthorized, "")
		checkStatus(t, s.Do(t, "GET", pubPath, u.Token, nil), http.StatusUnauthorized, "")
		m := s.Expect(t, "GET", api+"/users/"+testserver.Itoa(u.ID), s.RootToken, nil, http.StatusOK).Object(t)
		if got := testserver.Str(t, m, "state"); got != "blocked" {
			t.Errorf("state %q after block, want blocked", got)
		}
		// Only an admin blocks, and not themself.
		checkStatus(t, s.Do(t, "POST", api+"/users/"+testserver.Itoa(other.ID)+"/block", other.Token, nil), http.StatusForbidden, "")
		rootID := testserver.Num(t, s.Expect(t, "GET", api+"/user", s.RootToken, nil, http.StatusOK).Object(t), "id")
		checkStatus(t, s.Do(t, "POST", api+"/users/"+testserver.Itoa(rootID)+"/block", s.RootToken, nil), http.StatusForbidden, "")

		r = s.Expect(t, "POST", api+"/users/"+testserver.Itoa(u.ID)+"/unblock", s.RootToken, nil, http.StatusCreated)
		checkJSON(t, r, `true`)
		whoAmI(t, s.Do(t, "GET", api+"/user", u.Token, nil), u.Username)
	})

	t.Run("expired", func(t *testing.T) {
		tomorrow := time.Now().UTC().AddDate(0, 0, 1).Format(time.DateOnly)
		id, secret := s.CreateTokenWith(t, u.ID, map[string]any{"name": "short-lived", "scopes": []string{"api"}, "expires_at": tomorrow})
		m := s.Expect(t, "GET", api+"/personal_access_tokens/"+testserver.Itoa(id), s.RootToken, nil, http.StatusOK).Object(t)
		if testserver.Str(t, m, "expires_at") != tomorrow || m["active"] != true {
			t.Errorf("new token: expires_at %v active %v, want %s and true", m["expires_at"], m["active"], tomorrow)
		}

		// The token's expiry moves to a moment a few seconds away (the API
		// takes dates only), and the token is used while it is valid, so
		// that the server's token cache (SQLite) holds it when that moment
		// passes: expiry is checked against the clock on every use.
		db, rebind := s.OpenDB(t)
		at := time.Now().Add(3 * time.Second)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		res, err := db.ExecContext(ctx, rebind("UPDATE personal_access_tokens SET expires_at = ? WHERE id = ?"), at.UnixMicro(), id)
		if err != nil {
			t.Fatalf("expire the token in the database: %v", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			t.Fatalf("expire the token: %d rows updated", n)
		}
		if time.Until(at) > time.Second {
			whoAmI(t, s.Do(t, "GET", api+"/user", secret, nil), u.Username)
		}
		time.Sleep(time.Until(at) + 50*time.Millisecond)
		checkInvalidToken(t, s.Do(t, "GET", api+"/user", secret, nil), "Token has expired.")
		checkInvalidToken(t, s.Do(t, "GET", pubPath, secret, nil), "Token has expired.")
		m = s.Expect(t, "GET", api+"/personal_access_tokens/"+testserver.Itoa(id), s.RootToken, nil, http.StatusOK).Object(t)
		if m["active"] != false || m["revoked"] != false {
			t.Errorf("expired token: active %v revoked %v, want false false", m["active"], m["revoked"])
		}
		// The user's other token is unaffected.
		whoAmI(t, s.Do(t, "GET", api+"/user", u.Token, nil), u.Username)
	})

	t.Run("revoked", func(t *testing.T) {
		id, secret := s.CreateToken(t, u.ID, "api")
		whoAmI(t, s.Do(t, "GET", api+"/user", secret, nil), u.Username)
		// Someone else's token is "not found" to a non-admin.
		checkStatus(t, s.Do(t, "DELETE", api+"/personal_access_tokens/"+testserver.Itoa(id), other.Token, nil), http.StatusNotFound, "")
		whoAmI(t, s.Do(t, "GET", api+"/user", secret, nil), u.Username)

		r := s.Expect(t, "DELETE", api+"/personal_access_tokens/"+testserver.Itoa(id), u.Token, nil, http.StatusNoContent)
		if len(r.Body) != 0 {
			t.Errorf("204 with a body: %q", r.Body)
		}
		checkInvalidToken(t, s.Do(t, "GET", api+"/user", secret, nil), "Token has been revoked.")
		checkInvalidToken(t, s.Do(t, "GET", pubPath, secret, nil), "Token has been revoked.")
		m := s.Expect(t, "GET", api+"/personal_access_tokens/"+testserver.Itoa(id), s.RootToken, nil, http.StatusOK).Object(t)
		if m["revoked"] != true || m["active"] != false {
			t.Errorf("revoked token: revoked %v active %v, want true false", m["revoked"], m["active"])
		}

		// An admin revokes anyone's.
		id2, secret2 := s.CreateToken(t, other.ID, "api")
		s.Expect(t, "DELETE", api+"/personal_access_tokens/"+testserver.Itoa(id2), s.RootToken, nil, http.StatusNoContent)
		checkInvalidToken(t, s.Do(t, "GET", api+"/user", secret2, nil), "Token has been revoked.")
	})

	t.Run("read_api", func(t *testing.T) {
		_, ro := s.CreateToken(t, u.ID, "read_api")
		whoAmI(t, s.Do(t, "GET", api+"/user", ro, nil), u.Username)
		s.Expect(t, "GET", api+"/projects", ro, nil, http.StatusOK)
		s.Expect(t, "GET", pubPath, ro, nil, http.StatusOK)
		insufficient := `{"error":"insufficient_scope","error_description":"The request requires higher privileges than provided by the access token.","scope":"api"}`
		r := s.Expect(t, "POST", api+"/groups", ro, url.Values{"name": {"RO"}, "path": {"ro"}}, http.StatusForbidden)
		checkJSON(t, r, insufficient)
		r = s.Expect(t, "PUT", pubPath, ro, url.Values{"description": {"x"}}, http.StatusForbidden)
		checkJSON(t, r, insufficient)
		s.Expect(t, "GET", api+"/groups/ro", s.RootToken, nil, http.StatusNotFound)
	})

	t.Run("admin only", func(t *testing.T) {
		// A non-admin mints no tokens and creates no users.
		r := s.Do(t, "POST", api+"/users/"+testserver.Itoa(u.ID)+"/personal_access_tokens", u.Token, map[string]any{"name": "x", "scopes": []string{"api"}})
		checkStatus(t, r, http.StatusForbidden, "")
		r = s.Do(t, "POST", api+"/users", u.Token, url.Values{"username": {"sneaky"}, "name": {"S"}, "email": {"s@example.com"}})
		checkStatus(t, r, http.StatusForbidden, "")
		r = s.Do(t, "POST", api+"/users", "", url.Values{"username": {"sneaky"}, "name": {"S"}, "email": {"s@example.com"}})
		checkStatus(t, r, http.StatusUnauthorized, "")
	})
}

// TestTokenScopesFormArray: GitLab's documented way of creating a token,
// `--data "scopes[]=api"`, as a form or in the query string.
func TestTokenScopesFormArray(t *testing.T) {
	s := startServer(t, "sqlite")
	u := s.CreateUser(t, "formuser")
	for name, req := range map[string]*http.Request{
		"form": s.NewRequest(t, "POST", api+"/users/"+testserver.Itoa(u.ID)+"/personal_access_tokens", s.RootToken,
			url.Values{"name": {"form"}, "scopes[]": {"api", "read_api"}}),
		"query": s.NewRequest(t, "POST", api+"/users/"+testserver.Itoa(u.ID)+"/personal_access_tokens?name=query&scopes[]=api", s.RootToken, nil),
		"comma": s.NewRequest(t, "POST", api+"/users/"+testserver.Itoa(u.ID)+"/personal_access_tokens", s.RootToken,
			url.Values{"name": {"comma"}, "scopes": {"api,read_api"}}),
	} {
		t.Run(name, func(t *testing.T) {
			r := s.Send(t, req)
			if r.Status != http.StatusCreated {
				t.Fatalf("%s: status %d, want 201; body: %s", r.Req, r.Status, r.Body)
			}
			m := r.Object(t)
			s.Remember(testserver.Str(t, m, "token"))
			if scopes, _ := m["scopes"].([]any); len(scopes) == 0 || scopes[0] != "api" {
				t.Errorf("scopes %v, want [api ...]", m["scopes"])
			}
		})
	}
}
