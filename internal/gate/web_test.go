package gate

import (
	"net/http/httptest"
	"strings"
	"testing"
)

// TestCookieAttributes: the web UI's cookies are HttpOnly and
// SameSite=Lax always, Secure exactly when the server is reached over
// https (issue 19).
func TestCookieAttributes(t *testing.T) {
	for url, secure := range map[string]bool{"https://ci.example.com": true, "http://127.0.0.1:8080": false} {
		rec := httptest.NewRecorder()
		(&Gate{ExternalURL: url}).SetCookie(&Ctx{W: rec}, "_ciwarden_session", "v", 60)
		c := rec.Header().Get("Set-Cookie")
		if !strings.Contains(c, "HttpOnly") || !strings.Contains(c, "SameSite=Lax") || strings.Contains(c, "Secure") != secure {
			t.Errorf("external URL %s: Set-Cookie %q, want HttpOnly, SameSite=Lax and Secure=%v", url, c, secure)
		}
	}
}
