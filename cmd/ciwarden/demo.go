package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ciwarden/ciwarden/internal/auth"
	"github.com/ciwarden/ciwarden/internal/server"
)

// demo is `ciwarden demo` (issue 19, item 7): a server on embedded
// defaults with built-in runners, seeded with the job token's story: a
// pipeline whose job another project's allowlist refuses, the allowlist
// entry that admits it, and a job whose token died when it ended. It
// prints where to sign in and runs until interrupted.
func demo(args []string, stdout, stderr io.Writer) error {
	var cfg server.Config
	c := newCommand("demo", "ciwarden demo [--listen ADDR] [--data-dir DIR]",
		"Starts a server with built-in runners and two seeded projects that show the CI/CD job token's scope, then prints a user and password to sign in with.")
	c.String(&cfg.Listen, "listen", "", "127.0.0.1:8080", "", "address to listen on (port 0: any free port)")
	c.String(&cfg.DataDir, "data-dir", "", "", "a new temporary directory", "data directory")
	if err := c.parse(args, stdout); err != nil {
		return err
	}
	if cfg.DataDir == "" {
		dir, err := os.MkdirTemp("", "ciwarden-demo-")
		if err != nil {
			return err
		}
		cfg.DataDir = dir
	}
	cfg.Runners, cfg.ReplicaName, cfg.LongPoll = 2, "demo", 5*time.Second
	cfg.InitialRootToken = auth.NewSecret(auth.PATPrefix)
	// The demo user's password: shown below, as the issue asks; the
	// demo's data directory is a throwaway.
	password := randomHex(8)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv, err := server.New(ctx, cfg, server.NewLogger(stderr, slog.LevelWarn), io.Discard)
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	base := srv.Config().ExternalURL
	d := &demoClient{base: base, token: cfg.InitialRootToken, http: &http.Client{Timeout: 30 * time.Second}}
	if err := d.seed(ctx, password, stdout); err != nil {
		stop()
		<-done
		return fmt.Errorf("demo: %w", err)
	}
	fmt.Fprintf(stdout, "\nciwarden demo is running at %s (data in %s). Press Ctrl-C to stop.\n", base, cfg.DataDir)
	fmt.Fprintf(stdout, "Open %s and sign in as demo with password %s\n", base, password)
	return <-done
}

// demoClient seeds the demo through the REST API, as root.
type demoClient struct {
	base, token string
	http        *http.Client
}

func (d *demoClient) call(ctx context.Context, method, path string, form url.Values, out any) error {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, d.base+"/api/v4"+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("PRIVATE-TOKEN", d.token)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := d.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, data)
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

// pipeline waits until the newest pipeline of acme/app is no longer
// newer than after and has finished.
func (d *demoClient) pipeline(ctx context.Context, after int64) (id int64, status string, err error) {
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		var list []struct {
			ID     int64  `json:"id"`
			Status string `json:"status"`
		}
		if err := d.call(ctx, "GET", "/projects/acme%2Fapp/pipelines", nil, &list); err != nil {
			return 0, "", err
		}
		if len(list) > 0 && list[0].ID > after {
			switch list[0].Status {
			case "success", "failed", "canceled", "skipped":
				return list[0].ID, list[0].Status, nil
			}
		}
		select {
		case <-ctx.Done():
			return 0, "", ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	return 0, "", fmt.Errorf("the pipeline of acme/app did not finish in 3 minutes")
}

func (d *demoClient) seed(ctx context.Context, password string, out io.Writer) error {
	var user, app, lib struct {
		ID int64 `json:"id"`
	}
	steps := []func() error{
		func() error {
			return d.call(ctx, "POST", "/users", url.Values{"username": {"demo"}, "name": {"Demo User"},
				"email": {"demo@example.com"}, "password": {password}}, &user)
		},
		func() error {
			return d.call(ctx, "POST", "/groups", url.Values{"name": {"acme"}, "path": {"acme"}, "visibility": {"private"}}, nil)
		},
		func() error {
			return d.call(ctx, "POST", "/groups/acme/members", url.Values{"user_id": {fmt.Sprint(user.ID)}, "access_level": {"50"}}, nil)
		},
		func() error {
			return d.call(ctx, "POST", "/projects", url.Values{"name": {"app"}, "namespace_id": {"acme"}}, &app)
		},
		func() error {
			return d.call(ctx, "POST", "/projects", url.Values{"name": {"lib"}, "namespace_id": {"acme"}}, &lib)
		},
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	fmt.Fprintln(out, "Seeded the group acme with the projects acme/app and acme/lib; acme/lib lets in only the job tokens of its allowlist.")

	// app's job reads lib's repository with its CI/CD job token.
	u, _ := url.Parse(d.base)
	ci := fmt.Sprintf(`read-lib:
  script:
    - echo "reading acme/lib with this job's CI_JOB_TOKEN"
    - git ls-remote "%s://gitlab-ci-token:${CI_JOB_TOKEN}@%s/acme/lib.git"
`, u.Scheme, u.Host)
	if err := d.push(ctx, ci); err != nil {
		return err
	}
	first, status, err := d.pipeline(ctx, 0)
	if err != nil {
		return err
	}
	var log []struct {
		Reason string `json:"last_denial_reason"`
	}
	if err := d.call(ctx, "GET", "/projects/acme%2Flib/job_token_scope/authorizations", nil, &log); err != nil {
		return err
	}
	reason := "(not in the authentication log)"
	if len(log) > 0 {
		reason = log[0].Reason
	}
	fmt.Fprintf(out, "Pipeline #%d of acme/app: %s. acme/lib refused its job's token: %s\n", first, status, reason)

	if err := d.call(ctx, "POST", "/projects/acme%2Flib/job_token_scope/allowlist", url.Values{"target_project_id": {fmt.Sprint(app.ID)}}, nil); err != nil {
		return err
	}
	fmt.Fprintln(out, "Added acme/app to acme/lib's allowlist (Settings > CI/CD > Token Access).")
	if err := d.call(ctx, "POST", "/projects/acme%2Fapp/pipeline", url.Values{"ref": {"main"}}, nil); err != nil {
		return err
	}
	second, status, err := d.pipeline(ctx, first)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "Pipeline #%d of acme/app: %s: the same job, now admitted.\n", second, status)

	var jobs []struct {
		ID int64 `json:"id"`
	}
	if err := d.call(ctx, "GET", fmt.Sprintf("/projects/acme%%2Fapp/pipelines/%d/jobs", second), nil, &jobs); err != nil || len(jobs) == 0 {
		return fmt.Errorf("the jobs of pipeline #%d: %v", second, err)
	}
	var x struct {
		Allowed bool   `json:"allowed"`
		Check   string `json:"failed_check"`
		Message string `json:"message"`
	}
	path := fmt.Sprintf("/projects/acme%%2Flib/job_token_scope/explain?job_id=%d&permission=read_repositories", jobs[0].ID)
	if err := d.call(ctx, "GET", path, nil, &x); err != nil {
		return err
	}
	fmt.Fprintf(out, "Job #%d has ended, and its token with it: explain says allowed=%t, refused by %s: %s\n", jobs[0].ID, x.Allowed, x.Check, x.Message)
	return nil
}

// push commits .gitlab-ci.yml to acme/app's main as root, with git.
func (d *demoClient) push(ctx context.Context, ci string) error {
	dir, err := os.MkdirTemp("", "ciwarden-demo-push-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := os.WriteFile(filepath.Join(dir, ".gitlab-ci.yml"), []byte(ci), 0o644); err != nil {
		return err
	}
	u, _ := url.Parse(d.base + "/acme/app.git")
	u.User = url.UserPassword("root", d.token)
	for _, args := range [][]string{
		{"init", "-q", "-b", "main"},
		{"-c", "user.name=ciwarden demo", "-c", "user.email=demo@example.com", "commit", "-q", "--allow-empty", "-m", "demo pipeline"},
		{"push", "-q", u.String(), "HEAD:refs/heads/main"},
	} {
		if args[0] == "-c" {
			if out, err := exec.CommandContext(ctx, "git", "-C", dir, "add", ".gitlab-ci.yml").CombinedOutput(); err != nil {
				return fmt.Errorf("git add: %v: %s", err, out)
			}
		}
		cmd := exec.CommandContext(ctx, "git", append([]string{"-C", dir}, args...)...)
		cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("git %s: %v: %s", args[0], err, strings.ReplaceAll(string(out), d.token, "[MASKED]"))
		}
	}
	return nil
}
