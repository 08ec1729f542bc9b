package web_test

// Browser tests (issue 19): Debian's chromium, headless, driven by
// chromedp against a real server. They skip, saying so, only when no
// browser is installed; CI installs one (.ci/run).

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ciwarden/ciwarden/internal/testserver"
)

// chromium finds the browser, or skips the test.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no Chromium found (apt-get install chromium): the browser tests need one")
	return ""
}

// tab is one browser window on the test server.
type tab struct {
	t    *testing.T
	ctx  context.Context
	base string
	shot string // where screenshots go
}

func newTab(t *testing.T, s *testserver.Server) *tab {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox, chromedp.Flag("disable-gpu", true), chromedp.WindowSize(1200, 900))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelC(); cancelA() })
	// The first run starts the browser and must not have a deadline (it
	// would stop the browser); later runs get theirs.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start %s: %v", chromium(t), err)
	}
	dir := os.Getenv("CIWARDEN_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return &tab{t: t, ctx: ctx, base: s.URL, shot: dir}
}

// run runs actions with a deadline, failing the test on error.
func (b *tab) run(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		body, _ := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS("body")))
		b.t.Fatalf("%s: %v\npage text:\n%s", what, err, body)
	}
}

// get runs one action that answers a value.
func get[T any](b *tab, what string, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
	return v
}

func (b *tab) open(path string) { b.t.Helper(); b.run("open "+path, chromedp.Navigate(b.base+path)) }

// text is the page's visible text.
func (b *tab) text() string {
	b.t.Helper()
	// A page still settling can drop the node being read: read again.
	var err error
	for range 20 {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		var s string
		s, err = chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
		cancel()
		if err == nil {
			return s
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.t.Fatalf("read the page: %v", err)
	return ""
}

func (b *tab) url() string {
	b.t.Helper()
	return strings.TrimPrefix(get(b, "read the location", chromedp.Location()), b.base)
}

// sees fails unless the page shows every one of want.
func (b *tab) sees(want ...string) {
	b.t.Helper()
	txt := b.text()
	for _, w := range want {
		if !strings.Contains(txt, w) {
			b.t.Fatalf("the page at %s does not show %q:\n%s", b.url(), w, txt)
		}
	}
}

// waitFor waits until the element matching sel shows want.
func (b *tab) waitFor(sel, want string) {
	b.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		cancel()
		if err == nil && strings.Contains(s, want) {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("%s never showed %q (last %q, %v)", sel, want, s, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (b *tab) screenshot(name string) {
	b.t.Helper()
	png := get(b, "screenshot", chromedp.FullScreenshot(100))
	if err := os.WriteFile(filepath.Join(b.shot, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

func (b *tab) signIn(login, password string) {
	b.t.Helper()
	b.open("/users/sign_in")
	b.run("sign in", chromedp.SendKeys(chromedp.CSS("#login"), login), chromedp.SendKeys(chromedp.CSS("#password"), password))
	b.clickAndWait("main button[type=submit]")
}

// submit fills fields (selector -> text) and clicks button.
func (b *tab) submit(fields map[string]string, button string) {
	b.t.Helper()
	var acts []chromedp.Action[chromedp.Void]
	for sel, v := range fields {
		acts = append(acts, chromedp.SetValue(chromedp.CSS(sel), v))
	}
	b.run("fill the form of "+button, acts...)
	b.clickAndWait(button)
}

// clickAndWait clicks sel and waits until the page it leads to has
// loaded: the old document carries a mark the new one lacks.
func (b *tab) clickAndWait(sel string) {
	b.t.Helper()
	get(b, "mark the page", chromedp.Evaluate[bool](`window.__before = true`))
	b.run("click "+sel, chromedp.Click(chromedp.CSS(sel)))
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		loaded, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`!window.__before && document.readyState === "complete"`))
		cancel()
		if err == nil && loaded {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("clicking %s led to no new page (%v)", sel, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestBrowser walks the UI as a user does: sign in, create a group and a
// project, push, watch the pipeline and the live job log, change the
// token access scope and see a job's next request refused then admitted,
// read the authentication log, explain a denial; then the refusals: a
// form post without its CSRF token, a signed-out visit, a non-member, a
// Developer.
func TestBrowser(t *testing.T) {
	t.Parallel()
	s := testserver.New(t, testserver.Options{})
	alice := userWithPassword(t, s, "alice", "alice's password")
	userWithPassword(t, s, "eve", "eve's password")
	dev := userWithPassword(t, s, "dave", "dave's password")
	b := newTab(t, s)

	// Signed out: sent to sign in, then back.
	b.open("/")
	if u := b.url(); !strings.HasPrefix(u, "/users/sign_in") {
		t.Fatalf("signed out, / went to %s", u)
	}
	b.screenshot("sign_in")
	b.signIn("alice", "alice's password")
	b.sees("Your projects", "alice")

	// Create a group and a project in it, with the forms.
	b.clickAndWait("#new-group")
	b.submit(map[string]string{"#name": "web-team"}, "#create")
	b.sees("web-team", "Projects")
	b.clickAndWait("#new-project")
	b.submit(map[string]string{"#name": "app"}, "#create")
	if u := b.url(); u != "/web-team/app" {
		t.Fatalf("after creating the project the browser is at %s", u)
	}
	b.sees("app", "web-team/app", "No pipelines yet.")
	b.screenshot("project")
	lib := s.Expect(t, "POST", testserver.API+"/projects", alice.Token, map[string]any{"name": "lib", "namespace_id": "web-team"}, 201).Object(t)
	libID := testserver.Num(t, lib, "id")
	s.AddMember(t, "projects", libID, dev.ID, 30)

	// Push: a pipeline, whose job a runner driven by the test takes.
	_, runnerToken := s.CreateRunner(t, nil)
	s.PushCI(t, "web-team/app", alice, map[string]string{".gitlab-ci.yml": "build:\n  script: [echo hi]\n"})
	rc := s.NewRunnerClient(runnerToken)
	job := rc.TakeJob(t)
	job.Start(t)
	b.open("/web-team/app/-/pipelines")
	b.sees("running", "main", "push", "alice")
	b.screenshot("pipelines")
	pipeline := fmt.Sprintf("/web-team/app/-/pipelines/%d", job.Payload.JobInfo.PipelineID)
	b.open(pipeline)
	b.sees("build", "running")

	// The job page: the log appears while the job runs (polled by offset),
	// colours and sections rendered.
	jobPage := fmt.Sprintf("/web-team/app/-/jobs/%d", job.ID)
	b.open(jobPage)
	job.AppendTrace(t, "section_start:1700000000:step_script\r\x1b[0K\x1b[32;1mExecuting step_script\x1b[0m\n")
	b.waitFor("#log", "Executing step_script")
	job.AppendTrace(t, "hello from the job\nsection_end:1700000001:step_script\r\x1b[0K\n")
	b.waitFor("#log", "hello from the job")
	green := get(b, "count coloured spans", chromedp.Evaluate[int](`document.querySelectorAll("#log span.fg32.b").length`))
	if green != 1 {
		t.Errorf("the log shows %d green bold spans, want 1", green)
	}
	if txt := b.text(); strings.Contains(txt, "section_start") || strings.Contains(txt, "section_end") {
		t.Errorf("the log shows the raw section markers:\n%s", txt)
	}
	b.screenshot("job")

	// Token access: lib's inbound allowlist refuses app's job token, the
	// browser adds app to it, the token's next request is admitted.
	libPackages := fmt.Sprintf("%s/projects/%d/packages", testserver.API, libID)
	if r := s.Call(t, "GET", libPackages, testserver.JobToken(job.Token), nil); r.Status != http.StatusForbidden ||
		!strings.Contains(r.String(), "Authentication by CI/CD job token not allowed from web-team/app to web-team/lib.") {
		t.Fatalf("app's job token on lib before the allowlist entry: %d %s", r.Status, r)
	}
	b.open("/web-team/lib/-/settings/ci_cd")
	b.sees("Token Access", "Limit CI_JOB_TOKEN access", "Allow access to this project with a CI/CD job token", "denied")
	b.submit(map[string]string{"#inbound-target": "web-team/app"}, "#add-inbound")
	b.sees("Added web-team/app to the allowlist.")
	if r := s.Call(t, "GET", libPackages, testserver.JobToken(job.Token), nil); r.Status != http.StatusOK {
		t.Fatalf("app's job token on lib after the allowlist entry: %d %s", r.Status, r)
	}
	b.open("/web-team/lib/-/settings/ci_cd?result=allowed")
	b.sees("web-team/app", "allowed", "read_packages")
	b.screenshot("token_access")
	// Explain: the job reading lib's packages passes every check now.
	b.submit(map[string]string{"#x-job": fmt.Sprint(job.ID)}, "#explain")
	b.sees("inbound_allowlist", "allowed")
	b.screenshot("explain")

	// Remove the entry: the token's next request is refused again.
	b.open("/web-team/lib/-/settings/ci_cd")
	b.clickAndWait(`button[aria-label="Remove web-team/app from the inbound allowlist"]`)
	if r := s.Call(t, "GET", libPackages, testserver.JobToken(job.Token), nil); r.Status != http.StatusForbidden {
		t.Fatalf("app's job token on lib after its entry was removed: %d %s", r.Status, r)
	}
	// A group entry with fine-grained permissions (read_packages only):
	// packages are admitted, releases (read_releases) are not.
	addForm := `form[action$="/allowlist"] `
	b.run("pick a group entry with read_packages only",
		chromedp.Click(chromedp.CSS(addForm+`input[name=kind][value=group]`)),
		chromedp.Click(chromedp.CSS(addForm+`input[name=permissions][value=fine_grained]`)),
		chromedp.Click(chromedp.CSS(addForm+`input[name="job_token_policies[]"][value=read_packages]`)))
	b.submit(map[string]string{"#inbound-target": "web-team"}, "#add-inbound")
	b.sees("group web-team", "read_packages")
	if r := s.Call(t, "GET", libPackages, testserver.JobToken(job.Token), nil); r.Status != http.StatusOK {
		t.Fatalf("app's job token on lib's packages through the group entry: %d %s", r.Status, r)
	}
	libReleases := fmt.Sprintf("%s/projects/%d/releases", testserver.API, libID)
	if r := s.Call(t, "GET", libReleases, testserver.JobToken(job.Token), nil); r.Status != http.StatusForbidden {
		t.Fatalf("app's job token on lib's releases, which the group entry does not grant: %d %s", r.Status, r)
	}
	b.screenshot("token_access_group")

	// The outbound limit: on, then off, by its toggle.
	b.open("/web-team/app/-/settings/ci_cd")
	b.clickAndWait("#toggle-outbound")
	b.sees("Enabled: this project's job tokens may reach only")
	if r := s.Call(t, "GET", libPackages, testserver.JobToken(job.Token), nil); r.Status != http.StatusForbidden {
		t.Fatalf("app's job token on lib with app's outbound limit on: %d %s", r.Status, r)
	}
	b.submit(map[string]string{"#outbound-target": "web-team/lib"}, "#add-outbound")
	if r := s.Call(t, "GET", libPackages, testserver.JobToken(job.Token), nil); r.Status != http.StatusOK {
		t.Fatalf("app's job token on lib with lib on app's outbound list: %d %s", r.Status, r)
	}

	// A form post without its CSRF token is refused.
	status := get(b, "post without a CSRF token", chromedp.Evaluate[int](`fetch("/web-team/app/-/settings/ci_cd/job_token_scope", {method: "POST",
		headers: {"Content-Type": "application/x-www-form-urlencoded"}, body: "which=outbound&enabled=false"}).then(r => r.status)`,
		chromedp.EvalAwaitPromise))
	if status != http.StatusUnprocessableEntity {
		t.Fatalf("a post without the CSRF token: %d, want 422", status)
	}
	b.open("/web-team/app/-/settings/ci_cd")
	b.sees("Enabled: this project's job tokens may reach only")

	// The job ends: the pipeline page turns green.
	job.AppendTrace(t, "done\n")
	job.Finish(t, "success")
	b.open(jobPage)
	b.waitFor("#job-status", "success")
	b.open(pipeline)
	b.sees("Pipeline #", "success")
	b.screenshot("pipeline")

	// Sign out: the private project sends the browser to sign in.
	b.clickAndWait("header form button")
	b.open("/web-team/app")
	if u := b.url(); !strings.HasPrefix(u, "/users/sign_in?redirect_to=") {
		t.Fatalf("signed out, the private project went to %s", u)
	}
	// A non-member gets the 404 page.
	b.signIn("eve", "eve's password")
	b.open("/web-team/app")
	b.sees("404 Project Not Found")
	b.screenshot("not_found")
	b.clickAndWait("header form button")
	// A Developer sees the project and its pipelines, no settings.
	b.signIn("dave", "dave's password")
	b.open("/web-team/lib")
	b.sees("web-team/lib", "Pipelines")
	if strings.Contains(b.text(), "Settings") {
		t.Error("a Developer's project page shows Settings")
	}
}

// TestBrowserFeaturePages: the releases, packages, Terraform, container
// registry, project runners and password pages in a real browser: each
// reads as the API stores it, Unlock and Create project runner work by
// their buttons, and each page leaves a screenshot.
func TestBrowserFeaturePages(t *testing.T) {
	t.Parallel()
	chromium(t)
	s := testserver.New(t, testserver.Options{})
	f := newFeatureProject(t, s)
	base := "/" + f.path
	b := newTab(t, s)
	b.signIn("maint", "maintainer password")

	b.open(base)
	b.clickAndWait(`nav.project a[href="` + base + `/-/releases"]`)
	b.sees("Releases", "First release", "v1.0")
	b.screenshot("releases")
	b.open(base + "/-/releases/v1.0")
	b.sees("First release", "The first notes", "app binary")
	b.screenshot("release")

	b.open(base + "/-/packages")
	b.sees("tool", "1.2.3", "generic")
	b.screenshot("packages")
	b.open(base + "/-/packages/" + testserver.Itoa(f.packageID))
	b.sees("tool.bin", "16 bytes", "Delete package")
	b.screenshot("package")

	b.open(base + "/-/terraform")
	b.sees("production", "Locked by maint", "latest serial 3")
	b.screenshot("terraform")
	b.clickAndWait("#unlock-production")
	b.sees("production", "Unlocked")

	b.open(base + "/-/container_registry")
	b.sees(f.path+":v1", f.path+":v2")
	b.screenshot("container_registry")

	b.open(base + "/-/runners")
	b.submit(map[string]string{"#runner-description": "app box"}, "#create-runner")
	b.sees("Copy it now", "glrt-", "app box", "project_type")
	s.Remember(get(b, "runner token", chromedp.Text(chromedp.CSS("#new-runner-token"))))
	b.screenshot("project_runners")

	b.open("/-/user_settings/password")
	b.submit(map[string]string{"#current-password": "maintainer password", "#new-password": "a new password",
		"#password-confirmation": "a new password"}, "#save-password")
	b.sees("Password was successfully updated.")
	b.screenshot("password")
}
