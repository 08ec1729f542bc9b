package e2e

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ciwarden/ciwarden/internal/testserver"
)

// TestStartup: a first start on embedded defaults is ready within a second,
// answers the operational endpoints, and bootstraps root with the token
// from CIWARDEN_INITIAL_ROOT_TOKEN.
func TestStartup(t *testing.T) {
	s := start(t, testserver.Options{Dialect: "sqlite", DefaultDB: true})
	t.Logf("ready %v after exec", s.Ready)
	if s.Ready >= time.Second {
		t.Errorf("/-/readiness answered 200 only %v after exec; want < 1s", s.Ready)
	}
	if _, err := os.Stat(filepath.Join(s.DataDir, "ciwarden.db")); err != nil {
		t.Errorf("default database not in the data directory: %v", err)
	}
	// Without CIWARDEN_INSTANCE_KEY the first start creates the instance
	// key in the data directory, readable by the server's user alone.
	if st, err := os.Stat(filepath.Join(s.DataDir, "instance.key")); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("instance key file: %v, want mode 0600 (%v)", st, err)
	}

	r := s.Expect(t, "GET", "/-/health", "", nil, http.StatusOK)
	checkJSON(t, r, `{"status":"ok"}`)
	r = s.Expect(t, "GET", "/-/liveness", "", nil, http.StatusOK)
	checkJSON(t, r, `{"status":"ok"}`)
	r = s.Expect(t, "GET", "/-/readiness", "", nil, http.StatusOK)
	checkJSON(t, r, `{"status":"ok","master_check":[{"status":"ok"}]}`)

	// Root exists and the initial token is exactly the configured value.
	r = s.Expect(t, "GET", api+"/user", s.RootToken, nil, http.StatusOK)
	me := r.Object(t)
	if testserver.Str(t, me, "username") != "root" || me["is_admin"] != true {
		t.Errorf("GET /user with the initial root token: %s", r.Body)
	}
	if strings.Contains(s.Log(), "Created the admin user root") {
		t.Errorf("a configured initial root token must not be announced as generated")
	}

	r = s.Expect(t, "GET", "/metrics", "", nil, http.StatusOK)
	if !bytes.Contains(r.Body, []byte("ciwarden_http_requests_total")) {
		t.Errorf("/metrics lacks ciwarden_http_requests_total:\n%.2000s", r.Body)
	}
	// Metrics are labelled by route pattern, never by a raw path.
	if !bytes.Contains(r.Body, []byte(`route="GET /api/v4/user"`)) {
		t.Errorf("/metrics lacks the request to GET /api/v4/user by its route pattern")
	}

	// Unknown API paths answer GitLab's JSON 404.
	r = s.Expect(t, "GET", api+"/no-such-thing", s.RootToken, nil, http.StatusNotFound)
	checkJSON(t, r, `{"error":"404 Not Found"}`)

	out, err := exec.Command(testserver.Binary(t), "routes").CombinedOutput()
	if err != nil {
		t.Fatalf("ciwarden routes: %v\n%s", err, out)
	}
	if !bytes.Contains(out, []byte("/api/v4/projects/{id}")) {
		t.Errorf("ciwarden routes does not list /api/v4/projects/{id}:\n%s", out)
	}
}

// TestBadConfiguration: each mistake stops the server with exit status 1
// and one clear line on stderr, never a stack trace.
func TestBadConfiguration(t *testing.T) {
	file := filepath.Join(t.TempDir(), "regular-file")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	badKeyDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(badKeyDir, "instance.key"), []byte("c2hvcnQ=\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()

	cases := []struct {
		name string
		args []string
		env  []string
		// want are substrings the one line must contain, hide those it
		// must not.
		want, hide []string
	}{
		{name: "unreachable postgres", args: []string{"--database-url", "postgres://postgres@127.0.0.1:1/x"},
			want: []string{"postgres", "127.0.0.1:1"}},
		{name: "data dir under a regular file", args: []string{"--data-dir", filepath.Join(file, "data")},
			want: []string{"data directory", file}},
		{name: "malformed external url", args: []string{"--external-url", "not a url"},
			want: []string{"--external-url", `"not a url"`}},
		{name: "malformed external url from env", env: []string{"CIWARDEN_EXTERNAL_URL=not a url"},
			want: []string{"--external-url", `"not a url"`}},
		{name: "unknown database scheme", args: []string{"--database-url", "mysql://x"},
			want: []string{"mysql"}},
		{name: "listen address in use", args: []string{"--listen", busy.Addr().String()},
			want: []string{busy.Addr().String()}},
		{name: "malformed instance key", env: []string{"CIWARDEN_INSTANCE_KEY=hunter2hunter2"},
			want: []string{"CIWARDEN_INSTANCE_KEY", "base64 of 32 bytes"}, hide: []string{"hunter2"}},
		{name: "instance key of 16 bytes", env: []string{"CIWARDEN_INSTANCE_KEY=MDEyMzQ1Njc4OWFiY2RlZg=="},
			want: []string{"CIWARDEN_INSTANCE_KEY", "base64 of 32 bytes"}, hide: []string{"MDEyMzQ1Njc4OWFiY2RlZg"}},
		{name: "replica name with a slash", args: []string{"--replica-name", "a/b"},
			want: []string{"--replica-name", `"a/b"`, "at most 63"}},
		{name: "replica name too long from env", env: []string{"CIWARDEN_REPLICA_NAME=" + strings.Repeat("r", 64)},
			want: []string{"--replica-name", "at most 63"}},
		{name: "malformed instance key file", args: []string{"--data-dir", badKeyDir},
			want: []string{"instance key file", filepath.Join(badKeyDir, "instance.key")}, hide: []string{"c2hvcnQ"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"serve", "--listen", testserver.FreeAddr(t), "--data-dir", t.TempDir()}, c.args...)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, testserver.Binary(t), args...)
			cmd.Dir = t.TempDir()
			// A configured root token keeps the first start from printing a
			// generated one, so stderr holds only the error.
			cmd.Env = append(append(testserver.CleanEnv(), "CIWARDEN_INITIAL_ROOT_TOKEN=e2e-"+testserver.RandHex(8)), c.env...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			if ctx.Err() != nil {
				t.Fatalf("ciwarden serve %v still running after 30s; stderr:\n%s", c.args, stderr.String())
			}
			var exit *exec.ExitError
			if !errors.As(err, &exit) {
				t.Fatalf("ciwarden serve %v: %v, want exit status 1; stderr:\n%s", c.args, err, stderr.String())
			}
			if exit.ExitCode() != 1 {
				t.Errorf("exit status %d, want 1", exit.ExitCode())
			}
			msg := strings.TrimRight(stderr.String(), "\n")
			if strings.Contains(msg, "goroutine") || strings.Contains(msg, "panic") {
				t.Fatalf("stack trace on stderr:\n%s", msg)
			}
			if lines := strings.Count(msg, "\n") + 1; lines != 1 {
				t.Errorf("stderr has %d lines, want one:\n%s", lines, msg)
			}
			if !strings.HasPrefix(msg, "ciwarden: ") {
				t.Errorf("message %q does not start with \"ciwarden: \"", msg)
			}
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q does not mention %q", msg, w)
				}
			}
			for _, h := range c.hide {
				if strings.Contains(msg, h) {
					t.Errorf("message %q repeats %q", msg, h)
				}
			}
			if stdout.Len() != 0 {
				t.Errorf("unexpected stdout: %s", stdout.String())
			}
		})
	}
}
