// Package artifacts keeps job artifacts: an upload streamed into blob
// storage, checked and recorded (runner-protocol.md §10), and the reads
// of the REST API and the runner's dependency download: a job's archive,
// by job or by ref and job name, and one file out of it, read from the
// blob without fetching the whole archive. Deletion (with the job, on
// request, on expiry) is the job state machine's, in package ci.
package artifacts

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path"
	"strings"
	"time"

	"github.com/ciwarden/ciwarden/internal/auth"
	"github.com/ciwarden/ciwarden/internal/blob"
	"github.com/ciwarden/ciwarden/internal/ci/config"
	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/store"
)

// Service keeps job artifacts.
type Service struct {
	Store *store.Store
	Blobs blob.Store
	Log   *slog.Logger
	Now   func() time.Time
	// MaxSize bounds one uploaded artifact.
	MaxSize int64
}

// defaultExpireIn is GitLab's instance default for artifacts uploaded
// without expire_in.
const defaultExpireIn = 30 * 24 * time.Hour

// Upload is what a runner says about the artifact it sends: artifact_type,
// artifact_format and expire_in as given ("" for a parameter not sent;
// Type and Format already among the known names).
type Upload struct {
	Type, Format string
	ExpireIn     string
}

// NewArtifact is the artifact an upload describes, before its bytes:
// GitLab's defaults (an archive, zip for the archive and raw for a
// report, 30 days), the archive only as zip, and expire_in parsed
// ("never" keeps it forever).
func (s *Service) NewArtifact(up Upload) (*model.Artifact, error) {
	art := &model.Artifact{FileType: up.Type, FileFormat: up.Format, CreatedAt: s.Now()}
	if art.FileType == "" {
		art.FileType = model.ArtifactArchive
	}
	if art.FileFormat == "" {
		art.FileFormat = model.FormatZip
		if art.FileType != model.ArtifactArchive {
			art.FileFormat = model.FormatRaw
		}
	}
	if art.FileType == model.ArtifactArchive && art.FileFormat != model.FormatZip {
		return nil, model.Refuse(model.ErrInvalid, "artifact_format must be zip for the archive")
	}
	expireIn := strings.TrimSpace(up.ExpireIn)
	switch expireIn {
	case "":
		at := art.CreatedAt.Add(defaultExpireIn)
		art.ExpireAt = &at
	case "never":
	default:
		d, err := config.ParseDuration(expireIn)
		if err != nil {
			return nil, model.Refuse(model.ErrInvalid, "expire_in is not a valid duration: "+printable(expireIn))
		}
		at := art.CreatedAt.Add(d)
		art.ExpireAt = &at
	}
	return art, nil
}

// Publish stores body as job j's artifact art (from NewArtifact), named
// after the uploaded fileName, replacing the job's artifact of that type.
// Order: blob, archive check, row. A failure at any step leaves no row
// and deletes the blob, and a process killed before the row's commit
// leaves only an unreferenced blob that nothing serves. More than MaxSize
// is model.ErrTooLarge; a job erased or deleted meanwhile is
// model.ErrForbidden, as for any dead job.
func (s *Service) Publish(ctx context.Context, j *model.Job, art *model.Artifact, fileName string, body io.Reader) error {
	art.JobID, art.ProjectID = j.ID, j.ProjectID
	art.Filename = filename(fileName, art.FileType, art.FileFormat)
	art.BlobKey = blob.ArtifactKey(j.ProjectID, j.ID)
	limited := blob.Limit(body, s.MaxSize)
	info, err := s.Blobs.Put(ctx, art.BlobKey, limited, -1)
	switch {
	case limited.TooLarge():
		return model.ErrTooLarge
	case err != nil && limited.ReadErr() != nil:
		// The client's body broke off or was malformed: nothing stored.
		return model.Refuse(model.ErrInvalid, "the artifacts file could not be read: the upload was incomplete")
	case err != nil && ctx.Err() != nil:
		return model.Refuse(model.ErrInvalid, "the upload was canceled")
	case err != nil:
		return err
	}
	art.Size, art.SHA256 = info.Size, info.SHA256
	if err := s.check(ctx, art); err != nil {
		s.deleteBlob(ctx, art.BlobKey)
		return err
	}
	replaced, err := s.Store.PutArtifact(ctx, art, tokenLives(ctx))
	if err != nil {
		s.deleteBlob(ctx, art.BlobKey)
		if errors.Is(err, store.ErrJobGone) {
			return fmt.Errorf("artifacts of job %d: %w", j.ID, model.ErrForbidden)
		}
		return err
	}
	if replaced != "" {
		s.deleteBlob(ctx, replaced)
	}
	return nil
}

// tokenLives is asked, under the job's lock as its artifact is recorded,
// whether the job's token still lives (auth.Liveness): an upload that
// streamed while the job ended or its user was blocked is not kept.
func tokenLives(ctx context.Context) func(*store.Queries, *model.Job) error {
	return func(q *store.Queries, j *model.Job) error {
		p, err := q.Project(ctx, j.ProjectID)
		if err != nil && !errors.Is(err, model.ErrNotFound) {
			return err
		}
		u, err := q.User(ctx, j.UserID)
		if err != nil && !errors.Is(err, model.ErrNotFound) {
			return err
		}
		if auth.Liveness(j, p, u) != "" {
			return store.ErrJobGone
		}
		return nil
	}
}

// check refuses an archive that is not a zip or holds an entry that
// cannot be an artifact path (unsafeEntryName).
func (s *Service) check(ctx context.Context, art *model.Artifact) error {
	if art.FileFormat != model.FormatZip {
		return nil
	}
	obj, err := s.Blobs.Open(ctx, art.BlobKey)
	if err != nil {
		return err
	}
	defer obj.Close()
	return checkZip(obj)
}

func (s *Service) deleteBlob(ctx context.Context, key string) {
	if err := s.Blobs.Delete(ctx, key); err != nil {
		s.Log.Warn("delete artifact blob", "key", key, "err", err)
	}
}

// filename keeps the base of the uploaded file name, in characters safe
// in a Content-Disposition header, or GitLab's default name.
func filename(name, typ, format string) string {
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

// LatestJob is the latest successful job named name on ref in project p,
// whose artifacts the by-ref downloads serve.
func (s *Service) LatestJob(ctx context.Context, p *model.Project, ref, name string) (*model.Job, error) {
	return s.Store.LatestSuccessfulJob(ctx, p.ID, ref, name)
}

// Archive opens job j's archive: model.ErrNotFound when it has none, it
// expired (the sweeper deletes it later) or the job was erased. The
// caller closes the object.
func (s *Service) Archive(ctx context.Context, j *model.Job) (*model.Artifact, blob.Object, error) {
	art, err := s.liveArchive(ctx, j)
	if err != nil {
		return nil, nil, err
	}
	obj, err := s.Blobs.Open(ctx, art.BlobKey)
	if err != nil {
		// A blob gone under its row (swept or deleted as the row was read)
		// is as missing as the row.
		return nil, nil, err
	}
	return art, obj, nil
}

func (s *Service) liveArchive(ctx context.Context, j *model.Job) (*model.Artifact, error) {
	art, err := s.Store.JobArtifact(ctx, j.ID, model.ArtifactArchive)
	if err == nil && (art.Expired(s.Now()) || j.ErasedAt != nil) {
		return nil, fmt.Errorf("archive of job %d: %w", j.ID, model.ErrNotFound)
	}
	return art, err
}

// Entry is one regular file of an archive, open for reading; closing it
// closes the archive too.
type Entry struct {
	Name string
	Size uint64
	io.ReadCloser
}

// errBadPath is the answer to a path that cannot name an artifact.
var errBadPath = model.Refuse(model.ErrInvalid, "invalid artifact path")

// Entry opens the regular file at name in job j's archive, reading the
// zip's directory and that entry's bytes from the blob, never the whole
// archive. A name that cannot be an artifact path (unsafeEntryName) is
// refused before anything is read; a missing archive, entry or a
// compression method zip cannot read is model.ErrNotFound.
func (s *Service) Entry(ctx context.Context, j *model.Job, name string) (*Entry, error) {
	if unsafeEntryName(name) != "" {
		return nil, errBadPath
	}
	art, obj, err := s.Archive(ctx, j)
	if err != nil {
		return nil, err
	}
	e, err := openEntry(art, obj, name)
	if err != nil {
		obj.Close()
		return nil, err
	}
	return e, nil
}

// archiveZip reads the directory of art's archive, held in obj: only a
// zip archive has files to name (a gzip one is model.ErrNotFound).
func archiveZip(art *model.Artifact, obj blob.Object) (*zip.Reader, error) {
	if art.FileFormat != model.FormatZip {
		return nil, model.ErrNotFound
	}
	return openZip(obj) // checked at upload: a stored archive is a zip
}

func openEntry(art *model.Artifact, obj blob.Object, name string) (*Entry, error) {
	zr, err := archiveZip(art, obj)
	if err != nil {
		return nil, err
	}
	f := findEntry(zr, name)
	if f == nil {
		return nil, model.ErrNotFound
	}
	rc, err := f.Open()
	if err != nil {
		return nil, model.ErrNotFound // an unsupported compression method
	}
	return &Entry{Name: name, Size: f.UncompressedSize64, ReadCloser: closeBoth{rc, obj}}, nil
}

// closeBoth reads an entry and closes it and its archive's blob.
type closeBoth struct {
	io.ReadCloser
	obj blob.Object
}

func (c closeBoth) Close() error {
	return errors.Join(c.ReadCloser.Close(), c.obj.Close())
}

// List is directory dir ("" for the root) of job j's archive, for
// browsing it (issue 19 item 3): read from the zip's directory only, as
// Entry reads it, and bounded (listDir). A dir that cannot be an artifact
// path is refused as Entry refuses it; a missing archive, a non-zip one
// or a directory with nothing in it is model.ErrNotFound.
func (s *Service) List(ctx context.Context, j *model.Job, dir string) (*Listing, error) {
	if dir != "" && (len(dir) > maxNameLen || unsafeEntryName(dir) != "") {
		return nil, errBadPath
	}
	art, obj, err := s.Archive(ctx, j)
	if err != nil {
		return nil, err
	}
	defer obj.Close()
	zr, err := archiveZip(art, obj)
	if err != nil {
		return nil, err
	}
	return listDir(zr, dir)
}
