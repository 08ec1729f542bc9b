package mask

import (
	"encoding/base64"
	"fmt"
	"math/rand"
	"strings"
)

// jobToken looks like one of ours: "cwjob-", 43 URL-safe characters, a
// 6-character checksum.
const jobToken = "cwjob-Qx7vN2kLp9RtZ4mW8sHc3yJd6fB1gA5eU0oKiTnVbXq_-2hF9"

// oddToken needs percent-encoding, so its encoded forms differ from it.
const oddToken = "p@ss/w0rd+x y&z=1"

// fullRules is the rule set of the performance target: the job token and
// its encodings, 20 masked variables, the token prefixes, URL credentials
// and query parameters.
func fullRules(rng *rand.Rand) Rules {
	r := Rules{
		Tokens:         []string{jobToken},
		Prefixes:       append(DefaultPrefixes(), "cwjob-", "cwpat-"),
		URLCredentials: true,
		QueryParams:    DefaultQueryParams(),
	}
	const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#%+-./:=@^_~"
	for i := 0; i < 20; i++ {
		n := 8 + rng.Intn(40)
		b := make([]byte, n)
		for j := range b {
			b[j] = chars[rng.Intn(len(chars))]
		}
		r.Secrets = append(r.Secrets, string(b))
	}
	return r
}

// logText returns about n bytes of secret-free job log in the runner's
// trace format: runner and git preamble, go/npm/apt/docker/cargo/maven
// output, JSON log lines, URLs without credentials, base64 blobs.
func logText(rng *rand.Rand, n int) []byte {
	hex := func(k int) string {
		const digits = "0123456789abcdef"
		b := make([]byte, k)
		for i := range b {
			b[i] = digits[rng.Intn(16)]
		}
		return string(b)
	}
	pick := func(s ...string) string { return s[rng.Intn(len(s))] }
	pkgs := []string{"store", "api", "auth", "authz", "ci", "git", "runner", "server", "model", "projects"}
	mods := []string{"github.com/jackc/pgx/v5", "golang.org/x/sync", "github.com/google/go-cmp", "go.yaml.in/yaml/v3", "modernc.org/sqlite", "github.com/prometheus/client_golang"}
	lines := []func() string{
		func() string { return "Running with gitlab-runner 17.5.0 (" + hex(8) + ")" },
		func() string { return "  on runner-" + hex(8) + " " + hex(8) + ", system ID: s_" + hex(12) },
		func() string { return `Preparing the "shell" executor` },
		func() string { return "Fetching changes with git depth set to 20..." },
		func() string { return "Initialized empty Git repository in /builds/platform/app/.git/" },
		func() string { return "Checking out " + hex(8) + " as detached HEAD (ref is main)..." },
		func() string {
			return "Downloading cache from https://storage.googleapis.com/ci-cache/project/" + hex(6) + "/default-protected  ETag=\"" + hex(32) + "\""
		},
		func() string { return "$ go test ./... -count=1 -race" },
		func() string {
			return "go: downloading " + pick(mods...) + " v0." + fmt.Sprint(rng.Intn(40)) + "." + fmt.Sprint(rng.Intn(9))
		},
		func() string {
			return fmt.Sprintf("ok  \tgithub.com/ciwarden/ciwarden/internal/%s\t%d.%03ds\tcoverage: %d.%d%% of statements", pick(pkgs...), rng.Intn(9), rng.Intn(1000), rng.Intn(100), rng.Intn(10))
		},
		func() string {
			return fmt.Sprintf("--- FAIL: TestAppendTrace/offset_%d (0.0%ds)", rng.Intn(50), rng.Intn(9))
		},
		func() string { return fmt.Sprintf("    trace_test.go:%d: got status 416, want 202", rng.Intn(400)) },
		func() string {
			return "npm WARN deprecated inflight@1.0.6: This module is not supported, and leaks memory. Do not use it."
		},
		func() string {
			return fmt.Sprintf("added %d packages, and audited %d packages in %ds", rng.Intn(2000), rng.Intn(2000), rng.Intn(90))
		},
		func() string {
			return "Step " + fmt.Sprint(rng.Intn(12)) + "/12 : RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl git"
		},
		func() string { return " ---> Running in " + hex(12) },
		func() string {
			return fmt.Sprintf("Get:%d http://deb.debian.org/debian bookworm/main amd64 libssl3 amd64 3.0.%d-1~deb12u1 [%d kB]", rng.Intn(90), rng.Intn(20), rng.Intn(3000))
		},
		func() string {
			return "Setting up libcurl4:amd64 (7.88.1-10+deb12u" + fmt.Sprint(rng.Intn(9)) + ") ..."
		},
		func() string {
			return "   Compiling " + pick("serde_json", "tokio", "hyper", "regex", "clap") + " v1." + fmt.Sprint(rng.Intn(200)) + ".0"
		},
		func() string { return "warning: unused variable: `config`" },
		func() string { return fmt.Sprintf("  --> src/main.rs:%d:%d", rng.Intn(300), rng.Intn(80)) },
		func() string {
			return "[INFO] Downloaded from central: https://repo.maven.apache.org/maven2/org/apache/commons/commons-lang3/3.14.0/commons-lang3-3.14.0.jar (" + fmt.Sprint(rng.Intn(900)) + " kB at 2.1 MB/s)"
		},
		func() string { return "[INFO] BUILD SUCCESS" },
		func() string {
			return fmt.Sprintf(`{"level":"info","ts":"2026-01-02T03:04:%02dZ","msg":"request served","path":"/api/v4/projects/%d/jobs","status":200,"duration_ms":%d.%d}`, rng.Intn(60), rng.Intn(500), rng.Intn(90), rng.Intn(10))
		},
		func() string {
			return "section_start:" + fmt.Sprint(1700000000+rng.Intn(9999)) + ":step_script\r\x1b[0K\x1b[0;m$ make build"
		},
		func() string { return "Uploading artifacts for successful job" },
		func() string {
			return "See https://docs.gitlab.com/ee/ci/yaml/?query=" + pick("artifacts", "cache", "rules") + "&page=" + fmt.Sprint(rng.Intn(9))
		},
		func() string {
			raw := make([]byte, 57)
			rng.Read(raw)
			return base64.StdEncoding.EncodeToString(raw)
		},
		func() string {
			return "gcc -O2 -g -Wall -Wextra -fPIC -c src/" + pick("main", "util", "net", "single", "global") + ".c -o build/obj.o"
		},
	}
	var b strings.Builder
	for b.Len() < n {
		fmt.Fprintf(&b, "2026-01-%02dT%02d:%02d:%02d.%06dZ 00O ", 1+rng.Intn(28), rng.Intn(24), rng.Intn(60), rng.Intn(60), rng.Intn(1000000))
		b.WriteString(lines[rng.Intn(len(lines))]())
		b.WriteByte('\n')
	}
	return []byte(b.String()[:n])
}
