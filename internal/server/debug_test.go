package server_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/ciwarden/ciwarden/internal/testserver"
)

// TestDebugListen: Go's profiles are served only with --debug-listen, on
// that address alone; the main listener answers GitLab's 404 there
// whether or not it is set.
func TestDebugListen(t *testing.T) {
	get := func(url string) (int, string) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, string(body)
	}
	mainAnswers404 := func(s *testserver.Server) {
		t.Helper()
		for _, p := range []string{"/debug/pprof/", "/debug/pprof/heap", "/debug/pprof/cmdline"} {
			if code, body := get(s.URL + p); code != http.StatusNotFound {
				t.Errorf("main listener GET %s: %d %q; want 404", p, code, body)
			}
		}
	}

	t.Run("off by default", func(t *testing.T) {
		s := testserver.New(t, testserver.Options{Run: true})
		if a := s.Srv.DebugAddr(); a != "" {
			t.Fatalf("DebugAddr %q without --debug-listen", a)
		}
		mainAnswers404(s)
	})

	t.Run("on when set", func(t *testing.T) {
		s := testserver.New(t, testserver.Options{Run: true, DebugListen: "127.0.0.1:0"})
		base := "http://" + s.Srv.DebugAddr()
		if code, body := get(base + "/debug/pprof/"); code != http.StatusOK || !strings.Contains(body, "goroutine") {
			t.Fatalf("GET /debug/pprof/: %d %.200q; want 200 and the profiles' index", code, body)
		}
		if code, body := get(base + "/debug/pprof/goroutine?debug=1"); code != http.StatusOK || !strings.Contains(body, "goroutine profile:") {
			t.Fatalf("GET /debug/pprof/goroutine: %d %.200q; want 200 and the goroutines", code, body)
		}
		if code, _ := get(base + "/api/v4/projects"); code != http.StatusNotFound {
			t.Fatalf("the debug listener answers the API: %d, want 404", code)
		}
		mainAnswers404(s)
	})
}
