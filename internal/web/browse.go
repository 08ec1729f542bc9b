package web

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/ciwarden/ciwarden/internal/artifacts"
	"github.com/ciwarden/ciwarden/internal/gate"
	"github.com/ciwarden/ciwarden/internal/model"
)

// Browsing inside a job's artifacts archive (issue 19 item 3), GitLab's
// /-/jobs/:id/artifacts/browse(/*path), file/*path and raw/*path. The
// listing and every file come from artifacts.Service, as the API's
// GET /projects/:id/jobs/:job_id/artifacts/*artifact_path reads them.

// previewLimit is how much of a file its page shows; a larger or binary
// file gets only its links.
const previewLimit = 256 << 10

// crumb is one link of a page's path: a directory of the archive.
type crumb struct{ Name, Href string }

// crumbs link the directories down to dir ("" or "." for the root) of
// the archive whose pages are under base: the root, then each.
func crumbs(base, dir string) []crumb {
	out := []crumb{{Name: "artifacts", Href: base + "/browse"}}
	if dir == "" || dir == "." {
		return out
	}
	segs := strings.Split(dir, "/")
	for i, s := range segs {
		out = append(out, crumb{Name: s, Href: base + "/browse/" + escapePath(strings.Join(segs[:i+1], "/"))})
	}
	return out
}

// artifactsBase is the path under which job j's archive pages are.
func artifactsBase(c *gate.Ctx, j *model.Job) string {
	return "/" + c.Project.FullPath() + "/-/jobs/" + strconv.FormatInt(j.ID, 10) + "/artifacts"
}

// escapePath escapes each segment of an archive path for a URL: a name
// may hold "?", "#" or "%", which html/template leaves as they are in a
// link's path.
func escapePath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

// artifactsBrowse lists one directory of the archive.
func (u *UI) artifactsBrowse(c *gate.Ctx) error {
	j, err := c.PathJob()
	if err != nil {
		return err
	}
	dir := c.R.PathValue("path")
	l, err := u.Artifacts.List(c.Context(), j, dir)
	if err != nil {
		return err
	}
	return u.render(c.W, c, http.StatusOK, "artifacts", "Artifacts · job #"+strconv.FormatInt(j.ID, 10),
		map[string]any{"Nav": nav(c), "Job": j, "Listing": l, "Base": artifactsBase(c, j),
			"Crumbs": crumbs(artifactsBase(c, j), dir)})
}

// artifactEntry opens the file the route's {path} names in the archive of
// its {job_id}.
func (u *UI) artifactEntry(c *gate.Ctx) (*model.Job, string, *artifacts.Entry, error) {
	j, err := c.PathJob()
	if err != nil {
		return nil, "", nil, err
	}
	name := c.R.PathValue("path")
	e, err := u.Artifacts.Entry(c.Context(), j, name)
	return j, name, e, err
}

// artifactsFile is one file's page: its size, its links, and its text
// when it is short text. The text is escaped like any other page text, so
// an HTML file shows as its source.
func (u *UI) artifactsFile(c *gate.Ctx) error {
	j, name, e, err := u.artifactEntry(c)
	if err != nil {
		return err
	}
	defer e.Close()
	var text string
	shown := false
	if e.Size <= previewLimit {
		b, err := io.ReadAll(io.LimitReader(e, previewLimit))
		if err != nil {
			return model.ErrNotFound // the entry cannot be read (a corrupt archive)
		}
		if looksText(b, true) {
			text, shown = string(b), true
		}
	}
	return u.render(c.W, c, http.StatusOK, "artifact_file", path.Base(name)+" · job #"+strconv.FormatInt(j.ID, 10),
		map[string]any{"Nav": nav(c), "Job": j, "Path": name, "Name": path.Base(name), "Size": e.Size,
			"Text": text, "Shown": shown, "Base": artifactsBase(c, j), "Crumbs": crumbs(artifactsBase(c, j), path.Dir(name))})
}

// artifactsRaw serves one file so that it cannot run in the site's
// origin, where the session cookie is (session.go): text as
// text/plain, anything else as an octet-stream attachment, never a type
// the browser renders; nosniff and a sandboxing CSP on both.
func (u *UI) artifactsRaw(c *gate.Ctx) error {
	j, name, e, err := u.artifactEntry(c)
	if err != nil {
		return err
	}
	defer e.Close()
	br := bufio.NewReaderSize(e, 4096)
	head, _ := br.Peek(512)
	h := c.W.Header()
	if looksText(head, uint64(len(head)) == e.Size) {
		h.Set("Content-Type", "text/plain; charset=utf-8")
	} else {
		h.Set("Content-Type", "application/octet-stream")
		h.Set("Content-Disposition", gate.Attachment(path.Base(name)))
	}
	h.Set("Content-Length", strconv.FormatUint(e.Size, 10))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("Cache-Control", "no-store")
	c.W.WriteHeader(http.StatusOK)
	if c.R.Method == http.MethodHead {
		return nil
	}
	if _, err := io.Copy(c.W, br); err != nil {
		// The status is out: cut the connection so the browser sees a
		// truncated body rather than a complete-looking wrong one.
		if c.Context().Err() == nil && u.Log != nil {
			u.Log.Warn("artifact entry read failed", "job_id", j.ID, "entry", url.PathEscape(name), "err", err)
		}
		panic(http.ErrAbortHandler)
	}
	return nil
}

// looksText reports whether b, a file's start (or all of it when whole),
// is UTF-8 text: no NUL byte, and valid but for a rune cut at the end of
// a start.
func looksText(b []byte, whole bool) bool {
	if bytes.IndexByte(b, 0) >= 0 {
		return false
	}
	if !whole {
		for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
			if utf8.RuneStart(b[i]) {
				if !utf8.FullRune(b[i:]) {
					b = b[:i]
				}
				break
			}
		}
	}
	return utf8.Valid(b)
}
