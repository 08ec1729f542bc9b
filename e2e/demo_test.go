package e2e

import (
	"bufio"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ciwarden/ciwarden/internal/testserver"
)

// TestDemo runs `ciwarden demo` as a newcomer would: its scenario's
// pipelines reach their states (refused by the allowlist, admitted after
// the entry, the ended job's token dead), and the printed user and
// password sign in to the web UI.
func TestDemo(t *testing.T) {
	cmd := exec.Command(testserver.Binary(t), "demo", "--listen", "127.0.0.1:0", "--data-dir", t.TempDir())
	cmd.Env = testserver.CleanEnv()
	cmd.Dir = t.TempDir()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			t.Error("ciwarden demo did not stop on SIGINT")
		}
	}()
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		io.Copy(io.Discard, stdout)
	}()
	var out []string
	signIn := regexp.MustCompile(`^Open (http://\S+) and sign in as (\S+) with password (\S+)$`)
	var base, user, password string
	deadline := time.After(4 * time.Minute)
	for base == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("ciwarden demo ended early:\n%s\nstderr:\n%s", strings.Join(out, "\n"), stderr.String())
			}
			out = append(out, l)
			if m := signIn.FindStringSubmatch(l); m != nil {
				base, user, password = m[1], m[2], m[3]
			}
		case <-deadline:
			t.Fatalf("ciwarden demo printed no sign-in line:\n%s\nstderr:\n%s", strings.Join(out, "\n"), stderr.String())
		}
	}
	text := strings.Join(out, "\n")
	for _, want := range []string{
		"Pipeline #1 of acme/app: failed. acme/lib refused its job's token: inbound_allowlist: Authentication by CI/CD job token not allowed from acme/app to acme/lib.",
		"Added acme/app to acme/lib's allowlist",
		"Pipeline #2 of acme/app: success",
		"explain says allowed=false, refused by liveness",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("ciwarden demo's output lacks %q:\n%s", want, text)
		}
	}

	// The printed credentials sign in, and the pipelines page shows both.
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	get := func(path string) string {
		t.Helper()
		resp, err := c.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d", path, resp.StatusCode)
		}
		return string(b)
	}
	tok := regexp.MustCompile(`name="authenticity_token" value="([^"]+)"`).FindStringSubmatch(get("/users/sign_in"))
	if tok == nil {
		t.Fatal("no CSRF token on the sign-in page")
	}
	resp, err := c.PostForm(base+"/users/sign_in", url.Values{"authenticity_token": {tok[1]}, "login": {user}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	page := get("/acme/app/-/pipelines")
	for _, want := range []string{"failed", "success", "Pipelines"} {
		if !strings.Contains(page, want) {
			t.Errorf("signed in as %s, the pipelines page lacks %q:\n%s", user, want, page)
		}
	}
}
