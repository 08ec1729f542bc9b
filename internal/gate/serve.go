package gate

import (
	"io"
	"mime"
	"net/http"
	"time"
)

// ServeStored streams a stored file (an artifact, a package file) as a
// download and closes it: Range and HEAD work, and from the filesystem the
// kernel copies the file to the socket (sendfile).
func ServeStored(c *Ctx, name, contentType string, modified time.Time, obj io.ReadSeekCloser) {
	defer obj.Close()
	h := c.W.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Disposition", Attachment(name))
	h.Set("Content-Transfer-Encoding", "binary")
	h.Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(c.W, c.R, "", modified, obj)
}

// Attachment is a Content-Disposition for a download named name.
func Attachment(name string) string {
	if v := mime.FormatMediaType("attachment", map[string]string{"filename": name}); v != "" {
		return v
	}
	return "attachment"
}
