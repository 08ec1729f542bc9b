package testserver

import (
	"database/sql"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Fixtures, made as root through the API the way a person would.

// User is an account a test created, with an api-scoped token.
type User struct {
	ID       int64
	Username string
	Token    string
	TokenID  int64
}

// CreateUser creates a user (name "User <username>") and gives them an
// api-scoped personal access token.
func (s *Server) CreateUser(t testing.TB, username string) User {
	t.Helper()
	m := s.Expect(t, "POST", API+"/users", s.RootToken, url.Values{
		"username": {username}, "name": {"User " + username}, "email": {username + "@example.com"},
	}, http.StatusCreated).Object(t)
	u := User{ID: Num(t, m, "id"), Username: Str(t, m, "username")}
	if u.Username != username {
		t.Fatalf("created user %q, answer says %q", username, u.Username)
	}
	u.TokenID, u.Token = s.CreateToken(t, u.ID, "api")
	return u
}

// CreateToken creates a personal access token as root and returns its ID
// and secret, remembered for the leak check.
func (s *Server) CreateToken(t testing.TB, userID int64, scopes ...string) (int64, string) {
	t.Helper()
	return s.CreateTokenWith(t, userID, map[string]any{"name": "test", "scopes": scopes})
}

// CreateTokenWith creates a personal access token with body as the
// request (a JSON value or a form).
func (s *Server) CreateTokenWith(t testing.TB, userID int64, body any) (int64, string) {
	t.Helper()
	r := s.Expect(t, "POST", API+"/users/"+Itoa(userID)+"/personal_access_tokens", s.RootToken, body, http.StatusCreated)
	m := r.Object(t)
	secret := Str(t, m, "token")
	if secret == "" {
		t.Fatalf("token creation answered an empty token: %s", r.Body)
	}
	s.Remember(secret)
	return Num(t, m, "id"), secret
}

// CreateGroup creates a group named as its path; parent 0 makes a
// top-level group.
func (s *Server) CreateGroup(t testing.TB, path string, parent int64, visibility string) int64 {
	t.Helper()
	form := url.Values{"name": {path}, "path": {path}, "visibility": {visibility}}
	if parent != 0 {
		form.Set("parent_id", Itoa(parent))
	}
	m := s.Expect(t, "POST", API+"/groups", s.RootToken, form, http.StatusCreated).Object(t)
	if got := Str(t, m, "visibility"); got != visibility {
		t.Fatalf("group %s: visibility %q, want %q", path, got, visibility)
	}
	return Num(t, m, "id")
}

// Project is a project and its full path.
type Project struct {
	ID   int64
	Path string
}

// CreateProject creates a project named path in a namespace; 0 is root's
// own.
func (s *Server) CreateProject(t testing.TB, namespaceID int64, path, visibility string) Project {
	t.Helper()
	form := url.Values{"name": {path}, "path": {path}, "visibility": {visibility}}
	if namespaceID != 0 {
		form.Set("namespace_id", Itoa(namespaceID))
	}
	m := s.Expect(t, "POST", API+"/projects", s.RootToken, form, http.StatusCreated).Object(t)
	if got := Str(t, m, "visibility"); got != visibility {
		t.Fatalf("project %s: visibility %q, want %q", path, got, visibility)
	}
	// A new project's main is protected (Maintainers push), as GitLab's;
	// the fixture's projects leave it open, so that tests of other
	// features push as any role that may write. Tests of protected refs
	// protect what they test.
	s.Expect(t, "DELETE", API+"/projects/"+Itoa(Num(t, m, "id"))+"/protected_branches/main", s.RootToken, nil, http.StatusNoContent)
	return Project{ID: Num(t, m, "id"), Path: Str(t, m, "path_with_namespace")}
}

// AddMember adds a user to a project ("projects") or group ("groups").
func (s *Server) AddMember(t testing.TB, kind string, sourceID, userID int64, level int) {
	t.Helper()
	m := s.Expect(t, "POST", API+"/"+kind+"/"+Itoa(sourceID)+"/members", s.RootToken, url.Values{
		"user_id": {Itoa(userID)}, "access_level": {strconv.Itoa(level)},
	}, http.StatusCreated).Object(t)
	if Num(t, m, "id") != userID || Num(t, m, "access_level") != int64(level) {
		t.Fatalf("add member: answer %v, want user %d at %d", m, userID, level)
	}
}

// AllowJobTokens puts project from on project target's inbound job-token
// allowlist: from's jobs may then reach target.
func (s *Server) AllowJobTokens(t testing.TB, target, from int64) {
	t.Helper()
	s.Expect(t, "POST", API+"/projects/"+Itoa(target)+"/job_token_scope/allowlist", s.RootToken,
		map[string]any{"target_project_id": from}, http.StatusCreated)
}

// CreatePipeline runs the project's .gitlab-ci.yml on main through the
// API, as token's user, and returns the pipeline's ID.
func (s *Server) CreatePipeline(t testing.TB, projectID int64, token string, vars map[string]string) int64 {
	t.Helper()
	body := map[string]any{"ref": "main"}
	if len(vars) > 0 {
		var list []map[string]string
		for k, v := range vars {
			list = append(list, map[string]string{"key": k, "value": v})
		}
		body["variables"] = list
	}
	return Num(t, s.Expect(t, "POST", API+"/projects/"+Itoa(projectID)+"/pipeline", token, body, http.StatusCreated).Object(t), "id")
}

// Job is a job as root sees it through the API.
func (s *Server) Job(t testing.TB, projectID, jobID int64) map[string]any {
	t.Helper()
	return s.Expect(t, "GET", API+"/projects/"+Itoa(projectID)+"/jobs/"+Itoa(jobID), s.RootToken, nil, http.StatusOK).Object(t)
}

// OpenDB opens the server's database directly, for what the API cannot do
// (such as moving a token's expiry into the past). rebind turns "?"
// placeholders into the dialect's.
func (s *Server) OpenDB(t testing.TB) (db *sql.DB, rebind func(string) string) {
	t.Helper()
	var err error
	switch {
	case strings.HasPrefix(s.DBURL, "postgres://"), strings.HasPrefix(s.DBURL, "postgresql://"):
		db, err = sql.Open("pgx", s.DBURL)
		rebind = func(q string) string {
			for i := 1; strings.Contains(q, "?"); i++ {
				q = strings.Replace(q, "?", "$"+strconv.Itoa(i), 1)
			}
			return q
		}
	default:
		path := filepath.Join(s.DataDir, "ciwarden.db")
		if strings.HasPrefix(s.DBURL, "sqlite://") {
			path = strings.TrimPrefix(s.DBURL, "sqlite://")
		}
		db, err = sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
		rebind = func(q string) string { return q }
	}
	if err != nil {
		t.Fatalf("open the database: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db, rebind
}

// IDPath is the project's ID and full path.
func (p Project) IDPath() (int64, string) { return p.ID, p.Path }
