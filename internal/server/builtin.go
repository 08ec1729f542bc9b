package server

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ciwarden/ciwarden/internal/auth"
	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/runner"
	"github.com/ciwarden/ciwarden/internal/runners"
)

// legacyBuiltinTokenFile is where a data directory kept its built-in
// runner's token before each replica had a runner of its own in the
// database; the first start since moves it there and removes the file.
const legacyBuiltinTokenFile = "builtin-runner.token"

// builtinRunner returns the token and runner of this replica's built-in
// runner (runners.Service.Builtin), registering one when create is set.
func (s *Server) builtinRunner(ctx context.Context, create bool) (string, *model.Runner, error) {
	svc := &runners.Service{Store: s.store, Now: s.ci.Now}
	if err := s.adoptLegacyBuiltin(ctx, svc); err != nil {
		return "", nil, err
	}
	return svc.Builtin(ctx, s.box, s.cfg.ReplicaName, create)
}

// adoptLegacyBuiltin moves the runner of an old data directory's token
// file to this replica. Replicas sharing the data directory may race for
// it: one adopts it, the others register their own.
func (s *Server) adoptLegacyBuiltin(ctx context.Context, svc *runners.Service) error {
	path := filepath.Join(s.cfg.DataDir, legacyBuiltinTokenFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := svc.AdoptBuiltin(ctx, s.box, s.cfg.ReplicaName, strings.TrimSpace(string(b))); err != nil {
		return err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	s.log.Info("moved the built-in runner's token from the data directory into the database", "replica", s.cfg.ReplicaName)
	return nil
}

// failDeadBuiltinJobs fails (runner_system_failure) the jobs this
// replica's built-in runner still holds at start: the server that ran it
// died with them (their scripts died too, internal/runner/proc.go), so
// their tokens die now rather than at the jobs' timeout. A replica name
// belongs to one running server (docs/scaling.md): no live runner holds
// these jobs, and other replicas' built-in runners keep theirs. External
// runners' jobs keep the contact and timeout rules (ci.Service).
func (s *Server) failDeadBuiltinJobs(ctx context.Context) {
	_, r, err := s.builtinRunner(ctx, false)
	if err == nil && r != nil {
		var n int
		if n, err = s.ci.FailRunnerJobs(ctx, r.ID); n > 0 {
			s.log.Warn("failed the jobs the built-in runner held when the server last stopped", "count", n)
		}
	}
	if err != nil {
		s.log.Warn("failing the built-in runner's jobs from the last run failed", "err", err)
	}
}

// startBuiltinRunner runs n runner workers in this process against the
// server's own listener, so a fresh install runs pipelines at once. Jobs
// run in <data-dir>/builds/<replica-name>: replicas sharing a data
// directory never share a build directory.
func (s *Server) startBuiltinRunner(ctx context.Context, addr string, n int) (done <-chan struct{}, err error) {
	tok, _, err := s.builtinRunner(ctx, true)
	if err != nil {
		return nil, err
	}
	hc := &http.Client{Timeout: 10 * time.Minute}
	r := &runner.Runner{
		Client:    &runner.Client{BaseURL: "http://" + addr, Token: tok, SystemID: "builtin", HTTP: hc},
		BuildsDir: filepath.Join(s.cfg.DataDir, "builds", s.cfg.ReplicaName), Concurrent: n,
		Log: s.log.With(slog.String("component", "runner")), MaskPrefixes: auth.MaskPrefixes,
	}
	ch := make(chan struct{})
	go func() {
		defer close(ch)
		// Connections the runner opened but no longer uses would hold up
		// the server's graceful shutdown.
		defer hc.CloseIdleConnections()
		if err := r.Run(ctx); err != nil {
			s.log.Error("built-in runner stopped", "err", err)
		}
	}()
	return ch, nil
}
