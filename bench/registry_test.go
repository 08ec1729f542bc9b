package bench

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem"

	"github.com/ciwarden/ciwarden/internal/blob"
	_ "github.com/ciwarden/ciwarden/internal/registry" // the ciwarden-s3 driver
	"github.com/ciwarden/ciwarden/internal/testblob"
	"github.com/ciwarden/ciwarden/internal/testserver"
)

// BenchmarkRegistryLayer pushes a 1 GiB layer to the container registry of
// `ciwarden serve` (a child process: token from /jwt/auth, then the
// embedded registry at /v2/) and pulls it back, and does the same in the
// same run, alternating, against the same Distribution registry code
// alone (handlers.App on the same disk, no token auth, in this process).
// It reports both throughputs, their ratios (docs/performance.md: >= 0.8)
// and ciwarden's RSS growth while it takes the push (<= 64 MiB).
//
//	go test ./bench -run '^$' -bench BenchmarkRegistryLayer -benchtime 1x
//
// CIWARDEN_BENCH_REGISTRY_MIB changes the size (default 1024).
func BenchmarkRegistryLayer(b *testing.B) {
	jbRequireProc(b)
	srv := jbServe(b)
	dir := filepath.Join(filepath.Dir(srv.DataDir), "bare-registry")
	rgbLayer(b, srv, rgbBare(b, "filesystem", configuration.Parameters{"rootdirectory": dir}))
}

// BenchmarkRegistryLayerS3 is BenchmarkRegistryLayer with the images in
// S3 (versitygw on loopback): ciwarden with --s3-*, and the same
// Distribution registry code alone on ciwarden's S3 driver, in the same
// bucket under a prefix of its own.
//
//	go test ./bench -run '^$' -bench BenchmarkRegistryLayerS3 -benchtime 1x
func BenchmarkRegistryLayerS3(b *testing.B) {
	jbRequireProc(b)
	g := testblob.Start(b)
	srv := testserver.New(b, testserver.Options{Process: true, DefaultDB: true, RootToken: jbRootToken, S3: g})
	store, err := blob.NewS3(context.Background(), blob.S3Config{Endpoint: g.Endpoint, Bucket: g.Bucket,
		AccessKey: g.AccessKey, SecretKey: g.SecretKey, Region: g.Region, Prefix: "bare"})
	if err != nil {
		b.Fatal(err)
	}
	rgbLayer(b, srv, rgbBare(b, "ciwarden-s3", configuration.Parameters{"store": store}))
}

// rgbLayer pushes and pulls the layer through ciwarden (srv) and the
// registry alone (bare), alternating, and reports and checks the figures.
func rgbLayer(b *testing.B, srv *testserver.Server, bare string) {
	size := int64(jbEnvInt(b, "CIWARDEN_BENCH_REGISTRY_MIB", 1024)) << 20
	project := srv.CreateProject(b, 0, "bench-registry", "private")
	repo := project.Path
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	defer client.CloseIdleConnections()

	h := sha256.New()
	io.Copy(h, &pkbSource{block: pkbBlock, left: size})
	digest := "sha256:" + hex.EncodeToString(h.Sum(nil))

	var ours, theirs pkbTimes
	var rssGrowth int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		auth := http.Header{"Authorization": {"Bearer " + rgbToken(b, client, srv.URL, repo)}}
		before := pkbStatusKiB(srv.Pid(), "VmRSS")
		peak := pkbSampleRSS(srv.Pid())
		ours.up += rgbPush(b, client, srv.URL, repo, digest, auth, size)
		rssGrowth = max(rssGrowth, peak()-before)
		ours.down += pkbDownload(b, client, srv.URL+"/v2/"+repo+"/blobs/"+digest, auth, size)

		theirs.up += rgbPush(b, client, bare, repo, digest, nil, size)
		theirs.down += pkbDownload(b, client, bare+"/v2/"+repo+"/blobs/"+digest, nil, size)
	}
	b.StopTimer()
	mb := float64(size) * float64(b.N) / 1e6
	upRatio, downRatio := theirs.up.Seconds()/ours.up.Seconds(), theirs.down.Seconds()/ours.down.Seconds()
	b.ReportMetric(mb/ours.up.Seconds(), "ciwarden-push-MB/s")
	b.ReportMetric(mb/theirs.up.Seconds(), "bare-push-MB/s")
	b.ReportMetric(upRatio, "push-ratio")
	b.ReportMetric(mb/ours.down.Seconds(), "ciwarden-pull-MB/s")
	b.ReportMetric(mb/theirs.down.Seconds(), "bare-pull-MB/s")
	b.ReportMetric(downRatio, "pull-ratio")
	b.ReportMetric(float64(rssGrowth)/1024, "rss-growth-MiB")
	for _, c := range []struct {
		what  string
		ok    bool
		value string
	}{
		{"push ratio >= 0.8", upRatio >= 0.8, fmt.Sprintf("%.2f", upRatio)},
		{"pull ratio >= 0.8", downRatio >= 0.8, fmt.Sprintf("%.2f", downRatio)},
		{"RSS growth <= 64 MiB", rssGrowth <= 64<<10, fmt.Sprintf("%.1f MiB", float64(rssGrowth)/1024)},
	} {
		if !c.ok {
			b.Errorf("target missed: %s (measured %s)", c.what, c.value)
		}
	}
}

// rgbBare is the Distribution registry alone, on the named storage
// driver, in this process.
func rgbBare(b *testing.B, driver string, params configuration.Parameters) string {
	b.Helper()
	c := &configuration.Configuration{Storage: configuration.Storage{driver: params}}
	c.HTTP.Secret = "bench"
	c.HTTP.RelativeURLs = true
	c.Log.AccessLog.Disabled = true
	app := handlers.NewApp(context.Background(), c)
	ts := httptest.NewServer(app)
	b.Cleanup(ts.Close)
	return ts.URL
}

// rgbToken asks ciwarden's token service for push and pull on repo, as
// root (a docker login's second step).
func rgbToken(b *testing.B, c *http.Client, base, repo string) string {
	b.Helper()
	q := url.Values{"service": {"container_registry"}, "scope": {"repository:" + repo + ":pull,push"}}
	req, _ := http.NewRequest(http.MethodGet, base+"/jwt/auth?"+q.Encode(), nil)
	req.SetBasicAuth("root", jbRootToken)
	resp, err := c.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || tok.Token == "" {
		b.Fatalf("/jwt/auth: %d %v", resp.StatusCode, err)
	}
	return tok.Token
}

// rgbPush uploads a blob as clients do in one piece: POST to open the
// upload, PUT the whole body with its digest. It times both.
func rgbPush(b *testing.B, c *http.Client, base, repo, digest string, auth http.Header, size int64) time.Duration {
	b.Helper()
	start := time.Now()
	req, _ := http.NewRequest(http.MethodPost, base+"/v2/"+repo+"/blobs/uploads/", nil)
	for k, v := range auth {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusAccepted || loc == "" {
		b.Fatalf("POST %s: %d", base, resp.StatusCode)
	}
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	if strings.HasPrefix(loc, "/") {
		loc = base + loc
	}
	pkbUpload(b, c, loc+sep+"digest="+url.QueryEscape(digest), auth, size, http.StatusCreated)
	return time.Since(start)
}
