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
	"github.com/ciwarden/ciwarden/internal/gate"
	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/runner"
	"github.com/ciwarden/ciwarden/internal/server"
	"github.com/ciwarden/ciwarden/internal/store"
)

const usage = `ciwarden: a self-hosted CI/CD server built around the CI/CD job token.

Usage:
  ciwarden serve [flags]                       run the server
  ciwarden admin token create --user NAME [--scopes api,read_api] [--expires YYYY-MM-DD]
  ciwarden runner --url URL --token TOKEN [--concurrent N] [--builds-dir DIR]
                                               run jobs with the built-in shell runner
  ciwarden routes                              print the API route table
  ciwarden version

Run "ciwarden serve -h" for the server's flags.
`

var version = "dev"

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
		err = serve(args[1:], stderr)
	case "runner":
		err = runRunner(args[1:], stderr)
	case "admin":
		err = admin(args[1:], stdout, stderr)
	case "routes":
		printRoutes(stdout)
	case "version":
		fmt.Fprintln(stdout, "ciwarden", version)
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

// envDefault returns the environment's value for name, or def.
func envDefault(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

// storageFlags are shared by every command that opens the database; each
// flag also reads CIWARDEN_<NAME>.
func storageFlags(fs *flag.FlagSet, cfg *server.Config) {
	fs.StringVar(&cfg.DataDir, "data-dir", envDefault("CIWARDEN_DATA_DIR", "./ciwarden-data"), "data directory (env CIWARDEN_DATA_DIR)")
	fs.StringVar(&cfg.DatabaseURL, "database-url", envDefault("CIWARDEN_DATABASE_URL", ""),
		"database: postgres://... or sqlite://PATH (env CIWARDEN_DATABASE_URL; default: SQLite in the data dir)")
}

func serve(args []string, stderr io.Writer) error {
	var cfg server.Config
	var err error
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.Listen, "listen", envDefault("CIWARDEN_LISTEN", "127.0.0.1:8080"), "address to listen on (env CIWARDEN_LISTEN)")
	fs.StringVar(&cfg.ExternalURL, "external-url", envDefault("CIWARDEN_EXTERNAL_URL", ""),
		"URL users and jobs reach the server at (env CIWARDEN_EXTERNAL_URL; default http://<listen>)")
	storageFlags(fs, &cfg)
	fs.StringVar(&cfg.RunnerRegistrationToken, "runner-registration-token", envDefault("CIWARDEN_RUNNER_REGISTRATION_TOKEN", ""),
		"enables legacy runner registration (POST /api/v4/runners) with this token (env CIWARDEN_RUNNER_REGISTRATION_TOKEN)")
	longPoll := fs.String("runner-long-poll", envDefault("CIWARDEN_RUNNER_LONG_POLL", "50s"),
		"how long a runner's job request is held while no job is queued (env CIWARDEN_RUNNER_LONG_POLL)")
	runners := fs.String("runners", envDefault("CIWARDEN_RUNNERS", "0"), "built-in runner workers to run in this process (env CIWARDEN_RUNNERS)")
	logLevel := fs.String("log-level", envDefault("CIWARDEN_LOG_LEVEL", "info"), "debug, info, warn or error (env CIWARDEN_LOG_LEVEL)")
	s3Endpoint := fs.String("s3-endpoint", envDefault("CIWARDEN_S3_ENDPOINT", ""),
		"S3-compatible object storage for artifacts and packages, host:port or http(s)://host:port (env CIWARDEN_S3_ENDPOINT; credentials from CIWARDEN_S3_ACCESS_KEY and CIWARDEN_S3_SECRET_KEY or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; default: the data dir)")
	s3Bucket := fs.String("s3-bucket", envDefault("CIWARDEN_S3_BUCKET", ""), "the S3 bucket (env CIWARDEN_S3_BUCKET)")
	maxArtifacts := fs.String("max-artifacts-size", envDefault("CIWARDEN_MAX_ARTIFACTS_SIZE", "100MiB"),
		"largest job artifact upload, such as 100MiB or 2GiB (env CIWARDEN_MAX_ARTIFACTS_SIZE)")
	maxPackage := fs.String("max-package-file-size", envDefault("CIWARDEN_MAX_PACKAGE_FILE_SIZE", "5GiB"),
		"largest package file upload (env CIWARDEN_MAX_PACKAGE_FILE_SIZE)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("serve: unexpected argument %q", fs.Arg(0))
	}
	if cfg.MaxArtifactsSize, err = parseSize("--max-artifacts-size", *maxArtifacts); err != nil {
		return err
	}
	if cfg.MaxPackageFileSize, err = parseSize("--max-package-file-size", *maxPackage); err != nil {
		return err
	}
	// The endpoint and bucket may come from flags; the rest of the S3
	// settings, credentials above all, only from the environment.
	if cfg.S3, err = blob.S3ConfigFromEnv(func(name string) string {
		switch name {
		case "CIWARDEN_S3_ENDPOINT":
			return *s3Endpoint
		case "CIWARDEN_S3_BUCKET":
			return *s3Bucket
		}
		return os.Getenv(name)
	}); err != nil {
		return err
	}
	n, err := strconv.Atoi(*runners)
	if err != nil || n < 0 || n > 64 {
		return fmt.Errorf("--runners %q: a number from 0 to 64", *runners)
	}
	cfg.Runners = n
	lp, err := time.ParseDuration(*longPoll)
	if err != nil || lp < 0 || lp > 10*time.Minute {
		return fmt.Errorf("--runner-long-poll %q: a duration up to 10m, such as 50s", *longPoll)
	}
	cfg.LongPoll = lp
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("--log-level %q: use debug, info, warn or error", *logLevel)
	}
	cfg.InitialRootToken = os.Getenv("CIWARDEN_INITIAL_ROOT_TOKEN")
	// A key, like a credential, comes from the environment only: argv is
	// visible to every user of the machine.
	cfg.InstanceKey = os.Getenv("CIWARDEN_INSTANCE_KEY")
	log := server.NewLogger(stderr, level)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv, err := server.New(ctx, cfg, log, stderr)
	if err != nil {
		return err
	}
	return srv.Run(ctx)
}

func admin(args []string, stdout, stderr io.Writer) error {
	if len(args) < 2 || args[0] != "token" || args[1] != "create" {
		return errors.New("usage: ciwarden admin token create --user NAME [--scopes api,read_api] [--expires YYYY-MM-DD]")
	}
	var cfg server.Config
	fs := flag.NewFlagSet("admin token create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	storageFlags(fs, &cfg)
	user := fs.String("user", "", "username to create the token for (required)")
	scopes := fs.String("scopes", "api", "comma-separated scopes: api, read_api")
	expires := fs.String("expires", "", "expiry date YYYY-MM-DD (default: none)")
	name := fs.String("name", "admin-cli", "token name")
	if err := fs.Parse(args[2:]); err != nil {
		return err
	}
	if *user == "" {
		return errors.New("admin token create: --user is required")
	}
	in := accounts.NewToken{Name: *name, Scopes: strings.Split(*scopes, ",")}
	if *expires != "" {
		t, err := time.Parse(time.DateOnly, *expires)
		if err != nil {
			return fmt.Errorf("--expires %q: use YYYY-MM-DD", *expires)
		}
		in.ExpiresAt = &t
	}
	if err := cfg.Normalize(); err != nil {
		return err
	}
	ctx := context.Background()
	st, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		return err
	}
	u, err := st.UserByUsername(ctx, *user)
	if errors.Is(err, model.ErrNotFound) {
		return fmt.Errorf("no user %q", *user)
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
func runRunner(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("runner", flag.ContinueOnError)
	fs.SetOutput(stderr)
	u := fs.String("url", envDefault("CIWARDEN_RUNNER_URL", ""), "server URL (env CIWARDEN_RUNNER_URL)")
	tok := fs.String("token", envDefault("CIWARDEN_RUNNER_TOKEN", ""), "runner authentication token, glrt-... (env CIWARDEN_RUNNER_TOKEN)")
	concurrent := fs.Int("concurrent", 1, "jobs to run at once")
	builds := fs.String("builds-dir", envDefault("CIWARDEN_BUILDS_DIR", "./ciwarden-builds"), "where jobs run (env CIWARDEN_BUILDS_DIR)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *u == "" || *tok == "" {
		return errors.New("runner: --url and --token are required")
	}
	if pu, err := url.Parse(*u); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
		return fmt.Errorf("runner: --url %q must be an http(s) URL", *u)
	}
	if *concurrent < 1 || *concurrent > 64 {
		return errors.New("runner: --concurrent must be between 1 and 64")
	}
	dir, err := filepath.Abs(*builds)
	if err != nil {
		return err
	}
	log := server.NewLogger(stderr, slog.LevelInfo)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	c := &runner.Client{BaseURL: strings.TrimSuffix(*u, "/"), Token: *tok, SystemID: "r_" + randomHex(6),
		HTTP: &http.Client{Timeout: 10 * time.Minute}}
	if err := c.Verify(ctx); err != nil {
		return fmt.Errorf("runner: the server refused the token: %v", err)
	}
	log.Info("runner started", "url", *u, "concurrent", *concurrent, "builds_dir", dir)
	r := &runner.Runner{Client: c, BuildsDir: dir, Concurrent: *concurrent, Log: log, MaskPrefixes: auth.MaskPrefixes}
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
