package config

import (
	"fmt"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// genConfig writes a realistic file: n jobs over five stages, each with
// rules, needs on the previous stage, variables, artifacts and cache, and
// a template and default section shared by all.
func genConfig(n int) []byte {
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
	return []byte(b.String())
}

func TestGeneratedConfig(t *testing.T) {
	cfg, err := Parse(genConfig(50), Options{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := cfg.Plan(Env{Vars: vars("CI_COMMIT_BRANCH", "main", "CI_PIPELINE_SOURCE", "push")})
	if err != nil {
		t.Fatal(err)
	}
	if !p.Created || len(p.Jobs) != 50 || p.Jobs[0].Job.Image != "golang:$GO_VERSION" {
		t.Fatalf("plan: created %v, %d jobs", p.Created, len(p.Jobs))
	}
}

// BenchmarkParsePlan50Jobs parses and plans a 50-job file, as pipeline
// creation does for every push.
func BenchmarkParsePlan50Jobs(b *testing.B) {
	data := genConfig(50)
	env := Env{
		Vars:    vars("CI_COMMIT_BRANCH", "main", "CI_PIPELINE_SOURCE", "push", "CI_COMMIT_SHORT_SHA", "abc123"),
		Changes: func(globs []string, _ string) bool { return true },
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		cfg, err := Parse(data, Options{})
		if err != nil {
			b.Fatal(err)
		}
		p, err := cfg.Plan(env)
		if err != nil || len(p.Jobs) != 50 {
			b.Fatal(err)
		}
	}
}

// BenchmarkYAMLDecode50Jobs is BenchmarkParsePlan50Jobs's baseline in the
// same run: the YAML library alone decoding the same file into its node
// tree, the first step of Parse.
func BenchmarkYAMLDecode50Jobs(b *testing.B) {
	data := genConfig(50)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		var n yaml.Node
		if err := yaml.Unmarshal(data, &n); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPlan50Jobs is the rules evaluation alone, on a parsed file.
func BenchmarkPlan50Jobs(b *testing.B) {
	cfg, err := Parse(genConfig(50), Options{})
	if err != nil {
		b.Fatal(err)
	}
	env := Env{
		Vars:    vars("CI_COMMIT_BRANCH", "main", "CI_PIPELINE_SOURCE", "push", "CI_COMMIT_SHORT_SHA", "abc123"),
		Changes: func(globs []string, _ string) bool { return true },
	}
	b.ReportAllocs()
	for b.Loop() {
		if p, err := cfg.Plan(env); err != nil || len(p.Jobs) != 50 {
			b.Fatal(err)
		}
	}
}
