package registry

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
)

// TestRouteLogs: the registry's logrus entries reach ciwarden's slog at
// the mapped level, with only the fields known to hold no secret.
func TestRouteLogs(t *testing.T) {
	var buf bytes.Buffer
	routeLogs(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})))
	defer logTarget.Store(nil)
	e := logrus.WithField("http.request.uri", "/v2/g/p/blobs/uploads/x?_state=SECRETSTATE").WithField("err.code", "blob unknown")
	e.Error("storage failed")
	e.WithField("http.response.status", 404).Error("response completed with error")
	e.Info("response completed")
	e.Warn("error authorizing context")
	out := buf.String()
	for _, want := range []string{`level=WARN msg="registry: storage failed"`, `err.code="blob unknown"`,
		`level=INFO msg="registry: error authorizing context"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s:\n%s", want, out)
		}
	}
	for _, never := range []string{"SECRETSTATE", "http.request.uri", "response completed"} {
		if strings.Contains(out, never) {
			t.Errorf("log has %s (a 4xx and info are debug; the URI never):\n%s", never, out)
		}
	}
}
