package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"time"

	"github.com/ciwarden/ciwarden/internal/access"
	"github.com/ciwarden/ciwarden/internal/accounts"
	"github.com/ciwarden/ciwarden/internal/api"
	"github.com/ciwarden/ciwarden/internal/artifacts"
	"github.com/ciwarden/ciwarden/internal/auth"
	"github.com/ciwarden/ciwarden/internal/authz"
	"github.com/ciwarden/ciwarden/internal/blob"
	"github.com/ciwarden/ciwarden/internal/ci"
	"github.com/ciwarden/ciwarden/internal/gate"
	"github.com/ciwarden/ciwarden/internal/git"
	"github.com/ciwarden/ciwarden/internal/jobtoken"
	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/packages"
	"github.com/ciwarden/ciwarden/internal/projects"
	"github.com/ciwarden/ciwarden/internal/registry"
	"github.com/ciwarden/ciwarden/internal/releases"
	"github.com/ciwarden/ciwarden/internal/runnerapi"
	"github.com/ciwarden/ciwarden/internal/runners"
	"github.com/ciwarden/ciwarden/internal/secretbox"
	"github.com/ciwarden/ciwarden/internal/store"
	"github.com/ciwarden/ciwarden/internal/terraform"
	"github.com/ciwarden/ciwarden/internal/variables"
	"github.com/ciwarden/ciwarden/internal/web"
)

// Server is a configured ciwarden ready to Run.
type Server struct {
	cfg      Config
	log      *slog.Logger
	store    *store.Store
	projects *projects.Service
	ci       *ci.Service
	queue    *ci.Queue
	auth     *auth.Authenticator
	blobs    blob.Store
	box      *secretbox.Box
	authLog  *jobtoken.AuthLog
	gate     *gate.Gate
	routes   []gate.Route
	handler  http.Handler
	ln       net.Listener // bound by New; nil when Config.Listen was empty
	debugLn  net.Listener // Config.DebugListen, bound by New, served by Run
	registry *registry.Registry
	images   *registry.Repositories
}

// maxCachedJobTokens bounds the job-token cache: one entry per running job
// that used its token, so this is far above any real load.
const maxCachedJobTokens = 100_000

// maxCachedScopes bounds the allowlist cache: one entry per project that
// took part in a cross-project job-token use.
const maxCachedScopes = 10_000

// maxCachedFacts bounds each of the personal-token, project and
// access-level caches (a few hundred bytes an entry); a full cache starts
// again empty.
const maxCachedFacts = 10_000

// New prepares a server: it binds cfg.Listen (when set; in-process users
// leave it empty and use Handler), checks git, the data directory, the
// database (migrated) and blob storage, and only then creates root on a
// first start, so that a start that fails never leaves a root whose one-time
// token nobody saw. Notices meant for the operator (a generated root token,
// how to make one when root has none) go to notices.
func New(ctx context.Context, cfg Config, log *slog.Logger, notices io.Writer) (srv *Server, err error) {
	listen, derivedURL := cfg.Listen != "", cfg.ExternalURL == ""
	if err := cfg.Normalize(); err != nil {
		return nil, err
	}
	if log == nil {
		log = discardLogger()
	}
	if err := prepareDataDir(cfg.DataDir); err != nil {
		return nil, err
	}
	var ln net.Listener
	if listen {
		if ln, err = net.Listen("tcp", cfg.Listen); err != nil {
			return nil, fmt.Errorf("listen on %s: %w", cfg.Listen, err)
		}
		defer func() {
			if err != nil {
				ln.Close()
			}
		}()
		if derivedURL {
			// Port 0 picks a free port: advertise the one bound.
			cfg.ExternalURL = boundURL(cfg.Listen, ln.Addr())
		}
	}
	var debugLn net.Listener
	if cfg.DebugListen != "" {
		if debugLn, err = net.Listen("tcp", cfg.DebugListen); err != nil {
			return nil, fmt.Errorf("--debug-listen on %s: %w", cfg.DebugListen, err)
		}
		defer func() {
			if err != nil {
				debugLn.Close()
			}
		}()
	}
	box, err := openBox(cfg)
	if err != nil {
		return nil, err
	}
	repos, err := git.NewRepos(cfg.RepositoriesDir)
	if err != nil {
		return nil, err
	}
	st, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			st.Close()
		}
	}()
	if err := st.Migrate(ctx); err != nil {
		return nil, err
	}
	st.SetBox(box)
	now := func() time.Time { return time.Now().UTC() }
	// Before anything is written to them: a replica whose directories
	// are not the instance's refuses to start (storage.go).
	shared := []sharedDir{repositoriesDir(cfg, st)}
	if cfg.S3.Endpoint == "" {
		shared = append(shared, blobsDir(cfg, st))
	}
	for _, d := range shared {
		if err := verifyStorage(ctx, st, d, now()); err != nil {
			return nil, err
		}
	}
	blobs, err := OpenBlobs(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	acc := &accounts.Service{Store: st, Now: now}
	boot, err := acc.Bootstrap(ctx, cfg.InitialRootToken, cfg.InitialRootPassword)
	if err != nil {
		return nil, err
	}
	if boot.GeneratedPassword != "" {
		// Before the token's notice, whose last line tests and scripts read.
		fmt.Fprintf(notices, "\nThe admin user root signs in at %s with this password, shown only this once:\n\n    %s\n", cfg.ExternalURL, boot.GeneratedPassword)
	}
	switch {
	case boot.Generated != "":
		fmt.Fprintf(notices, "\nCreated the admin user root. Its personal access token, shown only this once:\n\n    %s\n\n", boot.Generated)
	case boot.RootNeedsToken:
		log.Warn("root has no personal access token known to be in use: if you do not hold one, create one with " +
			"`ciwarden admin token create --user root` (with this server's --data-dir or --database-url)")
	}
	proj := &projects.Service{Store: st, Now: now, Log: log, Repos: repos, Blobs: blobs}
	authn := &auth.Authenticator{Store: st, Now: now, TouchEvery: time.Minute, RegistrationToken: cfg.RunnerRegistrationToken}
	if !st.Shared() {
		// Replicas on PostgreSQL re-read every token: a change committed
		// by another process would not reach this cache.
		authn.CacheJobTokens(maxCachedJobTokens)
	}
	// Personal tokens, projects and access levels: the same rule (kept
	// only on SQLite, see store.NewCache).
	authn.CachePersonalTokens(maxCachedFacts)
	queue := ci.NewQueue()
	vars := &variables.Service{Store: st, Box: box, Now: now}
	pipelines := &ci.Service{Store: st, Repos: repos, Now: now, Log: log, ExternalURL: cfg.ExternalURL, RegistryURL: cfg.RegistryURL, Blobs: blobs,
		RunnerContactTimeout: cfg.RunnerContactTimeout, Variables: vars,
		OnPending: func(int64) {
			queue.Bump()
			// Replicas sharing PostgreSQL wake their held runners too.
			if err := st.AnnounceQueued(context.Background()); err != nil {
				log.Warn("announcing queued jobs to other replicas failed", "error", err)
			}
		}}
	acc.EndWorkOf = pipelines.DropJobsOfUser
	authLog := &jobtoken.AuthLog{Store: st, Log: log, Now: now}
	authorizer := &access.Authorizer{Store: st, Log: authLog}
	// Exact on every replica: see access.CacheScopes.
	authorizer.CacheScopes(maxCachedScopes)
	authorizer.CacheFacts(maxCachedFacts)
	pipelines.Access = authorizer
	gitHTTP := &git.Handler{Repos: repos, Log: log, OnPush: pipelines.OnPush}
	reg, err := openRegistry(ctx, cfg, st, box, log, now())
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			reg.Close()
		}
	}()
	images := &registry.Repositories{Store: st, Registry: reg, Host: registryHost(cfg), Now: now, Log: log}
	proj.DeleteImages = images.DeleteProjectImages
	proj.HasImages = images.HasTagsUnder
	pipelines.Sweepers = append(pipelines.Sweepers, ci.Sweeper{Name: "container cleanup policies", Run: images.RunDuePolicies})
	regHTTP := &registry.Handler{Registry: reg, Log: log, Now: now, Pushed: images.Pushed}
	m := newMetrics()
	traces := &ci.Traces{Store: st, Box: box, Prefixes: auth.MaskPrefixes, Log: log, OnLeak: m.traceLeaks.Inc,
		MaskedVariables: maskedVariables(vars)}
	pipelines.Traces = traces
	arts := &artifacts.Service{Store: st, Blobs: blobs, Log: log, Now: now, MaxSize: cfg.MaxArtifactsSize}
	// Dynamic child pipelines read their configuration from an artifact.
	pipelines.ArtifactFile = func(ctx context.Context, j *model.Job, name string) (io.ReadCloser, error) {
		e, err := arts.Entry(ctx, j, name)
		if err != nil {
			return nil, err // not a nil *Entry in a non-nil interface
		}
		return e, nil
	}
	a := &api.API{
		Store:     st,
		Auth:      authn,
		Accounts:  acc,
		Projects:  proj,
		CI:        pipelines,
		Repos:     repos,
		Access:    authorizer,
		JobTokens: &jobtoken.Service{Store: st, Access: authorizer, Log: authLog},
		Artifacts: arts,
		Packages: &packages.Service{Store: st, Blobs: blobs, Access: authorizer, Log: log, Now: now,
			MaxFileSize: cfg.MaxPackageFileSize},
		Variables:   vars,
		Releases:    &releases.Service{Store: st, Repos: repos, Now: now, OnPush: pipelines.OnPush},
		Terraform:   &terraform.Service{Store: st, Blobs: blobs, Box: box, Log: log, Now: now},
		Registry:    images,
		ExternalURL: cfg.ExternalURL,
		Log:         log,
	}
	runnerService := &runners.Service{Store: st, Now: now}
	ra := &runnerapi.API{Runners: runnerService, CI: pipelines, Queue: queue, Traces: traces,
		Artifacts: arts, LongPoll: cfg.LongPoll, Now: now, Log: log}
	// The one gate: every route of the API, the runner protocol and git
	// passes authentication, its target's facts and authz.Decide there.
	ui := &web.UI{Store: st, Accounts: acc, Projects: proj, CI: pipelines, Runners: runnerService, Repos: repos, Artifacts: arts, Access: authorizer, JobTokens: a.JobTokens, Log: log, Now: now,
		Releases: a.Releases, Packages: a.Packages, Terraform: a.Terraform, Registry: a.Registry}
	g := &gate.Gate{Auth: authn, Access: authorizer, Store: st, Log: log, ExternalURL: cfg.ExternalURL, WebError: ui.WebError}
	gitRoutes := gitHTTP.Routes()
	routes := routeTable(a, ra, gitRoutes, regHTTP.Routes(), opsRoutes(http.HandlerFunc(readiness(st.Ping, log)), m.handler()), ui.Routes())
	// Git's smart HTTP first (its paths end in .git/...), then the pages.
	mux := g.Router(api.Prefix, routes, git.Dispatcher(gitRoutes, g, ui.Dispatcher(routes, g, git.NotGitRequest)))
	return &Server{cfg: cfg, log: log, store: st, projects: proj, ci: pipelines, queue: queue, auth: authn, blobs: blobs, box: box,
		authLog: authLog, gate: g, routes: routes, registry: reg, images: images, handler: observe(refuseDotSegments(mux), m, log), ln: ln, debugLn: debugLn}, nil
}

// Handler is the whole HTTP surface, for in-process tests and benchmarks.
func (s *Server) Handler() http.Handler { return s.handler }

// routeTable is every route the server serves: the REST API
// (internal/api), the runner protocol and the runners' endpoints
// (internal/runnerapi), git, and the operator's endpoints.
func routeTable(a *api.API, ra *runnerapi.API, gitRoutes, registryRoutes, ops, pages []gate.Route) []gate.Route {
	return slices.Concat(a.GateRoutes(), ra.Routes(), gitRoutes, registryRoutes, ops, pages)
}

// RouteTable is the route table for printing (`ciwarden routes`); its
// handlers are not for serving.
func RouteTable() []gate.Route {
	return routeTable(&api.API{}, &runnerapi.API{}, (&git.Handler{}).Routes(), (&registry.Handler{}).Routes(),
		opsRoutes(http.NotFoundHandler(), http.NotFoundHandler()), (&web.UI{}).Routes())
}

// opsRoutes are the operator's endpoints, open to everyone as GitLab's
// are from an allowed address: liveness, readiness (the database answers),
// Prometheus metrics (labelled by route pattern, never carrying a secret).
func opsRoutes(readiness, metrics http.Handler) []gate.Route {
	row := func(path string, h http.Handler) gate.Route {
		return gate.Route{Surface: gate.Ops, Method: http.MethodGet, Path: path, Accepts: gate.Accepts{RawBody: true},
			Target: gate.NoTarget, Action: authz.Observe, Handle: func(c *gate.Ctx) error { h.ServeHTTP(c.W, c.R); return nil }}
	}
	return []gate.Route{
		row("/-/health", http.HandlerFunc(health)),
		row("/-/liveness", http.HandlerFunc(health)),
		row("/-/readiness", readiness),
		row("/metrics", metrics),
	}
}

// Gate is the server's request gate (tests watch its decisions).
func (s *Server) Gate() *gate.Gate { return s.gate }

// Routes is the whole route table: REST, runner protocol and git.
func (s *Server) Routes() []gate.Route { return s.routes }

// Store is the server's database.
func (s *Server) Store() *store.Store { return s.store }

// CI is the server's pipeline service (tests drive its scheduler at
// chosen times: RunDueSchedules).
func (s *Server) CI() *ci.Service { return s.ci }

// Images is the registry API's service (tests run its cleanup policies
// at chosen times: RunDuePolicies).
func (s *Server) Images() *registry.Repositories { return s.images }

// Authenticator is the server's, for benchmarks that call it directly.
func (s *Server) Authenticator() *auth.Authenticator { return s.auth }

// Blobs is where artifacts and package files are kept.
func (s *Server) Blobs() blob.Store { return s.blobs }

// OpenBlobs opens S3 when configured, else the filesystem under the data
// directory, and removes what uploads interrupted by a crash left behind
// (the server, and `admin rotate-key` for the sealed blobs).
func OpenBlobs(ctx context.Context, cfg Config, log *slog.Logger) (blob.Store, error) {
	if cfg.S3.Endpoint == "" {
		fs, err := blob.NewFS(filepath.Join(cfg.DataDir, "blobs"))
		if err != nil {
			return nil, err
		}
		// Replicas sharing the data directory name their temporaries: a
		// replica name belongs to one running server, so every temporary
		// of this one is a leftover.
		fs.SetOwner(cfg.ReplicaName)
		if n, err := fs.CleanTemp(ctx, time.Now()); err != nil {
			log.Warn("blob storage: removing interrupted uploads failed", "error", err)
		} else if n > 0 {
			log.Info("blob storage: removed interrupted uploads", "count", n)
		}
		return fs, nil
	}
	s3, err := blob.NewS3(ctx, cfg.S3)
	if err != nil {
		return nil, err
	}
	// Replicas share the bucket: only uploads older than any request
	// could take are leftovers.
	if n, err := s3.CleanTemp(ctx, time.Now().Add(-24*time.Hour)); err != nil {
		log.Warn("blob storage: removing interrupted uploads failed", "error", err)
	} else if n > 0 {
		log.Info("blob storage: removed interrupted uploads", "count", n)
	}
	return s3, nil
}

// boundURL is http://host:port of the address listen bound: the host as
// configured, the port the kernel gave.
func boundURL(listen string, addr net.Addr) string {
	host, _, _ := net.SplitHostPort(listen)
	_, port, _ := net.SplitHostPort(addr.String())
	return "http://" + net.JoinHostPort(host, port)
}

// DebugAddr is where the profiling endpoint listens ("" when off).
func (s *Server) DebugAddr() string {
	if s.debugLn == nil {
		return ""
	}
	return s.debugLn.Addr().String()
}

// Config is the normalized configuration.
func (s *Server) Config() Config { return s.cfg }

// Run serves on the listener New bound until ctx is done, then shuts down
// gracefully: new connections are refused and requests in flight get up
// to 30 s.
func (s *Server) Run(ctx context.Context) error {
	defer s.store.Close()
	defer s.registry.Close()
	ln := s.ln
	if ln == nil {
		return errors.New("server: Run needs Config.Listen")
	}
	var err error
	srv := &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
	// Shutdown waits for requests in progress: release held job requests.
	srv.RegisterOnShutdown(s.queue.Close)
	bg, stopBG := context.WithCancel(context.Background())
	defer stopBG()
	go s.projects.RunReaper(bg, s.cfg.ReapEvery)
	// The authentication log has its own context: its last batch is
	// written after the server stops taking requests, before the store
	// closes.
	logCtx, stopLog := context.WithCancel(context.Background())
	logDone := make(chan struct{})
	go func() { defer close(logDone); s.authLog.Run(logCtx, s.cfg.AuthLogFlushEvery) }()
	defer func() { stopLog(); <-logDone }()
	go s.ci.RunScheduler(bg, time.Second)
	if s.debugLn != nil {
		go serveDebug(bg, s.debugLn, s.log)
	}
	// Expired artifacts: rows, then blobs.
	go (&ci.ArtifactSweeper{Store: s.store, Blobs: s.blobs, Now: s.ci.Now, Log: s.log}).Run(bg, s.cfg.SweepEvery)
	go s.store.WatchQueued(bg, s.queue.Bump, func(err error) {
		s.log.Warn("listening for jobs queued by other replicas failed; retrying", "error", err)
	})

	s.failDeadBuiltinJobs(ctx)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	runnerCtx, stopRunners := context.WithCancel(bg)
	defer stopRunners()
	var runnersDone <-chan struct{}
	if s.cfg.Runners > 0 {
		if runnersDone, err = s.startBuiltinRunner(runnerCtx, ln.Addr().String(), s.cfg.Runners); err != nil {
			srv.Close()
			return fmt.Errorf("built-in runner: %w", err)
		}
	}
	s.log.Info("ciwarden listening", "addr", ln.Addr().String(), "external_url", s.cfg.ExternalURL, "database", s.store.Dialect())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.log.Info("shutting down")
	shutCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Runners first, while the server can still take their final updates.
	stopRunners()
	if runnersDone != nil {
		select {
		case <-runnersDone:
		case <-shutCtx.Done():
		}
	}
	if err := srv.Shutdown(shutCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// openRegistry starts the embedded container registry: its signing keys
// from the database (shared by the replicas), its images under
// <data-dir>/registry, or in the S3 bucket with --s3-* (README,
// "Container registry").
func openRegistry(ctx context.Context, cfg Config, st *store.Store, box *secretbox.Box, log *slog.Logger, now time.Time) (*registry.Registry, error) {
	keys, err := registry.LoadKeys(ctx, st, box, now)
	if errors.Is(err, secretbox.ErrOpen) {
		// A replica started with another instance key than the one that
		// sealed the keys: it serves the rest, and its registry answers
		// 503 until it is given the instance's key.
		log.Error("container registry disabled: its signing keys were sealed with another instance key; give this replica the instance's CIWARDEN_INSTANCE_KEY")
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	s3, err := RegistryS3(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return registry.New(ctx, registry.Config{Dir: filepath.Join(cfg.DataDir, "registry"), Realm: cfg.ExternalURL + "/jwt/auth", Log: log, S3: s3}, keys)
}

// RegistryS3 is the bucket the images live in with --s3-* (under its
// prefix, registry/), nil without: then under <data-dir>/registry.
func RegistryS3(ctx context.Context, cfg Config) (*blob.S3, error) {
	if cfg.S3.Endpoint == "" {
		return nil, nil
	}
	return blob.NewS3(ctx, cfg.S3)
}

// registryHost is the registry's host:port as clients name it: of
// --registry-url, else of the external URL (CI_REGISTRY's value).
func registryHost(cfg Config) string {
	base := cfg.ExternalURL
	if cfg.RegistryURL != "" {
		base = cfg.RegistryURL
	}
	u, err := url.Parse(base)
	if err != nil {
		return ""
	}
	return u.Host
}
