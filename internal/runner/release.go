package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// The release step (issue 18): a job's `release:` arrives as GitLab sends
// it to gitlab-runner, a step named "release" whose script is one
// `release-cli create` command. This runner does what release-cli does
// without needing it installed: it reads the command as bash would (words,
// quotes, $NAME and ${NAME} from the job's environment), then creates the
// release through the API with the job's own token. A refusal fails the
// job with the API's message, as release-cli's exit does.

// maxReleaseDescriptionFile bounds a description read from a file
// (release-cli reads --description from a file of the project when one
// is named).
const maxReleaseDescriptionFile = 1 << 20

// releaseRequest is the body of POST /projects/:id/releases.
type releaseRequest struct {
	Name        string `json:"name,omitempty"`
	Description string `json:"description,omitempty"`
	TagName     string `json:"tag_name"`
	TagMessage  string `json:"tag_message,omitempty"`
	Ref         string `json:"ref,omitempty"`
	ReleasedAt  string `json:"released_at,omitempty"`
	Assets      *struct {
		Links []map[string]any `json:"links"`
	} `json:"assets,omitempty"`
	// Milestones are read and dropped: ciwarden has none.
	milestones []string
}

// runRelease runs the release step's lines.
func (j *jobRun) runRelease(ctx context.Context, lines []string) error {
	env := map[string]string{}
	for _, kv := range j.env {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	for _, line := range lines {
		j.printf("\033[32;1m$ %s\033[0;m\n", line)
		req, err := parseReleaseCLI(line, func(k string) string { return env[k] })
		if err != nil {
			return fmt.Errorf("release-cli: %w", err)
		}
		if req.Ref == "" {
			req.Ref = env["CI_COMMIT_SHA"] // release-cli's default
		}
		if req.TagName == "" {
			req.TagName = env["CI_COMMIT_TAG"]
		}
		if req.TagName == "" {
			return errors.New("release-cli: Required flag \"tag-name\" not set")
		}
		if len(req.milestones) > 0 {
			j.printf("WARNING: release: milestones are ignored (this server has none): %s\n", strings.Join(req.milestones, ", "))
		}
		req.Description = j.descriptionFile(req.Description)
		j.printf("Creating Release... name=%q tag-name=%q\n", req.Name, req.TagName)
		if err := j.createRelease(ctx, req); err != nil {
			return err
		}
		j.printf("release created successfully! tag-name=%q\n", req.TagName)
	}
	return nil
}

// descriptionFile: a description that names a file of the project
// directory (no whitespace, inside it) is that file's content.
func (j *jobRun) descriptionFile(d string) string {
	if d == "" || strings.ContainsAny(d, " \t\n") || !filepath.IsLocal(d) {
		return d
	}
	f, err := os.Open(filepath.Join(j.dir, d))
	if err != nil {
		return d
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() || st.Size() > maxReleaseDescriptionFile {
		return d
	}
	b, err := io.ReadAll(io.LimitReader(f, maxReleaseDescriptionFile))
	if err != nil {
		return d
	}
	return string(b)
}

func (j *jobRun) createRelease(ctx context.Context, req *releaseRequest) error {
	body, _ := json.Marshal(req)
	h := jsonHeader()
	h.Set("Job-Token", j.p.Token)
	path := "/projects/" + strconv.FormatInt(j.p.JobInfo.ProjectID, 10) + "/releases"
	_, _, err := j.r.Client.do(ctx, http.MethodPost, path, h, body, http.StatusCreated)
	var se *statusError
	if errors.As(err, &se) {
		return fmt.Errorf("failed to create release: API Error Response status_code: %d message: %s", se.Status, apiMessage(se.Body))
	}
	if err != nil {
		return fmt.Errorf("failed to create release: %w", err)
	}
	return nil
}

// apiMessage is the message of a GitLab error body ({"message": ...} or
// {"error": ...}), or the body itself.
func apiMessage(body string) string {
	var m map[string]any
	if json.Unmarshal([]byte(body), &m) == nil {
		for _, k := range []string{"message", "error"} {
			if v, ok := m[k]; ok {
				if s, ok := v.(string); ok {
					return s
				}
				js, _ := json.Marshal(v)
				return string(js)
			}
		}
	}
	return body
}

// releaseCLIGlobal are release-cli's options before the command that take
// a value; the server and token are always this job's.
var releaseCLIGlobal = map[string]bool{"--server-url": true, "--job-token": true, "--project-id": true, "--private-token": true,
	"--additional-ca-cert-bundle": true, "--timeout": true}

// parseReleaseCLI reads one release-cli command line.
func parseReleaseCLI(line string, getenv func(string) string) (*releaseRequest, error) {
	words, err := shellWords(line, getenv)
	if err != nil {
		return nil, err
	}
	if len(words) == 0 || words[0] != "release-cli" {
		return nil, fmt.Errorf("the release step runs release-cli only, not %q", firstWord(words))
	}
	i := 1
	for ; i < len(words) && words[i] != "create"; i++ {
		name, _, hasValue := strings.Cut(words[i], "=")
		switch {
		case releaseCLIGlobal[name] && !hasValue:
			i++
		case releaseCLIGlobal[name], name == "--debug", name == "--insecure-https":
		default:
			return nil, fmt.Errorf("unsupported release-cli command or option %q", words[i])
		}
	}
	if i >= len(words) {
		return nil, errors.New("only release-cli create is supported")
	}
	req := &releaseRequest{}
	fields := map[string]*string{"--name": &req.Name, "--description": &req.Description, "--tag-name": &req.TagName,
		"--tag-message": &req.TagMessage, "--ref": &req.Ref, "--released-at": &req.ReleasedAt}
	args := words[i+1:]
	for k := 0; k < len(args); k++ {
		name, value, hasValue := strings.Cut(args[k], "=")
		if !hasValue {
			if k+1 >= len(args) {
				return nil, fmt.Errorf("flag needs an argument: %s", name)
			}
			k++
			value = args[k]
		}
		switch {
		case fields[name] != nil:
			*fields[name] = value
		case name == "--milestone":
			req.milestones = append(req.milestones, value)
		case name == "--assets-link":
			var link map[string]any
			if err := json.Unmarshal([]byte(value), &link); err != nil {
				return nil, fmt.Errorf("invalid asset link: %w", err)
			}
			if req.Assets == nil {
				req.Assets = &struct {
					Links []map[string]any `json:"links"`
				}{}
			}
			req.Assets.Links = append(req.Assets.Links, link)
		default:
			return nil, fmt.Errorf("flag provided but not defined: %s", name)
		}
	}
	return req, nil
}

func firstWord(w []string) string {
	if len(w) == 0 {
		return ""
	}
	return w[0]
}

// shellWords splits line into words as bash would for a simple command:
// blanks separate words; single quotes keep everything; double quotes
// keep everything but $NAME, ${NAME} and the escapes \" \\ \$ \`;
// outside quotes a backslash keeps the next character and $NAME expands.
// What would run a command ($( or a backquote), a redirection or a second
// command is refused: the release step is one release-cli call.
func shellWords(line string, getenv func(string) string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	i := 0
	expand := func() error {
		// line[i] == '$'
		rest := line[i+1:]
		switch {
		case strings.HasPrefix(rest, "{"):
			end := strings.IndexByte(rest, '}')
			if end < 0 {
				return errors.New("bad substitution")
			}
			cur.WriteString(getenv(rest[1:end]))
			i += end + 2
		case strings.HasPrefix(rest, "("):
			return errors.New("command substitution is not supported")
		default:
			n := 0
			for n < len(rest) && (rest[n] == '_' || rest[n] >= 'a' && rest[n] <= 'z' || rest[n] >= 'A' && rest[n] <= 'Z' || n > 0 && rest[n] >= '0' && rest[n] <= '9') {
				n++
			}
			if n == 0 {
				cur.WriteByte('$')
				i++
				return nil
			}
			cur.WriteString(getenv(rest[:n]))
			i += n + 1
		}
		return nil
	}
	for i < len(line) {
		c := line[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n':
			if inWord {
				words, inWord = append(words, cur.String()), false
				cur.Reset()
			}
			i++
		case c == '\'':
			end := strings.IndexByte(line[i+1:], '\'')
			if end < 0 {
				return nil, errors.New("unterminated single quote")
			}
			cur.WriteString(line[i+1 : i+1+end])
			i, inWord = i+end+2, true
		case c == '"':
			inWord = true
			i++
			closed := false
			for i < len(line) && !closed {
				d := line[i]
				switch {
				case d == '"':
					closed = true
					i++
				case d == '\\' && i+1 < len(line) && strings.IndexByte("\"\\$`\n", line[i+1]) >= 0:
					if line[i+1] != '\n' {
						cur.WriteByte(line[i+1])
					}
					i += 2
				case d == '$':
					if err := expand(); err != nil {
						return nil, err
					}
				case d == '`':
					return nil, errors.New("command substitution is not supported")
				default:
					cur.WriteByte(d)
					i++
				}
			}
			if !closed {
				return nil, errors.New("unterminated double quote")
			}
		case c == '\\':
			if i+1 < len(line) {
				cur.WriteByte(line[i+1])
			}
			i, inWord = i+2, true
		case c == '$':
			inWord = true
			if err := expand(); err != nil {
				return nil, err
			}
		case strings.IndexByte("`;&|<>()", c) >= 0:
			return nil, fmt.Errorf("unsupported shell syntax %q", string(c))
		default:
			cur.WriteByte(c)
			i, inWord = i+1, true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}
