package runnerapi

import (
	"bufio"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"

	"github.com/ciwarden/ciwarden/internal/artifacts"
	"github.com/ciwarden/ciwarden/internal/gate"
	"github.com/ciwarden/ciwarden/internal/model"
)

// The runner's artifact calls (runner-protocol.md §10): the upload after
// a job's script, and the download of a dependency's archive before it.

// multipartSlack is what a multipart body may carry besides the file
// (boundaries, part headers, small fields) within the size limit.
const multipartSlack = 1 << 20

// multipartBuffer is the buffer the multipart reader reads the body
// through. mime/multipart's own is 4 KiB: 262,000 read calls per GiB, which
// held an artifact upload at about half the speed of a plain streaming
// handler (issue 14). 256 KiB is the blob store's copy buffer: reads as
// large as the package PUT's.
const multipartBuffer = 256 << 10

// uploadArtifacts is POST /jobs/:id/artifacts: the multipart field file,
// streamed to the artifacts service, never held whole.
func (a *API) uploadArtifacts(c *gate.Ctx) error {
	up, err := artifactUpload(c.Params)
	if err != nil {
		return err
	}
	art, err := a.Artifacts.NewArtifact(up)
	if err != nil {
		return err
	}
	limit := a.Artifacts.MaxSize + multipartSlack
	if c.R.ContentLength > limit {
		return gate.TooLarge
	}
	part, err := filePart(c, limit)
	if err != nil {
		return err
	}
	if err := a.Artifacts.Publish(c.Context(), c.Job, art, part.FileName(), part); err != nil {
		return err
	}
	c.W.Header().Set("Content-Type", "application/json")
	c.W.WriteHeader(http.StatusCreated)
	io.WriteString(c.W, "201")
	return nil
}

// artifactUpload reads artifact_type, artifact_format and expire_in;
// names outside GitLab's sets are parameter errors.
func artifactUpload(p *gate.Params) (artifacts.Upload, error) {
	var up artifacts.Upload
	up.Type, _ = p.String("artifact_type")
	up.Format, _ = p.String("artifact_format")
	up.ExpireIn, _ = p.String("expire_in")
	if err := p.Err(); err != nil {
		return up, err
	}
	switch {
	case up.Type == "", up.Type == model.ArtifactArchive:
	case !model.ReportTypes[up.Type]:
		return up, gate.ParamError("artifact_type does not have a valid value")
	case up.Format != "" && up.Format != model.FormatGzip && up.Format != model.FormatRaw:
		return up, gate.ParamError("artifact_format does not have a valid value")
	}
	return up, nil
}

// filePart finds the multipart part named file, reading past any other
// part; the whole body is bounded by limit.
func filePart(c *gate.Ctx, limit int64) (*multipart.Part, error) {
	mt, params, err := mime.ParseMediaType(c.R.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return nil, gate.ParamError("file is missing")
	}
	// multipart.NewReader keeps a *bufio.Reader at least as large as its
	// own buffer instead of wrapping it again.
	body := bufio.NewReaderSize(http.MaxBytesReader(c.W, c.R.Body, limit), multipartBuffer)
	mr := multipart.NewReader(body, params["boundary"])
	for {
		part, err := mr.NextPart()
		var tooLarge *http.MaxBytesError
		switch {
		case errors.As(err, &tooLarge):
			return nil, gate.TooLarge
		case err == io.EOF:
			return nil, gate.ParamError("file is missing")
		case err != nil:
			return nil, gate.BadRequest("the multipart body is malformed")
		}
		if part.FormName() == "file" {
			return part, nil
		}
		if _, err := io.Copy(io.Discard, part); err != nil {
			if errors.As(err, &tooLarge) {
				return nil, gate.TooLarge
			}
			return nil, gate.BadRequest("the multipart body is malformed")
		}
	}
}

// downloadDependency is GET /jobs/:id/artifacts: the runner fetching a
// dependency's archive with the running job's token, which may belong to
// another job and project. The gate has decided that the token's user may
// read job :id's artifacts (DownloadDependency: a live token, its user's
// role, the token access scope).
func (a *API) downloadDependency(c *gate.Ctx) error {
	art, obj, err := a.Artifacts.Archive(c.Context(), c.Job)
	if err != nil {
		return err
	}
	gate.ServeStored(c, art.Filename, art.ContentType(), art.CreatedAt, obj)
	return nil
}
