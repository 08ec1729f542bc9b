package registry

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/sirupsen/logrus"
)

// The registry logs through logrus's standard logger, a process-wide
// value that ignores the registry configuration's level. Its entries are
// routed into ciwarden's slog, at ciwarden's level: logrus's own output is
// discarded and a hook hands each entry to the logger of the registry
// started last (one a process outside tests).
//
// The registry is louder than ciwarden: it logs every client error
// ("blob unknown", an unauthenticated first request) as an error or a
// warning and every request as info, which ciwarden's request log already
// has; so an answer 4xx is debug here, its other errors warnings, its
// warnings info, its info debug. Only fields known to hold no secret pass: never the request's
// URI (an upload's state), headers or anything else.
var (
	logTarget  atomic.Pointer[slog.Logger]
	installLog sync.Once
)

// passedFields are the registry's log fields that reach ciwarden's log.
var passedFields = map[string]bool{
	"err.code": true, "err.message": true, "err.detail": true, "error": true,
	"http.request.method": true, "http.response.status": true, "vars.name": true,
	"vars.reference": true, "vars.digest": true, "auth.user.name": true,
}

func routeLogs(log *slog.Logger) {
	logTarget.Store(log)
	installLog.Do(func() {
		std := logrus.StandardLogger()
		std.SetOutput(io.Discard)
		// The hook has the entry; logrus's own text would be thrown away.
		std.SetFormatter(nopFormatter{})
		std.AddHook(slogHook{})
	})
	// What ciwarden's level lets through: the registry's info is debug
	// here, its warnings info; below that logrus need not build entries
	// at all (one a request).
	level := logrus.WarnLevel
	if log.Enabled(context.Background(), slog.LevelDebug) {
		level = logrus.DebugLevel
	}
	logrus.StandardLogger().SetLevel(level)
}

type nopFormatter struct{}

func (nopFormatter) Format(*logrus.Entry) ([]byte, error) { return nil, nil }

type slogHook struct{}

func (slogHook) Levels() []logrus.Level { return logrus.AllLevels }

func (slogHook) Fire(e *logrus.Entry) error {
	log := logTarget.Load()
	if log == nil {
		return nil
	}
	level := slog.LevelDebug
	switch {
	case clientError(e.Data["http.response.status"]):
		// A client's mistake (an unknown blob, a missing token): the
		// request log has its status.
	case e.Level <= logrus.ErrorLevel:
		level = slog.LevelWarn
	case e.Level == logrus.WarnLevel:
		level = slog.LevelInfo
	}
	ctx := context.Background()
	if !log.Enabled(ctx, level) {
		return nil
	}
	attrs := make([]slog.Attr, 0, 4)
	for k, v := range e.Data {
		if passedFields[k] {
			attrs = append(attrs, slog.String(k, fmt.Sprint(v)))
		}
	}
	log.LogAttrs(ctx, level, "registry: "+e.Message, attrs...)
	return nil
}

func clientError(status any) bool {
	n, ok := status.(int)
	return ok && n >= 400 && n < 500
}
