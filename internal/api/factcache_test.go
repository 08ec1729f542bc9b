package api_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/ciwarden/ciwarden/internal/testdb"
	"github.com/ciwarden/ciwarden/internal/testserver"
)

// factReplicas runs fn with the server a test changes things through (w)
// and the one it reads through (r): one SQLite server (which keeps
// personal tokens, projects and access levels in memory), one PostgreSQL
// server, and two replicas of one PostgreSQL database, where a change
// committed by one must be refused by the other on the very next request.
func factReplicas(t *testing.T, fn func(t *testing.T, w, r *testserver.Server)) {
	t.Run("sqlite", func(t *testing.T) {
		s := testserver.New(t, testserver.Options{})
		fn(t, s, s)
	})
	t.Run("postgres", func(t *testing.T) {
		s := testserver.New(t, testserver.Options{Dialect: "postgres"})
		fn(t, s, s)
	})
	t.Run("postgres-replicas", func(t *testing.T) {
		testdb.RequirePostgres(t)
		dbURL, dataDir := testdb.Postgres(t), t.TempDir()
		a := testserver.New(t, testserver.Options{DatabaseURL: dbURL, DataDir: dataDir})
		b := testserver.New(t, testserver.Options{DatabaseURL: dbURL, DataDir: dataDir, RootToken: a.RootToken})
		fn(t, a, b)
	})
}

// warm reads path as token's user through r until r keeps the token in
// memory (SQLite; a fill that raced a change is rightly dropped, so a
// busy server may need another use), and checks every answer is 200.
func warm(t *testing.T, r *testserver.Server, path, token string) {
	t.Helper()
	r.Expect(t, "GET", path, token, nil, http.StatusOK)
	if r.Srv.Store().Shared() {
		if r.Srv.Authenticator().PersonalTokenCached(token) {
			t.Fatalf("a personal token is cached on %s, where other replicas write", r.Srv.Store().Dialect())
		}
		return
	}
	for try := 0; !r.Srv.Authenticator().PersonalTokenCached(token); try++ {
		if try == 5 {
			t.Fatal("the personal token is not cached after six uses on SQLite")
		}
		r.Expect(t, "GET", path, token, nil, http.StatusOK)
	}
}

// TestPersonalTokenFactsStayExact: with the token, its user, the project
// and the caller's level read (and on SQLite cached) first, every way
// that ends the caller's access is refused on the very next request
// (issue 14; security.md §1): a revoked or expired token, a blocked user,
// a removed, lowered or expired membership; and a membership added is
// honoured at once.
func TestPersonalTokenFactsStayExact(t *testing.T) {
	factReplicas(t, func(t *testing.T, w, r *testserver.Server) {
		group := w.CreateGroup(t, "facts", 0, "private")
		p := w.CreateProject(t, group, "app", "private")
		path := testserver.API + "/projects/" + testserver.Itoa(p.ID)
		newDev := func(name string) testserver.User {
			u := w.CreateUser(t, name)
			r.Remember(u.Token)
			w.AddMember(t, "projects", p.ID, u.ID, 30)
			return u
		}
		const unauthorized = `{"message":"401 Unauthorized"}`
		const notFound = `{"message":"404 Project Not Found"}`
		want := func(what, token string, status int, body string) {
			t.Helper()
			got := r.Do(t, "GET", path, token, nil)
			if got.Status != status || string(got.Body) != body+"\n" && string(got.Body) != body {
				t.Fatalf("%s: %s; want %d %s", what, got, status, body)
			}
		}

		t.Run("revoked token", func(t *testing.T) {
			u := newDev("revoked")
			warm(t, r, path, u.Token)
			w.Expect(t, "DELETE", testserver.API+"/personal_access_tokens/"+testserver.Itoa(u.TokenID), w.RootToken, nil, http.StatusNoContent)
			want("after the revocation", u.Token, http.StatusUnauthorized,
				`{"error":"invalid_token","error_description":"Token has been revoked."}`)
		})

		t.Run("blocked user", func(t *testing.T) {
			u := newDev("blocked")
			warm(t, r, path, u.Token)
			w.Expect(t, "POST", testserver.API+"/users/"+testserver.Itoa(u.ID)+"/block", w.RootToken, nil, http.StatusCreated)
			want("after the block", u.Token, http.StatusUnauthorized, unauthorized)
		})

		t.Run("removed membership", func(t *testing.T) {
			u := newDev("removed")
			warm(t, r, path, u.Token)
			w.Expect(t, "DELETE", path+"/members/"+testserver.Itoa(u.ID), w.RootToken, nil, http.StatusNoContent)
			want("after the removal", u.Token, http.StatusNotFound, notFound)
			// Back as a Reporter of the group: seen at once too.
			w.AddMember(t, "groups", group, u.ID, 20)
			want("after the new membership", u.Token, http.StatusOK, string(r.Expect(t, "GET", path, w.RootToken, nil, http.StatusOK).Body))
		})

		t.Run("lowered membership", func(t *testing.T) {
			u := newDev("lowered")
			pipelines := path + "/pipelines"
			warm(t, r, pipelines, u.Token)
			w.Expect(t, "PUT", path+"/members/"+testserver.Itoa(u.ID), w.RootToken, map[string]any{"access_level": 10}, http.StatusOK)
			got := r.Do(t, "GET", pipelines, u.Token, nil)
			if got.Status != http.StatusForbidden || string(got.Body) != `{"message":"403 Forbidden"}`+"\n" {
				t.Fatalf("pipelines as a Guest after the change: %s; want 403", got)
			}
		})

		// Expiry is no change anyone publishes: the clock ends the token
		// and the membership. Both are set to end a few seconds from now
		// before the first use, read (and cached) while valid, then
		// refused once the moment passed.
		db, rebind := w.OpenDB(t)
		soon := func() (time.Time, int64) {
			at := time.Now().Add(3 * time.Second)
			return at, at.UnixMicro()
		}
		waitPast := func(at time.Time) {
			if d := time.Until(at); d > 0 {
				time.Sleep(d + 50*time.Millisecond)
			}
		}

		t.Run("expired token", func(t *testing.T) {
			u := newDev("expiring")
			at, micros := soon()
			if _, err := db.Exec(rebind("UPDATE personal_access_tokens SET expires_at = ? WHERE id = ?"), micros, u.TokenID); err != nil {
				t.Fatal(err)
			}
			warm(t, r, path, u.Token)
			if time.Now().After(at) {
				t.Fatal("the machine took more than 3 s to warm the cache: the test proves nothing")
			}
			waitPast(at)
			want("after the expiry", u.Token, http.StatusUnauthorized,
				`{"error":"invalid_token","error_description":"Token has expired."}`)
		})

		t.Run("expired membership", func(t *testing.T) {
			u := newDev("member-expiring")
			at, micros := soon()
			if _, err := db.Exec(rebind("UPDATE project_members SET expires_at = ? WHERE project_id = ? AND user_id = ?"), micros, p.ID, u.ID); err != nil {
				t.Fatal(err)
			}
			warm(t, r, path, u.Token)
			if time.Now().After(at) {
				t.Fatal("the machine took more than 3 s to warm the cache: the test proves nothing")
			}
			waitPast(at)
			want("after the membership's expiry", u.Token, http.StatusNotFound, notFound)
		})
	})
}

// TestJobTokenAllowlistRemovalStaysExact: a job token of another project,
// admitted by the target's inbound allowlist and used once (project and
// lists cached on SQLite), is refused on the very next request after the
// entry is removed, on every replica.
func TestJobTokenAllowlistRemovalStaysExact(t *testing.T) {
	factReplicas(t, func(t *testing.T, w, r *testserver.Server) {
		target := w.CreateProject(t, w.CreateGroup(t, "tgt", 0, "private"), "lib", "private")
		src := w.CreateProject(t, w.CreateGroup(t, "srcgrp", 0, "private"), "src", "private")
		dev := w.CreateUser(t, "dev")
		r.Remember(dev.Token)
		w.AddMember(t, "projects", src.ID, dev.ID, 30)
		w.AddMember(t, "projects", target.ID, dev.ID, 30)
		_, runnerToken := w.CreateRunner(t, nil)
		r.Remember(runnerToken)
		w.PushCI(t, src.Path, dev, map[string]string{".gitlab-ci.yml": "job:\n  script: [x]\n"})
		j := w.NewRunnerClient(runnerToken).TakeJob(t)
		r.Remember(j.Token)
		j.Start(t)
		w.AllowJobTokens(t, target.ID, src.ID)

		project := testserver.API + "/projects/" + testserver.Itoa(target.ID)
		packages := project + "/packages"
		for range 3 {
			if got := r.Call(t, "GET", packages, testserver.JobToken(j.Token), nil); got.Status != http.StatusOK || string(got.Body) != "[]\n" {
				t.Fatalf("job token admitted by the allowlist: %s; want 200 []", got)
			}
		}
		w.Expect(t, "DELETE", project+"/job_token_scope/allowlist/"+testserver.Itoa(src.ID), w.RootToken, nil, http.StatusNoContent)
		got := r.Call(t, "GET", packages, testserver.JobToken(j.Token), nil)
		wantBody := `{"message":"Authentication by CI/CD job token not allowed from srcgrp/src to tgt/lib."}` + "\n"
		if got.Status != http.StatusForbidden || string(got.Body) != wantBody {
			t.Fatalf("job token after its allowlist entry was removed: %s; want 403 %s", got, wantBody)
		}
	})
}
