package api

import (
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"

	"github.com/ciwarden/ciwarden/internal/artifacts"
	"github.com/ciwarden/ciwarden/internal/auth"
	"github.com/ciwarden/ciwarden/internal/authz"
	"github.com/ciwarden/ciwarden/internal/model"
)

// The runner's artifact calls (runner-protocol.md §10): the upload after
// a job's script, and the download of a dependency's archive before it.

// multipartSlack is what a multipart body may carry besides the file
// (boundaries, part headers, small fields) within the size limit.
const multipartSlack = 1 << 20

// runnerUploadAPI: the job's own token (JOB-TOKEN or token), the body a
// multipart stream read by the handler.
var runnerUploadAPI = Accepts{RunnerJob: true, RawBody: true}

// dependencyAPI: the token is a running job's, not the target's; the
// handler authenticates it (as GitLab's runner helpers do, failures are
// 403, not 401).
var dependencyAPI = Accepts{RawBody: true}

// uploadArtifacts is POST /jobs/:id/artifacts: the multipart field file,
// streamed to the artifacts service, never held whole.
func (a *API) uploadArtifacts(c *Ctx) error {
	j := c.RunnerJob
	c.jobStatusHeaders(j.Status)
	if !auth.JobAlive(j) {
		return errRunnerForbidden
	}
	up, err := c.artifactUpload()
	if err != nil {
		return err
	}
	art, err := a.Artifacts.NewArtifact(up)
	if err != nil {
		return err
	}
	limit := a.Artifacts.MaxSize + multipartSlack
	if c.R.ContentLength > limit {
		return errTooLarge
	}
	part, err := c.filePart(limit)
	if err != nil {
		return err
	}
	if err := a.Artifacts.Publish(c.Context(), j, art, part.FileName(), part); err != nil {
		return err
	}
	c.W.Header().Set("Content-Type", "application/json")
	c.W.WriteHeader(http.StatusCreated)
	io.WriteString(c.W, "201")
	return nil
}

// artifactUpload reads artifact_type, artifact_format and expire_in;
// names outside GitLab's sets are parameter errors.
func (c *Ctx) artifactUpload() (artifacts.Upload, error) {
	var up artifacts.Upload
	up.Type, _ = c.Params.String("artifact_type")
	up.Format, _ = c.Params.String("artifact_format")
	up.ExpireIn, _ = c.Params.String("expire_in")
	if err := c.Params.Err(); err != nil {
		return up, err
	}
	switch {
	case up.Type == "", up.Type == model.ArtifactArchive:
	case !model.ReportTypes[up.Type]:
		return up, errParam("artifact_type does not have a valid value")
	case up.Format != "" && up.Format != model.FormatGzip && up.Format != model.FormatRaw:
		return up, errParam("artifact_format does not have a valid value")
	}
	return up, nil
}

// filePart finds the multipart part named file, reading past any other
// part; the whole body is bounded by limit.
func (c *Ctx) filePart(limit int64) (*multipart.Part, error) {
	mt, params, err := mime.ParseMediaType(c.R.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return nil, errParam("file is missing")
	}
	mr := multipart.NewReader(http.MaxBytesReader(c.W, c.R.Body, limit), params["boundary"])
	for {
		part, err := mr.NextPart()
		var tooLarge *http.MaxBytesError
		switch {
		case errors.As(err, &tooLarge):
			return nil, errTooLarge
		case err == io.EOF:
			return nil, errParam("file is missing")
		case err != nil:
			return nil, errBadRequest("the multipart body is malformed")
		}
		if part.FormName() == "file" {
			return part, nil
		}
		if _, err := io.Copy(io.Discard, part); err != nil {
			if errors.As(err, &tooLarge) {
				return nil, errTooLarge
			}
			return nil, errBadRequest("the multipart body is malformed")
		}
	}
}

// downloadDependency is GET /jobs/:id/artifacts: the runner fetching a
// dependency's archive with the running job's token, which may belong to
// another job and project. The token's job must be running; its user
// must be allowed to read the target's artifacts. Every refusal is 403,
// as GitLab's forbidden!: an unknown job and one the user may not see
// look the same.
func (a *API) downloadDependency(c *Ctx) error {
	id, err := c.pathInt("job_id")
	if err != nil {
		return err
	}
	tok := c.runnerJobToken("token", "job_token")
	if tok == "" || !strings.HasPrefix(tok, auth.JobTokenPrefix) {
		return errRunnerForbidden
	}
	if c.Principal, err = a.Auth.Authenticate(c.Context(), auth.Credentials{Job: tok, JobFrom: auth.Header}); err != nil {
		// A finished job's token: tell the runner the job's state, as
		// its other calls do.
		if src, lerr := a.Store.JobByTokenDigest(c.Context(), auth.Digest(tok)); lerr == nil && !auth.JobAlive(src) {
			c.jobStatusHeaders(src.Status)
		}
		return errRunnerForbidden
	}
	target, err := a.Store.Job(c.Context(), id)
	if errors.Is(err, model.ErrNotFound) {
		return errRunnerForbidden
	} else if err != nil {
		return err
	}
	p, err := a.findProject(c.Context(), itoa(target.ProjectID))
	if errors.Is(err, model.ErrNotFound) {
		return errRunnerForbidden
	} else if err != nil {
		return err
	}
	var refused *Error
	if err := c.authorizeProject(p, authz.ReadJobArtifacts); errors.As(err, &refused) {
		return errRunnerForbidden
	} else if err != nil {
		return err
	}
	return a.archive(c, target)
}
