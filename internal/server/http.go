package server

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ciwarden/ciwarden/internal/gate"
)

// metrics are labelled by route pattern, never by raw path or query, so a
// token can never become a label and cardinality stays bounded.
type metrics struct {
	registry   *prometheus.Registry
	requests   *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	traceLeaks prometheus.Counter
}

func newMetrics() *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ciwarden_http_requests_total", Help: "HTTP requests by route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "ciwarden_http_request_duration_seconds", Help: "HTTP request latency by route pattern.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10},
		}, []string{"route", "method"}),
		traceLeaks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ciwarden_job_log_secret_leaks_total",
			Help: "Finished jobs whose stored log still held one of their secrets (masking failed).",
		}),
	}
	m.registry.MustRegister(m.requests, m.duration, m.traceLeaks,
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// ReadFrom hands io.Copy's source to the connection's own ReadFrom, so a
// file download (http.ServeContent of an artifact or package file) reaches
// sendfile instead of a 32 KiB buffer copy through this wrapper.
func (w *statusWriter) ReadFrom(r io.Reader) (int64, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{w.ResponseWriter}, r)
}

// observe logs and counts every request, at INFO. The log line has the path
// without its query string (which may carry a token) and no headers. A
// panic in a handler becomes a 500, logged, never a dropped connection.
func observe(next http.Handler, m *metrics, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				log.Error("handler panic", "route", r.Pattern, "panic", v)
				if sw.status == 0 {
					sw.Header().Set("Content-Type", "application/json")
					sw.WriteHeader(http.StatusInternalServerError)
					sw.Write([]byte(`{"message":"500 Internal Server Error"}` + "\n"))
				}
			}
			route := r.Pattern
			if route == "" {
				route = "unmatched"
			}
			code := sw.status
			if code == 0 {
				code = http.StatusOK
			}
			if r.Context().Err() != nil {
				// The client went away before the answer reached it (a
				// runner ending its long poll, a client timing out): 499,
				// as nginx and GitLab count it, whatever the handler wrote.
				code = gate.StatusClientClosed
			}
			elapsed := time.Since(start)
			m.requests.WithLabelValues(route, r.Method, strconv.Itoa(code)).Inc()
			m.duration.WithLabelValues(route, r.Method).Observe(elapsed.Seconds())
			log.LogAttrs(r.Context(), slog.LevelInfo, "request",
				slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Int("status", code),
				slog.Duration("duration", elapsed), slog.String("remote", r.RemoteAddr))
		}()
		body := r.Body
		next.ServeHTTP(sw, r)
		if sw.status == http.StatusRequestEntityTooLarge {
			linger(sw, body)
		}
	})
}

// A refused body is read on after the answer, as nginx's lingering close
// does, so that the client reads the 413 instead of "connection reset":
// Go's server closes a connection whose body it left unread half a second
// after answering, and closing with unread bytes sends a RST, which
// discards the answer in the client's buffer if the client is still
// sending (curl and Go's transport write the whole body before they look
// for an answer). Bounded in bytes and time, so a client cannot hold the
// connection (docs/security.md: every read of client input is bounded).
const (
	lingerBytes = 32 << 20
	lingerTime  = 2 * time.Second
)

func linger(w http.ResponseWriter, body io.Reader) {
	rc := http.NewResponseController(w)
	if rc.Flush() != nil || rc.SetReadDeadline(time.Now().Add(lingerTime)) != nil {
		return
	}
	io.CopyN(io.Discard, body, lingerBytes)
}

func health(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Write([]byte(`{"status":"ok"}` + "\n"))
}

func readiness(ping func(context.Context) error, log *slog.Logger) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		w.Header().Set("Content-Type", "application/json")
		if err := ping(ctx); err != nil {
			log.Warn("readiness: database check failed", "err", err)
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"status":"failed","master_check":[{"status":"failed","message":"database unavailable"}]}` + "\n"))
			return
		}
		w.Write([]byte(`{"status":"ok","master_check":[{"status":"ok"}]}` + "\n"))
	}
}

// refuseDotSegments answers 400 to a path with a "." or ".." segment, raw
// or percent-encoded, before routing. ServeMux would otherwise redirect to
// the cleaned path, and a client that follows the redirect would send its
// upload (a package file name, an artifact path) somewhere it did not
// name. GitLab's path-traversal middleware refuses these too.
func refuseDotSegments(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Segments of the path as sent: "..%2F.." is one segment, a file
		// name the handlers refuse themselves; "%2e%2e" is a dot segment.
		for seg := range strings.SplitSeq(r.URL.EscapedPath(), "/") {
			if seg, err := url.PathUnescape(seg); err == nil && (seg == "." || seg == "..") {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusBadRequest)
				io.WriteString(w, `{"message":"400 Bad Request - Potential path traversal attempt detected"}`+"\n")
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}
