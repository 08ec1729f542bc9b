package server

import (
	"context"
	"errors"
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

// builtinRunnerToken returns the token of this data directory's built-in
// instance runner, registering one the first time.
func builtinRunnerToken(ctx context.Context, st *store.Store, dataDir string) (string, error) {
	path := filepath.Join(dataDir, builtinTokenFile)
	if b, err := os.ReadFile(path); err == nil {
		tok := strings.TrimSpace(string(b))
		if _, err := st.RunnerByDigest(ctx, auth.Digest(tok)); err == nil {
			return tok, nil
		} else if !errors.Is(err, model.ErrNotFound) {
			return "", err
		}
	}
	tok := auth.NewSecret(auth.RunnerTokenPrefix)
	r := &model.Runner{Type: model.InstanceRunner, Description: "built-in runner", RunUntagged: true}
	if err := st.CreateRunner(ctx, r, auth.Digest(tok)); err != nil {
		return "", err
	}
	if err := os.WriteFile(path, []byte(tok+"\n"), 0o600); err != nil {
		return "", err
	}
	return tok, nil
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
