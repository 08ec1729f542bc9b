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

// TestLoggerMasksRepeatedLines: the strings the logger remembers as clean
// (the words request lines repeat) never let a secret through: a line
// logged again, a clean word then a secret in the same attribute, and
// many distinct clean strings (the set is bounded and starts again) are
// all masked as the first time.
func TestLoggerMasksRepeatedLines(t *testing.T) {
	var buf bytes.Buffer
	log := server.NewLogger(&buf, slog.LevelInfo)
	secret := "glpat-" + strings.Repeat("Zx9", 8)
	for i := range 5000 {
		log.Info("request", "method", "GET", "path", "/api/v4/job", "n", i, "remote", "127.0.0.1:"+strings.Repeat("1", i%7+1))
		if i%1000 == 0 {
			log.Info("request", "method", "GET", "path", "/api/v4/projects/"+secret)
			log.Info("request " + secret)
		}
	}
	out := buf.String()
	if strings.Contains(out, secret[6:]) {
		t.Fatalf("log leaks the token")
	}
	if got, want := strings.Count(out, "glpat-[MASKED]"), 10; got != want {
		t.Errorf("%d masked tokens in the log, want %d", got, want)
	}
	if got := strings.Count(out, "path=/api/v4/job "); got != 5000 {
		t.Errorf("%d clean request lines, want 5000", got)
	}
}
