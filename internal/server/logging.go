package server

import (
	"io"
	"log/slog"
	"strings"
)

// sensitiveKeys are log attribute names whose values are always replaced:
// credentials and anything that may carry one.
var sensitiveKeys = map[string]bool{
	"authorization": true, "private-token": true, "private_token": true, "job-token": true, "job_token": true,
	"token": true, "password": true, "query": true, "raw_query": true, "secret": true,
}

// NewLogger is the structured logger every component uses. It redacts
// sensitive attributes by name, wherever they are logged from.
func NewLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if sensitiveKeys[strings.ToLower(a.Key)] && a.Value.String() != "" {
				return slog.String(a.Key, "[REDACTED]")
			}
			return a
		},
	}))
}

// discardLogger is for components built without one.
func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
