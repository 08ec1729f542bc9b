package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/ciwarden/ciwarden/internal/ci/expr"
	"github.com/ciwarden/ciwarden/internal/runnerproto"
)

// DefaultMaxExtractSize bounds what one dependency's archive may expand
// to, against zip bombs.
const DefaultMaxExtractSize = 4 << 30

// transferRetryDelay is the pause between attempts of an artifact
// transfer; a variable so tests need not wait.
var transferRetryDelay = time.Second

var (
	// errDependency: a dependency's artifacts could not be had.
	errDependency = errors.New("downloading artifacts failed")
	// errUpload: the job's artifacts could not be uploaded.
	errUpload = errors.New("uploading artifacts failed")
)

// downloadDependencies fetches and extracts, in order, the artifacts of
// every dependency that has some, before the script runs (gitlab-runner's
// download_artifacts stage).
func (j *jobRun) downloadDependencies(ctx context.Context) error {
	for _, dep := range j.p.Dependencies {
		if dep.ArtifactsFile == nil || dep.ArtifactsFile.Filename == "" {
			continue
		}
		if err := j.downloadDependency(ctx, dep); err != nil {
			j.printf("ERROR: Downloading artifacts for %s (%d) failed: %v\n", dep.Name, dep.ID, err)
			return err
		}
	}
	return nil
}

func (j *jobRun) downloadDependency(ctx context.Context, dep runnerproto.PayloadDependency) error {
	j.printf("Downloading artifacts for %s (%d)...\n", dep.Name, dep.ID)
	// The archive goes to a file first: a zip is read from its end. It
	// sits next to the job's directory, not in it.
	tmp, err := os.CreateTemp(j.r.BuildsDir, "artifacts-*.tmp")
	if err != nil {
		return fmt.Errorf("%w: %v", errSystem, err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()

	const tries = 3 // gitlab-runner retries a failed download twice
	for attempt := 1; ; attempt++ {
		if err := resetFile(tmp); err != nil {
			return fmt.Errorf("%w: %v", errSystem, err)
		}
		status, err := j.r.Client.DownloadArtifacts(ctx, dep.ID, dep.Token, tmp)
		if err == nil && status == http.StatusOK {
			j.printf("Downloading artifacts from coordinator... ok  id=%d responseStatus=%s\n", dep.ID, statusText(status))
			break
		}
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case status == http.StatusUnauthorized || status == http.StatusForbidden:
			j.printf("WARNING: Downloading artifacts from coordinator... forbidden  id=%d responseStatus=%s\n", dep.ID, statusText(status))
			return fmt.Errorf("%w: permission denied", errDependency)
		case status == http.StatusNotFound:
			j.printf("WARNING: Downloading artifacts from coordinator... not found  id=%d responseStatus=%s\n", dep.ID, statusText(status))
			return fmt.Errorf("%w: the artifacts do not exist", errDependency)
		case err != nil:
			j.printf("WARNING: Downloading artifacts from coordinator... failed  id=%d error=%v\n", dep.ID, err)
		default:
			j.printf("WARNING: Downloading artifacts from coordinator... failed  id=%d responseStatus=%s\n", dep.ID, statusText(status))
		}
		if attempt >= tries {
			return fmt.Errorf("%w: giving up after %d attempts", errDependency, tries)
		}
		j.printf("WARNING: Retrying...\n")
		sleep(ctx, transferRetryDelay)
	}
	size, err := tmp.Seek(0, io.SeekEnd)
	if err != nil {
		return fmt.Errorf("%w: %v", errSystem, err)
	}
	limit := j.r.MaxExtractSize
	if limit == 0 {
		limit = DefaultMaxExtractSize
	}
	if err := extractArchive(tmp, size, j.dir, limit); err != nil {
		return fmt.Errorf("%w: extracting: %v", errDependency, err)
	}
	return nil
}

func resetFile(f *os.File) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	_, err := f.Seek(0, io.SeekStart)
	return err
}

func statusText(code int) string { return fmt.Sprintf("%d %s", code, http.StatusText(code)) }

// uploadArtifacts uploads each artifacts[] entry whose `when` matches the
// job's outcome so far, after the script and after_script, as
// gitlab-runner's upload_artifacts_on_success/on_failure stages. The
// first failure fails the job.
func (j *jobRun) uploadArtifacts(ctx context.Context, succeeded bool) error {
	var due []runnerproto.PayloadArtifact
	for _, a := range j.p.Artifacts {
		switch a.When {
		case "always":
		case "on_failure":
			if succeeded {
				continue
			}
		default: // on_success, or unset
			if !succeeded {
				continue
			}
		}
		due = append(due, a)
	}
	if len(due) == 0 {
		return nil
	}
	if succeeded {
		j.printf("Uploading artifacts for successful job\n")
	} else {
		j.printf("Uploading artifacts for failed job\n")
	}
	for _, a := range due {
		if err := j.uploadArtifact(ctx, a); err != nil {
			j.printf("ERROR: Uploading artifacts failed: %v\n", err)
			return err
		}
	}
	return nil
}

func (j *jobRun) uploadArtifact(ctx context.Context, a runnerproto.PayloadArtifact) error {
	j.printf("Uploading artifacts...\n")
	expand := j.expander()
	var paths, exclude []string
	for _, p := range a.Paths {
		paths = append(paths, expand(p))
	}
	for _, p := range a.Exclude {
		exclude = append(exclude, expand(p))
	}
	c, err := newCollector(j.dir, exclude, j.env)
	if err != nil {
		return fmt.Errorf("%w: %v", errSystem, err)
	}
	c.addPaths(paths)
	if a.Untracked {
		c.addUntracked(ctx)
	}
	c.logExcluded()
	for _, l := range c.logs {
		j.printf("%s\n", l)
	}
	files := c.sorted()
	if len(files) == 0 {
		j.printf("WARNING: No files to upload\n")
		return nil
	}
	format, typ := a.Format, a.Type
	if format == "" {
		format = formatZip
	}
	if typ == "" {
		typ = "archive"
	}
	write, err := archiverFor(format)
	if err != nil {
		return fmt.Errorf("%w: %v", errUpload, err)
	}
	if format == formatRaw {
		if n := len(regularFiles(files, c.root)); n != 1 {
			return fmt.Errorf("%w: %v, found %d", errUpload, errRawFileCount, n)
		}
	}
	opt := UploadOptions{FileName: artifactFileName(expand(a.Name), format), Format: format, Type: typ, ExpireIn: a.ExpireIn}
	return j.sendArtifact(ctx, opt, func(w io.Writer) error { return write(w, c.root, files) })
}

// sendArtifact uploads, building the archive afresh for every attempt:
// network errors and 5xx are tried 3 times (503 6 times), a 307 moves to
// the host it names; 403 and 413 are final, as in gitlab-runner.
func (j *jobRun) sendArtifact(ctx context.Context, opt UploadOptions, write func(io.Writer) error) error {
	what := fmt.Sprintf("Uploading artifacts as %q to coordinator...", opt.Type)
	for attempt := 1; ; attempt++ {
		res, err := j.r.Client.UploadArtifacts(ctx, j.p.ID, j.p.Token, opt, write)
		var ae *archiveError
		tries := 3
		switch {
		case errors.As(err, &ae):
			return fmt.Errorf("%w: %v", errUpload, err)
		case ctx.Err() != nil:
			return ctx.Err()
		case err != nil:
			j.printf("WARNING: %s failed  id=%d error=%v\n", what, j.p.ID, err)
		case res.Status == http.StatusCreated:
			j.printf("%s %s  id=%d\n", what, statusText(res.Status), j.p.ID)
			return nil
		case res.Status == http.StatusRequestEntityTooLarge:
			j.printf("ERROR: %s too large archive  id=%d responseStatus=%s\n", what, j.p.ID, statusText(res.Status))
			return fmt.Errorf("%w: too large", errUpload)
		case res.Status == http.StatusForbidden || res.Status == http.StatusUnauthorized:
			j.printf("ERROR: %s forbidden  id=%d responseStatus=%s\n", what, j.p.ID, statusText(res.Status))
			return fmt.Errorf("%w: permission denied", errUpload)
		case res.Status == http.StatusTemporaryRedirect || res.Status == http.StatusPermanentRedirect:
			base, ok := redirectBase(res.Location)
			if !ok {
				return fmt.Errorf("%w: redirected to an invalid location", errUpload)
			}
			j.printf("WARNING: Upload request redirected  new-url=%s\n", base)
			opt.BaseURL = base
		case res.Status == http.StatusServiceUnavailable:
			tries = 6
			j.printf("WARNING: %s service unavailable  id=%d responseStatus=%s\n", what, j.p.ID, statusText(res.Status))
		case res.Status >= 500 || res.Status == http.StatusRequestTimeout || res.Status == http.StatusTooManyRequests:
			j.printf("WARNING: %s failed  id=%d responseStatus=%s\n", what, j.p.ID, statusText(res.Status))
		default:
			j.printf("ERROR: %s failed  id=%d responseStatus=%s\n", what, j.p.ID, statusText(res.Status))
			return fmt.Errorf("%w: the server answered %s", errUpload, statusText(res.Status))
		}
		if attempt >= tries {
			return fmt.Errorf("%w: giving up after %d attempts", errUpload, attempt)
		}
		j.printf("WARNING: Retrying...\n")
		sleep(ctx, transferRetryDelay)
	}
}

// redirectBase keeps the scheme and host of a redirect, as gitlab-runner
// does: the upload goes to the same API path there.
func redirectBase(loc string) (string, bool) {
	u, err := url.Parse(loc)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", false
	}
	return u.Scheme + "://" + u.Host, true
}

// expander expands $VAR and ${VAR} in artifact names and paths with the
// job's variables, as gitlab-runner's uploader expands them with its
// environment.
func (j *jobRun) expander() func(string) string {
	vals := map[string]string{}
	for _, kv := range j.env {
		if k, v, ok := strings.Cut(kv, "="); ok {
			vals[k] = v
		}
	}
	return func(s string) string {
		return expr.Expand(s, func(k string) (string, bool) { v, ok := vals[k]; return v, ok })
	}
}
