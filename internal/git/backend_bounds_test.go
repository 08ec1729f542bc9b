package git_test

import (
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ciwarden/ciwarden/internal/git"
)

// TestBackendClientGone (issue 13, item 1): git http-backend and the
// upload-pack it starts end when the client hangs up, whether it stops
// reading a pack larger than a pipe buffer, reads nothing, or sends half
// a request; no git process is left running or unreaped. The push of an
// 8 MiB file is itself a regression test: git sends a push larger than its
// http.postBuffer (1 MiB) chunked, which net/http/cgi refused with 400.
func TestBackendClientGone(t *testing.T) {
	e := newEnv(t)
	work := filepath.Join(t.TempDir(), "work")
	e.g.run("", "clone", "--quiet", e.url("alice", e.repoPath+".git"), work)
	random := make([]byte, 8<<20) // incompressible: the pack is as large
	rand.Read(random)
	head := e.g.commit(work, "big", map[string]string{"big.bin": string(random)})
	e.g.run(work, "push", "--quiet", "origin", "main")
	e.rec.take(t)
	git.WaitNoChildProcesses(t, "after the push")

	pkt := func(s string) string { return fmt.Sprintf("%04x%s", len(s)+4, s) }
	request := pkt("want "+head+" ofs-delta\n") + "0000" + pkt("done\n")
	for _, tc := range []struct {
		name string
		body string
		read int // bytes of the response read before hanging up
	}{
		{"stops reading the pack", request, 4096},
		{"reads nothing", request, 0},
		{"sends half a request", request[:20], 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body, feed := io.Pipe()
			req, err := http.NewRequest("POST", e.ts.URL+"/"+e.repoPath+".git/git-upload-pack", body)
			if err != nil {
				t.Fatal(err)
			}
			req.SetBasicAuth("oauth2", e.tokens["alice"])
			req.Header.Set("Content-Type", "application/x-git-upload-pack-request")
			client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
			defer client.CloseIdleConnections()
			go func() {
				io.WriteString(feed, tc.body)
				if tc.body != request {
					// Let the handler start git on the half request,
					// then hang up mid-body.
					time.Sleep(300 * time.Millisecond)
					feed.CloseWithError(io.ErrUnexpectedEOF)
					return
				}
				feed.Close()
			}()
			resp, err := client.Do(req)
			if tc.body != request {
				if err == nil {
					resp.Body.Close()
					t.Errorf("a request whose body broke off answered %d", resp.StatusCode)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("upload-pack answered %d", resp.StatusCode)
				}
				if n, _ := io.CopyN(io.Discard, resp.Body, int64(tc.read)); n != int64(tc.read) {
					t.Fatalf("read %d bytes of the pack, want %d", n, tc.read)
				}
				resp.Body.Close() // unread: the connection is closed
			}
			git.WaitNoChildProcesses(t, "after the client hung up ("+tc.name+")")
		})
	}
	if got := e.g.run("", "ls-remote", e.url("alice", e.repoPath+".git"), "refs/heads/main"); !strings.HasPrefix(got, head) {
		t.Errorf("ls-remote after the hang-ups: %q, want main at %s", got, head)
	}
}
