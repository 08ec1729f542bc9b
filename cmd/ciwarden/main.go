// Command ciwarden is the CI/CD server: `ciwarden serve` runs it,
// `ciwarden admin token create` mints a token, `ciwarden routes` prints the
// route table.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ciwarden/ciwarden/internal/accounts"
	"github.com/ciwarden/ciwarden/internal/api"
	"github.com/ciwarden/ciwarden/internal/auth"
	"github.com/ciwarden/ciwarden/internal/blob"
	"github.com/ciwarden/ciwarden/internal/ci"
	"github.com/ciwarden/ciwarden/internal/gate"
	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/registry"
	"github.com/ciwarden/ciwarden/internal/runner"
	"github.com/ciwarden/ciwarden/internal/server"
	"github.com/ciwarden/ciwarden/internal/store"
	"github.com/ciwarden/ciwarden/internal/version"
)

const usage = `ciwarden: a self-hosted CI/CD server built around the CI/CD job token.

Usage:
  ciwarden serve [flags]                       run the server
  ciwarden admin token create --user NAME [--scopes api,read_api] [--expires YYYY-MM-DD] [--name N]
                                               print a new personal access token for NAME
  ciwarden admin rotate-key [--new]            re-encrypt every secret at rest with the current instance key
  ciwarden runner --url URL --token TOKEN [--concurrent N] [--builds-dir DIR]
                                               run jobs with the built-in shell runner
  ciwarden registry gc [--dry-run] [--delete-untagged]
                                               free the container registry's unreferenced blobs (no pushes meanwhile)
  ciwarden demo [--listen ADDR] [--data-dir DIR]
                                               run a seeded server that shows the job token's scope
  ciwarden routes                              print the API route table
  ciwarden version                             print the version and VCS revision

Run "ciwarden COMMAND --help" for a command's flags.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = serve(args[1:], stdout, stderr)
	case "runner":
		err = runRunner(args[1:], stdout, stderr)
	case "demo":
		err = demo(args[1:], stdout, stderr)
	case "admin":
		err = admin(args[1:], stdout)
	case "registry":
		err = registryCommand(args[1:], stdout)
	case "routes":
		printRoutes(stdout)
	case "version":
		v, rev := version.Get()
		fmt.Fprintf(stdout, "ciwarden %s (revision %s)\n", v, rev)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "ciwarden: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "ciwarden: %v\n", err)
		return 1
	}
	return 0
}

// storageFlags are shared by every command that opens the database.
func storageFlags(c *command, cfg *server.Config) {
	c.String(&cfg.DataDir, "data-dir", "CIWARDEN_DATA_DIR", "./ciwarden-data", "",
		"data directory (created if missing; must be writable)")
	c.String(&cfg.DatabaseURL, "database-url", "CIWARDEN_DATABASE_URL", "", "SQLite file <data-dir>/ciwarden.db",
		"postgres://user@host:5432/db for PostgreSQL, sqlite://PATH for SQLite")
}

func serve(args []string, stdout, stderr io.Writer) error {
	var cfg server.Config
	var s3Endpoint, s3Bucket, logLevel string
	c := newCommand("serve", "ciwarden serve [flags]",
		"Runs the server. Every flag can also be set by its environment variable; a flag given on the command line wins.")
	c.String(&cfg.Listen, "listen", "CIWARDEN_LISTEN", "127.0.0.1:8080", "",
		"address to listen on (port 0: any free port, which the external URL then names)")
	c.String(&cfg.ExternalURL, "external-url", "CIWARDEN_EXTERNAL_URL", "", "http://<listen>",
		"the URL users and jobs reach the server at; used in web_url, clone URLs, pagination links and CI variables")
	c.String(&cfg.RegistryURL, "registry-url", "CIWARDEN_REGISTRY_URL", "", "the external URL",
		"where clients reach the container registry (/v2/), when not at the external URL: CI_REGISTRY names its host:port")
	c.String(&cfg.DebugListen, "debug-listen", "CIWARDEN_DEBUG_LISTEN", "", "off",
		"serve Go's profiles (net/http/pprof, /debug/pprof/) on this address of their own, for operators: no authentication, keep it on loopback")
	storageFlags(c, &cfg)
	c.String(&cfg.RepositoriesDir, "repositories-dir", "CIWARDEN_REPOSITORIES_DIR", "", "<data-dir>/repositories",
		"where the bare repositories live; replicas on several hosts share it on a POSIX file system (NFS, CephFS, EFS)")
	c.String(&cfg.ReplicaName, "replica-name", "CIWARDEN_REPLICA_NAME", "", "the host name",
		"this replica's name among the replicas of one database (letters, digits, '.', '_', '-', at most 63): its built-in runner and builds directory are its own")
	c.Int(&cfg.Runners, "runners", "CIWARDEN_RUNNERS", 0,
		"built-in runner workers run inside the server (one runner per replica, kept in the database; jobs run in <data-dir>/builds/<replica-name>)")
	c.Duration(&cfg.LongPoll, "runner-long-poll", "CIWARDEN_RUNNER_LONG_POLL", 50*time.Second,
		"how long POST /jobs/request holds a runner while nothing is queued")
	c.Duration(&cfg.RunnerContactTimeout, "runner-contact-timeout", "CIWARDEN_RUNNER_CONTACT_TIMEOUT", ci.DefaultRunnerContactTimeout,
		"a running job whose runner has not called about it (keep-alive, log, upload) for this long fails with runner_system_failure and its token dies; 1m to 24h, well above runners' 30s keep-alive")
	c.String(&cfg.RunnerRegistrationToken, "runner-registration-token", "CIWARDEN_RUNNER_REGISTRATION_TOKEN", "", "",
		"enables legacy gitlab-runner register --registration-token (POST /api/v4/runners)")
	c.String(&logLevel, "log-level", "CIWARDEN_LOG_LEVEL", "info", "", "debug, info, warn or error")
	c.String(&s3Endpoint, "s3-endpoint", "CIWARDEN_S3_ENDPOINT", "", "unset: <data-dir>/blobs",
		"S3-compatible object storage for artifacts, packages and container images: host:port (TLS) or http(s)://host:port; "+
			"credentials only from the environment: CIWARDEN_S3_ACCESS_KEY and CIWARDEN_S3_SECRET_KEY, else AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; "+
			"also CIWARDEN_S3_REGION, CIWARDEN_S3_PREFIX")
	c.String(&s3Bucket, "s3-bucket", "CIWARDEN_S3_BUCKET", "", "", "the bucket (must exist)")
	c.Size(&cfg.MaxArtifactsSize, "max-artifacts-size", "CIWARDEN_MAX_ARTIFACTS_SIZE", "100MiB", "largest job artifact upload (413 above it)")
	c.Size(&cfg.MaxPackageFileSize, "max-package-file-size", "CIWARDEN_MAX_PACKAGE_FILE_SIZE", "5GiB", "largest package file upload (413 above it)")
	c.EnvOnly("CIWARDEN_INITIAL_ROOT_TOKEN", "unset", "on a first start, root's token gets exactly this value (scope api, no expiry)")
	c.EnvOnly("CIWARDEN_INITIAL_ROOT_PASSWORD", "unset", "on a first start, root's web sign-in password (else one is generated and printed once)")
	c.EnvOnly("CIWARDEN_INSTANCE_KEY", "unset: <data-dir>/instance.key",
		"the instance key (base64 of 32 bytes) that encrypts what must not be stored in clear; replicas sharing a database must all set the same value")
	c.EnvOnly("CIWARDEN_INSTANCE_KEY_OLD", "unset",
		"further instance keys (comma-separated) that values sealed with them still open with, never sealed with: for a key rotation")
	if err := c.parse(args, stdout); err != nil {
		return err
	}
	// The endpoint and bucket may come from flags; the rest of the S3
	// settings, credentials above all, only from the environment.
	var err error
	if cfg.S3, err = blob.S3ConfigFromEnv(func(name string) string {
		switch name {
		case "CIWARDEN_S3_ENDPOINT":
			return s3Endpoint
		case "CIWARDEN_S3_BUCKET":
			return s3Bucket
		}
		return os.Getenv(name)
	}); err != nil {
		return err
	}
	if cfg.Runners < 0 || cfg.Runners > 64 {
		return fmt.Errorf("--runners %d: a number from 0 to 64", cfg.Runners)
	}
	if cfg.LongPoll < 0 || cfg.LongPoll > 10*time.Minute {
		return fmt.Errorf("--runner-long-poll %s: a duration up to 10m, such as 50s", cfg.LongPoll)
	}
	if cfg.RunnerContactTimeout < time.Minute || cfg.RunnerContactTimeout > 24*time.Hour {
		return fmt.Errorf("--runner-contact-timeout %s: a duration from 1m to 24h, such as 5m", cfg.RunnerContactTimeout)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(logLevel)); err != nil {
		return fmt.Errorf("--log-level %q: use debug, info, warn or error", logLevel)
	}
	cfg.InitialRootToken = os.Getenv("CIWARDEN_INITIAL_ROOT_TOKEN")
	cfg.InitialRootPassword = os.Getenv("CIWARDEN_INITIAL_ROOT_PASSWORD")
	// A key, like a credential, comes from the environment only: argv is
	// visible to every user of the machine.
	cfg.InstanceKey = os.Getenv("CIWARDEN_INSTANCE_KEY")
	cfg.InstanceKeyOld = os.Getenv("CIWARDEN_INSTANCE_KEY_OLD")
	log := server.NewLogger(stderr, level)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv, err := server.New(ctx, cfg, log, stderr)
	if err != nil {
		return err
	}
	return srv.Run(ctx)
}

func admin(args []string, stdout io.Writer) error {
	if len(args) > 0 && args[0] == "rotate-key" {
		return rotateKey(args[1:], stdout)
	}
	const synopsis = "ciwarden admin token create --user NAME [--scopes api,read_api] [--expires YYYY-MM-DD] [--name N]"
	if len(args) < 2 || args[0] != "token" || args[1] != "create" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprintf(stdout, "Usage: %s\n", synopsis)
			return flag.ErrHelp
		}
		return errors.New("usage: " + synopsis)
	}
	var cfg server.Config
	var user, scopes, expires, name string
	c := newCommand("admin token create", synopsis,
		"Prints a new personal access token for the user NAME, written straight into the database (the server may be stopped).")
	storageFlags(c, &cfg)
	c.String(&user, "user", "", "", "required", "username to create the token for")
	c.String(&scopes, "scopes", "", "api", "", "comma-separated scopes: api, read_api")
	c.String(&expires, "expires", "", "", "none", "expiry date YYYY-MM-DD")
	c.String(&name, "name", "", "admin-cli", "", "the token's name")
	if err := c.parse(args[2:], stdout); err != nil {
		return err
	}
	if user == "" {
		return errors.New("admin token create: --user is required")
	}
	in := accounts.NewToken{Name: name, Scopes: strings.Split(scopes, ",")}
	if expires != "" {
		t, err := time.Parse(time.DateOnly, expires)
		if err != nil {
			return fmt.Errorf("--expires %q: use YYYY-MM-DD", expires)
		}
		in.ExpiresAt = &t
	}
	// The command is no replica: the host name need not be a replica name.
	cfg.ReplicaName = "admin"
	if err := cfg.Normalize(); err != nil {
		return err
	}
	ctx := context.Background()
	st, err := openStore(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer st.Close()
	u, err := st.UserByUsername(ctx, user)
	if errors.Is(err, model.ErrNotFound) {
		return fmt.Errorf("no user %q", user)
	}
	if err != nil {
		return err
	}
	acc := &accounts.Service{Store: st, Now: func() time.Time { return time.Now().UTC() }}
	_, secret, err := acc.CreateToken(ctx, u.ID, in)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, secret)
	return nil
}

// runRunner is `ciwarden runner`: the built-in runner against any server.
func runRunner(args []string, stdout, stderr io.Writer) error {
	var u, tok, builds string
	var concurrent int
	c := newCommand("runner", "ciwarden runner --url URL --token TOKEN [--concurrent N] [--builds-dir DIR]",
		"Runs jobs with the built-in shell runner against a server (token from POST /api/v4/user/runners).")
	c.String(&u, "url", "CIWARDEN_RUNNER_URL", "", "required", "the server's URL")
	c.String(&tok, "token", "CIWARDEN_RUNNER_TOKEN", "", "required", "runner authentication token, glrt-...")
	c.Int(&concurrent, "concurrent", "", 1, "jobs to run at once (1 to 64)")
	c.String(&builds, "builds-dir", "CIWARDEN_BUILDS_DIR", "./ciwarden-builds", "", "where jobs run")
	if err := c.parse(args, stdout); err != nil {
		return err
	}
	if u == "" || tok == "" {
		return errors.New("runner: --url and --token are required")
	}
	if pu, err := url.Parse(u); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
		return fmt.Errorf("runner: --url %q must be an http(s) URL", u)
	}
	if concurrent < 1 || concurrent > 64 {
		return errors.New("runner: --concurrent must be between 1 and 64")
	}
	dir, err := filepath.Abs(builds)
	if err != nil {
		return err
	}
	log := server.NewLogger(stderr, slog.LevelInfo)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rc := &runner.Client{BaseURL: strings.TrimSuffix(u, "/"), Token: tok, SystemID: "r_" + randomHex(6),
		HTTP: &http.Client{Timeout: 10 * time.Minute}}
	if err := rc.Verify(ctx); err != nil {
		return fmt.Errorf("runner: the server refused the token: %v", err)
	}
	log.Info("runner started", "url", u, "concurrent", concurrent, "builds_dir", dir)
	r := &runner.Runner{Client: rc, BuildsDir: dir, Concurrent: concurrent, Log: log, MaskPrefixes: auth.MaskPrefixes}
	return r.Run(ctx)
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// printRoutes prints the route table: which credentials each endpoint
// accepts and in which transports, its target and the permission it needs.
func printRoutes(w io.Writer) {
	gate.Print(w, api.Prefix, server.RouteTable())
}

// parseSize reads a byte count: a number with an optional unit B, KB, MB,
// GB (powers of 1000) or KiB, MiB, GiB (powers of 1024).
func parseSize(flagName, v string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}
	num, mult := strings.TrimSpace(v), int64(1)
	for _, u := range units {
		if strings.HasSuffix(num, u.suffix) {
			num, mult = strings.TrimSpace(strings.TrimSuffix(num, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 || n > (1<<50)/mult {
		return 0, fmt.Errorf("%s %q: a size such as 100MiB or 5GiB", flagName, v)
	}
	return n * mult, nil
}

// openStore opens the database of an admin command and brings its schema
// up to date, as a server's start does.
func openStore(ctx context.Context, url string) (*store.Store, error) {
	st, err := store.Open(ctx, url)
	if err != nil {
		return nil, err
	}
	if err := st.Migrate(ctx); err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}

// registryCommand is `ciwarden registry gc`: the registry's garbage
// collection over the data directory's images. Run it while nothing
// pushes (the server stopped, or no job pushing): a push's blobs are
// unreferenced until its manifest is written.
func registryCommand(args []string, stdout io.Writer) error {
	const synopsis = "ciwarden registry gc [--dry-run] [--delete-untagged] [--data-dir DIR]"
	if len(args) == 0 || args[0] != "gc" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprintf(stdout, "Usage: %s\n", synopsis)
			return flag.ErrHelp
		}
		return errors.New("usage: " + synopsis)
	}
	var cfg server.Config
	var dryRun, untagged bool
	c := newCommand("registry gc", synopsis,
		"Deletes the container registry's blobs that no manifest refers to (after tag and repository deletions), under the data directory or, with CIWARDEN_S3_* set as for serve, in the bucket. "+
			"Safe only while nothing pushes: stop the server, or run it when no job pushes images.")
	storageFlags(c, &cfg)
	c.fs.BoolVar(&dryRun, "dry-run", false, "")
	c.row("dry-run", "", "", "false", "report nothing deleted: only check that the collection can run")
	c.fs.BoolVar(&untagged, "delete-untagged", false, "")
	c.row("delete-untagged", "", "", "false", "delete manifests no tag names, and their blobs")
	if err := c.parse(args[1:], stdout); err != nil {
		return err
	}
	cfg.ReplicaName = "admin"
	if err := cfg.Normalize(); err != nil {
		return err
	}
	// The images are in S3 when the server keeps them there: the same
	// CIWARDEN_S3_* environment as `ciwarden serve`.
	var err error
	if cfg.S3, err = blob.S3ConfigFromEnv(os.Getenv); err != nil {
		return err
	}
	ctx := context.Background()
	s3, err := server.RegistryS3(ctx, cfg)
	if err != nil {
		return err
	}
	if err := registry.GarbageCollect(ctx, cfg.DataDir, s3, dryRun, untagged); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "registry garbage collection done")
	return nil
}
