package testserver

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"slices"
	"testing"

	"github.com/ciwarden/ciwarden/internal/blob"
)

// Zip builds a zip holding files, names taken as they are (so that
// hostile names can be written too).
func Zip(t testing.TB, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: n, Method: zip.Deflate})
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, files[n])
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// ArtifactMultipart is the runner's upload body: one field, file. It
// returns the Content-Type and the body.
func ArtifactMultipart(t testing.TB, filename string, data []byte) (string, []byte) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, err := mw.CreateFormFile("file", filename)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(data)
	mw.Close()
	return mw.FormDataContentType(), buf.Bytes()
}

// OnlyReader hides a reader's length, so that a request goes chunked.
type OnlyReader struct{ io.Reader }

// UploadArtifact is POST /jobs/:id/artifacts as gitlab-runner sends it;
// chunked sends no Content-Length.
func (s *Server) UploadArtifact(t testing.TB, jobID int64, token, query string, data []byte, chunked bool) *Resp {
	t.Helper()
	ct, body := ArtifactMultipart(t, "artifacts.zip", data)
	return s.UploadArtifactRaw(t, jobID, token, query, ct, body, chunked)
}

// UploadArtifactRaw is UploadArtifact with the body and its Content-Type
// as given.
func (s *Server) UploadArtifactRaw(t testing.TB, jobID int64, token, query, ct string, body []byte, chunked bool) *Resp {
	t.Helper()
	var rd io.Reader = bytes.NewReader(body)
	if chunked {
		rd = OnlyReader{rd}
	}
	req, err := http.NewRequest("POST", s.URL+API+"/jobs/"+Itoa(jobID)+"/artifacts?"+query, rd)
	if err != nil {
		t.Fatal(err)
	}
	if chunked && req.ContentLength != -1 && req.ContentLength != 0 {
		t.Fatalf("request not chunked: %d", req.ContentLength)
	}
	req.Header.Set("Content-Type", ct)
	req.Header.Set("User-Agent", RunnerUserAgent)
	if token != "" {
		req.Header.Set("JOB-TOKEN", token)
	}
	return s.Send(t, req)
}

// GetWith is a GET of path with one header (name: value), or none when
// name is "".
func (s *Server) GetWith(t testing.TB, path, name, value string) *Resp {
	t.Helper()
	req := s.NewRequest(t, "GET", path, "", nil)
	if name != "" {
		req.Header.Set(name, value)
	}
	return s.Send(t, req)
}

// WantStatus fails the test unless r has status.
func WantStatus(t testing.TB, r *Resp, status int) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("%s: want %d", r, status)
	}
}

// ArtifactBlobs lists the artifact blobs of a project (in process).
func (s *Server) ArtifactBlobs(t testing.TB, projectID int64) []string {
	t.Helper()
	var keys []string
	for info, err := range s.Srv.Blobs().List(context.Background(), blob.ProjectPrefix(projectID)+"artifacts/") {
		if err != nil {
			t.Fatalf("list blobs: %v", err)
		}
		keys = append(keys, info.Key)
	}
	return keys
}

// ArtifactRows lists a job's artifact rows as type=size (in process).
func (s *Server) ArtifactRows(t testing.TB, jobID int64) []string {
	t.Helper()
	arts, err := s.Srv.Store().JobArtifacts(context.Background(), jobID)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, a := range arts {
		out = append(out, fmt.Sprintf("%s=%d", a.FileType, a.Size))
	}
	return out
}

// NoArtifactsStored checks that a job has no artifact row and its project
// no artifact blob at all.
func (s *Server) NoArtifactsStored(t testing.TB, projectID, jobID int64, what string) {
	t.Helper()
	if rows := s.ArtifactRows(t, jobID); len(rows) != 0 {
		t.Errorf("%s: artifact rows %v, want none", what, rows)
	}
	if keys := s.ArtifactBlobs(t, projectID); len(keys) != 0 {
		t.Errorf("%s: artifact blobs %v, want none", what, keys)
	}
}
