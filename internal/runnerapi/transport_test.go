package runnerapi_test

// How a job token may travel (gitlab-compat.md §1, security.md §2): GET
// /api/v4/job declares the request transports (JOB-TOKEN header, job_token
// and token parameters) and Bearer; everything else is anonymous, and
// routes without job tokens treat one as no credential (Bearer: 401).

import (
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/ciwarden/ciwarden/internal/testserver"
)

func TestJobTokenTransports(t *testing.T) { testserver.ForEachDialect(t, testJobTokenTransports) }

func testJobTokenTransports(t *testing.T, dialect string) {
	s := testserver.New(t, testserver.Options{Dialect: dialect})
	privGroup := s.CreateGroup(t, "trpriv", 0, "private")
	priv := s.CreateProject(t, privGroup, "app", "private")
	pubGroup := s.CreateGroup(t, "trpub", 0, "public")
	pub := s.CreateProject(t, pubGroup, "open", "public")
	dev := s.CreateUser(t, "dev")
	s.AddMember(t, "groups", privGroup, dev.ID, 40)
	s.AddMember(t, "groups", pubGroup, dev.ID, 40)
	_, runnerToken := s.CreateRunner(t, nil)
	s.PushCI(t, priv.Path, dev, map[string]string{".gitlab-ci.yml": livenessCI})
	j := s.NewRunnerClient(runnerToken).TakeJob(t)
	j.Start(t)
	tok := j.Token

	// get sends GET path under /api/v4 with the credential prep.
	get := func(t *testing.T, path string, prep testserver.Cred) *testserver.Resp {
		t.Helper()
		return s.Call(t, "GET", testserver.API+path, prep, nil)
	}
	bearer := testserver.Bearer(tok)
	basic := testserver.Basic("gitlab-ci-token", tok)
	q := url.QueryEscape(tok)

	t.Run("GET /job accepted", func(t *testing.T) {
		for _, c := range []struct {
			name, path string
			prep       testserver.Cred
		}{
			{"JOB-TOKEN header", "/job", testserver.JobToken(tok)},
			{"job_token query parameter", "/job?job_token=" + q, nil},
			{"token query parameter (request transport, gitlab-compat §1)", "/job?token=" + q, nil},
			{"Authorization: Bearer", "/job", bearer},
		} {
			r := get(t, c.path, c.prep)
			if r.Status != http.StatusOK {
				t.Errorf("%s: %s, want 200", c.name, r)
				continue
			}
			if id := testserver.Num(t, r.Object(t), "id"); id != j.ID {
				t.Errorf("%s: job %d, want %d", c.name, id, j.ID)
			}
		}
	})

	t.Run("GET /job with job_token as a form parameter", func(t *testing.T) {
		// GitLab (Rack) reads a form body on any method, so
		// `curl -X GET --data job_token=...` authenticates.
		req := s.NewRequest(t, "GET", "/api/v4/job", "", url.Values{"job_token": {tok}})
		if r := s.Send(t, req); r.Status != http.StatusOK {
			t.Errorf("GET /job with job_token in a form body: %s, want 200", r)
		}
	})

	t.Run("GET /job refused", func(t *testing.T) {
		for _, c := range []struct {
			name, path string
			prep       testserver.Cred
		}{
			{"HTTP Basic gitlab-ci-token (not declared: anonymous)", "/job", basic},
			{"job_token twice", "/job?job_token=" + q + "&job_token=" + q, nil},
			{"job_token[]", "/job?job_token[]=" + q, nil},
			{"job_token[] twice", "/job?job_token[]=" + q + "&job_token[]=" + q, nil},
			{"job_token with two different values", "/job?job_token=" + q + "&job_token=other", nil},
			{"token twice", "/job?token=" + q + "&token=" + q, nil},
			{"JOB-TOKEN header twice", "/job", func(r *http.Request) { r.Header.Add("JOB-TOKEN", tok); r.Header.Add("JOB-TOKEN", tok) }},
			{"PRIVATE-TOKEN carrying the job token", "/job", testserver.PrivateToken(tok)},
			{"private_token carrying the job token", "/job?private_token=" + q, nil},
			{"no credential", "/job", nil},
		} {
			if r := get(t, c.path, c.prep); r.Status != http.StatusUnauthorized {
				t.Errorf("%s: %s, want 401", c.name, r)
			}
		}
	})

	t.Run("routes without job tokens", func(t *testing.T) {
		if r := get(t, "/user", bearer); r.Status != http.StatusUnauthorized {
			t.Errorf("GET /user with the job token as Bearer: %s, want 401", r)
		}
		if r := get(t, "/user", testserver.JobToken(tok)); r.Status != http.StatusUnauthorized {
			t.Errorf("GET /user with JOB-TOKEN (anonymous): %s, want 401", r)
		}
		privPath := "/projects/" + testserver.Itoa(priv.ID)
		for _, c := range []struct {
			name string
			path string
			prep testserver.Cred
		}{
			{"JOB-TOKEN", privPath, testserver.JobToken(tok)},
			{"job_token", privPath + "?job_token=" + q, nil},
			{"PRIVATE-TOKEN carrying the job token", privPath, testserver.PrivateToken(tok)},
			{"HTTP Basic gitlab-ci-token", privPath, basic},
		} {
			if r := get(t, c.path, c.prep); r.Status != http.StatusNotFound {
				t.Errorf("GET the private project with %s (anonymous): %s, want 404", c.name, r)
			}
		}
		if r := get(t, privPath, bearer); r.Status != http.StatusUnauthorized {
			t.Errorf("GET the private project with the job token as Bearer: %s, want 401", r)
		}
		// A member's PAT sees it: the job's user could, the token may not.
		s.Expect(t, "GET", testserver.API+privPath, dev.Token, nil, http.StatusOK)

		pubPath := "/projects/" + testserver.Itoa(pub.ID)
		anon := get(t, pubPath, nil)
		if anon.Status != http.StatusOK {
			t.Fatalf("GET the public project anonymously: %s, want 200", anon)
		}
		anonView := anon.Object(t)
		for _, c := range []struct {
			name string
			path string
			prep testserver.Cred
		}{
			{"JOB-TOKEN", pubPath, testserver.JobToken(tok)},
			{"job_token", pubPath + "?job_token=" + q, nil},
			{"PRIVATE-TOKEN carrying the job token", pubPath, testserver.PrivateToken(tok)},
			{"HTTP Basic gitlab-ci-token", pubPath, basic},
		} {
			r := get(t, c.path, c.prep)
			if r.Status != http.StatusOK {
				t.Errorf("GET the public project with %s: %s, want 200 (the anonymous view)", c.name, r)
				continue
			}
			if v := r.Object(t); !reflect.DeepEqual(v, anonView) {
				t.Errorf("GET the public project with %s: not the anonymous view\n got %s\nwant %s", c.name, r.Body, anon.Body)
			}
		}
		if r := get(t, pubPath, bearer); r.Status != http.StatusUnauthorized {
			t.Errorf("GET the public project with the job token as Bearer: %s, want 401", r)
		}
	})

	t.Run("Basic with another user name", func(t *testing.T) {
		// Basic is not declared on GET /job; with any user name the
		// password is no credential there.
		r := get(t, "/job", testserver.Basic("someone", tok))
		if r.Status != http.StatusUnauthorized {
			t.Errorf("GET /job with Basic someone:<job token>: %s, want 401", r)
		}
		if strings.Contains(string(r.Body), tok) {
			t.Errorf("the answer echoes the token")
		}
	})
}
