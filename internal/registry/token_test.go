package registry_test

// The token service (/jwt/auth) against the real server on SQLite and
// PostgreSQL: which scopes each caller gets, what is refused and how
// (gitlab-compat.md §3.4, §7).

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/ciwarden/ciwarden/internal/testserver"
)

// grants is the access claim of a registry token.
type grants []struct {
	Type    string   `json:"type"`
	Name    string   `json:"name"`
	Actions []string `json:"actions"`
}

func authPath(scopes ...string) string {
	q := url.Values{"service": {"container_registry"}, "scope": scopes}
	return "/jwt/auth?" + q.Encode()
}

// askToken asks /jwt/auth for scopes with cred and returns the token's
// grants as name -> actions.
func askToken(t *testing.T, s *testserver.Server, cred testserver.Cred, scopes ...string) map[string][]string {
	t.Helper()
	r := s.Call(t, "GET", authPath(scopes...), cred, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("%s: want 200", r)
	}
	var body struct {
		Token       string `json:"token"`
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	r.JSON(t, &body)
	if body.Token == "" || body.Token != body.AccessToken || body.ExpiresIn != 300 {
		t.Fatalf("token answer %s", r.Body)
	}
	parts := strings.Split(body.Token, ".")
	if len(parts) != 3 {
		t.Fatalf("token is no JWS: %q", body.Token)
	}
	header, _ := base64.RawURLEncoding.DecodeString(parts[0])
	var h map[string]any
	if err := json.Unmarshal(header, &h); err != nil || h["alg"] != "ES256" || h["kid"] == "" {
		t.Fatalf("token header %s", header)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		Aud    any    `json:"aud"`
		Access grants `json:"access"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, g := range claims.Access {
		out[g.Name] = g.Actions
	}
	return out
}

func wantGrants(t *testing.T, got map[string][]string, want map[string][]string) {
	t.Helper()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("grants %v, want %v", got, want)
	}
}

func TestTokenService(t *testing.T) {
	t.Parallel()
	testserver.ForEachDialect(t, func(t *testing.T, dialect string) {
		s := testserver.New(t, testserver.Options{Dialect: dialect})
		team := s.NewTeamCI(t, "build:\n  script: [make]\n")
		own := "grp/app"
		scope := "repository:" + own + ":pull,push"
		basic := func(u testserver.User) testserver.Cred { return testserver.Basic(u.Username, u.Token) }

		t.Run("roles", func(t *testing.T) {
			wantGrants(t, askToken(t, s, basic(team.Maint), scope+",delete"), map[string][]string{own: {"pull", "push", "delete"}})
			wantGrants(t, askToken(t, s, basic(team.Dev), scope+",delete"), map[string][]string{own: {"pull", "push"}})
			wantGrants(t, askToken(t, s, basic(team.Reporter), scope), map[string][]string{own: {"pull"}})
			wantGrants(t, askToken(t, s, basic(team.Guest), scope), nil)
			wantGrants(t, askToken(t, s, basic(team.Outsider), scope), nil)
			wantGrants(t, askToken(t, s, nil, scope), nil)
			// An image below the project, and "*".
			wantGrants(t, askToken(t, s, basic(team.Dev), "repository:grp/app/tools/builder:*"),
				map[string][]string{"grp/app/tools/builder": {"pull", "push"}})
			// A path whose project does not exist is left out.
			wantGrants(t, askToken(t, s, basic(team.Maint), "repository:grp/nothing/here:pull,push"), nil)
			// docker login asks with no scope: a token that grants nothing.
			wantGrants(t, askToken(t, s, basic(team.Dev)), nil)
			// Several scopes, one parameter with spaces or several.
			wantGrants(t, askToken(t, s, basic(team.Reporter), scope+" repository:grp/app/x:pull", "repository:grp/none:pull"),
				map[string][]string{own: {"pull"}, "grp/app/x": {"pull"}})
		})

		t.Run("registry scopes of personal tokens", func(t *testing.T) {
			_, read := s.CreateToken(t, team.Dev.ID, "read_registry")
			_, write := s.CreateToken(t, team.Dev.ID, "write_registry")
			_, readAPI := s.CreateToken(t, team.Dev.ID, "read_api")
			wantGrants(t, askToken(t, s, testserver.Basic("dev", read), scope), map[string][]string{own: {"pull"}})
			wantGrants(t, askToken(t, s, testserver.Basic("dev", write), scope), map[string][]string{own: {"pull", "push"}})
			wantGrants(t, askToken(t, s, testserver.Basic("dev", readAPI), scope), map[string][]string{own: {"pull"}})
			// A registry token is no API token.
			r := s.Call(t, "GET", "/api/v4/projects/"+testserver.Itoa(team.Project.ID), testserver.PrivateToken(read), nil)
			if r.Status != http.StatusForbidden || !strings.Contains(string(r.Body), "insufficient_scope") {
				t.Fatalf("read_registry token on the API: %s, want 403 insufficient_scope", r)
			}
		})

		t.Run("job token", func(t *testing.T) {
			other := s.CreateProject(t, 0, "other", "private")
			job := team.Take(t, "build")
			cred := testserver.Basic("gitlab-ci-token", job.Token)
			wantGrants(t, askToken(t, s, cred, scope+",delete"), map[string][]string{own: {"pull", "push", "delete"}})
			// Another project: the token's user (root made "other") has no
			// role there, and push is own project only anyway.
			wantGrants(t, askToken(t, s, cred, "repository:root/other:pull,push"), nil)
			// Explain shows the pull's decision on the other project.
			r := s.Expect(t, "GET", "/api/v4/projects/"+testserver.Itoa(other.ID)+"/job_token_scope/explain?permission=read_containers&job_id="+
				testserver.Itoa(job.ID), s.RootToken, nil, http.StatusOK)
			if b := string(r.Body); !strings.Contains(b, `"allowed":false`) || !strings.Contains(b, "inbound_allowlist") {
				t.Errorf("explain of read_containers on another project: %s", b)
			}
			job.FinishOK(t, "success")
			r = s.Call(t, "GET", authPath(scope), cred, nil)
			if r.Status != http.StatusUnauthorized || !strings.Contains(string(r.Body), `"code":"UNAUTHORIZED"`) {
				t.Fatalf("finished job's token: %s, want 401", r)
			}
		})

		t.Run("refusals", func(t *testing.T) {
			for _, c := range []struct {
				name   string
				path   string
				cred   testserver.Cred
				status int
				body   string
			}{
				{"wrong password", authPath(scope), testserver.Basic("dev", "glpat-nope"), 401, `"code":"UNAUTHORIZED"`},
				{"unknown job token", authPath(scope), testserver.Basic("gitlab-ci-token", "glcbt-nope"), 401, `"code":"UNAUTHORIZED"`},
				{"unknown service", "/jwt/auth?service=other&scope=" + url.QueryEscape(scope), nil, 404, `"code":"NOT_FOUND"`},
				{"no service", "/jwt/auth", nil, 404, `"code":"NOT_FOUND"`},
				{"malformed scope", authPath("repository"), nil, 400, `is not <type>:<name>:<actions>`},
				{"unknown type", authPath("plugin:x/y:pull"), nil, 400, `unknown resource type`},
				{"dot dot", authPath("repository:grp/../app:pull"), nil, 400, `segment \"..\"`},
				{"upper case", authPath("repository:Grp/App:pull"), nil, 400, `segment \"Grp\"`},
				{"empty path", authPath("repository::pull"), nil, 400, `the image path is empty`},
				{"too many scopes", authPath(strings.Repeat("repository:grp/app:pull ", 10000)), nil, 400, `too many scopes`},
			} {
				r := s.Call(t, "GET", c.path, c.cred, nil)
				if r.Status != c.status || !strings.Contains(string(r.Body), c.body) {
					t.Errorf("%s: %s, want %d with %s", c.name, r, c.status, c.body)
				}
			}
		})
	})
}
