package ci_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ciwarden/ciwarden/internal/ci"
	"github.com/ciwarden/ciwarden/internal/git"
	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/store"
	"github.com/ciwarden/ciwarden/internal/testdb"
)

var ctx = context.Background()

// externalURL is given with a trailing slash on purpose: the variables
// must not double it.
const externalURL = "https://ci.example.test/"

// clock is the service's Now: fixed, so that times can be compared
// exactly, and movable by tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fixture is one project with a real bare repository, on a fresh
// database, and the ci.Service over them.
type fixture struct {
	st      *store.Store
	repos   *git.Repos
	svc     *ci.Service
	clock   *clock
	user    *model.User
	project *model.Project
	work    string // a clone of the project's repository, for committing
	home    string
	pending atomic.Int64 // OnPending calls
}

// forEachDialect runs fn on a fresh fixture per database dialect.
func forEachDialect(t *testing.T, fn func(t *testing.T, f *fixture)) {
	t.Helper()
	for _, d := range testdb.Dialects {
		t.Run(d, func(t *testing.T) {
			fn(t, newFixture(t, d))
		})
	}
}

func newFixture(tb testing.TB, dialect string) *fixture {
	tb.Helper()
	st, err := store.Open(ctx, testdb.URL(tb, dialect))
	if err != nil {
		tb.Fatalf("store.Open: %v", err)
	}
	// Registered after testdb's cleanup, so it runs first.
	tb.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		tb.Fatalf("Migrate: %v", err)
	}
	testdb.GiveKey(tb, st)
	u := &model.User{Username: "alice", Name: "Alice Example", Email: "alice@example.com"}
	if err := st.Tx(ctx, func(q *store.Queries) error { return q.CreateUser(ctx, u) }); err != nil {
		tb.Fatalf("CreateUser: %v", err)
	}
	grp := &model.Namespace{Kind: model.NamespaceGroup, Name: "Acme", Path: "acme", FullPath: "acme", FullName: "Acme", Visibility: model.Public}
	if err := st.CreateNamespace(ctx, grp); err != nil {
		tb.Fatalf("CreateNamespace: %v", err)
	}
	p := &model.Project{Name: "Web App", Path: "web-app", NamespaceID: grp.ID, Visibility: model.Internal, DefaultBranch: "main", CreatorID: u.ID}
	if err := st.CreateProject(ctx, p); err != nil {
		tb.Fatalf("CreateProject: %v", err)
	}
	if p, err = st.Project(ctx, p.ID); err != nil { // with its namespace
		tb.Fatalf("Project: %v", err)
	}
	root := tb.TempDir()
	repos, err := git.NewRepos(filepath.Join(root, "repos"))
	if err != nil {
		tb.Fatalf("NewRepos: %v", err)
	}
	if err := repos.Create(ctx, p.ID, "main"); err != nil {
		tb.Fatalf("Repos.Create: %v", err)
	}
	f := &fixture{st: st, repos: repos, user: u, project: p, home: filepath.Join(root, "home"),
		clock: &clock{t: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)}}
	if err := os.MkdirAll(f.home, 0o755); err != nil {
		tb.Fatal(err)
	}
	f.svc = &ci.Service{Store: st, Repos: repos, Now: f.clock.Now, Log: slog.New(slog.DiscardHandler), ExternalURL: externalURL,
		OnPending: func(projectID int64) {
			if projectID == p.ID {
				f.pending.Add(1)
			}
		}}
	f.work = filepath.Join(root, "work")
	f.git(tb, root, "clone", "--quiet", repos.Path(p.ID), f.work)
	return f
}

// git runs the git CLI in dir, isolated from the user's configuration.
func (f *fixture) git(tb testing.TB, dir string, args ...string) string {
	tb.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+f.home, "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0", "LC_ALL=C",
		"GIT_AUTHOR_NAME=Alice Example", "GIT_AUTHOR_EMAIL=alice@example.com",
		"GIT_COMMITTER_NAME=Alice Example", "GIT_COMMITTER_EMAIL=alice@example.com")
	out, err := cmd.CombinedOutput()
	if err != nil {
		tb.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// commit makes a commit on branch whose tree is exactly files, pushes it
// to the bare repository through its filesystem path and returns its SHA.
func (f *fixture) commit(tb testing.TB, branch, message string, files map[string]string) string {
	tb.Helper()
	f.git(tb, f.work, "checkout", "--quiet", "-B", branch)
	f.git(tb, f.work, "rm", "-r", "--quiet", "--cached", "--ignore-unmatch", ".")
	entries, err := os.ReadDir(f.work)
	if err != nil {
		tb.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != ".git" {
			os.RemoveAll(filepath.Join(f.work, e.Name()))
		}
	}
	for name, content := range files {
		path := filepath.Join(f.work, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	f.git(tb, f.work, "add", "-A")
	f.git(tb, f.work, "commit", "--quiet", "--allow-empty", "-m", message)
	f.git(tb, f.work, "push", "--quiet", "--force", "origin", "HEAD:refs/heads/"+branch)
	return f.git(tb, f.work, "rev-parse", "HEAD")
}

// tag tags sha and pushes the tag.
func (f *fixture) tag(tb testing.TB, name, sha string) {
	tb.Helper()
	f.git(tb, f.work, "tag", "-f", name, sha)
	f.git(tb, f.work, "push", "--quiet", "--force", "origin", "refs/tags/"+name)
}

// create asks for a pipeline on ref by name (SHA resolved by the service).
func (f *fixture) create(tb testing.TB, ref, source string) *model.Pipeline {
	tb.Helper()
	p, err := f.svc.CreatePipeline(ctx, ci.CreateInput{Project: f.project, User: f.user, Ref: ref, Source: source})
	if err != nil {
		tb.Fatalf("CreatePipeline(%s, %s): %v", ref, source, err)
	}
	return p
}

// pipelineFor commits yaml to main and creates a push pipeline for it.
func (f *fixture) pipelineFor(tb testing.TB, yaml string) *model.Pipeline {
	tb.Helper()
	sha := f.commit(tb, "main", "ci", map[string]string{".gitlab-ci.yml": yaml})
	p, err := f.svc.CreatePipeline(ctx, ci.CreateInput{Project: f.project, User: f.user, Ref: "main", SHA: sha, Source: model.SourcePush})
	if err != nil {
		tb.Fatalf("CreatePipeline: %v", err)
	}
	return p
}

func (f *fixture) jobs(tb testing.TB, pipelineID int64) []*model.Job {
	tb.Helper()
	jobs, err := f.st.PipelineJobs(ctx, pipelineID, false)
	if err != nil {
		tb.Fatalf("PipelineJobs: %v", err)
	}
	return jobs
}

// job is the current (not retried) job of that name.
func (f *fixture) job(tb testing.TB, pipelineID int64, name string) *model.Job {
	tb.Helper()
	for _, j := range f.jobs(tb, pipelineID) {
		if j.Name == name {
			return j
		}
	}
	tb.Fatalf("pipeline %d has no job %q", pipelineID, name)
	return nil
}

func (f *fixture) pipeline(tb testing.TB, id int64) *model.Pipeline {
	tb.Helper()
	p, err := f.st.Pipeline(ctx, id)
	if err != nil {
		tb.Fatalf("Pipeline(%d): %v", id, err)
	}
	return p
}

// state is "name=status ..." of the pipeline's current jobs in stage, then
// creation, order.
func (f *fixture) state(tb testing.TB, pipelineID int64) string {
	tb.Helper()
	var parts []string
	for _, j := range f.jobs(tb, pipelineID) {
		parts = append(parts, j.Name+"="+j.Status)
	}
	return strings.Join(parts, " ")
}

// expect checks the pipeline's status and every job's status.
func (f *fixture) expect(tb testing.TB, step string, pipelineID int64, status, jobs string) {
	tb.Helper()
	p := f.pipeline(tb, pipelineID)
	got := f.state(tb, pipelineID)
	if p.Status != status || got != jobs {
		tb.Fatalf("%s:\n got pipeline %s, jobs %s\nwant pipeline %s, jobs %s", step, p.Status, got, status, jobs)
	}
	switch {
	case model.Complete(status) && (p.FinishedAt == nil || p.FinishedAt.After(f.clock.Now())):
		tb.Fatalf("%s: finished pipeline has FinishedAt %v (now %v)", step, p.FinishedAt, f.clock.Now())
	case !model.Complete(status) && p.FinishedAt != nil:
		tb.Fatalf("%s: %s pipeline has FinishedAt %v", step, status, p.FinishedAt)
	}
}

func wantRefused(tb testing.TB, err error, reason string) {
	tb.Helper()
	var refused *ci.RefusedError
	if !errors.As(err, &refused) || refused.Reason != reason {
		tb.Fatalf("err = %v (%T), want *ci.RefusedError %q", err, err, reason)
	}
}

func (f *fixture) countPipelines(tb testing.TB) int {
	tb.Helper()
	_, total, err := f.st.ListPipelines(ctx, store.PipelineFilter{ProjectID: f.project.ID}, store.Page{Number: 1, PerPage: 100})
	if err != nil {
		tb.Fatalf("ListPipelines: %v", err)
	}
	return total
}

// mainConfig exercises stages, needs, rules on branch, tag and source,
// manual, delayed, allow_failure, variables at three levels and
// artifacts.
const mainConfig = `stages: [build, test, deploy]

variables:
  GLOBAL: global-value
  SHARED: from-global
  LAYER: global

default:
  before_script: [echo before]
  after_script: [echo after]

compile:
  stage: build
  script:
    - make compile
    - make vet
  variables:
    LAYER: job
    JOB_ONLY: job-value
    SHARED: from-job
  rules:
    - if: $CI_COMMIT_BRANCH == "main"
      variables:
        LAYER: rule
        RULE_ONLY: rule-value
    - when: on_success
  artifacts:
    paths: [bin/, dist/]
    expire_in: 1 week
    when: always

lint:
  stage: build
  script: [make lint]
  allow_failure: true

unit:
  stage: test
  needs: [compile]
  script: [make unit]

integration:
  stage: test
  script: [make integration]

branch-only:
  stage: test
  script: [echo branch]
  rules:
    - if: $CI_COMMIT_BRANCH

tag-only:
  stage: test
  script: [echo tag]
  rules:
    - if: $CI_COMMIT_TAG

api-only:
  stage: test
  script: [echo api]
  rules:
    - if: $CI_PIPELINE_SOURCE == "api"

whoami:
  stage: test
  script: [echo me]
  rules:
    - if: $CI_PROJECT_PATH == "acme/web-app" && $GITLAB_USER_LOGIN == "alice" && $CI_API_V4_URL == "https://ci.example.test/api/v4"

optional-deploy:
  stage: deploy
  needs: []
  script: [deploy optional]
  when: manual

gated-deploy:
  stage: deploy
  needs: []
  script: [deploy gated]
  rules:
    - if: $CI_COMMIT_BRANCH == "main"
      when: manual
    - when: never

later:
  stage: deploy
  needs: []
  script: [echo later]
  when: delayed
  start_in: 30 minutes

smoke:
  stage: deploy
  needs: [unit, integration]
  script: [smoke]
`

// jobRow is what a created job must look like.
type jobRow struct {
	name, stage  string
	stageIdx     int
	status, when string
	allowFailure bool
	dag          bool
	needs        []string
}

func (f *fixture) wantJobs(tb testing.TB, p *model.Pipeline, want []jobRow) []*model.Job {
	tb.Helper()
	jobs := f.jobs(tb, p.ID)
	var got []jobRow
	for _, j := range jobs {
		got = append(got, jobRow{j.Name, j.Stage, j.StageIdx, j.Status, j.When, j.AllowFailure, j.DAG, j.Needs})
		if j.PipelineID != p.ID || j.ProjectID != f.project.ID || j.UserID != f.user.ID || j.Retried {
			tb.Errorf("job %s: pipeline %d project %d user %d retried %v", j.Name, j.PipelineID, j.ProjectID, j.UserID, j.Retried)
		}
	}
	if !reflect.DeepEqual(got, want) {
		tb.Fatalf("jobs:\n got %+v\nwant %+v", got, want)
	}
	return jobs
}

func TestCreatePipelineFromRepository(t *testing.T) {
	forEachDialect(t, func(t *testing.T, f *fixture) {
		sha := f.commit(t, "main", "Add CI\n\nThe whole pipeline.", map[string]string{".gitlab-ci.yml": mainConfig, "README.md": "hi\n"})
		now := f.clock.Now()

		p := f.create(t, "main", model.SourcePush)
		if p.IID != 1 || p.Ref != "main" || p.Tag || p.SHA != sha || p.Source != model.SourcePush || p.UserID != f.user.ID ||
			p.ProjectID != f.project.ID || p.YAMLErrors != "" || !p.CreatedAt.Equal(now) {
			t.Fatalf("pipeline = %+v", p)
		}
		// Pending and created jobs, plus manual and scheduled ones: GitLab's
		// composite status of that mix is running.
		if p.Status != model.StatusRunning || p.StartedAt == nil || !p.StartedAt.Equal(now) || p.FinishedAt != nil {
			t.Fatalf("pipeline status %s, started %v, finished %v; want running, %v, nil", p.Status, p.StartedAt, p.FinishedAt, now)
		}
		jobs := f.wantJobs(t, p, []jobRow{
			{"compile", "build", 1, "pending", "on_success", false, false, nil},
			{"lint", "build", 1, "pending", "on_success", true, false, nil},
			{"unit", "test", 2, "created", "on_success", false, true, []string{"compile"}},
			{"integration", "test", 2, "created", "on_success", false, false, nil},
			{"branch-only", "test", 2, "created", "on_success", false, false, nil},
			{"whoami", "test", 2, "created", "on_success", false, false, nil},
			{"optional-deploy", "deploy", 3, "manual", "manual", true, true, nil},
			{"gated-deploy", "deploy", 3, "manual", "manual", false, true, nil},
			{"later", "deploy", 3, "scheduled", "delayed", false, true, nil},
			{"smoke", "deploy", 3, "created", "on_success", false, true, []string{"unit", "integration"}},
		})
		for _, j := range jobs {
			switch j.Status {
			case model.StatusPending:
				if j.QueuedAt == nil || !j.QueuedAt.Equal(now) {
					t.Errorf("%s: QueuedAt %v, want %v", j.Name, j.QueuedAt, now)
				}
			case model.StatusScheduled:
				if want := now.Add(30 * time.Minute); j.ScheduledAt == nil || !j.ScheduledAt.Equal(want) {
					t.Errorf("%s: ScheduledAt %v, want %v", j.Name, j.ScheduledAt, want)
				}
			}
			if j.Status != model.StatusScheduled && j.ScheduledAt != nil {
				t.Errorf("%s: ScheduledAt %v on a %s job", j.Name, j.ScheduledAt, j.Status)
			}
			if !j.CreatedAt.Equal(now) || j.StartedAt != nil || j.FinishedAt != nil || j.RunnerID != 0 {
				t.Errorf("%s: created %v started %v finished %v runner %d", j.Name, j.CreatedAt, j.StartedAt, j.FinishedAt, j.RunnerID)
			}
		}
		if got := f.pending.Load(); got != 1 {
			t.Errorf("OnPending called %d times, want 1", got)
		}

		// The frozen spec: scripts with the defaults, variables in
		// precedence order (a job's and a rule's replace a global in its
		// place; new keys follow), artifacts, needs.
		compile := ci.SpecOf(jobs[0])
		wantSpec := ci.Spec{
			Script: []string{"make compile", "make vet"}, BeforeScript: []string{"echo before"}, AfterScript: []string{"echo after"},
			Variables: []model.Variable{
				{Key: "GLOBAL", Value: "global-value"}, {Key: "SHARED", Value: "from-job"}, {Key: "LAYER", Value: "rule"},
				{Key: "JOB_ONLY", Value: "job-value"}, {Key: "RULE_ONLY", Value: "rule-value"},
			},
			Artifacts: &ci.ArtifactSpec{Paths: []string{"bin/", "dist/"}, ExpireIn: "1 week", When: "always"},
		}
		if !reflect.DeepEqual(compile, wantSpec) {
			t.Errorf("compile spec:\n got %+v\nwant %+v", compile, wantSpec)
		}
		smoke := ci.SpecOf(jobs[9])
		if !reflect.DeepEqual(smoke.Needs, []ci.NeedSpec{{Job: "unit", Artifacts: true}, {Job: "integration", Artifacts: true}}) || !smoke.NeedsSet ||
			!reflect.DeepEqual(smoke.Script, []string{"smoke"}) || smoke.Artifacts != nil ||
			!reflect.DeepEqual(smoke.Variables, []model.Variable{{Key: "GLOBAL", Value: "global-value"}, {Key: "SHARED", Value: "from-global"}, {Key: "LAYER", Value: "global"}}) {
			t.Errorf("smoke spec = %+v", smoke)
		}
		if s := ci.SpecOf(jobs[6]); !s.NeedsSet || len(s.Needs) != 0 || s.StartIn != 0 {
			t.Errorf("optional-deploy spec = %+v", s)
		}
		if s := ci.SpecOf(jobs[8]); s.StartIn != ci.Duration(30*60) || s.StartIn.D() != 30*time.Minute {
			t.Errorf("later spec StartIn = %d", s.StartIn)
		}

		// A tag on the same commit: tag rules, no branch rules, no rule
		// variables for compile (its first rule does not match).
		f.tag(t, "v1.0.0", sha)
		tp := f.create(t, "v1.0.0", model.SourcePush)
		if tp.IID != 2 || !tp.Tag || tp.Ref != "v1.0.0" || tp.SHA != sha {
			t.Fatalf("tag pipeline = %+v", tp)
		}
		tjobs := f.wantJobs(t, tp, []jobRow{
			{"compile", "build", 1, "pending", "on_success", false, false, nil},
			{"lint", "build", 1, "pending", "on_success", true, false, nil},
			{"unit", "test", 2, "created", "on_success", false, true, []string{"compile"}},
			{"integration", "test", 2, "created", "on_success", false, false, nil},
			{"tag-only", "test", 2, "created", "on_success", false, false, nil},
			{"whoami", "test", 2, "created", "on_success", false, false, nil},
			{"optional-deploy", "deploy", 3, "manual", "manual", true, true, nil},
			{"later", "deploy", 3, "scheduled", "delayed", false, true, nil},
			{"smoke", "deploy", 3, "created", "on_success", false, true, []string{"unit", "integration"}},
		})
		wantTagVars := []model.Variable{{Key: "GLOBAL", Value: "global-value"}, {Key: "SHARED", Value: "from-job"}, {Key: "LAYER", Value: "job"},
			{Key: "JOB_ONLY", Value: "job-value"}}
		if got := ci.SpecOf(tjobs[0]).Variables; !reflect.DeepEqual(got, wantTagVars) {
			t.Errorf("compile variables on a tag:\n got %+v\nwant %+v", got, wantTagVars)
		}

		// An API pipeline on another branch: source rules, no main-only job.
		fsha := f.commit(t, "feature/x", "feature", map[string]string{".gitlab-ci.yml": mainConfig})
		ap := f.create(t, "feature/x", model.SourceAPI)
		if ap.IID != 3 || ap.Tag || ap.SHA != fsha || ap.Source != model.SourceAPI {
			t.Fatalf("api pipeline = %+v", ap)
		}
		f.wantJobs(t, ap, []jobRow{
			{"compile", "build", 1, "pending", "on_success", false, false, nil},
			{"lint", "build", 1, "pending", "on_success", true, false, nil},
			{"unit", "test", 2, "created", "on_success", false, true, []string{"compile"}},
			{"integration", "test", 2, "created", "on_success", false, false, nil},
			{"branch-only", "test", 2, "created", "on_success", false, false, nil},
			{"api-only", "test", 2, "created", "on_success", false, false, nil},
			{"whoami", "test", 2, "created", "on_success", false, false, nil},
			{"optional-deploy", "deploy", 3, "manual", "manual", true, true, nil},
			{"later", "deploy", 3, "scheduled", "delayed", false, true, nil},
			{"smoke", "deploy", 3, "created", "on_success", false, true, []string{"unit", "integration"}},
		})
	})
}

func TestCreatePipelineWithoutParallelStart(t *testing.T) {
	// Manual and delayed jobs in a later stage wait for it; a job-level
	// manual job is optional and does not hold the pipeline.
	forEachDialect(t, func(t *testing.T, f *fixture) {
		p := f.pipelineFor(t, `stages: [build, deploy]
build:
  stage: build
  script: [b]
ship:
  stage: deploy
  script: [s]
  when: manual
wait:
  stage: deploy
  script: [w]
  when: delayed
  start_in: 2 hours 30 minutes
`)
		f.expect(t, "created", p.ID, "pending", "build=pending ship=created wait=created")
		if p.StartedAt != nil {
			t.Fatalf("a pending pipeline has StartedAt %v", p.StartedAt)
		}
		b := f.job(t, p.ID, "build")
		f.clock.Add(time.Minute)
		if _, err := f.svc.UpdateJob(ctx, b.ID, ci.EvRun, nil); err != nil {
			t.Fatal(err)
		}
		f.clock.Add(time.Minute)
		if _, err := f.svc.UpdateJob(ctx, b.ID, ci.EvSucceed, nil); err != nil {
			t.Fatal(err)
		}
		f.expect(t, "build done", p.ID, "scheduled", "build=success ship=manual wait=scheduled")
		w := f.job(t, p.ID, "wait")
		if want := f.clock.Now().Add(150 * time.Minute); w.ScheduledAt == nil || !w.ScheduledAt.Equal(want) {
			t.Fatalf("ScheduledAt %v, want %v", w.ScheduledAt, want)
		}
		// Not due yet: EnqueueDue leaves it; once due, it is queued.
		if err := f.svc.EnqueueDue(ctx); err != nil {
			t.Fatal(err)
		}
		f.expect(t, "not due", p.ID, "scheduled", "build=success ship=manual wait=scheduled")
		// Each job made pending outside processing is announced, so that
		// held runners wake: the delayed job come due, the manual job
		// played.
		announced := f.pending.Load()
		f.clock.Add(150 * time.Minute)
		if err := f.svc.EnqueueDue(ctx); err != nil {
			t.Fatal(err)
		}
		f.expect(t, "due", p.ID, "running", "build=success ship=manual wait=pending")
		if got := f.pending.Load() - announced; got != 1 {
			t.Errorf("the delayed job come due: OnPending called %d times, want 1", got)
		}
		if _, err := f.svc.Play(ctx, f.job(t, p.ID, "ship").ID, f.user.ID, nil); err != nil {
			t.Fatal(err)
		}
		f.expect(t, "played", p.ID, "running", "build=success ship=pending wait=pending")
		if got := f.pending.Load() - announced; got != 2 {
			t.Errorf("after the play: OnPending called %d times in all, want 2", got)
		}
	})
}

func TestCreatePipelineYAMLErrors(t *testing.T) {
	cases := []struct {
		name, yaml, want string
	}{
		{"bad when", "stages: [build]\nbuild:\n  stage: build\n  script: [make]\n  when: sometimes\n",
			`line 5: when must be one of on_success, manual, always, on_failure, never, delayed, not "sometimes"`},
		{"bad indentation", "stages: [build]\nbuild:\n  script: make\n   stage: build\n",
			`line 4: invalid YAML: mapping values are not allowed in this context`},
		// The unclosed "[" is on line 2 (GitLab: "while parsing a flow
		// sequence at line 2 column 11").
		{"unclosed flow sequence", "build:\n  script: [make\n  stage: build\n",
			`line 2: invalid YAML: did not find expected ',' or ']'`},
		{"need on a missing job", "build:\n  stage: build\n  script: [make]\ntest:\n  stage: test\n  script: [t]\n  needs: [nothere]\n",
			`line 7: job "test" needs "nothere", which is not defined`},
		{"unknown stage", "build:\n  stage: nowhere\n  script: [make]\n",
			`line 2: job "build": stage "nowhere" is not one of the stages (.pre, build, test, deploy, .post)`},
	}
	forEachDialect(t, func(t *testing.T, f *fixture) {
		for i, c := range cases {
			p := f.pipelineFor(t, c.yaml)
			if p.Status != model.StatusFailed || p.FinishedAt == nil || !p.FinishedAt.Equal(f.clock.Now()) || p.IID != int64(i+1) {
				t.Errorf("%s: pipeline status %s, finished %v, iid %d; want failed, %v, %d", c.name, p.Status, p.FinishedAt, p.IID, f.clock.Now(), i+1)
			}
			if p.YAMLErrors != c.want {
				t.Errorf("%s: YAMLErrors\n got %q\nwant %q", c.name, p.YAMLErrors, c.want)
			}
			if jobs := f.jobs(t, p.ID); len(jobs) != 0 {
				t.Errorf("%s: %d jobs, want none", c.name, len(jobs))
			}
		}
	})
}

func TestCreatePipelineRefused(t *testing.T) {
	forEachDialect(t, func(t *testing.T, f *fixture) {
		f.commit(t, "docs", "no CI here", map[string]string{"README.md": "docs\n"})
		_, err := f.svc.CreatePipeline(ctx, ci.CreateInput{Project: f.project, User: f.user, Ref: "docs", Source: model.SourceWeb})
		wantRefused(t, err, ci.ReasonMissingConfig)

		_, err = f.svc.CreatePipeline(ctx, ci.CreateInput{Project: f.project, User: f.user, Ref: "no-such-branch", Source: model.SourceWeb})
		wantRefused(t, err, ci.ReasonNoRef)

		wf := `workflow:
  rules:
    - if: $CI_COMMIT_BRANCH == "main"
build:
  script: [make]
`
		f.commit(t, "wf", "workflow", map[string]string{".gitlab-ci.yml": wf})
		_, err = f.svc.CreatePipeline(ctx, ci.CreateInput{Project: f.project, User: f.user, Ref: "wf", Source: model.SourcePush})
		wantRefused(t, err, ci.ReasonWorkflow)

		filtered := `build:
  script: [make]
  rules:
    - if: $CI_COMMIT_TAG
`
		f.commit(t, "filtered", "filtered", map[string]string{".gitlab-ci.yml": filtered})
		_, err = f.svc.CreatePipeline(ctx, ci.CreateInput{Project: f.project, User: f.user, Ref: "filtered", Source: model.SourcePush})
		wantRefused(t, err, ci.ReasonFiltered)

		if n := f.countPipelines(t); n != 0 {
			t.Fatalf("refusals stored %d pipelines", n)
		}
		// The workflow lets main through; refusals used no IID.
		f.commit(t, "main", "workflow", map[string]string{".gitlab-ci.yml": wf})
		if p := f.create(t, "main", model.SourcePush); p.IID != 1 || p.Status != model.StatusPending {
			t.Fatalf("pipeline on main: iid %d status %s", p.IID, p.Status)
		}
	})
}

func TestCreatePipelineIIDs(t *testing.T) {
	forEachDialect(t, func(t *testing.T, f *fixture) {
		f.commit(t, "main", "ci", map[string]string{".gitlab-ci.yml": "build:\n  script: [make]\n"})
		var ids []int64
		for want := int64(1); want <= 3; want++ {
			p := f.create(t, "main", model.SourceWeb)
			if p.IID != want {
				t.Fatalf("pipeline %d has IID %d, want %d", len(ids)+1, p.IID, want)
			}
			ids = append(ids, p.ID)
		}
		if ids[0] >= ids[1] || ids[1] >= ids[2] {
			t.Fatalf("IDs %v do not increase", ids)
		}
		// A second project numbers from 1 on its own.
		other := &model.Project{Name: "Other", Path: "other", NamespaceID: f.project.NamespaceID, Visibility: model.Public, DefaultBranch: "main"}
		if err := f.st.CreateProject(ctx, other); err != nil {
			t.Fatal(err)
		}
		other, _ = f.st.Project(ctx, other.ID)
		if err := f.repos.Create(ctx, other.ID, "main"); err != nil {
			t.Fatal(err)
		}
		f.git(t, f.work, "push", "--quiet", f.repos.Path(other.ID), "main:refs/heads/main")
		op, err := f.svc.CreatePipeline(ctx, ci.CreateInput{Project: other, User: f.user, Ref: "main", Source: model.SourceWeb})
		if err != nil || op.IID != 1 {
			t.Fatalf("other project's first pipeline: %+v, %v", op, err)
		}
		if p := f.create(t, "main", model.SourceWeb); p.IID != 4 {
			t.Fatalf("fourth pipeline IID %d", p.IID)
		}

		// Concurrent creations each get their own number.
		const n = 8
		var wg sync.WaitGroup
		iids := make([]int64, n)
		errs := make([]error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p, err := f.svc.CreatePipeline(ctx, ci.CreateInput{Project: f.project, User: f.user, Ref: "main", Source: model.SourceAPI})
				if err == nil {
					iids[i] = p.IID
				}
				errs[i] = err
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("concurrent CreatePipeline %d: %v", i, err)
			}
		}
		sort.Slice(iids, func(a, b int) bool { return iids[a] < iids[b] })
		for i, iid := range iids {
			if iid != int64(5+i) {
				t.Fatalf("concurrent IIDs %v, want 5..%d", iids, 4+n)
			}
		}
	})
}

func TestPipelineVariables(t *testing.T) {
	forEachDialect(t, func(t *testing.T, f *fixture) {
		sha := f.commit(t, "main", "Title line\n\nBody text.", map[string]string{".gitlab-ci.yml": "build:\n  script: [make]\n"})
		p := f.create(t, "main", model.SourcePush)
		c, err := f.repos.Commit(ctx, f.project.ID, sha)
		if err != nil {
			t.Fatal(err)
		}
		vars := ci.PipelineVariables(ci.PipelineContext{ExternalURL: externalURL, Project: f.project, Pipeline: p, User: f.user,
			Commit: &ci.CommitInfo{Message: c.Message, Title: c.Title, Description: "Body text.", Author: "Alice Example <alice@example.com>", Timestamp: c.AuthoredAt}})
		want := map[string]string{
			"CI":                   "true",
			"CI_COMMIT_SHA":        sha,
			"CI_COMMIT_SHORT_SHA":  sha[:8],
			"CI_COMMIT_BRANCH":     "main",
			"CI_COMMIT_REF_NAME":   "main",
			"CI_COMMIT_REF_SLUG":   "main",
			"CI_COMMIT_BEFORE_SHA": "0000000000000000000000000000000000000000",
			"CI_COMMIT_TITLE":      "Title line",
			"CI_COMMIT_MESSAGE":    "Title line\n\nBody text.",
			"CI_PIPELINE_SOURCE":   "push",
			"CI_PIPELINE_IID":      "1",
			"CI_PIPELINE_ID":       fmt.Sprint(p.ID),
			"CI_PIPELINE_URL":      fmt.Sprintf("https://ci.example.test/acme/web-app/-/pipelines/%d", p.ID),
			"CI_PROJECT_ID":        fmt.Sprint(f.project.ID),
			"CI_PROJECT_PATH":      "acme/web-app",
			"CI_PROJECT_PATH_SLUG": "acme-web-app",
			"CI_PROJECT_NAMESPACE": "acme",
			"CI_PROJECT_NAME":      "web-app",
			"CI_PROJECT_URL":       "https://ci.example.test/acme/web-app",
			"CI_DEFAULT_BRANCH":    "main",
			"CI_SERVER_URL":        "https://ci.example.test",
			"CI_SERVER_HOST":       "ci.example.test",
			"CI_SERVER_PORT":       "443",
			"CI_API_V4_URL":        "https://ci.example.test/api/v4",
			"CI_REGISTRY":          "ci.example.test",
			"CI_REGISTRY_IMAGE":    "ci.example.test/acme/web-app",
			"GITLAB_USER_LOGIN":    "alice",
			"GITLAB_USER_ID":       fmt.Sprint(f.user.ID),
			"GITLAB_USER_EMAIL":    "alice@example.com",
			"GITLAB_USER_NAME":     "Alice Example",
		}
		for k, w := range want {
			if got, ok := vars.Lookup(k); !ok || got != w {
				t.Errorf("%s = %q (set %v), want %q", k, got, ok, w)
			}
		}
		if v, ok := vars.Lookup("CI_COMMIT_TAG"); ok {
			t.Errorf("branch pipeline has CI_COMMIT_TAG %q", v)
		}
		// --registry-url names the registry's own host and port.
		rv := ci.PipelineVariables(ci.PipelineContext{ExternalURL: externalURL, RegistryURL: "https://registry.example.test:5050",
			Project: f.project, Pipeline: p, User: f.user})
		for k, w := range map[string]string{"CI_REGISTRY": "registry.example.test:5050", "CI_REGISTRY_IMAGE": "registry.example.test:5050/acme/web-app"} {
			if got, _ := rv.Lookup(k); got != w {
				t.Errorf("with a registry URL, %s = %q, want %q", k, got, w)
			}
		}

		f.tag(t, "v2.0", sha)
		tp := f.create(t, "v2.0", model.SourcePush)
		tv := ci.PipelineVariables(ci.PipelineContext{ExternalURL: externalURL, Project: f.project, Pipeline: tp, User: f.user})
		for k, w := range map[string]string{"CI_COMMIT_TAG": "v2.0", "CI_COMMIT_REF_NAME": "v2.0", "CI_COMMIT_REF_SLUG": "v2-0", "CI_PIPELINE_IID": "2", "CI_COMMIT_SHA": sha} {
			if got, ok := tv.Lookup(k); !ok || got != w {
				t.Errorf("tag pipeline %s = %q (set %v), want %q", k, got, ok, w)
			}
		}
		if v, ok := tv.Lookup("CI_COMMIT_BRANCH"); ok {
			t.Errorf("tag pipeline has CI_COMMIT_BRANCH %q", v)
		}
	})
}

// TestCreatePipelineRunVariables: variables given for the run beat the
// YAML's in rules, and are stored with the pipeline.
func TestCreatePipelineRunVariables(t *testing.T) {
	forEachDialect(t, func(t *testing.T, f *fixture) {
		f.commit(t, "main", "ci", map[string]string{".gitlab-ci.yml": `variables:
  MODE: normal
normal:
  script: [n]
  rules:
    - if: $MODE == "normal"
special:
  script: [s]
  rules:
    - if: $MODE == "special"
`})
		p, err := f.svc.CreatePipeline(ctx, ci.CreateInput{Project: f.project, User: f.user, Ref: "main", Source: model.SourceAPI,
			Variables: []model.Variable{{Key: "MODE", Value: "special"}}})
		if err != nil {
			t.Fatal(err)
		}
		f.expect(t, "created", p.ID, "pending", "special=pending")
		if !reflect.DeepEqual(p.Variables, []model.Variable{{Key: "MODE", Value: "special"}}) {
			t.Fatalf("pipeline variables %+v", p.Variables)
		}
	})
}

// TestRulesPerSource: rules:if sees CI_PIPELINE_SOURCE for every source a
// pipeline may have (issue 15), and CI_COMMIT_TAG on a tag, and a
// downstream pipeline's CI_UPSTREAM_PROJECT_ID: each pipeline gets the one
// job its source selects.
func TestRulesPerSource(t *testing.T) {
	forEachDialect(t, func(t *testing.T, f *fixture) {
		sources := []string{model.SourcePush, model.SourceAPI, model.SourceTrigger, model.SourcePipeline, model.SourceParentPipeline,
			model.SourceSchedule, model.SourceWeb}
		var yaml strings.Builder
		for _, s := range sources {
			fmt.Fprintf(&yaml, "only-%s:\n  script: [x]\n  rules:\n    - if: $CI_PIPELINE_SOURCE == %q && $CI_COMMIT_TAG == null\n", s, s)
		}
		yaml.WriteString("on-tag:\n  script: [x]\n  rules:\n    - if: $CI_COMMIT_TAG\n")
		yaml.WriteString("downstream:\n  script: [x]\n  rules:\n    - if: $CI_UPSTREAM_PROJECT_ID\n")
		sha := f.commit(t, "main", "ci", map[string]string{".gitlab-ci.yml": yaml.String()})
		f.tag(t, "v1", sha)
		var first *model.Pipeline
		for _, s := range sources {
			p := f.create(t, "main", s)
			if first == nil {
				first = p
			}
			if jobs := f.jobs(t, p.ID); len(jobs) != 1 || jobs[0].Name != "only-"+s {
				t.Errorf("source %s: jobs %v, want only-%s", s, jobNames(jobs), s)
			}
		}
		if jobs := f.jobs(t, f.create(t, "v1", model.SourcePush).ID); len(jobs) != 1 || jobs[0].Name != "on-tag" {
			t.Errorf("a tag's jobs: %v, want on-tag", jobNames(jobs))
		}
		// Downstream of a job of the first pipeline: CI_UPSTREAM_* are
		// pre-pipeline variables.
		up := f.jobs(t, first.ID)[0]
		p, err := f.svc.CreatePipeline(ctx, ci.CreateInput{Project: f.project, User: f.user, Ref: "main", Source: model.SourcePipeline, SourceJob: up})
		if err != nil {
			t.Fatal(err)
		}
		if jobs := f.jobs(t, p.ID); len(jobs) != 2 || jobs[0].Name != "only-pipeline" || jobs[1].Name != "downstream" {
			t.Errorf("a downstream pipeline's jobs: %v, want only-pipeline and downstream", jobNames(jobs))
		}
	})
}

func jobNames(jobs []*model.Job) []string {
	var out []string
	for _, j := range jobs {
		out = append(out, j.Name)
	}
	return out
}
