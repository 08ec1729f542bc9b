package config

import (
	"slices"
	"testing"
	"time"
)

func TestParseEveryJobKeyword(t *testing.T) {
	cfg := mustParse(t, `
stages: [build, test, deploy]
build:
  stage: build
  script: make
  tags: [docker, linux]
  artifacts:
    paths: [bin/]
test:
  stage: test
  image: golang:1.26
  services: [postgres:16, {name: redis:7, alias: cache}]
  before_script:
    - echo before
  script:
    - go test ./...
    - [echo nested, [echo deeper]]
  after_script: echo after
  variables:
    PLAIN: hello
    VERSION: 1.10
    ENABLED: true
    EMPTY:
    RAW: {value: $NOT_EXPANDED, expand: false, description: kept as is}
  needs:
    - build
    - {job: lint, optional: true, artifacts: false}
    - {project: group/lib, job: package, ref: main, artifacts: true}
    - {pipeline: $PARENT_PIPELINE_ID, job: generate}
  dependencies: [build]
  allow_failure:
    exit_codes: [137, 255]
  timeout: 1h 30m
  retry: {max: 2, when: [runner_system_failure, stuck_or_timeout_failure], exit_codes: 137}
  interruptible: true
  environment: {name: review/$CI_COMMIT_REF_SLUG, action: start, url: https://example.com}
  resource_group: test-env
  coverage: '/total: (\d+)%/'
  id_tokens:
    VAULT_TOKEN: {aud: https://vault.example.com}
    AWS_TOKEN: {aud: [sts.amazonaws.com, other]}
  job_token:
    permissions: [read_packages, admin_packages]
  cache:
    key: {files: [go.sum], prefix: go}
    paths: [.cache/go]
    policy: pull
    when: always
    untracked: true
    fallback_keys: [go-main]
deploy:
  stage: deploy
  script: ./deploy
  when: delayed
  start_in: 30 minutes
  inherit:
    default: false
    variables: [GLOBAL]
`)
	if got, want := cfg.Stages, []string{".pre", "build", "test", "deploy", ".post"}; !equalStrings(got, want) {
		t.Errorf("stages = %q, want %q", got, want)
	}
	want := &Job{
		Name:         "test",
		Line:         8,
		Stage:        "test",
		Image:        "golang:1.26",
		Services:     []string{"postgres:16", "redis:7"},
		BeforeScript: []string{"echo before"},
		Script:       []string{"go test ./...", "echo nested", "echo deeper"},
		AfterScript:  []string{"echo after"},
		Variables: []Variable{
			{Key: "PLAIN", Value: "hello"},
			{Key: "VERSION", Value: "1.10"},
			{Key: "ENABLED", Value: "true"},
			{Key: "EMPTY", Value: ""},
			{Key: "RAW", Value: "$NOT_EXPANDED", Raw: true, Description: "kept as is"},
		},
		InheritAllVariables: true,
		When:                "on_success",
		Needs: []Need{
			{Job: "build", Artifacts: true, Line: 25},
			{Job: "lint", Optional: true, Artifacts: false, Line: 26},
			{Job: "package", Project: "group/lib", Ref: "main", Artifacts: true, Line: 27},
			{Job: "generate", Pipeline: "$PARENT_PIPELINE_ID", Artifacts: true, Line: 28},
		},
		NeedsSet:              true,
		Dependencies:          []string{"build"},
		DependenciesSet:       true,
		AllowFailureExitCodes: []int{137, 255},
		Timeout:               90 * time.Minute,
		Retry:                 Retry{Max: 2, When: []string{"runner_system_failure", "stuck_or_timeout_failure"}, ExitCodes: []int{137}},
		Interruptible:         true,
		Environment:           "review/$CI_COMMIT_REF_SLUG",
		EnvironmentAction:     "start",
		ResourceGroup:         "test-env",
		Coverage:              `/total: (\d+)%/`,
		IDTokens: []IDToken{
			{Name: "AWS_TOKEN", Aud: []string{"sts.amazonaws.com", "other"}},
			{Name: "VAULT_TOKEN", Aud: []string{"https://vault.example.com"}},
		},
		JobTokenPermissions: []string{"read_packages", "admin_packages"},
		JobTokenSet:         true,
		JobTokenLine:        42,
		Cache: []Cache{{
			KeyFiles: []string{"go.sum"}, KeyPrefix: "go", Paths: []string{".cache/go"},
			Policy: "pull", When: "always", Untracked: true, FallbackKeys: []string{"go-main"},
		}},
	}
	diff(t, "job test", jobNamed(t, cfg, "test"), want)

	build := jobNamed(t, cfg, "build")
	diff(t, "job build", build, &Job{
		Name: "build", Line: 2, Stage: "build", Script: []string{"make"}, Tags: []string{"docker", "linux"},
		Artifacts: &Artifacts{Paths: []string{"bin/"}, When: "on_success"}, When: "on_success", InheritAllVariables: true,
	})
	deploy := jobNamed(t, cfg, "deploy")
	diff(t, "job deploy", deploy, &Job{
		Name: "deploy", Line: 50, Stage: "deploy", Script: []string{"./deploy"}, When: "delayed", StartIn: "30 minutes",
		InheritVariables: []string{"GLOBAL"},
	})
	if got := []string{cfg.Jobs[0].Name, cfg.Jobs[1].Name, cfg.Jobs[2].Name}; !equalStrings(got, []string{"build", "test", "deploy"}) {
		t.Errorf("job order = %q", got)
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestParseScriptForms(t *testing.T) {
	cfg := mustParse(t, `
.setup:
  script: [echo one, echo two]
string:
  script: echo single
list:
  script: [a, b]
nested:
  script: [a, [b, [c, [d]]], e]
reference:
  script:
    - !reference [.setup, script]
    - echo three
scalars:
  script: [1, true, 2.50]
multiline:
  script:
    - |
      echo first
      echo second
`)
	cases := map[string][]string{
		"string":    {"echo single"},
		"list":      {"a", "b"},
		"nested":    {"a", "b", "c", "d", "e"},
		"reference": {"echo one", "echo two", "echo three"},
		"scalars":   {"1", "true", "2.50"},
		"multiline": {"echo first\necho second\n"},
	}
	for name, want := range cases {
		diff(t, name, jobNamed(t, cfg, name).Script, want)
	}
}

func TestParseGlobalVariables(t *testing.T) {
	cfg := mustParse(t, `
variables:
  DEPLOY_ENV:
    value: staging
    options: [staging, production]
    description: where to deploy
  NUMBER: 0o17
  QUOTED: "yes"
  RAW:
    value: $HOME
    expand: false
job:
  script: env
`)
	diff(t, "variables", cfg.Variables, []Variable{
		{Key: "DEPLOY_ENV", Value: "staging", Options: []string{"staging", "production"}, Description: "where to deploy"},
		{Key: "NUMBER", Value: "0o17"},
		{Key: "QUOTED", Value: "yes"},
		{Key: "RAW", Value: "$HOME", Raw: true},
	})
}

func TestParseRules(t *testing.T) {
	cfg := mustParse(t, `
workflow:
  name: 'Pipeline for $CI_COMMIT_REF_NAME'
  rules:
    - if: $CI_COMMIT_TAG
      variables: {RELEASE: "true"}
    - if: '$CI_PIPELINE_SOURCE == "merge_request_event"'
      when: never
    - when: always
job:
  script: test
  rules:
    - if: $CI_COMMIT_BRANCH == "main"
      changes: [src/**/*.go, go.mod]
      when: manual
      allow_failure: false
    - changes:
        paths: [docs/*]
        compare_to: refs/heads/main
      variables: {DOCS: "1"}
      needs: [other]
    - exists: [Dockerfile]
      when: delayed
      start_in: 1 hour
    - exists: {paths: [Makefile]}
      needs: []
    - when: never
other:
  script: other
`)
	diff(t, "workflow", cfg.Workflow, &Workflow{
		Name: "Pipeline for $CI_COMMIT_REF_NAME",
		Line: 1,
		Rules: []Rule{
			{If: mustExpr(`$CI_COMMIT_TAG`), IfSource: "$CI_COMMIT_TAG", Variables: []Variable{{Key: "RELEASE", Value: "true"}}, Line: 4},
			{If: mustExpr(`$CI_PIPELINE_SOURCE == "merge_request_event"`), IfSource: `$CI_PIPELINE_SOURCE == "merge_request_event"`, When: "never", Line: 6},
			{When: "always", Line: 8},
		},
	})
	j := jobNamed(t, cfg, "job")
	if !j.RulesSet {
		t.Error("RulesSet = false")
	}
	diff(t, "rules", j.Rules, []Rule{
		{If: mustExpr(`$CI_COMMIT_BRANCH == "main"`), IfSource: `$CI_COMMIT_BRANCH == "main"`, Changes: []string{"src/**/*.go", "go.mod"},
			When: "manual", AllowFailure: boolPtr(false), Line: 12},
		{Changes: []string{"docs/*"}, CompareTo: "refs/heads/main", Variables: []Variable{{Key: "DOCS", Value: "1"}},
			Needs: []Need{{Job: "other", Artifacts: true, Line: 20}}, NeedsSet: true, Line: 16},
		{Exists: []string{"Dockerfile"}, When: "delayed", StartIn: "1 hour", Line: 21},
		{Exists: []string{"Makefile"}, NeedsSet: true, Line: 24},
		{When: "never", Line: 26},
	})
	// Absent clauses stay nil so Plan can tell "no changes clause" from an
	// empty one.
	if j.Rules[0].Exists != nil || j.Rules[2].Changes != nil {
		t.Error("absent changes/exists should be nil")
	}
	if j.Rules[3].Needs == nil {
		t.Error("rules:needs: [] should be an empty, non-nil list")
	}
}

func TestParseNeedsAndDependenciesPresence(t *testing.T) {
	cfg := mustParse(t, `
a:
  stage: build
  script: a
none:
  script: x
empty:
  script: x
  needs: []
  dependencies: []
some:
  script: x
  needs: [a]
  dependencies: [a]
`)
	none, empty, some := jobNamed(t, cfg, "none"), jobNamed(t, cfg, "empty"), jobNamed(t, cfg, "some")
	if none.NeedsSet || none.DependenciesSet {
		t.Error("absent needs/dependencies marked as set")
	}
	if !empty.NeedsSet || !empty.DependenciesSet || len(empty.Needs) != 0 || len(empty.Dependencies) != 0 {
		t.Errorf("needs: [] = %v %v, dependencies: [] = %v %v", empty.NeedsSet, empty.Needs, empty.DependenciesSet, empty.Dependencies)
	}
	if !some.NeedsSet || !some.DependenciesSet {
		t.Error("needs/dependencies not marked as set")
	}
}

func TestParseArtifacts(t *testing.T) {
	cfg := mustParse(t, `
job:
  script: x
  artifacts:
    name: "$CI_JOB_NAME-$CI_COMMIT_REF_SLUG"
    paths: [dist/, "*.log"]
    exclude: [dist/**/*.tmp]
    expire_in: 1 week
    expose_as: build output
    when: always
    untracked: false
    public: false
    access: developer
    reports:
      junit: report.xml
      dotenv: [build.env]
      coverage_report:
        coverage_format: cobertura
        path: coverage.xml
never:
  script: x
  artifacts: {paths: [a], expire_in: never}
`)
	diff(t, "artifacts", jobNamed(t, cfg, "job").Artifacts, &Artifacts{
		Name: "$CI_JOB_NAME-$CI_COMMIT_REF_SLUG", Paths: []string{"dist/", "*.log"}, Exclude: []string{"dist/**/*.tmp"},
		ExpireIn: "1 week", ExposeAs: "build output", When: "always", Public: boolPtr(false), Access: "developer",
		Reports: map[string][]string{
			"junit": {"report.xml"}, "dotenv": {"build.env"}, "coverage_report": {"coverage.xml"},
		},
		CoverageFormat: "cobertura",
	})
	diff(t, "artifacts", jobNamed(t, cfg, "never").Artifacts, &Artifacts{Paths: []string{"a"}, ExpireIn: "never", When: "on_success"})
}

func TestParseCache(t *testing.T) {
	cfg := mustParse(t, `
one:
  script: x
  cache:
    paths: [vendor/]
keyed:
  script: x
  cache:
    key: $CI_COMMIT_REF_SLUG
    paths: [node_modules/]
    policy: push
    unprotect: true
list:
  script: x
  cache:
    - key: a
      paths: [a/]
    - key: {files: [package-lock.json, yarn.lock]}
      paths: [b/]
      when: on_failure
`)
	diff(t, "one", jobNamed(t, cfg, "one").Cache, []Cache{{Key: "default", Paths: []string{"vendor/"}, Policy: "pull-push", When: "on_success"}})
	diff(t, "keyed", jobNamed(t, cfg, "keyed").Cache, []Cache{{Key: "$CI_COMMIT_REF_SLUG", Paths: []string{"node_modules/"}, Policy: "push", When: "on_success", Unprotect: true}})
	diff(t, "list", jobNamed(t, cfg, "list").Cache, []Cache{
		{Key: "a", Paths: []string{"a/"}, Policy: "pull-push", When: "on_success"},
		{KeyFiles: []string{"package-lock.json", "yarn.lock"}, Paths: []string{"b/"}, Policy: "pull-push", When: "on_failure"},
	})
}

func TestParseTrigger(t *testing.T) {
	cfg := mustParse(t, `
short:
  trigger: group/downstream
full:
  trigger:
    project: group/downstream
    branch: stable
    strategy: depend
    forward: {yaml_variables: false, pipeline_variables: true}
child:
  trigger:
    include: ci/child.yml
children:
  trigger:
    include:
      - local: /ci/a.yml
      - ci/b.yml
    strategy: depend
`)
	diff(t, "short", jobNamed(t, cfg, "short").Trigger, &Trigger{Project: "group/downstream", ForwardYAMLVariables: true})
	diff(t, "full", jobNamed(t, cfg, "full").Trigger, &Trigger{Project: "group/downstream", Branch: "stable", Strategy: "depend", ForwardPipelineVariables: true})
	diff(t, "child", jobNamed(t, cfg, "child").Trigger, &Trigger{Include: []string{"ci/child.yml"}, ForwardYAMLVariables: true})
	diff(t, "children", jobNamed(t, cfg, "children").Trigger, &Trigger{Include: []string{"ci/a.yml", "ci/b.yml"}, Strategy: "depend", ForwardYAMLVariables: true})
}

func TestParseScalarsAndSmallKeywords(t *testing.T) {
	cfg := mustParse(t, `
a:
  script: x
  timeout: 3600
  retry: 1
  image: {name: alpine:3}
  environment: production
  allow_failure: yes
  interruptible: off
b:
  script: x
  timeout: 90 minutes
  allow_failure: true
  when: manual
c:
  script: x
  timeout: 1 hour and 30 min
  when: manual
d:
  script: x
  when: manual
  allow_failure: false
`)
	a := jobNamed(t, cfg, "a")
	if a.Timeout != time.Hour || a.Retry.Max != 1 || a.Image != "alpine:3" || a.Environment != "production" || !a.AllowFailure || a.Interruptible {
		t.Errorf("a = %+v", a)
	}
	if b := jobNamed(t, cfg, "b"); b.Timeout != 90*time.Minute || !b.AllowFailure {
		t.Errorf("b timeout %v allow_failure %v", b.Timeout, b.AllowFailure)
	}
	// A job-level manual job may fail unless it says otherwise.
	if c := jobNamed(t, cfg, "c"); c.Timeout != 90*time.Minute || !c.AllowFailure {
		t.Errorf("c timeout %v allow_failure %v", c.Timeout, c.AllowFailure)
	}
	if d := jobNamed(t, cfg, "d"); d.AllowFailure {
		t.Error("explicit allow_failure: false on a manual job was overridden")
	}
}

func TestParseDefaults(t *testing.T) {
	cfg := mustParse(t, `
default:
  image: ruby:3
  before_script: [bundle install]
  after_script: [echo done]
  tags: [shared]
  timeout: 20m
  retry: 2
  interruptible: true
  cache: {key: gems, paths: [vendor/]}
  artifacts: {paths: [log/]}
  id_tokens: {TOKEN: {aud: ciwarden}}
  job_token: {permissions: [read_packages]}
plain:
  script: rspec
own:
  script: rspec
  image: ruby:2
  before_script: []
  tags: [special]
  interruptible: false
none:
  script: rspec
  inherit:
    default: false
some:
  script: rspec
  inherit:
    default: [image, tags]
bridge:
  trigger: group/other
`)
	plain := jobNamed(t, cfg, "plain")
	diff(t, "plain", plain, &Job{
		Name: "plain", Line: 13, Stage: "test", Script: []string{"rspec"}, When: "on_success", InheritAllVariables: true,
		Image: "ruby:3", BeforeScript: []string{"bundle install"}, AfterScript: []string{"echo done"}, Tags: []string{"shared"},
		Timeout: 20 * time.Minute, Retry: Retry{Max: 2}, Interruptible: true,
		Cache:               []Cache{{Key: "gems", Paths: []string{"vendor/"}, Policy: "pull-push", When: "on_success"}},
		Artifacts:           &Artifacts{Paths: []string{"log/"}, When: "on_success"},
		IDTokens:            []IDToken{{Name: "TOKEN", Aud: []string{"ciwarden"}}},
		JobTokenPermissions: []string{"read_packages"}, JobTokenSet: true, JobTokenLine: 12,
	})
	own := jobNamed(t, cfg, "own")
	if own.Image != "ruby:2" || len(own.BeforeScript) != 0 || !equalStrings(own.Tags, []string{"special"}) || own.Interruptible {
		t.Errorf("job keys did not win over default: %+v", own)
	}
	if !equalStrings(own.AfterScript, []string{"echo done"}) {
		t.Errorf("own.AfterScript = %q", own.AfterScript)
	}
	none := jobNamed(t, cfg, "none")
	if none.Image != "" || none.BeforeScript != nil || none.Tags != nil || none.Timeout != 0 || none.JobTokenSet {
		t.Errorf("inherit:default:false still inherited: %+v", none)
	}
	some := jobNamed(t, cfg, "some")
	if some.Image != "ruby:3" || !equalStrings(some.Tags, []string{"shared"}) || some.BeforeScript != nil || some.Timeout != 0 {
		t.Errorf("inherit:default:[image, tags] = %+v", some)
	}
	if b := jobNamed(t, cfg, "bridge"); b.Image != "" || b.Tags != nil || b.BeforeScript != nil {
		t.Errorf("bridge job got runner defaults: %+v", b)
	}
}

func TestParseDeprecatedGlobals(t *testing.T) {
	cfg := mustParse(t, `
image: node:22
before_script: [npm ci]
after_script: [echo bye]
services: [redis]
cache: {paths: [node_modules/]}
job:
  script: npm test
`)
	j := jobNamed(t, cfg, "job")
	if j.Image != "node:22" || !equalStrings(j.BeforeScript, []string{"npm ci"}) || !equalStrings(j.AfterScript, []string{"echo bye"}) ||
		!equalStrings(j.Services, []string{"redis"}) || len(j.Cache) != 1 || j.Cache[0].Paths[0] != "node_modules/" {
		t.Errorf("globals not applied: %+v", j)
	}
}

func TestParseInheritVariables(t *testing.T) {
	cfg := mustParse(t, `
variables:
  A: global-a
  B: global-b
all:
  script: x
  variables: {B: job-b, C: job-c}
none:
  script: x
  inherit: {variables: false}
  variables: {C: job-c}
some:
  script: x
  inherit: {variables: [B]}
`)
	diff(t, "all", cfg.JobVariables(jobNamed(t, cfg, "all")), []Variable{
		{Key: "A", Value: "global-a"}, {Key: "B", Value: "job-b"}, {Key: "C", Value: "job-c"},
	})
	diff(t, "none", cfg.JobVariables(jobNamed(t, cfg, "none")), []Variable{{Key: "C", Value: "job-c"}})
	diff(t, "some", cfg.JobVariables(jobNamed(t, cfg, "some")), []Variable{{Key: "B", Value: "global-b"}})
}

func TestParseExtends(t *testing.T) {
	cfg := mustParse(t, `
.base:
  image: alpine
  variables: {A: base, B: base}
  script: [base]
  tags: [base]
.middle:
  extends: .base
  variables: {B: middle, C: middle}
  tags: [middle]
.other:
  variables: {D: other}
  script: [other]
job:
  extends: .middle
  variables: {C: job}
  script: [job]
multi:
  extends: [.middle, .other]
  stage: build
`)
	j := jobNamed(t, cfg, "job")
	diff(t, "job", j, &Job{
		Name: "job", Line: 13, Stage: "test", Image: "alpine", Script: []string{"job"}, Tags: []string{"middle"},
		// Mappings merge key by key, the child winning; lists are replaced.
		Variables: []Variable{{Key: "A", Value: "base"}, {Key: "B", Value: "middle"}, {Key: "C", Value: "job"}},
		When:      "on_success", InheritAllVariables: true,
	})
	m := jobNamed(t, cfg, "multi")
	diff(t, "multi variables", m.Variables, []Variable{
		{Key: "A", Value: "base"}, {Key: "B", Value: "middle"}, {Key: "C", Value: "middle"}, {Key: "D", Value: "other"},
	})
	diff(t, "multi script", m.Script, []string{"other"}) // the later parent wins
	if m.Stage != "build" || m.Image != "alpine" {
		t.Errorf("multi = %+v", m)
	}
	if len(cfg.Jobs) != 2 {
		t.Errorf("hidden jobs emitted: %d jobs", len(cfg.Jobs))
	}
}

func TestParseExtendsElevenLevels(t *testing.T) {
	src := ".t0:\n  script: deep\n"
	for i := 1; i <= 10; i++ {
		src += ".t" + itoa(i) + ":\n  extends: .t" + itoa(i-1) + "\n"
	}
	src += "job:\n  extends: .t10\n"
	cfg := mustParse(t, src)
	diff(t, "script", jobNamed(t, cfg, "job").Script, []string{"deep"})
}

func itoa(i int) string {
	const digits = "0123456789"
	if i < 10 {
		return digits[i : i+1]
	}
	return itoa(i/10) + digits[i%10:i%10+1]
}

func TestParseAnchorsAliasesMergeKeys(t *testing.T) {
	cfg := mustParse(t, `
.defaults: &defaults
  image: alpine
  tags: [a]
  variables: &vars
    X: "1"
.more: &more
  tags: [b]
  retry: 1
.scripts:
  - &setup echo setup
job1:
  <<: *defaults
  script: [*setup, run]
job2:
  <<: [*more, *defaults]
  image: debian
  variables: *vars
  script: run
`)
	j1 := jobNamed(t, cfg, "job1")
	if j1.Image != "alpine" || !equalStrings(j1.Tags, []string{"a"}) || !equalStrings(j1.Script, []string{"echo setup", "run"}) {
		t.Errorf("job1 = %+v", j1)
	}
	diff(t, "job1 variables", j1.Variables, []Variable{{Key: "X", Value: "1"}})
	j2 := jobNamed(t, cfg, "job2")
	// Explicit keys win over merged ones; among merged mappings the first wins.
	if j2.Image != "debian" || !equalStrings(j2.Tags, []string{"b"}) || j2.Retry.Max != 1 {
		t.Errorf("job2 = %+v", j2)
	}
}

func TestParseReference(t *testing.T) {
	cfg := mustParse(t, `
.vars:
  variables: {A: "1", B: "2"}
.rules:
  rules:
    - if: $CI_COMMIT_TAG
      when: never
.base:
  script: [echo base]
.extended:
  extends: .base
.nested:
  script:
    - !reference [.extended, script]
    - echo nested
job:
  variables: !reference [.vars, variables]
  rules:
    - !reference [.rules, rules]
    - when: on_success
  script:
    - !reference [.nested, script]
    - echo job
  after_script: !reference [.base, script]
`)
	j := jobNamed(t, cfg, "job")
	diff(t, "variables", j.Variables, []Variable{{Key: "A", Value: "1"}, {Key: "B", Value: "2"}})
	diff(t, "script", j.Script, []string{"echo base", "echo nested", "echo job"})
	diff(t, "after_script", j.AfterScript, []string{"echo base"})
	diff(t, "rules", j.Rules, []Rule{
		{If: mustExpr("$CI_COMMIT_TAG"), IfSource: "$CI_COMMIT_TAG", When: "never", Line: 5},
		{When: "on_success", Line: 19},
	})
}

func TestParseHiddenJobs(t *testing.T) {
	cfg := mustParse(t, `
.template:
  script: never emitted
.list-anchor: &cmds [a, b]
.scalar: just text
.no-script:
  stage: build
job:
  script: *cmds
`)
	if len(cfg.Jobs) != 1 || cfg.Jobs[0].Name != "job" {
		t.Fatalf("jobs = %v", cfg.Jobs)
	}
	diff(t, "script", cfg.Jobs[0].Script, []string{"a", "b"})
}

func TestParseStages(t *testing.T) {
	cfg := mustParse(t, `
stages: [.pre, lint, [build, test], .post]
l:
  stage: lint
  script: x
p:
  stage: .pre
  script: x
q:
  stage: .post
  script: x
`)
	diff(t, "stages", cfg.Stages, []string{".pre", "lint", "build", "test", ".post"})
	cfg = mustParse(t, `
stages: []
p:
  stage: .pre
  script: x
`)
	diff(t, "empty stages", cfg.Stages, []string{".pre", ".post"})
}

func TestParseInclude(t *testing.T) {
	repo := files{
		"ci/base.yml": `
include: ci/deep.yml
variables:
  FROM_BASE: base
  OVERRIDDEN: base
.template:
  script: [from template]
build:
  stage: build
  script: [base build]
  tags: [base]
`,
		"ci/deep.yml": `
deep:
  script: [deep]
`,
		"ci/extra.yml": `
extra:
  extends: .template
`,
	}
	cfg := mustParse(t, `
include:
  - local: /ci/base.yml
  - ci/extra.yml
variables:
  OVERRIDDEN: main
build:
  script: [main build]
main:
  script: [main]
`, Options{ReadFile: repo.read})
	diff(t, "variables", cfg.Variables, []Variable{{Key: "FROM_BASE", Value: "base"}, {Key: "OVERRIDDEN", Value: "main"}})
	var names []string
	for _, j := range cfg.Jobs {
		names = append(names, j.Name)
	}
	diff(t, "job order", names, []string{"deep", "build", "extra", "main"})
	build := jobNamed(t, cfg, "build")
	// The including file wins key by key; keys it does not set survive.
	if build.Stage != "build" || !equalStrings(build.Script, []string{"main build"}) || !equalStrings(build.Tags, []string{"base"}) {
		t.Errorf("build = %+v", build)
	}
	if build.File != "" || build.Line != 6 {
		t.Errorf("build at %q line %d, want the main file's line 6", build.File, build.Line)
	}
	if d := jobNamed(t, cfg, "deep"); d.File != "ci/deep.yml" || d.Line != 1 {
		t.Errorf("deep at %q line %d", d.File, d.Line)
	}
	diff(t, "extra", jobNamed(t, cfg, "extra").Script, []string{"from template"})

	cfg = mustParse(t, "include: ci/deep.yml\n", Options{ReadFile: repo.read})
	if len(cfg.Jobs) != 1 || cfg.Jobs[0].Name != "deep" {
		t.Errorf("jobs from a string include = %v", cfg.Jobs)
	}
}

// defaultKeywords must list exactly the keywords that can be inherited.
func TestDefaultKeywordsTable(t *testing.T) {
	var want []string
	for k, kw := range jobKeywords {
		if kw.inherit != nil {
			want = append(want, k)
		}
	}
	slices.Sort(want)
	diff(t, "defaultKeywords", defaultKeywords, want)
}
