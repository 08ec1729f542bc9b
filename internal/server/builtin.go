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
	"github.com/ciwarden/ciwarden/internal/store"
)

// builtinTokenFile keeps the built-in runner's token between starts (only
// its digest is in the database), readable by the server's user alone.
const builtinTokenFile = "builtin-runner.token"

// registeredBuiltinRunner returns the token and runner of this data
// directory's built-in runner; r is nil when it never registered one (or
// its runner was deleted).
func registeredBuiltinRunner(ctx context.Context, st *store.Store, dataDir string) (tok string, r *model.Runner, err error) {
	b, err := os.ReadFile(filepath.Join(dataDir, builtinTokenFile))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil, nil
	}
	if err != nil {
		return "", nil, err
	}
	tok = strings.TrimSpace(string(b))
	r, err = st.RunnerByDigest(ctx, auth.Digest(tok))
	if errors.Is(err, model.ErrNotFound) {
		return "", nil, nil
	}
	return tok, r, err
}

// builtinRunnerToken returns the token of this data directory's built-in
// instance runner, registering one the first time.
func builtinRunnerToken(ctx context.Context, st *store.Store, dataDir string) (string, error) {
	tok, r, err := registeredBuiltinRunner(ctx, st, dataDir)
	if err != nil || r != nil {
		return tok, err
	}
	tok = auth.NewSecret(auth.RunnerTokenPrefix)
	r = &model.Runner{Type: model.InstanceRunner, Description: "built-in runner", RunUntagged: true}
	if err := st.CreateRunner(ctx, r, auth.Digest(tok)); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dataDir, builtinTokenFile), []byte(tok+"\n"), 0o600); err != nil {
		return "", err
	}
	return tok, nil
}

// failDeadBuiltinJobs fails (runner_system_failure) the jobs this data
// directory's built-in runner still holds at start: the server that ran
// it died with them (their scripts died too, internal/runner/proc.go), so
// their tokens die now rather than at the jobs' timeout. A data directory
// belongs to one server process, as its blob temporaries do (openBlobs):
// no live runner holds these jobs. External runners' jobs keep the
// timeout rule (ci.Service.FailOverdue).
func (s *Server) failDeadBuiltinJobs(ctx context.Context) {
	_, r, err := registeredBuiltinRunner(ctx, s.store, s.cfg.DataDir)
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
// server's own listener, so a fresh install runs pipelines at once.
func (s *Server) startBuiltinRunner(ctx context.Context, addr string, n int) (done <-chan struct{}, err error) {
	tok, err := builtinRunnerToken(ctx, s.store, s.cfg.DataDir)
	if err != nil {
		return nil, err
	}
	hc := &http.Client{Timeout: 10 * time.Minute}
	r := &runner.Runner{
		Client:    &runner.Client{BaseURL: "http://" + addr, Token: tok, SystemID: "builtin", HTTP: hc},
		BuildsDir: filepath.Join(s.cfg.DataDir, "builds"), Concurrent: n,
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
