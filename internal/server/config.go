// Package server wires ciwarden together: configuration, store, services,
// the HTTP handler with its operational endpoints, and the lifecycle.
package server

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ciwarden/ciwarden/internal/blob"
	"github.com/ciwarden/ciwarden/internal/secretbox"
	"github.com/ciwarden/ciwarden/internal/store"
)

// Config is everything `ciwarden serve` can be told.
type Config struct {
	Listen string
	// DebugListen, when set, serves net/http/pprof on this address of its
	// own (see debugHandler); empty (the default) serves no profiles.
	DebugListen string
	ExternalURL string
	DataDir     string
	DatabaseURL string
	// RepositoriesDir holds the projects' bare repositories. Replicas on
	// several hosts share it on a POSIX file system (docs/scaling.md).
	// Empty: DataDir/repositories.
	RepositoriesDir string
	// ReplicaName names this server among the replicas of one database:
	// its built-in runner and its builds directory are its own. Empty: the
	// host name.
	ReplicaName string
	// InitialRootToken becomes root's token on the first start.
	InitialRootToken string
	// InitialRootPassword becomes root's web sign-in password on the first
	// start (CIWARDEN_INITIAL_ROOT_PASSWORD); empty: one is generated and
	// printed once with root's token.
	InitialRootPassword string
	// RunnerRegistrationToken enables legacy runner registration.
	RunnerRegistrationToken string
	// LongPoll is how long a runner's job request is held while nothing
	// changes (GitLab's Workhorse holds about 50 s).
	LongPoll time.Duration
	// Runners is how many built-in runner workers to run in-process.
	Runners int
	// RunnerContactTimeout: a running job whose runner has not called
	// about it for this long fails (runner_system_failure), and its token
	// dies. 0 means ci.DefaultRunnerContactTimeout.
	RunnerContactTimeout time.Duration
	// ReapEvery is how often projects and groups marked for deletion are
	// removed.
	ReapEvery time.Duration
	// S3 selects S3-compatible object storage for artifacts, packages and container images;
	// with no endpoint they live on the filesystem under DataDir/blobs.
	S3 blob.S3Config
	// MaxArtifactsSize bounds one job artifact upload (bytes; GitLab's
	// default is 100 MiB). MaxPackageFileSize bounds one package file.
	MaxArtifactsSize   int64
	MaxPackageFileSize int64
	// SweepEvery is how often expired artifacts are deleted.
	SweepEvery time.Duration
	// AuthLogFlushEvery is how often the authentication log's batched
	// uses are written (a read of the log flushes this process's first).
	AuthLogFlushEvery time.Duration
	// InstanceKey is the instance key in its text form (base64 of 32
	// bytes), from CIWARDEN_INSTANCE_KEY; replicas must share it. Empty:
	// the key kept in DataDir/instance.key, created on the first start.
	InstanceKey string
	// InstanceKeyOld is further keys (comma-separated), from
	// CIWARDEN_INSTANCE_KEY_OLD: values sealed with them still open, and
	// nothing is sealed with them. It serves a key rotation (README,
	// "Encryption at rest").
	InstanceKeyOld string
	// RegistryURL is where clients reach the container registry, when not
	// at ExternalURL's host (a separate name or port in front of /v2/):
	// CI_REGISTRY and CI_REGISTRY_IMAGE name its host:port.
	RegistryURL string
}

// Default upload bounds, as GitLab's defaults (artifacts 100 MiB; generic
// package files 5 GiB).
const (
	DefaultMaxArtifactsSize   = 100 << 20
	DefaultMaxPackageFileSize = 5 << 30
)

// Normalize fills defaults and checks the configuration, with messages
// fit for a person.
func (c *Config) Normalize() error {
	if c.Listen == "" {
		c.Listen = "127.0.0.1:8080"
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("--listen %q is not host:port", c.Listen)
	}
	if c.DebugListen != "" {
		if _, _, err := net.SplitHostPort(c.DebugListen); err != nil {
			return fmt.Errorf("--debug-listen %q is not host:port", c.DebugListen)
		}
	}
	if c.ExternalURL == "" {
		c.ExternalURL = "http://" + c.Listen
	}
	u, err := url.Parse(c.ExternalURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("--external-url %q must be an absolute http(s) URL such as https://ci.example.com", c.ExternalURL)
	}
	c.ExternalURL = strings.TrimSuffix(c.ExternalURL, "/")
	if c.RegistryURL != "" {
		r, err := url.Parse(c.RegistryURL)
		if err != nil || (r.Scheme != "http" && r.Scheme != "https") || r.Host == "" || (r.Path != "" && r.Path != "/") {
			return fmt.Errorf("--registry-url %q must be an http(s) URL with no path, such as https://registry.example.com", c.RegistryURL)
		}
	}
	if c.DataDir == "" {
		c.DataDir = "./ciwarden-data"
	}
	if c.DataDir, err = filepath.Abs(c.DataDir); err != nil {
		return fmt.Errorf("--data-dir: %v", err)
	}
	if c.DatabaseURL == "" {
		c.DatabaseURL = store.SQLiteURL(filepath.Join(c.DataDir, "ciwarden.db"))
	}
	if c.RepositoriesDir == "" {
		c.RepositoriesDir = filepath.Join(c.DataDir, "repositories")
	}
	if c.RepositoriesDir, err = filepath.Abs(c.RepositoriesDir); err != nil {
		return fmt.Errorf("--repositories-dir: %v", err)
	}
	if c.ReplicaName == "" {
		host, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("the host name is unknown (%v): set --replica-name", err)
		}
		if !ValidReplicaName(host) {
			return fmt.Errorf("the host name %q is not a replica name (letters, digits, '.', '_', '-', at most 63): set --replica-name", host)
		}
		c.ReplicaName = host
	} else if !ValidReplicaName(c.ReplicaName) {
		return fmt.Errorf("--replica-name %q: letters, digits, '.', '_' and '-' only, at most 63 characters", c.ReplicaName)
	}
	if c.LongPoll <= 0 {
		c.LongPoll = 50 * time.Second
	}
	if c.ReapEvery <= 0 {
		c.ReapEvery = 2 * time.Second
	}
	if c.MaxArtifactsSize <= 0 {
		c.MaxArtifactsSize = DefaultMaxArtifactsSize
	}
	if c.MaxPackageFileSize <= 0 {
		c.MaxPackageFileSize = DefaultMaxPackageFileSize
	}
	if c.AuthLogFlushEvery <= 0 {
		c.AuthLogFlushEvery = 5 * time.Second
	}
	if c.SweepEvery <= 0 {
		c.SweepEvery = time.Minute
	}
	if c.S3.Endpoint != "" && c.S3.Bucket == "" {
		return errors.New("--s3-endpoint is set but --s3-bucket is not")
	}
	if c.InstanceKey != "" {
		if _, err := secretbox.ParseKey(c.InstanceKey); err != nil {
			return fmt.Errorf("CIWARDEN_INSTANCE_KEY is %v", err)
		}
	}
	if c.InstanceKeyOld != "" {
		if _, err := secretbox.ParseKeys(c.InstanceKeyOld); err != nil {
			return fmt.Errorf("CIWARDEN_INSTANCE_KEY_OLD is %v", err)
		}
	}
	return nil
}

// ValidReplicaName reports whether name can name a replica: 1 to 63 of
// [A-Za-z0-9._-], so that it is a host name's first label at most and a
// safe directory name (builds/<name>), never "." or "..".
func ValidReplicaName(name string) bool {
	if name == "" || len(name) > 63 || name == "." || name == ".." {
		return false
	}
	for _, c := range name {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// instanceKeyFile is where a node keeps its instance key when the
// environment gives none.
const instanceKeyFile = "instance.key"

// openBox returns the box of the instance key: the configured one, or the
// one in the data directory, created on the first start (silently: a start
// that fails says one line, its error).
func openBox(c Config) (*secretbox.Box, error) {
	keys, err := InstanceKeys(c)
	if err != nil {
		return nil, err
	}
	return secretbox.New(keys[0], keys[1:]...)
}

// InstanceKeys are the configured instance keys, the current one first:
// CIWARDEN_INSTANCE_KEY, else those of the data directory's key file
// (created with one key on the first start), then those of
// CIWARDEN_INSTANCE_KEY_OLD.
func InstanceKeys(c Config) ([][]byte, error) {
	var keys [][]byte
	if c.InstanceKey != "" {
		key, err := secretbox.ParseKey(c.InstanceKey)
		if err != nil {
			return nil, err
		}
		keys = [][]byte{key}
	} else {
		var err error
		if keys, _, err = secretbox.KeyFile(InstanceKeyPath(c)); err != nil {
			return nil, err
		}
	}
	if c.InstanceKeyOld != "" {
		old, err := secretbox.ParseKeys(c.InstanceKeyOld)
		if err != nil {
			return nil, fmt.Errorf("CIWARDEN_INSTANCE_KEY_OLD is %v", err)
		}
		keys = append(keys, old...)
	}
	return keys, nil
}

// InstanceKeyPath is where the data directory keeps the instance key.
func InstanceKeyPath(c Config) string { return filepath.Join(c.DataDir, instanceKeyFile) }

// prepareDataDir creates the data directory and proves it writable.
func prepareDataDir(dir string) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("data directory %s cannot be created: %v", dir, unwrapPathErr(err))
	}
	f, err := os.CreateTemp(dir, ".write-test-*")
	if err != nil {
		return fmt.Errorf("data directory %s is not writable: %v", dir, unwrapPathErr(err))
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

func unwrapPathErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
