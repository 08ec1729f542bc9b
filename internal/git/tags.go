package git

import (
	"context"
	"io"
	"os/exec"
	"strings"
)

// Tagger is who creates a tag through the API (a release that names a
// missing tag): the tag's tagger, and git's committer identity.
type Tagger struct {
	Name, Email string
}

// CreateTag creates tag name at sha, annotated with message when it is
// not empty. It fails when the tag exists: git tag never moves one.
func (r *Repos) CreateTag(ctx context.Context, projectID int64, name, sha, message string, who Tagger) error {
	if !safeRev(sha) || !safeRev(name) {
		return ErrNotFound
	}
	args := []string{"tag"}
	if message != "" {
		args = append(args, "-a", "-m", message)
	}
	args = append(args, name, sha)
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	cmd := r.command(ctx, r.Path(projectID), args...)
	cmd.Env = append(cmd.Env, "GIT_COMMITTER_NAME="+who.Name, "GIT_COMMITTER_EMAIL="+who.Email,
		"GIT_AUTHOR_NAME="+who.Name, "GIT_AUTHOR_EMAIL="+who.Email)
	stderr := &capped{max: maxStderr}
	cmd.Stderr = stderr
	if err := cmd.Run(); err != nil {
		return &CommandError{Args: args, Stderr: strings.TrimSpace(stderr.buf.String()), Err: err}
	}
	return nil
}

// DeleteTag removes tag name (the tag a release that failed to be stored
// had just created).
func (r *Repos) DeleteTag(ctx context.Context, projectID int64, name string) error {
	if !safeRev(name) {
		return ErrNotFound
	}
	_, err := r.run(ctx, r.Path(projectID), nil, "update-ref", "-d", "refs/tags/"+name)
	return err
}

// Archive formats: what GET /projects/:id/repository/archive serves, by
// the format parameter GitLab takes, with the file extension it names the
// download with.
var archiveFormats = map[string]string{"zip": "zip", "tar.gz": "tar.gz", "tgz": "tar.gz", "gz": "tar.gz",
	"tar": "tar", "tar.bz2": "tar.bz2", "tbz": "tar.bz2", "tbz2": "tar.bz2", "tb2": "tar.bz2", "bz2": "tar.bz2"}

// ArchiveFormat is the extension of a format GitLab accepts, "" for one
// it does not or that this machine cannot make (tar.bz2 without bzip2),
// so that the request is refused before any byte is sent.
func ArchiveFormat(format string) string {
	ext := archiveFormats[format]
	if ext == "tar.bz2" {
		if _, err := exec.LookPath("bzip2"); err != nil {
			return ""
		}
	}
	return ext
}

// Archive streams `git archive` of commit sha to w, every path under
// prefix/. The command is bounded as every other (commandTimeout, killed
// with its context); w sees the bytes as git writes them, so the archive
// is never held in memory. The caller checks sha resolves first: a
// failure after the first byte can only cut the stream short.
func (r *Repos) Archive(ctx context.Context, projectID int64, sha, ext, prefix string, w io.Writer) error {
	if !safeRev(sha) || strings.ContainsAny(prefix, "\x00\n") {
		return ErrNotFound
	}
	args := []string{}
	if ext == "tar.bz2" {
		// git has no bzip2 of its own: it pipes tar through the command
		// its configuration names (ArchiveFormat checked it is there).
		args = append(args, "-c", "tar.tar.bz2.command=bzip2 -c")
	}
	args = append(args, "archive", "--format="+ext, "--prefix="+prefix+"/", sha)
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	cmd := r.command(ctx, r.Path(projectID), args...)
	stderr := &capped{max: maxStderr}
	cmd.Stdout, cmd.Stderr = w, stderr
	if err := cmd.Run(); err != nil {
		return &CommandError{Args: args, Stderr: strings.TrimSpace(stderr.buf.String()), Err: err}
	}
	return nil
}
