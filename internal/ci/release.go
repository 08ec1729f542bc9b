package ci

import (
	"encoding/json"
	"strings"

	"github.com/ciwarden/ciwarden/internal/ci/config"
)

// ReleaseScript is the release step of a job with `release:`, as GitLab
// hands it to gitlab-runner: one `release-cli create` command with a
// double-quoted flag per field, --milestone per milestone and
// --assets-link per link as a JSON string, so that the job's shell
// expands variables in them ($CI_COMMIT_TAG) and any runner with
// release-cli creates the release with the job's token. ciwarden's own
// runner reads the same line and calls the API itself (internal/runner).
func ReleaseScript(r *config.Release) []string {
	var b strings.Builder
	b.WriteString("release-cli create")
	flag := func(name, v string) {
		if v != "" {
			b.WriteString(" --" + name + " " + doubleQuote(v))
		}
	}
	flag("name", r.Name)
	flag("description", r.Description)
	flag("tag-name", r.TagName)
	flag("tag-message", r.TagMessage)
	flag("ref", r.Ref)
	flag("released-at", r.ReleasedAt)
	for _, m := range r.Milestones {
		flag("milestone", m)
	}
	for _, l := range r.Links {
		js, _ := json.Marshal(l) // strings only: cannot fail
		flag("assets-link", string(js))
	}
	return []string{b.String()}
}

// doubleQuote puts s in double quotes for bash, leaving $NAME and ${NAME}
// to expand and nothing else: quotes, backslashes, backquotes and $( are
// escaped, so no value runs a command.
func doubleQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\' || c == '`':
			b.WriteByte('\\')
		case c == '$' && i+1 < len(s) && s[i+1] == '(':
			b.WriteByte('\\')
		}
		b.WriteByte(c)
	}
	b.WriteByte('"')
	return b.String()
}
