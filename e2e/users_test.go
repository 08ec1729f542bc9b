package e2e

import (
	"net/http"
	"net/url"
	"testing"
)

// TestUserConflicts: GitLab's 409 messages for a taken email or username.
// GitLab's POST /users checks the email first (lib/api/users.rb:
// conflict!('Email has already been taken') before the username check).
func TestUserConflicts(t *testing.T) {
	s := startServer(t, "sqlite")
	s.CreateUser(t, "dupe")
	for _, c := range []struct {
		name, username, email, want string
	}{
		{"username", "dupe", "other@example.com", "Username has already been taken"},
		{"email", "other", "dupe@example.com", "Email has already been taken"},
		{"username case", "DUPE", "third@example.com", "Username has already been taken"},
		{"both", "dupe", "dupe@example.com", "Email has already been taken"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := s.Do(t, "POST", api+"/users", s.RootToken, url.Values{"username": {c.username}, "name": {"N"}, "email": {c.email}})
			if r.Status != http.StatusConflict {
				t.Fatalf("%s: status %d, want 409; body: %s", r.Req, r.Status, r.Body)
			}
			checkJSON(t, r, `{"message":"`+c.want+`"}`)
		})
	}
	// Missing fields are GitLab's parameter errors.
	r := s.Expect(t, "POST", api+"/users", s.RootToken, url.Values{"username": {"x"}, "name": {"X"}}, http.StatusBadRequest)
	checkJSON(t, r, `{"error":"email is missing"}`)
}
