package api

import (
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"

	"github.com/ciwarden/ciwarden/internal/artifacts"
	"github.com/ciwarden/ciwarden/internal/auth"
	"github.com/ciwarden/ciwarden/internal/model"
)

// The runner's artifact calls (runner-protocol.md §10): the upload after
// a job's script, and the download of a dependency's archive before it.

// multipartSlack is what a multipart body may carry besides the file
// (boundaries, part headers, small fields) within the size limit.
const multipartSlack = 1 << 20

// runnerUploadAPI: the job's own token (JOB-TOKEN or token), the body a
// multipart stream read by the handler.
var runnerUploadAPI = Accepts{JobToken: auth.Header | auth.Param, RawBody: true}

// dependencyAPI: the downloading job's token in the JOB-TOKEN header only
// (runner-protocol.md §10.2); a token anywhere else is not looked at and
// the request is anonymous. As GitLab's runner helpers do, every refusal
// is 403, not 401.
var dependencyAPI = Accepts{JobToken: auth.Header, RawBody: true}

// uploadArtifacts is POST /jobs/:id/artifacts: the multipart field file,
// streamed to the artifacts service, never held whole.
func (a *API) uploadArtifacts(c *Ctx) error {
	j := c.Job
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
// another job and project. The gate has decided that the token's user may
// read job :id's artifacts (DownloadDependency: a live token, its user's
// role, the token access scope).
func (a *API) downloadDependency(c *Ctx) error {
	return a.archive(c, c.Job)
}
