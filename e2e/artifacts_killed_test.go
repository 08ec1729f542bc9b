package e2e

import (
	"archive/zip"
	"bytes"
	"io"
	"mime/multipart"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/ciwarden/ciwarden/internal/testserver"
)

// TestArtifactUploadKilled: a server killed (SIGKILL) in the middle of a
// runner's artifact upload leaves no visible artifact. After a restart on
// the same data directory and database the job has no artifacts (404, no
// artifacts_file, no row, no blob), and the runner's retry of the upload
// works. On both databases, with filesystem blobs and with S3.
func TestArtifactUploadKilled(t *testing.T) {
	forEachStorage(t, nil, func(t *testing.T, s *testserver.Server) {
		group := s.CreateGroup(t, "grp", 0, "private")
		projectID, projectPath := s.CreateProject(t, group, "app", "private").IDPath()
		g := testserver.NewGit(t)
		dir := g.Init(t, s.GitURL("root", s.RootToken, projectPath))
		g.Commit(t, dir, "ci", map[string]string{".gitlab-ci.yml": "build:\n  script: [make]\n  artifacts:\n    paths: [out/]\n"})
		g.Run(t, dir, "push", "--quiet", "origin", "HEAD:main")

		// A runner takes the job, as gitlab-runner would.
		runnerToken := testserver.Str(t, s.Expect(t, "POST", api+"/user/runners", s.RootToken,
			map[string]any{"runner_type": "instance_type"}, 201).Object(t), "token")
		s.Remember(runnerToken)
		var job struct {
			ID    int64  `json:"id"`
			Token string `json:"token"`
		}
		for deadline := time.Now().Add(20 * time.Second); job.ID == 0; {
			r := s.Do(t, "POST", api+"/jobs/request", "", map[string]any{"token": runnerToken})
			if r.Status == 201 {
				r.JSON(t, &job)
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no job handed out: %d %s", r.Status, r.Body)
			}
			time.Sleep(100 * time.Millisecond)
		}
		s.Remember(job.Token)
		upload := func(body io.Reader) *http.Request {
			pr, pw := io.Pipe()
			mw := multipart.NewWriter(pw)
			go func() {
				part, err := mw.CreateFormFile("file", "artifacts.zip")
				if err == nil {
					_, err = io.Copy(part, body)
				}
				if err == nil {
					err = mw.Close()
				}
				pw.CloseWithError(err)
			}()
			req := s.NewRequest(t, "POST", api+"/jobs/"+testserver.Itoa(job.ID)+"/artifacts?artifact_format=zip&artifact_type=archive", "", nil)
			req.Header.Set("JOB-TOKEN", job.Token)
			req.Header.Set("Content-Type", mw.FormDataContentType())
			req.Body, req.ContentLength = pr, -1
			return req
		}

		// A chunked upload fed slowly: the server has taken several MiB
		// and waits for more when it is killed.
		slow, feed := io.Pipe()
		killDuringUpload(t, s, upload(slow), feed, []byte("partial artifact "))

		s = s.Restart(t)
		artifacts := api + "/projects/" + testserver.Itoa(projectID) + "/jobs/" + testserver.Itoa(job.ID) + "/artifacts"
		s.Expect(t, "GET", artifacts, s.RootToken, nil, 404)
		if m := s.Expect(t, "GET", api+"/projects/"+testserver.Itoa(projectID)+"/jobs/"+testserver.Itoa(job.ID), s.RootToken, nil, 200).Object(t); m["artifacts_file"] != nil {
			t.Errorf("artifacts_file after the killed upload: %v", m["artifacts_file"])
		}
		db, _ := s.OpenDB(t)
		var rows int
		if err := db.QueryRow("SELECT COUNT(*) FROM job_artifacts").Scan(&rows); err != nil {
			t.Fatal(err)
		}
		if rows != 0 {
			t.Fatalf("%d artifact rows after the killed upload", rows)
		}
		if s.Storage == "fs" {
			if left := pkFiles(t, filepath.Join(s.DataDir, "blobs")); len(left) != 0 {
				t.Fatalf("blob files left after the killed upload and a restart: %v", left)
			}
		}

		// The job is still running: the runner's retry goes through.
		zip := zipOf(t, map[string]string{"out/result.txt": "done\n"})
		r := s.Send(t, upload(bytes.NewReader(zip)))
		if r.Status != 201 {
			t.Fatalf("upload after the restart: %d %s", r.Status, r.Body)
		}
		if got := s.Expect(t, "GET", artifacts, s.RootToken, nil, 200).Body; !bytes.Equal(got, zip) {
			t.Fatalf("downloaded %d bytes, want the %d uploaded", len(got), len(zip))
		}
		s.Expect(t, "PUT", api+"/jobs/"+testserver.Itoa(job.ID), "", map[string]any{"token": job.Token, "state": "success"}, 200)
	})
}

// zipOf is a zip archive of files.
func zipOf(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, content := range files {
		w, err := zw.Create(name)
		if err == nil {
			_, err = io.WriteString(w, content)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
