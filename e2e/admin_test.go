package e2e

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ciwarden/ciwarden/internal/testserver"
)

// runCiwardenCLI runs the ciwarden binary with a clean environment and returns
// its exit code, stdout and stderr.
func runCiwardenCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, testserver.Binary(t), args...)
	cmd.Env = testserver.CleanEnv()
	cmd.Dir = t.TempDir()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if err != nil {
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			t.Fatalf("run ciwarden %s: %v", strings.Join(args, " "), err)
		}
		code = exit.ExitCode()
	}
	return code, out.String(), errb.String()
}

// TestAdminTokenCreate: `ciwarden admin token create` mints a token
// offline, in the data directory's database, that the server then accepts
// with its scopes and expiry.
func TestAdminTokenCreate(t *testing.T) {
	s := start(t, testserver.Options{Dialect: "sqlite", DefaultDB: true})
	u := s.CreateUser(t, "cliuser")
	s.Client().CloseIdleConnections()
	s.Terminate(t)
	s.Wait(t)
	if t.Failed() {
		t.FailNow()
	}

	expires := time.Now().UTC().AddDate(0, 1, 0).Format(time.DateOnly)
	dataDir := []string{"--data-dir", s.DataDir}
	create := func(extra ...string) []string {
		return append(append([]string{"admin", "token", "create"}, dataDir...), extra...)
	}

	code, stdout, stderr := runCiwardenCLI(t, create("--user", "cliuser", "--scopes", "read_api", "--expires", expires)...)
	if code != 0 {
		t.Fatalf("admin token create: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	lines := strings.Split(strings.TrimRight(stdout, "\n"), "\n")
	token := strings.TrimSpace(lines[0])
	if len(lines) != 1 || token == "" || strings.ContainsAny(token, " \t") || !strings.HasSuffix(stdout, "\n") {
		t.Fatalf("admin token create printed %q, want exactly one token line", stdout)
	}
	s.Remember(token)

	// The unknown user, the bad date, the missing --user: non-zero with a
	// message that says what is wrong, and no token.
	for _, c := range []struct {
		args []string
		want string
	}{
		{create("--user", "ghost", "--scopes", "read_api"), `no user "ghost"`},
		{create("--user", "cliuser", "--expires", "next month"), "--expires"},
		{create("--user", "cliuser", "--expires", "2030-13-45"), "YYYY-MM-DD"},
		{create("--scopes", "api"), "--user is required"},
	} {
		code, out, errOut := runCiwardenCLI(t, c.args...)
		if code == 0 {
			t.Errorf("ciwarden %s: exit 0, want a failure (stdout %q)", strings.Join(c.args, " "), out)
		}
		if out != "" {
			t.Errorf("ciwarden %s: printed %q on stdout, want nothing", strings.Join(c.args, " "), out)
		}
		if !strings.Contains(errOut, c.want) {
			t.Errorf("ciwarden %s: stderr %q, want it to mention %q", strings.Join(c.args, " "), errOut, c.want)
		}
	}

	s2 := s.Restart(t)
	me := s2.Expect(t, "GET", api+"/user", token, nil, http.StatusOK).Object(t)
	if me["username"] != "cliuser" || testserver.Num(t, me, "id") != u.ID {
		t.Errorf("GET /user with the CLI token: %v, want cliuser (%d)", me, u.ID)
	}
	// Also as a Bearer token.
	req := s2.NewRequest(t, "GET", api+"/user", "", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	s2.MakeRequest(t, req, http.StatusOK)

	self := s2.Expect(t, "GET", api+"/personal_access_tokens/self", token, nil, http.StatusOK).Object(t)
	if scopes, _ := self["scopes"].([]any); len(scopes) != 1 || scopes[0] != "read_api" {
		t.Errorf("the CLI token's scopes: %v, want [read_api]", self["scopes"])
	}
	if self["expires_at"] != expires {
		t.Errorf("the CLI token's expires_at: %v, want %s", self["expires_at"], expires)
	}
	if self["active"] != true || self["revoked"] != false || testserver.Num(t, self, "user_id") != u.ID {
		t.Errorf("the CLI token: %v", self)
	}

	r := s2.Expect(t, "POST", api+"/groups", token, url.Values{"name": {"G"}, "path": {"cli-group"}}, http.StatusForbidden)
	checkJSON(t, r, `{"error":"insufficient_scope","error_description":"The request requires higher privileges than provided by the access token.","scope":"api"}`)

	// What the first server wrote is still there, and root still works.
	s2.Expect(t, "GET", api+"/users/"+testserver.Itoa(u.ID), s2.RootToken, nil, http.StatusOK)
	s2.Expect(t, "GET", api+"/user", u.Token, nil, http.StatusOK)
}
