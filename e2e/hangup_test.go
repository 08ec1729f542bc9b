package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ciwarden/ciwarden/internal/testserver"
)

// TestClientHangUp: a client that goes away mid-request is recorded as
// 499 (nginx's and GitLab's "client closed request"), in the request log
// at INFO and in ciwarden_http_requests_total, never as a 500 or an ERROR
// line: a runner ending its long poll of POST /jobs/request, and a client
// dropping a package upload halfway.
func TestClientHangUp(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *testserver.Server) {
		runnerToken := testserver.Str(t, s.Expect(t, "POST", api+"/user/runners", s.RootToken,
			map[string]any{"runner_type": "instance_type"}, http.StatusCreated).Object(t), "token")
		s.Remember(runnerToken)
		group := s.CreateGroup(t, "grp", 0, "private")
		projectID := s.CreateProject(t, group, "app", "private").ID

		// The long poll: the first request learns the queue's version,
		// the second is held with it until the runner hangs up. A hang-up
		// before the server read the request leaves no trace at all, so
		// wait longer on each try.
		for wait := 200 * time.Millisecond; !logged(s, `status=499`, `path=/api/v4/jobs/request`); wait *= 2 {
			if wait > 10*time.Second {
				t.Fatalf("no 499 logged for the abandoned long poll:\n%s", s.Log())
			}
			// The queue's version as of now: it moves when the server
			// starts listening for other replicas' jobs, which a loaded
			// machine may do after the first poll.
			held := s.Do(t, "POST", api+"/jobs/request", "", map[string]any{"token": runnerToken})
			if held.Status != http.StatusNoContent {
				t.Fatalf("POST /jobs/request with nothing queued: %d %s", held.Status, held.Body)
			}
			body := fmt.Sprintf(`{"token":%q,"last_update":%q}`, runnerToken, held.Header.Get("X-GitLab-Last-Update"))
			poll := "POST " + api + "/jobs/request HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
				fmt.Sprintf("Content-Length: %d\r\n\r\n%s", len(body), body)
			hangUpAfter(t, s, poll, nil, wait)
		}

		// The upload: 1 MiB of a 64 MiB body, then the client is gone. The
		// blob store's temporary file shows the handler is reading.
		const size = 64 << 20
		put := fmt.Sprintf("PUT %s/projects/%d/packages/generic/pkg/1.0.0/big.bin HTTP/1.1\r\nHost: x\r\nPRIVATE-TOKEN: %s\r\n"+
			"Content-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n", api, projectID, s.RootToken, size)
		hangUpAfter(t, s, put, func(conn net.Conn) {
			chunk := []byte(strings.Repeat("x", 1<<20))
			if _, err := conn.Write(chunk); err != nil {
				t.Fatalf("send the first MiB: %v", err)
			}
			for deadline := time.Now().Add(10 * time.Second); len(pkFiles(t, filepath.Join(s.DataDir, "blobs", ".tmp"))) == 0; time.Sleep(5 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("the upload never reached the blob store")
				}
			}
		}, 0)
		for deadline := time.Now().Add(10 * time.Second); !logged(s, `status=499`, `path=/api/v4/projects/`+testserver.Itoa(projectID)+`/packages/generic/`); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no 499 logged for the abandoned upload:\n%s", s.Log())
			}
		}

		metrics := string(s.Expect(t, "GET", "/metrics", "", nil, http.StatusOK).Body)
		for _, route := range []string{"POST /api/v4/jobs/request", "PUT /api/v4/projects/{id}/packages/generic/{package_name}/{package_version}/{file_name}"} {
			if !regexp.MustCompile(`ciwarden_http_requests_total\{code="499",method="[A-Z]+",route="` + regexp.QuoteMeta(route) + `"\} [1-9]`).MatchString(metrics) {
				t.Errorf("no 499 counted for %s:\n%s", route, requestCounts.FindAllString(metrics, -1))
			}
		}
		if strings.Contains(metrics, `code="500"`) {
			t.Errorf("a hang-up was counted as a 500:\n%s", requestCounts.FindAllString(metrics, -1))
		}
		log := s.Log()
		for _, bad := range []string{"level=ERROR", "status=500"} {
			if strings.Contains(log, bad) {
				t.Errorf("the log has %q after client hang-ups:\n%s", bad, log)
			}
		}
	})
}

// requestCounts are the lines of ciwarden_http_requests_total.
var requestCounts = regexp.MustCompile(`(?m)^ciwarden_http_requests_total\{.*$`)

// hangUpAfter sends a raw request on a connection of its own, runs more
// (if any) to send part of a body, waits, and closes the connection
// without reading an answer.
func hangUpAfter(t *testing.T, s *testserver.Server, head string, more func(net.Conn), wait time.Duration) {
	t.Helper()
	u, err := url.Parse(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatalf("send the request: %v", err)
	}
	if more != nil {
		more(conn)
	}
	time.Sleep(wait)
}

// logged reports whether one line of the server's log has every part.
func logged(s *testserver.Server, parts ...string) bool {
	sc := bufio.NewScanner(strings.NewReader(s.Log()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(sc.Text(), p)
		}
		if all {
			return true
		}
	}
	return false
}
