package server

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"

	"github.com/ciwarden/ciwarden/internal/auth"
	"github.com/ciwarden/ciwarden/internal/mask"
)

// sensitiveKeys are log attribute names whose values are always replaced:
// credentials and anything that may carry one.
var sensitiveKeys = map[string]bool{
	"authorization": true, "private-token": true, "private_token": true, "job-token": true, "job_token": true,
	"token": true, "password": true, "query": true, "raw_query": true, "secret": true,
}

// NewLogger is the structured logger every component uses. It redacts
// sensitive attributes by name, and masks tokens in every message and
// string value (a token pasted into an error, a URL with a password) with
// the same masker as job logs, wherever they are logged from.
func NewLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(&maskingHandler{next: slog.NewTextHandler(w, &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if sensitiveKeys[strings.ToLower(a.Key)] && a.Value.String() != "" {
				return slog.String(a.Key, "[REDACTED]")
			}
			return a
		},
	}), m: logMasker, clean: &cleanSet{m: map[string]struct{}{}}})
}

// logMasker hides every word with a token prefix, URL passwords and
// credential query parameters.
var logMasker = func() *mask.Masker {
	m, err := mask.Compile(mask.Rules{Prefixes: append(mask.DefaultPrefixes(), auth.JobTokenPrefix, auth.PATPrefix),
		URLCredentials: true, QueryParams: mask.DefaultQueryParams()})
	if err != nil {
		panic(err) // fixed rules: a failure is a programming error
	}
	return m
}()

type maskingHandler struct {
	next  slog.Handler
	m     *mask.Masker
	clean *cleanSet
}

// cleanSet remembers short strings the masker left unchanged, so that the
// words every request line repeats (its message, method, path, the
// client's address) are looked up instead of masked again: the request
// line through the masker was an eighth of GET /job's cost (issue 14). The
// masker is a pure function of the string, so a string once clean is
// always clean; only clean strings are kept (in memory, never written
// anywhere), bounded in length and number.
type cleanSet struct {
	mu sync.RWMutex
	m  map[string]struct{}
}

const (
	maxCleanLen     = 256
	maxCleanStrings = 4096
)

// mask is the masker's answer for s.
func (h *maskingHandler) mask(s string) string {
	if len(s) > maxCleanLen {
		return h.m.MaskString(s)
	}
	h.clean.mu.RLock()
	_, ok := h.clean.m[s]
	h.clean.mu.RUnlock()
	if ok {
		return s
	}
	out := h.m.MaskString(s)
	if out == s {
		h.clean.mu.Lock()
		if len(h.clean.m) >= maxCleanStrings {
			clear(h.clean.m)
		}
		h.clean.m[s] = struct{}{}
		h.clean.mu.Unlock()
	}
	return out
}

func (h *maskingHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

func (h *maskingHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, h.mask(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.maskAttr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h *maskingHandler) maskAttr(a slog.Attr) slog.Attr {
	switch a.Value.Kind() {
	case slog.KindString:
		return slog.String(a.Key, h.mask(a.Value.String()))
	case slog.KindAny:
		if err, ok := a.Value.Any().(error); ok {
			return slog.String(a.Key, h.m.MaskString(err.Error()))
		}
	case slog.KindGroup:
		var attrs []any
		for _, g := range a.Value.Group() {
			attrs = append(attrs, h.maskAttr(g))
		}
		return slog.Group(a.Key, attrs...)
	}
	return a
}

func (h *maskingHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	masked := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		masked[i] = h.maskAttr(a)
	}
	return &maskingHandler{next: h.next.WithAttrs(masked), m: h.m, clean: h.clean}
}

func (h *maskingHandler) WithGroup(name string) slog.Handler {
	return &maskingHandler{next: h.next.WithGroup(name), m: h.m, clean: h.clean}
}

// discardLogger is for components built without one.
func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
