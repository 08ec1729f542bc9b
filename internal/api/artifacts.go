package api

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"

	"github.com/ciwarden/ciwarden/internal/auth"
	"github.com/ciwarden/ciwarden/internal/gate"
	"github.com/ciwarden/ciwarden/internal/model"
)

// Job artifacts on the REST API: the archive by job or by ref and job
// name, one file out of it, and deletion. What exists and may be served
// is artifacts.Service's; these handlers resolve the route and stream.

// artifactsAPI takes a personal access token or the job token (JOB-TOKEN,
// job_token, Bearer) with the read_jobs policy (gitlab-compat.md §6).
var artifactsAPI = Accepts{PAT: userAPI.PAT, JobToken: auth.Header | auth.Param | auth.Bearer}

// archive serves job j's archive.
func (a *API) archive(c *Ctx, j *model.Job) error {
	art, obj, err := a.Artifacts.Archive(c.Context(), j)
	if err != nil {
		return err
	}
	gate.ServeStored(c.Ctx, art.Filename, art.ContentType(), art.CreatedAt, obj)
	return nil
}

// downloadJobArtifacts is GET /projects/:id/jobs/:job_id/artifacts.
func (a *API) downloadJobArtifacts(c *Ctx) error {
	if c.R.PathValue("job_id") == "artifacts" {
		return errNoRoute // .../jobs/artifacts/<ref> without download or raw
	}
	j, err := c.PathJob()
	if err != nil {
		return err
	}
	return a.archive(c, j)
}

// jobArtifactFile is GET /projects/:id/jobs/:job_id/artifacts/*path: one
// file extracted from the archive.
func (a *API) jobArtifactFile(c *Ctx) error {
	if c.R.PathValue("job_id") == "artifacts" {
		// A ref called "artifacts": .../jobs/artifacts/artifacts/download.
		return a.refArtifactsAt(c, "artifacts/artifacts/"+c.R.PathValue("artifact_path"))
	}
	j, err := c.PathJob()
	if err != nil {
		return err
	}
	return a.serveEntry(c, j, c.R.PathValue("artifact_path"))
}

// refArtifacts serves GET /projects/:id/jobs/artifacts/:ref_name/download
// and .../artifacts/:ref_name/raw/*artifact_path, both ?job=NAME. ServeMux
// cannot express a ref with slashes followed by a fixed word, so one
// catch-all route under jobs/ takes them and the path is split here.
func (a *API) refArtifacts(c *Ctx) error {
	return a.refArtifactsAt(c, c.R.PathValue("ref_path"))
}

func (a *API) refArtifactsAt(c *Ctx, rest string) error {
	rest, ok := strings.CutPrefix(rest, "artifacts/")
	if !ok {
		return errNoRoute
	}
	c.Params.Require("job")
	name, _ := c.Params.String("job")
	if err := c.Params.Err(); err != nil {
		return err
	}
	if ref, ok := strings.CutSuffix(rest, "/download"); ok && ref != "" {
		j, err := a.Artifacts.LatestJob(c.Context(), c.Project, ref, name)
		switch {
		case err == nil:
			return a.archive(c, j)
		case !errors.Is(err, model.ErrNotFound):
			return err
		case !strings.Contains(rest, "/raw/"):
			return errNotFound("")
		}
		// <ref>/raw/<dir>/download: a file called download.
	}
	// <ref>/raw/<path>: both may hold slashes, and so may "/raw/". Try
	// each split, leftmost first, and take the first ref that has such a
	// job.
	for i := 0; ; {
		k := strings.Index(rest[i:], "/raw/")
		if k < 0 {
			break
		}
		ref, file := rest[:i+k], rest[i+k+len("/raw/"):]
		i += k + 1
		if ref == "" || file == "" {
			continue
		}
		j, err := a.Artifacts.LatestJob(c.Context(), c.Project, ref, name)
		if errors.Is(err, model.ErrNotFound) {
			continue
		} else if err != nil {
			return err
		}
		return a.serveEntry(c, j, file)
	}
	if strings.Contains(rest, "/raw/") {
		return errNotFound("")
	}
	return errNoRoute
}

// serveEntry streams the regular file at name out of j's archive.
func (a *API) serveEntry(c *Ctx, j *model.Job, name string) error {
	e, err := a.Artifacts.Entry(c.Context(), j, name)
	if err != nil {
		return err
	}
	defer e.Close()
	h := c.W.Header()
	ct := mime.TypeByExtension(path.Ext(name))
	if ct == "" {
		ct = "application/octet-stream"
	}
	h.Set("Content-Type", ct)
	h.Set("Content-Disposition", gate.Attachment(path.Base(name)))
	h.Set("Content-Length", strconv.FormatUint(e.Size, 10))
	h.Set("X-Content-Type-Options", "nosniff")
	c.W.WriteHeader(http.StatusOK)
	if c.R.Method == http.MethodHead {
		return nil
	}
	if _, err := io.Copy(c.W, e); err != nil {
		// The status is out: cut the connection so the client sees a
		// truncated body rather than a complete-looking wrong one.
		if c.Context().Err() == nil {
			a.Log.Warn("artifact entry read failed", "job_id", j.ID, "entry", url.PathEscape(name), "err", err)
		}
		panic(http.ErrAbortHandler)
	}
	return nil
}

// deleteJobArtifacts is DELETE /projects/:id/jobs/:job_id/artifacts
// (Maintainer): rows, then blobs; 204 also when there were none.
func (a *API) deleteJobArtifacts(c *Ctx) error {
	j, err := c.PathJob()
	if err != nil {
		return err
	}
	if err := a.CI.DeleteArtifacts(c.Context(), j.ID); err != nil {
		return err
	}
	c.W.WriteHeader(http.StatusNoContent)
	return nil
}
