package bench

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/ciwarden/ciwarden/internal/auth"
	"github.com/ciwarden/ciwarden/internal/testserver"
)

// BenchmarkGetJobDialects is the PostgreSQL row of docs/performance.md and
// issue 14: job-token authentication in one database round trip, and
// GET /api/v4/job on PostgreSQL at >= 0.5 of the same on SQLite, in the
// same run. Two in-process servers, each with one running job: SQLite as
// served (its live-token cache) and PostgreSQL (every request reads the
// token afresh, as replicas must).
//
//   - authenticate/<dialect>: auth.Authenticator.Authenticate with no
//     cache: the job, its project, pipeline and user in one statement.
//   - four-reads/<dialect>: the same facts read one by one (JobByTokenDigest,
//     then auth.LoadJobPrincipal: project, user, pipeline), as every
//     PostgreSQL request did before: the baseline of the join.
//   - interleaved: GET /api/v4/job from 64 keep-alive clients over
//     loopback, alternating between the two servers in chunks of 2,000
//     requests; reports each one's requests/s and p99 and the ratio
//     (target >= 0.5, which fails the benchmark when missed).
//
// It skips without CIWARDEN_TEST_POSTGRES_URL.
//
//	go test ./bench/ -run '^$' -bench BenchmarkGetJobDialects -benchtime 2s -count 3
func BenchmarkGetJobDialects(b *testing.B) {
	jbRequireGit(b)
	envs := map[string]*jbEnv{}
	dialects := []string{"sqlite", "postgres"}
	for _, d := range dialects {
		s := testserver.New(b, testserver.Options{Dialect: d, RootToken: jbRootToken, Measure: true})
		envs[d] = jbLiveJob(b, s)
	}
	ctx := context.Background()
	for _, d := range dialects {
		env := envs[d]
		b.Run("authenticate/"+d, func(b *testing.B) {
			for range b.N {
				if err := jbAuthenticate(ctx, env, env.Uncached); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("four-reads/"+d, func(b *testing.B) {
			st := env.Srv.Store()
			for range b.N {
				j, err := st.JobByTokenDigest(ctx, auth.Digest(env.Token))
				if err != nil {
					b.Fatal(err)
				}
				p, err := auth.LoadJobPrincipal(ctx, st, j)
				if err != nil || !p.Live() {
					b.Fatalf("four reads: %v, live %v", err, p != nil && p.Live())
				}
			}
		})
	}

	const clients = 64
	transport := &http.Transport{MaxIdleConns: 4 * clients, MaxIdleConnsPerHost: 4 * clients}
	client := &http.Client{Transport: transport}
	b.Cleanup(transport.CloseIdleConnections)
	// The expected body length of each server's answer.
	wantLen := map[string]int{}
	for _, d := range dialects {
		req := httptest.NewRequest("GET", "/api/v4/job", nil)
		req.Header.Set("JOB-TOKEN", envs[d].Token)
		rec := httptest.NewRecorder()
		envs[d].Handler.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("%s: GET /job: %d", d, rec.Code)
		}
		wantLen[d] = rec.Body.Len()
	}
	var ratios jbRuns
	b.Run("interleaved", func(b *testing.B) {
		var targets [2]jbTarget
		for v, d := range dialects {
			targets[v] = jbTarget{envs[d].URL + "/api/v4/job", "JOB-TOKEN", envs[d].Token, wantLen[d]}
		}
		b.ResetTimer()
		rate, lats := jbAlternate(b, client, targets, clients)
		b.StopTimer()
		if rate[1] == 0 {
			return
		}
		for v, d := range dialects {
			b.ReportMetric(rate[v], "req/s-"+d)
			b.ReportMetric(jbPercentile(lats[v], 0.99), "p99-ms-"+d)
		}
		b.ReportMetric(rate[1]/rate[0], "x-req/s-pg-vs-sqlite")
		ratios.set(b, rate[1]/rate[0])
	})
	if r := ratios.median(); len(ratios) > 0 && r < 0.5 {
		b.Errorf("target missed: GET /job on PostgreSQL at %.2f of SQLite's requests/s, want >= 0.5", r)
	}
}
