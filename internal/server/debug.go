package server

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"
)

// The profiling endpoint (--debug-listen, off by default) serves Go's
// net/http/pprof on an address of its own, so that an operator can take
// CPU, heap and goroutine profiles of a live server (issue 14). It is no
// API route and does not pass the gate: like Prometheus' own /debug/pprof
// it is an operator's tool, reached only on the address the operator
// chose (keep it on loopback or a private network), never through the
// main listener, which answers 404 there as for any unknown path. It
// carries no credential because it serves no data of any project: only
// the process's own profiles.
//
// Importing net/http/pprof also registers its handlers on
// http.DefaultServeMux; no listener of ciwarden serves that mux
// (TestOnlyTheGateRegistersHandlers forbids using it), so they are reached
// only through debugHandler.
func debugHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, ok := strings.CutPrefix(r.URL.Path, "/debug/pprof/")
		if !ok {
			http.NotFound(w, r)
			return
		}
		switch name {
		case "cmdline":
			pprof.Cmdline(w, r)
		case "profile":
			pprof.Profile(w, r)
		case "symbol":
			pprof.Symbol(w, r)
		case "trace":
			pprof.Trace(w, r)
		default: // the index, and heap, goroutine, allocs... by name
			pprof.Index(w, r)
		}
	})
}

// serveDebug serves the profiling endpoint on ln until ctx is done.
func serveDebug(ctx context.Context, ln net.Listener, log *slog.Logger) {
	// No WriteTimeout: a CPU profile or trace streams for as long as it
	// was asked to (?seconds=).
	srv := &http.Server{Handler: debugHandler(), ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	log.Info("profiling endpoint listening", "addr", ln.Addr().String())
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Warn("profiling endpoint stopped", "error", err)
	}
}
