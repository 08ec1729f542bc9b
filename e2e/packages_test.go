package e2e

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ciwarden/ciwarden/internal/testserver"
)

// TestPackageUploadKilled: a server killed (SIGKILL) in the middle of a
// generic package upload leaves no visible package file. After a restart
// on the same data directory and database the file is 404, the package is
// not listed, no file row exists, and a fresh upload of the same file
// works. On both databases, with filesystem blobs and with S3.
func TestPackageUploadKilled(t *testing.T) {
	forEachStorage(t, nil, func(t *testing.T, s *testserver.Server) {
		group := s.CreateGroup(t, "grp", 0, "private")
		projectID := s.CreateProject(t, group, "app", "private").ID
		file := api + "/projects/" + testserver.Itoa(projectID) + "/packages/generic/tool/1.0/tool.bin"

		// A chunked upload fed slowly through a pipe: the server has taken
		// several MiB, and is waiting for more, when it is killed.
		pr, feed := io.Pipe()
		req := s.NewRequest(t, "PUT", file, s.RootToken, nil)
		req.Body = pr
		req.ContentLength = -1
		killDuringUpload(t, s, req, feed, []byte("partial upload "))

		s = s.Restart(t)
		checkJSON(t, s.Do(t, "GET", file, s.RootToken, nil), `{"message":"404 Package Not Found"}`)
		r := s.Expect(t, "GET", api+"/projects/"+testserver.Itoa(projectID)+"/packages", s.RootToken, nil, http.StatusOK)
		if l := r.List(t); len(l) != 0 || r.Header.Get("X-Total") != "0" {
			t.Fatalf("packages listed after the killed upload: %s (X-Total %s)", r.Body, r.Header.Get("X-Total"))
		}
		db, _ := s.OpenDB(t)
		var files int
		if err := db.QueryRow("SELECT COUNT(*) FROM package_files").Scan(&files); err != nil {
			t.Fatal(err)
		}
		if files != 0 {
			t.Fatalf("%d package file rows after the killed upload", files)
		}
		if s.Storage == "fs" {
			// The partial file lived in the store's temporary directory,
			// which startup empties; nothing was ever published.
			if left := pkFiles(t, filepath.Join(s.DataDir, "blobs")); len(left) != 0 {
				t.Fatalf("blob files left after the killed upload and a restart: %v", left)
			}
		}

		// The same file uploads and downloads normally now.
		body := bytes.Repeat([]byte("complete "), 100_000)
		put := s.NewRequest(t, "PUT", file, s.RootToken, nil)
		put.Body, put.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
		checkJSON(t, s.MakeRequest(t, put, http.StatusCreated), `{"message":"201 Created"}`)
		got := s.Expect(t, "GET", file, s.RootToken, nil, http.StatusOK)
		if !bytes.Equal(got.Body, body) {
			t.Fatalf("downloaded %d bytes, want the %d uploaded", len(got.Body), len(body))
		}
		if l := s.Expect(t, "GET", api+"/projects/"+testserver.Itoa(projectID)+"/packages", s.RootToken, nil, http.StatusOK).List(t); len(l) != 1 {
			t.Fatalf("packages after a fresh upload: %v", l)
		}
	})
}

// killDuringUpload sends req, whose body the test feeds through feed,
// and SIGKILLs the server once it has taken 8 chunks of 65,536 repetitions of
// pattern (with filesystem blobs: once the blob store's temporary file
// exists, proof that the kill lands mid-upload). It returns when the
// client has seen the upload fail.
func killDuringUpload(t *testing.T, s *testserver.Server, req *http.Request, feed *io.PipeWriter, pattern []byte) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		_, err := s.Try(req)
		done <- err
	}()
	chunk := bytes.Repeat(pattern, 64<<10) // ~1 MiB
	for range 8 {
		if _, err := feed.Write(chunk); err != nil {
			t.Fatalf("the server stopped reading the upload early: %v", err)
		}
	}
	if s.Storage == "fs" {
		deadline := time.Now().Add(10 * time.Second)
		for len(pkFiles(t, filepath.Join(s.DataDir, "blobs", ".tmp"))) == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("no upload in progress in the blob store")
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	s.Kill(t) // by this test's own child PID, on purpose: no complaint at the end
	feed.CloseWithError(errors.New("server killed"))
	select {
	case err := <-done:
		if err == nil {
			t.Fatalf("the upload succeeded although the server was killed mid-stream")
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the interrupted upload never returned")
	}
}

// pkFiles lists the regular files under dir, temporaries included, but
// not the blob directory's storage marker (docs/scaling.md), which holds
// no upload.
func pkFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.Type().IsRegular() && d.Name() != ".ciwarden-storage-id" {
			out = append(out, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
