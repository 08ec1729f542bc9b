package model

import (
	"strings"
	"time"
)

// Release is a project's release of one tag (GitLab's Release). SHA is
// the tag's commit when the release was made; Links are its asset links,
// loaded with it.
type Release struct {
	ID          int64
	ProjectID   int64
	TagName     string
	Name        string
	Description string // Markdown, kept as text
	SHA         string
	AuthorID    int64
	ReleasedAt  time.Time
	CreatedAt   time.Time
	UpdatedAt   time.Time
	Links       []*ReleaseLink
}

// Upcoming: released_at lies in the future (GitLab's upcoming_release).
func (r *Release) Upcoming(now time.Time) bool { return r.ReleasedAt.After(now) }

// ReleaseLink is one asset link of a release. Filepath is its
// direct_asset_path ("/bin/app"), "" for none.
type ReleaseLink struct {
	ID        int64
	ReleaseID int64
	Name      string
	URL       string
	Filepath  string
	LinkType  string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// ReleaseLinkTypes are GitLab's link_type values; "other" is the default.
var ReleaseLinkTypes = []string{"other", "runbook", "image", "package"}

// GitRefNameOK applies the rules of git check-ref-format that a branch or
// tag name given to the API must meet (GitLab's Gitlab::GitRefValidator):
// no "..", "@{", "//" or ".lock", no space, control character or any of
// ~^:?*[\, not starting with "-" or "/", not ending with "/" or ".".
func GitRefNameOK(b string) bool {
	if b == "" || len(b) > 255 || b[0] == '-' || b[0] == '/' || b[len(b)-1] == '/' || b[len(b)-1] == '.' || b == "@" {
		return false
	}
	for _, bad := range []string{"..", "@{", "//", ".lock"} {
		if strings.Contains(b, bad) {
			return false
		}
	}
	for _, r := range b {
		if r < 0x20 || r == 0x7f || r == ' ' || r == '~' || r == '^' || r == ':' || r == '?' || r == '*' || r == '[' || r == '\\' {
			return false
		}
	}
	return true
}
