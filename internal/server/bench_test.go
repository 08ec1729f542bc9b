package server_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/ciwarden/ciwarden/internal/testserver"
)

// BenchmarkGetProject measures GET /api/v4/projects/:id as a non-admin
// Developer of a private project, authenticated by PRIVATE-TOKEN, on
// SQLite, against a handler that only writes the same bytes:
//
//   - ciwarden: srv.Handler() over loopback HTTP (httptest.NewServer);
//   - bare: an http.HandlerFunc writing the captured response (same
//     status, headers and body) over loopback HTTP, driven identically;
//   - ciwarden-inprocess: srv.Handler() with httptest.NewRecorder, no
//     network.
//
// The two loopback variants share one keep-alive client and run under
// b.RunParallel; the difference between them is ciwarden's own cost per
// request (routing, token lookup, project and access-level queries,
// authz.Decide, JSON encoding, request log and metrics). The server logs
// each request at info level (testserver's Measure: to a buffered file,
// checked when the benchmark ends), so log formatting is counted.
func BenchmarkGetProject(b *testing.B) {
	s := testserver.New(b, testserver.Options{Measure: true})
	h := s.Srv.Handler()

	// A private group with a private project; dev is a direct Developer of
	// the project and nothing else.
	dev := s.CreateUser(b, "dev")
	projectID := s.CreateProject(b, s.CreateGroup(b, "bench", 0, "private"), "app", "private").ID
	s.AddMember(b, "projects", projectID, dev.ID, 30)
	devToken := dev.Token
	path := fmt.Sprintf("/api/v4/projects/%d", projectID)

	// Capture the response once; the bare handler replays it.
	req := httptest.NewRequest("GET", path, nil)
	req.Header.Set("PRIVATE-TOKEN", devToken)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		b.Fatalf("GET %s as dev: %d %s", path, rec.Code, rec.Body.String())
	}
	body := bytes.Clone(rec.Body.Bytes())
	header := rec.Header().Clone()
	bare := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hdr := w.Header()
		for k, v := range header {
			hdr[k] = v
		}
		w.WriteHeader(http.StatusOK)
		w.Write(body)
	})

	transport := &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 1024}
	client := &http.Client{Transport: transport}
	b.Cleanup(transport.CloseIdleConnections)

	overHTTP := func(handler http.Handler) func(b *testing.B) {
		return func(b *testing.B) {
			ts := httptest.NewServer(handler)
			defer ts.Close()
			defer transport.CloseIdleConnections()
			url := ts.URL + path
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req, err := http.NewRequest("GET", url, nil)
					if err != nil {
						b.Error(err)
						return
					}
					req.Header.Set("PRIVATE-TOKEN", devToken)
					resp, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					n, err := io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err != nil || resp.StatusCode != http.StatusOK || n != int64(len(body)) {
						b.Errorf("status %d, %d bytes (want %d), err %v", resp.StatusCode, n, len(body), err)
						return
					}
				}
			})
			reportRate(b)
		}
	}
	b.Run("ciwarden", overHTTP(h))
	b.Run("bare", overHTTP(bare))
	b.Run("ciwarden-inprocess", func(b *testing.B) {
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				req := httptest.NewRequest("GET", path, nil)
				req.Header.Set("PRIVATE-TOKEN", devToken)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK || rec.Body.Len() != len(body) {
					b.Errorf("status %d, %d bytes (want %d)", rec.Code, rec.Body.Len(), len(body))
					return
				}
			}
		})
		reportRate(b)
	})
}

// reportRate adds requests per second over the timed part of the run.
func reportRate(b *testing.B) {
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(b.N)/s, "req/s")
	}
}
