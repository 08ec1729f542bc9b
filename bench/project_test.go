package bench

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/ciwarden/ciwarden/internal/testserver"
)

// BenchmarkGetProjectConcurrent is GET /api/v4/projects/:id by a Developer
// (not an administrator) of a private project in a private group, with a
// personal access token in PRIVATE-TOKEN, on SQLite, from 64 concurrent
// keep-alive clients over loopback, interleaved in chunks of requests with
// a bare net/http handler that writes the same status, headers and bytes
// (issue 14's row, measured as BenchmarkGetJobConcurrent measures GET
// /job). The server logs every request at info level (testserver's
// Measure), so the request line is counted. Targets (docs/performance.md),
// on the median of the runs: >= 50% of the bare handler's requests/s, p99
// <= 2x its p99.
//
//	go test ./bench/ -run '^$' -bench BenchmarkGetProjectConcurrent -benchtime 40000x -count 3
//
// Costs do not grow with the number of tokens, users or projects: the
// token, the project and the caller's level are one map lookup each on
// SQLite (kept exact by the store's change feed), one indexed read each
// on a miss.
func BenchmarkGetProjectConcurrent(b *testing.B) {
	const clients = 64
	s := testserver.New(b, testserver.Options{Measure: true})
	h := s.Srv.Handler()
	dev := s.CreateUser(b, "dev")
	projectID := s.CreateProject(b, s.CreateGroup(b, "bench", 0, "private"), "app", "private").ID
	s.AddMember(b, "projects", projectID, dev.ID, 30)
	path := fmt.Sprintf("/api/v4/projects/%d", projectID)

	// The bare handler replays the answer captured once.
	body, bare := jbReplay(b, h, path, "PRIVATE-TOKEN", dev.Token)
	transport := &http.Transport{MaxIdleConns: 4 * clients, MaxIdleConnsPerHost: 4 * clients}
	client := &http.Client{Transport: transport}
	b.Cleanup(transport.CloseIdleConnections)

	var rateRatio, p99Ratio jbRuns
	b.Run("interleaved", func(b *testing.B) {
		r, p := jbInterleaved(b, client, bare, h, path, "PRIVATE-TOKEN", dev.Token, len(body), clients)
		rateRatio.set(b, r)
		p99Ratio.set(b, p)
	})
	if r := rateRatio.median(); len(rateRatio) > 0 && r < 0.50 {
		b.Errorf("target missed: %.2f of the bare handler's requests/s, want >= 0.50", r)
	}
	if r := p99Ratio.median(); len(p99Ratio) > 0 && r > 2 {
		b.Errorf("target missed: p99 %.2fx the bare handler's, want <= 2x", r)
	}
}
