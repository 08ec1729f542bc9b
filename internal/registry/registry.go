// Package registry is ciwarden's container registry: the Distribution
// project's registry (github.com/distribution/distribution/v3), run in
// process and served at /v2/ on ciwarden's listener, and the token
// service (/jwt/auth) whose tokens it trusts. The registry checks each
// request's token itself; which scopes a token carries is decided by
// authz.Decide in the token service (gitlab-compat.md §3.4).
package registry

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/distribution/distribution/v3/configuration"

	"github.com/distribution/distribution/v3/registry/handlers"
	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/distribution/distribution/v3/registry/storage/driver/filesystem"

	"github.com/ciwarden/ciwarden/internal/blob"
	"github.com/ciwarden/ciwarden/internal/gate"

	// The token access controller registers itself by name.
	_ "github.com/distribution/distribution/v3/registry/auth/token"
)

// Service is what the registry's tokens name as their audience, and what
// docker sends as service= (GitLab's value).
const Service = "container_registry"

// Issuer is the tokens' iss.
const Issuer = "ciwarden"

// Config says where the registry keeps images and where its clients get
// tokens.
type Config struct {
	// Dir holds the images (Dir/docker/registry/v2/...) and the JWKS file.
	Dir string
	// Realm is the token service's URL, which the registry's 401
	// challenge names (<external URL>/jwt/auth).
	Realm string
	Log   *slog.Logger
	// S3, when set, holds the images instead of Dir (under its prefix,
	// registry/...); the JWKS file stays in Dir.
	S3 *blob.S3
}

// Registry is the embedded registry.
type Registry struct {
	app    *handlers.App
	images *images
	Keys   *Keys
}

// New starts the registry with keys. The Distribution app panics on a
// configuration it cannot use (a storage root it cannot create, a key
// file it cannot read): the configuration is checked first, and a panic
// that still happens becomes a one-line error, never a crash of the
// server's start.
func New(ctx context.Context, cfg Config, keys *Keys) (r *Registry, err error) {
	if cfg.Realm == "" || !strings.Contains(cfg.Realm, "://") {
		return nil, fmt.Errorf("registry: the token realm %q is not a URL", cfg.Realm)
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	driverName, driverParams, driver, err := openStorage(cfg.Dir, cfg.S3)
	if err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	jwks := filepath.Join(cfg.Dir, "jwks.json")
	if err := keys.writeJWKS(jwks); err != nil {
		return nil, fmt.Errorf("registry: writing its token keys: %w", err)
	}
	if cfg.Log != nil {
		routeLogs(cfg.Log)
	}
	c := &configuration.Configuration{
		Storage: configuration.Storage{
			driverName: driverParams,
			// Deletes are the registry API's (tags, repositories);
			// blobs are freed by `ciwarden registry gc`.
			"delete": configuration.Parameters{"enabled": true},
			// No descriptor cache: the registry API deletes through its
			// own view of the storage (images.go), which a cache in the
			// registry would not see.
		},
		Auth: configuration.Auth{"token": configuration.Parameters{
			"realm": cfg.Realm, "service": Service, "issuer": Issuer, "jwks": jwks,
			"signingalgorithms": []any{"ES256"},
		}},
	}
	c.HTTP.Secret = keys.secret
	// Locations relative to the request: clients reach the registry on
	// whatever host and port they reached ciwarden.
	c.HTTP.RelativeURLs = true
	c.Log.AccessLog.Disabled = true
	im, err := newImages(ctx, driver)
	if err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	defer func() {
		if v := recover(); v != nil {
			r, err = nil, fmt.Errorf("registry: %v", firstLine(fmt.Sprint(v)))
		}
	}()
	return &Registry{app: handlers.NewApp(ctx, c), images: im, Keys: keys}, nil
}

// openStorage is the images' storage driver, and its name and parameters
// for the registry's configuration: the S3 bucket when one is given, else
// the disk under dir/storage.
func openStorage(dir string, s3 *blob.S3) (string, configuration.Parameters, storagedriver.StorageDriver, error) {
	if s3 != nil {
		return s3DriverName, configuration.Parameters{"store": s3}, newS3Driver(s3), nil
	}
	root := filepath.Join(dir, "storage")
	if err := os.MkdirAll(root, 0o700); err != nil {
		return "", nil, nil, err
	}
	return "filesystem", configuration.Parameters{"rootdirectory": root},
		filesystem.New(filesystem.DriverParameters{RootDirectory: root, MaxThreads: 100}), nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// ServeHTTP serves the registry's API (/v2/...).
func (r *Registry) ServeHTTP(w http.ResponseWriter, req *http.Request) { r.app.ServeHTTP(w, req) }

// Close stops the registry's background work (upload purging).
func (r *Registry) Close() error {
	if r == nil || r.app == nil {
		return nil
	}
	return r.app.Shutdown()
}

// ErrUnavailable: the registry could not start (its keys do not open
// with this replica's instance key); the server's log says why.
var ErrUnavailable = gate.Message(http.StatusServiceUnavailable, "503 Service Unavailable - the container registry is unavailable on this replica")
