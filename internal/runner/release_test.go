package runner

import (
	"os/exec"
	"reflect"
	"strings"
	"testing"

	"github.com/ciwarden/ciwarden/internal/ci"
	"github.com/ciwarden/ciwarden/internal/ci/config"
)

// TestReleaseStepRoundTrip: a `release:` keyword becomes GitLab's
// release-cli line (ci.ReleaseScript), which this runner reads back into
// the API request with the job's variables expanded, exactly as bash
// hands the words to a real release-cli.
func TestReleaseStepRoundTrip(t *testing.T) {
	cfg, err := config.Parse([]byte(`
release_job:
  script: [echo]
  release:
    tag_name: $CI_COMMIT_TAG
    name: 'Release ${CI_COMMIT_TAG}'
    description: "Line one\nquote \" back \\ tick `+"`x`"+` sub $(id) dollar $NOPE end"
    tag_message: msg
    ref: $CI_COMMIT_SHA
    released_at: '2026-01-02T03:04:05Z'
    milestones: [m1, m2]
    assets:
      links:
        - name: bin
          url: https://example.com/$CI_COMMIT_TAG/app
          filepath: /bin/app
          link_type: package
        - {name: docs, url: "http://example.com/d"}
`), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	lines := ci.ReleaseScript(cfg.Jobs[0].Release)
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "release-cli create --name ") {
		t.Fatalf("script %q", lines)
	}
	env := map[string]string{"CI_COMMIT_TAG": "v1.2", "CI_COMMIT_SHA": "abc123"}
	req, err := parseReleaseCLI(lines[0], func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	want := "Line one\nquote \" back \\ tick `x` sub $(id) dollar  end"
	if req.TagName != "v1.2" || req.Name != "Release v1.2" || req.Ref != "abc123" || req.TagMessage != "msg" ||
		req.ReleasedAt != "2026-01-02T03:04:05Z" || req.Description != want || !reflect.DeepEqual(req.milestones, []string{"m1", "m2"}) {
		t.Errorf("request %+v", req)
	}
	links := []map[string]any{{"name": "bin", "url": "https://example.com/v1.2/app", "filepath": "/bin/app", "link_type": "package"},
		{"name": "docs", "url": "http://example.com/d"}}
	if req.Assets == nil || !reflect.DeepEqual(req.Assets.Links, links) {
		t.Errorf("links %+v", req.Assets)
	}

	// bash reads the same words: what a real release-cli would get.
	script := "release-cli() { printf '%s\\0' \"$@\"; }\n" + lines[0]
	cmd := exec.Command("bash", "--noprofile", "--norc", "-c", script)
	cmd.Env = []string{"CI_COMMIT_TAG=v1.2", "CI_COMMIT_SHA=abc123"}
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	bashWords := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
	ours, err := shellWords(lines[0], func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(append([]string{"release-cli"}, bashWords...), ours) {
		t.Errorf("bash words %q\nours       %q", bashWords, ours)
	}
}

// TestReleaseCLIRefusals: what is not one release-cli create call fails
// the step instead of running anything.
func TestReleaseCLIRefusals(t *testing.T) {
	for _, line := range []string{
		"rm -rf /",
		"release-cli create --name a; rm -rf /",
		"release-cli create --name $(id)",
		"release-cli create --name `id`",
		"release-cli delete --tag-name v1",
		"release-cli create --bogus x",
		"release-cli create --name",
		`release-cli create --name "open`,
		`release-cli create --assets-link "{not json}"`,
	} {
		if _, err := parseReleaseCLI(line, func(string) string { return "" }); err == nil {
			t.Errorf("%q: accepted", line)
		}
	}
	req, err := parseReleaseCLI("release-cli --server-url http://x --job-token=t create --tag-name=v1 --description 'a b'", func(string) string { return "" })
	if err != nil || req.TagName != "v1" || req.Description != "a b" {
		t.Errorf("%+v %v", req, err)
	}
}
