package server_test

import (
	"bytes"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/ciwarden/ciwarden/internal/server"
)

// TestLoggerMasksTokens: the server's logger masks token words, URL
// passwords and credential query parameters in messages, string values
// and errors, whoever logs them.
func TestLoggerMasksTokens(t *testing.T) {
	var buf bytes.Buffer
	log := server.NewLogger(&buf, slog.LevelDebug)
	secret := "cwjob-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcdEFGH"
	log.Info("failed for "+secret, "url", "https://gitlab-ci-token:hunter2hunter2@host/x.git",
		"err", io.ErrUnexpectedEOF, "detail", "GET /api/v4/job?job_token=supersecretvalue&x=1")
	log.With("token_value", secret).Warn("with attrs")
	out := buf.String()
	for _, leak := range []string{secret[6:], "hunter2hunter2", "supersecretvalue"} {
		if strings.Contains(out, leak) {
			t.Errorf("log leaks %q:\n%s", leak, out)
		}
	}
	for _, want := range []string{"cwjob-[MASKED]", "gitlab-ci-token:[MASKED]@host", "job_token=[MASKED]", "unexpected EOF"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
}
