package api

import (
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/ciwarden/ciwarden/internal/auth"
	"github.com/ciwarden/ciwarden/internal/authz"
	"github.com/ciwarden/ciwarden/internal/blob"
	"github.com/ciwarden/ciwarden/internal/ci/config"
	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/store"
)

// The runner's artifact calls (runner-protocol.md §10): the upload after
// a job's script, and the download of a dependency's archive before it.

// defaultArtifactsExpireIn is GitLab's instance default for artifacts
// uploaded without expire_in.
const defaultArtifactsExpireIn = 30 * 24 * time.Hour

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
// streamed to a blob (never held whole), checked, then recorded. Order:
// blob, zip check, row; a failure at any step leaves no row and deletes
// the blob, and a process killed before the row's commit leaves only an
// unreferenced blob that nothing serves.
func (a *API) uploadArtifacts(c *Ctx) error {
	j := c.RunnerJob
	c.jobStatusHeaders(j.Status)
	if !auth.JobAlive(j) {
		return errRunnerForbidden
	}
	art, err := c.artifactParams()
	if err != nil {
		return err
	}
	max := a.MaxArtifactsSize
	if c.R.ContentLength > max+multipartSlack {
		return errTooLarge
	}
	part, err := c.filePart(max + multipartSlack)
	if err != nil {
		return err
	}
	art.JobID, art.ProjectID = j.ID, j.ProjectID
	art.Filename = artifactFilename(part.FileName(), art.FileType, art.FileFormat)
	art.BlobKey = blob.ArtifactKey(j.ProjectID, j.ID)

	body := blob.Limit(part, max)
	info, err := a.Blobs.Put(c.Context(), art.BlobKey, body, -1)
	switch {
	case body.TooLarge():
		return errTooLarge
	case err != nil && body.ReadErr() != nil:
		// The client's body broke off or was malformed: nothing stored.
		return errBadRequest("the artifacts file could not be read: the upload was incomplete")
	case err != nil && c.Context().Err() != nil:
		return errBadRequest("the upload was canceled")
	case err != nil:
		return err
	}
	art.Size, art.SHA256 = info.Size, info.SHA256
	if err := a.checkArtifact(c, art); err != nil {
		a.deleteBlob(c, art.BlobKey)
		return err
	}
	replaced, err := a.Store.PutArtifact(c.Context(), art)
	if err != nil {
		a.deleteBlob(c, art.BlobKey)
		if errors.Is(err, store.ErrJobGone) {
			return errRunnerForbidden
		}
		return err
	}
	if replaced != "" {
		a.deleteBlob(c, replaced)
	}
	c.W.Header().Set("Content-Type", "application/json")
	c.W.WriteHeader(http.StatusCreated)
	io.WriteString(c.W, "201")
	return nil
}

// artifactParams reads artifact_type, artifact_format and expire_in.
func (c *Ctx) artifactParams() (*model.Artifact, error) {
	typ, _ := c.Params.String("artifact_type")
	format, _ := c.Params.String("artifact_format")
	expireIn, hasExpire := c.Params.String("expire_in")
	if err := c.Params.Err(); err != nil {
		return nil, err
	}
	if typ == "" {
		typ = model.ArtifactArchive
	}
	if format == "" {
		format = model.FormatZip
		if typ != model.ArtifactArchive {
			format = model.FormatRaw
		}
	}
	switch {
	case typ == model.ArtifactArchive:
		if format != model.FormatZip {
			return nil, errBadRequest("artifact_format must be zip for the archive")
		}
	case model.ReportTypes[typ]:
		if format != model.FormatGzip && format != model.FormatRaw {
			return nil, errParam("artifact_format does not have a valid value")
		}
	default:
		return nil, errParam("artifact_type does not have a valid value")
	}
	art := &model.Artifact{FileType: typ, FileFormat: format, CreatedAt: c.now()}
	expireIn = strings.TrimSpace(expireIn)
	switch {
	case !hasExpire || expireIn == "":
		at := art.CreatedAt.Add(defaultArtifactsExpireIn)
		art.ExpireAt = &at
	case expireIn == "never":
	default:
		d, err := config.ParseDuration(expireIn)
		if err != nil {
			return nil, errBadRequest("expire_in is not a valid duration: " + printable(expireIn))
		}
		at := art.CreatedAt.Add(d)
		art.ExpireAt = &at
	}
	return art, nil
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

// checkArtifact refuses an archive that is not a zip or whose entries
// could escape the directory a runner extracts it into.
func (a *API) checkArtifact(c *Ctx, art *model.Artifact) error {
	if art.FileFormat != model.FormatZip {
		return nil
	}
	obj, err := a.Blobs.Open(c.Context(), art.BlobKey)
	if err != nil {
		return err
	}
	defer obj.Close()
	return checkZip(obj)
}

func (a *API) deleteBlob(c *Ctx, key string) {
	if err := a.Blobs.Delete(c.Context(), key); err != nil {
		a.Log.Warn("delete artifact blob", "key", key, "err", err)
	}
}

// artifactFilename keeps the base of the uploaded file name, in
// characters safe in a Content-Disposition header, or GitLab's default.
func artifactFilename(name, typ, format string) string {
	name = path.Base(strings.ReplaceAll(name, "\\", "/"))
	name = strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune("._-+~", r):
			return r
		}
		return '_'
	}, name)
	if len(name) > 200 {
		name = name[len(name)-200:]
	}
	if name == "" || name == "." || name == ".." || name == "_" || strings.Trim(name, "._") == "" {
		name = typ
		switch format {
		case model.FormatZip:
			name += ".zip"
		case model.FormatGzip:
			name += ".gz"
		}
	}
	return name
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
	art, err := a.liveArchive(c, target)
	if err != nil {
		return err
	}
	return a.serveArtifact(c, art)
}
