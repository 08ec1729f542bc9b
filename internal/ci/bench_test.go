package ci_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/ciwarden/ciwarden/internal/ci"
	"github.com/ciwarden/ciwarden/internal/ci/config"
	"github.com/ciwarden/ciwarden/internal/git"
	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/testdb"
)

// benchConfig is n jobs over five stages, each with rules, needs on the
// previous stage, variables, artifacts and cache, sharing a template and
// defaults (the same shape as the config package's benchmark file).
func benchConfig(n int) string {
	var b strings.Builder
	b.WriteString(`stages: [s0, s1, s2, s3, s4]
variables:
  GO_VERSION: "1.26"
  IMAGE: registry.example.com/app:$CI_COMMIT_SHORT_SHA
workflow:
  rules:
    - if: $CI_PIPELINE_SOURCE == "merge_request_event"
      when: never
    - if: $CI_COMMIT_BRANCH || $CI_COMMIT_TAG
default:
  image: golang:$GO_VERSION
  tags: [linux]
  before_script: [go version]
.job:
  retry: 1
  interruptible: true
  cache:
    key: {files: [go.sum]}
    paths: [.cache/]
`)
	for i := 0; i < n; i++ {
		stage := i % 5
		fmt.Fprintf(&b, "job%d:\n  extends: .job\n  stage: s%d\n", i, stage)
		fmt.Fprintf(&b, "  script:\n    - echo job %d\n    - make target-%d\n    - ./check.sh $IMAGE\n", i, i)
		fmt.Fprintf(&b, "  variables:\n    TARGET: target-%d\n", i)
		switch {
		case stage > 0 && i >= 6:
			fmt.Fprintf(&b, "  needs: [job%d, {job: job%d, optional: true}]\n", i-1, i-6)
		case stage > 0:
			fmt.Fprintf(&b, "  needs: [job%d]\n", i-1)
		}
		b.WriteString(`  rules:
    - if: $CI_COMMIT_TAG =~ /^v\d+/
      when: manual
    - if: $CI_COMMIT_BRANCH == "main" && $TARGET != "skip"
      changes: [src/**/*.go]
    - when: on_success
  artifacts:
    paths: [out/]
    expire_in: 1 week
`)
	}
	return b.String()
}

// BenchmarkCreatePipeline50Jobs is a push pipeline from a 50-job file in
// a real repository on SQLite: resolve the commit, read the file, parse,
// evaluate rules (with a diff for changes:), store the pipeline and its
// jobs, and process it.
func BenchmarkCreatePipeline50Jobs(b *testing.B) { benchCreate(b, "sqlite", false) }

// BenchmarkCreatePipeline50JobsPostgres is the same on PostgreSQL (skipped
// without CIWARDEN_TEST_POSTGRES_URL).
func BenchmarkCreatePipeline50JobsPostgres(b *testing.B) { benchCreate(b, "postgres", false) }

// BenchmarkCreatePipeline50JobsCachedRepo is the SQLite benchmark with
// the repository reads answered from memory after the first: what is left
// is parsing, rules, persistence and processing, without the git
// processes.
func BenchmarkCreatePipeline50JobsCachedRepo(b *testing.B) { benchCreate(b, "sqlite", true) }

func benchCreate(b *testing.B, dialect string, cached bool) {
	if dialect == "postgres" && !testdb.HavePostgres() {
		b.Skip("set " + testdb.EnvPostgres + " to benchmark PostgreSQL")
	}
	f := newFixture(b, dialect)
	if cached {
		f.svc.Repos = &memoRepos{Repos: f.svc.Repos, memo: map[string]any{}}
	}
	sha := f.commit(b, "main", "fifty jobs", map[string]string{".gitlab-ci.yml": benchConfig(50), "src/app/main.go": "package main\n", "go.sum": ""})
	in := ci.CreateInput{Project: f.project, User: f.user, Ref: "main", SHA: sha, Source: model.SourcePush}

	// Check once, outside the timing, that the work is the whole work.
	p, err := f.svc.CreatePipeline(ctx, in)
	if err != nil {
		b.Fatal(err)
	}
	if jobs := f.jobs(b, p.ID); len(jobs) != 50 || p.Status != model.StatusPending {
		b.Fatalf("pipeline %s with %d jobs", p.Status, len(jobs))
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.svc.CreatePipeline(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParsePlanOnly is the in-run baseline: the same file parsed and
// planned in memory, with the same predefined variables, no I/O.
func BenchmarkParsePlanOnly(b *testing.B) {
	data := []byte(benchConfig(50))
	ns := &model.Namespace{ID: 2, FullPath: "acme", FullName: "Acme"}
	project := &model.Project{ID: 1, Name: "Web App", Path: "web-app", NamespaceID: 2, Namespace: ns, Visibility: model.Internal, DefaultBranch: "main"}
	p := &model.Pipeline{ID: 1, IID: 1, ProjectID: 1, Ref: "main", SHA: strings.Repeat("ab", 20), Source: model.SourcePush, Status: model.StatusCreated}
	user := &model.User{ID: 1, Username: "alice", Name: "Alice Example", Email: "alice@example.com"}
	vars := ci.PipelineVariables(ci.PipelineContext{ExternalURL: externalURL, Project: project, Pipeline: p, User: user})
	env := config.Env{Vars: vars.Lookup, Changes: func([]string, string) bool { return true }}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		cfg, err := config.Parse(data, config.Options{})
		if err != nil {
			b.Fatal(err)
		}
		plan, err := cfg.Plan(env)
		if err != nil || !plan.Created || len(plan.Jobs) != 50 {
			b.Fatalf("plan: %v", err)
		}
	}
}

// memoRepos answers repeated repository reads from memory and keeps no
// refs; every other method goes to the real repositories.
type memoRepos struct {
	ci.Repos
	mu   sync.Mutex
	memo map[string]any
}

func memo[T any](m *memoRepos, key string, load func() (T, error)) (T, error) {
	m.mu.Lock()
	v, ok := m.memo[key]
	m.mu.Unlock()
	if ok {
		return v.(T), nil
	}
	out, err := load()
	if err == nil {
		m.mu.Lock()
		m.memo[key] = out
		m.mu.Unlock()
	}
	return out, err
}

func (m *memoRepos) ReadFile(ctx context.Context, projectID int64, rev, path string, max int64) ([]byte, error) {
	return memo(m, fmt.Sprint("read", projectID, rev, path, max), func() ([]byte, error) { return m.Repos.ReadFile(ctx, projectID, rev, path, max) })
}

func (m *memoRepos) ChangedFiles(ctx context.Context, projectID int64, before, after string) ([]string, error) {
	return memo(m, fmt.Sprint("changed", projectID, before, after), func() ([]string, error) { return m.Repos.ChangedFiles(ctx, projectID, before, after) })
}

func (m *memoRepos) ListFiles(ctx context.Context, projectID int64, rev string) ([]string, error) {
	return memo(m, fmt.Sprint("list", projectID, rev), func() ([]string, error) { return m.Repos.ListFiles(ctx, projectID, rev) })
}

func (m *memoRepos) Commit(ctx context.Context, projectID int64, rev string) (*git.Commit, error) {
	return memo(m, fmt.Sprint("commit", projectID, rev), func() (*git.Commit, error) { return m.Repos.Commit(ctx, projectID, rev) })
}

func (m *memoRepos) UpdateRef(context.Context, int64, string, string) error { return nil }
