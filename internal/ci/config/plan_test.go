package config

import (
	"errors"
	"testing"
)

// plannedSummary is what a plan test compares: job name, when and
// allow_failure, in plan order.
type plannedSummary struct {
	Name         string
	When         string
	StartIn      string
	AllowFailure bool
}

func summarize(p *Plan) []plannedSummary {
	var out []plannedSummary
	for _, pj := range p.Jobs {
		out = append(out, plannedSummary{pj.Job.Name, pj.When, pj.StartIn, pj.AllowFailure})
	}
	return out
}

func mustPlan(t *testing.T, cfg *Config, env Env) *Plan {
	t.Helper()
	p, err := cfg.Plan(env)
	if err != nil {
		t.Fatalf("Plan: %v", err)
	}
	return p
}

func planError(t *testing.T, cfg *Config, env Env) *Error {
	t.Helper()
	_, err := cfg.Plan(env)
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("Plan error = %v, want a *config.Error", err)
	}
	return e
}

const pipelineYAML = `
workflow:
  rules:
    - if: $CI_PIPELINE_SOURCE == "merge_request_event"
      when: never
    - if: $CI_COMMIT_TAG
      variables: {DEPLOY_ENV: production}
    - if: $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH
      variables: {DEPLOY_ENV: staging}
    - if: $CI_PIPELINE_SOURCE == "api"
stages: [build, test, deploy]
variables:
  DEPLOY_ENV: none
deploy:
  stage: deploy
  script: deploy $DEPLOY_ENV
  rules:
    - if: $DEPLOY_ENV == "production"
      when: manual
    - if: $DEPLOY_ENV == "staging"
release:
  stage: deploy
  script: release
  rules:
    - if: $CI_COMMIT_TAG =~ /^v\d+\.\d+\.\d+$/
build:
  stage: build
  script: make
lint:
  script: lint
  rules:
    - if: $CI_COMMIT_TAG
      when: never
    - when: on_success
test:
  script: test
  needs: [build]
docs:
  script: docs
  rules:
    - changes: [docs/**/*]
`

func TestPlanPipelineSources(t *testing.T) {
	cfg := mustParse(t, pipelineYAML)
	cases := []struct {
		name    string
		vars    []string
		created bool
		wfVars  []Variable
		jobs    []plannedSummary
	}{
		{
			name:    "push to main",
			vars:    []string{"CI_PIPELINE_SOURCE", "push", "CI_COMMIT_BRANCH", "main", "CI_DEFAULT_BRANCH", "main"},
			created: true,
			wfVars:  []Variable{{Key: "DEPLOY_ENV", Value: "staging"}},
			jobs: []plannedSummary{
				{"build", "on_success", "", false}, {"lint", "on_success", "", false}, {"test", "on_success", "", false},
				{"docs", "on_success", "", false}, {"deploy", "on_success", "", false},
			},
		},
		{
			name:    "push of a tag",
			vars:    []string{"CI_PIPELINE_SOURCE", "push", "CI_COMMIT_TAG", "v1.2.3", "CI_DEFAULT_BRANCH", "main"},
			created: true,
			wfVars:  []Variable{{Key: "DEPLOY_ENV", Value: "production"}},
			jobs: []plannedSummary{
				{"build", "on_success", "", false}, {"test", "on_success", "", false}, {"docs", "on_success", "", false},
				// A rule's when: manual does not make the job optional.
				{"deploy", "manual", "", false}, {"release", "on_success", "", false},
			},
		},
		{
			name:    "api on a feature branch",
			vars:    []string{"CI_PIPELINE_SOURCE", "api", "CI_COMMIT_BRANCH", "feature", "CI_DEFAULT_BRANCH", "main"},
			created: true,
			jobs: []plannedSummary{
				{"build", "on_success", "", false}, {"lint", "on_success", "", false}, {"test", "on_success", "", false},
				{"docs", "on_success", "", false},
			},
		},
		{
			name: "merge request",
			vars: []string{"CI_PIPELINE_SOURCE", "merge_request_event", "CI_COMMIT_BRANCH", "main", "CI_DEFAULT_BRANCH", "main"},
		},
		{
			name: "push to a feature branch",
			vars: []string{"CI_PIPELINE_SOURCE", "push", "CI_COMMIT_BRANCH", "feature", "CI_DEFAULT_BRANCH", "main"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := mustPlan(t, cfg, Env{Vars: vars(tc.vars...)})
			if p.Created != tc.created {
				t.Fatalf("Created = %v (%s)", p.Created, p.Reason)
			}
			if !tc.created {
				if p.Reason != "workflow rules prevented the pipeline" || p.Jobs != nil {
					t.Errorf("Reason = %q, jobs = %v", p.Reason, p.Jobs)
				}
				return
			}
			diff(t, "workflow variables", p.Variables, tc.wfVars)
			diff(t, "jobs", summarize(p), tc.jobs)
		})
	}
}

func TestPlanChangesAndExists(t *testing.T) {
	cfg := mustParse(t, `
variables:
  DIR: docs
docs:
  script: x
  rules:
    - changes:
        paths: [$DIR/**/*, README.md]
        compare_to: refs/heads/$BASE
docker:
  script: x
  rules:
    - exists: [Dockerfile, "${DIR}/Dockerfile"]
both:
  script: x
  rules:
    - if: $CI_COMMIT_BRANCH
      changes: [src/*]
      exists: [go.mod]
`)
	var gotChanges [][]string
	var gotCompare []string
	var gotExists [][]string
	env := Env{
		Vars: vars("CI_COMMIT_BRANCH", "main", "BASE", "main"),
		Changes: func(globs []string, compareTo string) bool {
			gotChanges = append(gotChanges, globs)
			gotCompare = append(gotCompare, compareTo)
			return globs[0] == "docs/**/*"
		},
		Exists: func(globs []string) bool {
			gotExists = append(gotExists, globs)
			return len(globs) == 2
		},
	}
	p := mustPlan(t, cfg, env)
	diff(t, "jobs", summarize(p), []plannedSummary{{"docs", "on_success", "", false}, {"docker", "on_success", "", false}})
	diff(t, "changes globs", gotChanges, [][]string{{"docs/**/*", "README.md"}, {"src/*"}})
	diff(t, "compare_to", gotCompare, []string{"refs/heads/main", ""})
	diff(t, "exists globs", gotExists, [][]string{{"Dockerfile", "docs/Dockerfile"}})

	// Without callbacks changes holds (as for pipelines GitLab cannot
	// diff) and exists does not.
	p = mustPlan(t, cfg, Env{Vars: vars("CI_COMMIT_BRANCH", "main")})
	diff(t, "jobs without callbacks", summarize(p), []plannedSummary{{"docs", "on_success", "", false}})
}

func TestPlanWhenAndAllowFailure(t *testing.T) {
	cfg := mustParse(t, `
m1:
  script: x
  when: manual
m2:
  script: x
  when: manual
  allow_failure: false
m3:
  script: x
  rules: [{when: manual}]
m4:
  script: x
  when: manual
  rules: [{if: $A}]
m5:
  script: x
  rules: [{when: manual, allow_failure: true}]
d1:
  script: x
  when: delayed
  start_in: 10 minutes
d2:
  script: x
  rules: [{when: delayed, start_in: 1 hour}]
a1:
  script: x
  when: always
f1:
  script: x
  when: on_failure
f2:
  script: x
  allow_failure: true
  rules: [{if: $A, allow_failure: false}]
n1:
  script: x
  when: never
n2:
  script: x
  rules: [{if: $A, when: never}, {when: always}]
`)
	p := mustPlan(t, cfg, Env{Vars: vars("A", "set")})
	diff(t, "jobs", summarize(p), []plannedSummary{
		{"m1", "manual", "", true},
		{"m2", "manual", "", false},
		{"m3", "manual", "", false},
		{"m4", "manual", "", true}, // job-level when: manual is the rule's default, and optional
		{"m5", "manual", "", true},
		{"d1", "delayed", "10 minutes", false},
		{"d2", "delayed", "1 hour", false},
		{"a1", "always", "", false},
		{"f1", "on_failure", "", false},
		{"f2", "on_success", "", false},
	})
	p = mustPlan(t, cfg, Env{})
	names := []string{}
	for _, pj := range p.Jobs {
		names = append(names, pj.Job.Name)
	}
	diff(t, "jobs with A undefined", names, []string{"m1", "m2", "m3", "m5", "d1", "d2", "a1", "f1", "n2"})
}

func TestPlanVariablePrecedence(t *testing.T) {
	cfg := mustParse(t, `
variables:
  LEVEL: global
  G_ONLY: g
  REF: $CI_COMMIT_BRANCH-suffix
  CHAIN: ${REF}+
  RAW_REF: {value: $CI_COMMIT_BRANCH, expand: false}
  LOOP: $LOOP
workflow:
  rules:
    - if: $G_ONLY == "g" && $LEVEL == "global"
      variables: {LEVEL: workflow, W_ONLY: w}
job-vars:
  script: x
  variables: {LEVEL: job}
  rules:
    - if: $LEVEL == "job" && $G_ONLY == "g" && $W_ONLY == "w"
      variables: {FROM_RULE: "1", LEVEL: rule}
workflow-vars:
  script: x
  rules:
    - if: $LEVEL == "workflow"
expanded:
  script: x
  rules:
    - if: $REF == "main-suffix" && $CHAIN == "main-suffix+" && $RAW_REF == "$CI_COMMIT_BRANCH" && $LOOP == "$LOOP"
no-inherit:
  script: x
  inherit: {variables: false}
  rules:
    - if: $LEVEL == "predefined" && $W_ONLY == null && $G_ONLY == null
some-inherit:
  script: x
  inherit: {variables: [W_ONLY]}
  rules:
    - if: $W_ONLY == "w" && $G_ONLY == null
yaml-over-predefined:
  script: x
  variables: {CI_COMMIT_BRANCH: overridden}
  rules:
    - if: $CI_COMMIT_BRANCH == "overridden"
`)
	p := mustPlan(t, cfg, Env{Vars: vars("CI_COMMIT_BRANCH", "main", "LEVEL", "predefined")})
	var names []string
	for _, pj := range p.Jobs {
		names = append(names, pj.Job.Name)
	}
	diff(t, "jobs", names, []string{"job-vars", "workflow-vars", "expanded", "no-inherit", "some-inherit", "yaml-over-predefined"})
	diff(t, "workflow variables", p.Variables, []Variable{{Key: "LEVEL", Value: "workflow"}, {Key: "W_ONLY", Value: "w"}})
	diff(t, "rule variables", p.Jobs[0].Variables, []Variable{{Key: "FROM_RULE", Value: "1"}, {Key: "LEVEL", Value: "rule"}})
	diff(t, "all variables of job-vars", p.JobVariables(cfg, p.Jobs[0]), []Variable{
		{Key: "LEVEL", Value: "rule"}, {Key: "G_ONLY", Value: "g"}, {Key: "REF", Value: "$CI_COMMIT_BRANCH-suffix"},
		{Key: "CHAIN", Value: "${REF}+"}, {Key: "RAW_REF", Value: "$CI_COMMIT_BRANCH", Raw: true}, {Key: "LOOP", Value: "$LOOP"},
		{Key: "W_ONLY", Value: "w"}, {Key: "FROM_RULE", Value: "1"},
	})
	diff(t, "all variables of some-inherit", p.JobVariables(cfg, p.Jobs[4]), []Variable{{Key: "W_ONLY", Value: "w"}})

	// Overrides (variables given for the pipeline) beat YAML variables.
	p = mustPlan(t, cfg, Env{Vars: vars("CI_COMMIT_BRANCH", "main"), Overrides: vars("G_ONLY", "api", "LEVEL", "job")})
	if p.Created {
		t.Errorf("workflow matched although G_ONLY was overridden: %v", summarize(p))
	}
}

func TestPlanRulesNeeds(t *testing.T) {
	cfg := mustParse(t, `
stages: [build, test]
build:
  stage: build
  script: x
lint:
  stage: build
  script: x
  rules:
    - if: $SKIP_LINT
      when: never
    - when: on_success
test:
  script: x
  needs: [build]
  rules:
    - if: $FAST
      needs: []
    - if: $FULL
      needs: [build, lint]
    - when: on_success
opt:
  script: x
  needs:
    - build
    - {job: lint, optional: true, artifacts: false}
`)
	find := func(p *Plan, name string) *PlannedJob {
		for _, pj := range p.Jobs {
			if pj.Job.Name == name {
				return pj
			}
		}
		t.Fatalf("%s not planned", name)
		return nil
	}
	p := mustPlan(t, cfg, Env{Vars: vars("FAST", "1")})
	if tj := find(p, "test"); !tj.NeedsSet || len(tj.Needs) != 0 {
		t.Errorf("FAST: needs = %v set %v", tj.Needs, tj.NeedsSet)
	}
	p = mustPlan(t, cfg, Env{Vars: vars("FULL", "1")})
	diff(t, "FULL needs", find(p, "test").Needs, []Need{{Job: "build", Artifacts: true, Line: 19}, {Job: "lint", Artifacts: true, Line: 19}})
	p = mustPlan(t, cfg, Env{})
	diff(t, "default needs", find(p, "test").Needs, []Need{{Job: "build", Artifacts: true, Line: 14}})
	diff(t, "optional present", find(p, "opt").Needs, []Need{{Job: "build", Artifacts: true, Line: 24}, {Job: "lint", Optional: true, Line: 25}})

	// An optional need on a job that rules left out is dropped, without
	// touching the parsed job.
	p = mustPlan(t, cfg, Env{Vars: vars("SKIP_LINT", "1")})
	diff(t, "optional absent", find(p, "opt").Needs, []Need{{Job: "build", Artifacts: true, Line: 24}})
	if n := len(cfg.Job("opt").Needs); n != 2 {
		t.Errorf("Plan modified the job's needs: %d left", n)
	}

	e := planError(t, cfg, Env{Vars: vars("SKIP_LINT", "1", "FULL", "1")})
	if e.Line != 12 || e.Msg != `job "test" needs "lint", which is not in this pipeline` {
		t.Errorf("got line %d: %s", e.Line, e.Msg)
	}
}

func TestPlanErrors(t *testing.T) {
	cycle := mustParse(t, `
a:
  script: x
  rules:
    - needs: [b]
b:
  script: x
  needs: [a]
`)
	e := planError(t, cycle, Env{})
	if e.Line != 1 || e.Msg != "needs form a cycle: a -> b -> a" {
		t.Errorf("cycle: line %d: %s", e.Line, e.Msg)
	}

	deps := mustParse(t, `
build:
  stage: build
  script: x
  rules:
    - if: $BUILD
deploy:
  stage: deploy
  script: x
  dependencies: [build]
`)
	e = planError(t, deps, Env{})
	if e.Line != 6 || e.Msg != `job "deploy" depends on "build", which is not in this pipeline` {
		t.Errorf("dependencies: line %d: %s", e.Line, e.Msg)
	}
	mustPlan(t, deps, Env{Vars: vars("BUILD", "1")})

	// Parse refuses a need on a later stage; a hand-built Config shows that
	// Plan checks it too, and dependencies on the same stage.
	hand := &Config{
		Stages: []string{".pre", "build", "test", ".post"},
		Jobs: []*Job{
			{Name: "early", Line: 3, Stage: "build", When: "on_success", Needs: []Need{{Job: "late"}}, NeedsSet: true},
			{Name: "late", Line: 7, Stage: "test", When: "on_success"},
		},
	}
	e = planError(t, hand, Env{})
	if e.Line != 3 || e.Msg != `job "early" needs "late", which is in a later stage (test)` {
		t.Errorf("later stage: line %d: %s", e.Line, e.Msg)
	}
	hand.Jobs[0] = &Job{Name: "early", Line: 3, Stage: "test", When: "on_success", Dependencies: []string{"late"}}
	e = planError(t, hand, Env{})
	if e.Line != 3 || e.Msg != `job "early" depends on "late", which is not in an earlier stage` {
		t.Errorf("same-stage dependency: line %d: %s", e.Line, e.Msg)
	}
}

func TestPlanEmpty(t *testing.T) {
	none := mustParse(t, `
a:
  script: x
  rules: [{if: $NOPE}]
b:
  script: x
  when: never
`)
	p := mustPlan(t, none, Env{})
	if p.Created || p.Reason != "no jobs: the rules of every job excluded it" || len(p.Jobs) != 0 {
		t.Errorf("no jobs: %+v", p)
	}
	edge := mustParse(t, `
setup:
  stage: .pre
  script: x
cleanup:
  stage: .post
  script: x
real:
  script: x
  rules: [{if: $REAL}]
`)
	p = mustPlan(t, edge, Env{})
	if p.Created || p.Reason != "the pipeline would only have .pre or .post jobs" || p.Jobs != nil {
		t.Errorf(".pre/.post only: %+v", p)
	}
	p = mustPlan(t, edge, Env{Vars: vars("REAL", "1")})
	diff(t, "with a real job", summarize(p), []plannedSummary{
		{"setup", "on_success", "", false}, {"real", "on_success", "", false}, {"cleanup", "on_success", "", false},
	})
	empty := mustParse(t, ".hidden:\n  script: x\n")
	if p := mustPlan(t, empty, Env{}); p.Created {
		t.Error("a file with only hidden jobs created a pipeline")
	}
}

func TestPlanStageOrder(t *testing.T) {
	cfg := mustParse(t, `
stages: [build, test, deploy]
d1: {stage: deploy, script: x}
t1: {stage: test, script: x}
b1: {stage: build, script: x}
t2: {stage: test, script: x}
p1: {stage: .pre, script: x}
`)
	p := mustPlan(t, cfg, Env{})
	var names []string
	for _, pj := range p.Jobs {
		names = append(names, pj.Job.Name)
	}
	diff(t, "order", names, []string{"p1", "b1", "t1", "t2", "d1"})
}
