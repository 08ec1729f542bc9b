package git

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/ciwarden/ciwarden/internal/access"
	"github.com/ciwarden/ciwarden/internal/auth"
	"github.com/ciwarden/ciwarden/internal/authz"
	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/store"
)

// GitLab's answers on the git transport.
const (
	msgAccessDenied  = "HTTP Basic: Access denied"
	msgNotFound      = "The project you were looking for could not be found or you don't have permission to view it."
	msgCannotPush    = "You are not allowed to upload code."
	msgCannotRead    = "You are not allowed to download code from this project."
	msgNotGitRequest = "Not a git request."
)

// Push is a completed push: who pushed which refs of which project.
type Push struct {
	Project *model.Project
	Pusher  *auth.Principal
	Updates []RefUpdate
}

// Handler serves repositories over smart HTTP at /<full-path>.git/...
type Handler struct {
	Repos *Repos
	Store *store.Store
	Auth  *auth.Authenticator
	// Access decides every read and push (the token access scope
	// included) and logs cross-project job-token uses.
	Access *access.Authorizer
	Log    *slog.Logger
	// OnPush runs after a receive-pack, before the response ends, with the
	// ref updates that took effect.
	OnPush func(ctx context.Context, p Push)
}

// request is a parsed git smart-HTTP URL.
type request struct {
	projectPath string
	service     string // git-upload-pack or git-receive-pack
	advertise   bool   // GET info/refs
}

// parseGitPath splits /<full-path>[.git]/info/refs and
// /<full-path>[.git]/git-(upload|receive)-pack.
func parseGitPath(r *http.Request) (request, bool) {
	p := r.URL.Path
	var req request
	switch {
	case strings.HasSuffix(p, "/info/refs"):
		p = strings.TrimSuffix(p, "/info/refs")
		req.advertise = true
		req.service = r.URL.Query().Get("service")
	case strings.HasSuffix(p, "/git-upload-pack"):
		p, req.service = strings.TrimSuffix(p, "/git-upload-pack"), "git-upload-pack"
	case strings.HasSuffix(p, "/git-receive-pack"):
		p, req.service = strings.TrimSuffix(p, "/git-receive-pack"), "git-receive-pack"
	default:
		return req, false
	}
	req.projectPath = strings.TrimSuffix(strings.Trim(p, "/"), ".git")
	return req, req.projectPath != "" && strings.Contains(req.projectPath, "/")
}

// IsGitRequest reports whether the path is a smart-HTTP git call.
func IsGitRequest(r *http.Request) bool {
	_, ok := parseGitPath(r)
	return ok
}

func plain(w http.ResponseWriter, status int, msg string) {
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="GitLab"`)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	io.WriteString(w, msg+"\n")
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req, ok := parseGitPath(r)
	if !ok {
		plain(w, http.StatusNotFound, msgNotGitRequest)
		return
	}
	wantMethod := http.MethodPost
	if req.advertise {
		wantMethod = http.MethodGet
	}
	if r.Method != wantMethod {
		plain(w, http.StatusMethodNotAllowed, "Method not allowed.")
		return
	}
	if req.service != "git-upload-pack" && req.service != "git-receive-pack" {
		// The dumb protocol is not served.
		plain(w, http.StatusForbidden, "Unsupported git service.")
		return
	}
	creds, err := auth.Extract(r, nil, auth.Basic, auth.Basic)
	if err != nil {
		plain(w, http.StatusUnauthorized, msgAccessDenied)
		return
	}
	principal, err := h.Auth.Authenticate(r.Context(), creds)
	if err != nil {
		var fail *auth.Failure
		if !errors.As(err, &fail) {
			h.Log.Error("git: authenticate", "err", err)
			plain(w, http.StatusInternalServerError, "Internal error.")
			return
		}
		plain(w, http.StatusUnauthorized, msgAccessDenied)
		return
	}
	anonymous := principal.Kind == auth.Anonymous
	project, err := h.findProject(r.Context(), req.projectPath)
	if err != nil {
		if !errors.Is(err, model.ErrNotFound) {
			h.Log.Error("git: find project", "err", err)
			plain(w, http.StatusInternalServerError, "Internal error.")
			return
		}
		if anonymous {
			// Ask for credentials rather than reveal that nothing is there.
			plain(w, http.StatusUnauthorized, msgAccessDenied)
			return
		}
		plain(w, http.StatusNotFound, msgNotFound)
		return
	}
	push := req.service == "git-receive-pack"
	action := authz.ReadRepository
	if push {
		action = authz.PushCode
	}
	d, _, err := h.Access.Project(r.Context(), principal, project, action)
	if err != nil {
		h.Log.Error("git: authorize", "err", err)
		plain(w, http.StatusInternalServerError, "Internal error.")
		return
	}
	if !d.Allowed {
		status, msg := gitDenial(d, principal, push, project)
		plain(w, status, msg)
		return
	}
	// A job token pushes only where its project allows it
	// (ci_push_repository_for_job_token_allowed); the decision has kept it
	// to its own project and checked the role (Developer).
	if push && principal.Kind == auth.JobKind && !project.CIPushRepositoryForJobTokenAllowed {
		plain(w, http.StatusForbidden, msgCannotPush)
		return
	}
	if push && !req.advertise {
		h.receivePack(w, r, project, principal)
		return
	}
	h.backend(w, r, project, principal)
}

// gitDenial is GitLab's answer on the git transport for a refusal: the
// token access scope and fine-grained permissions explain themselves as
// on the API, a role too low gets git's own words.
func gitDenial(d authz.Decision, who *auth.Principal, push bool, p *model.Project) (int, string) {
	switch {
	case who.Kind == auth.Anonymous || d.Status == http.StatusUnauthorized:
		return http.StatusUnauthorized, msgAccessDenied
	case d.Status == http.StatusNotFound:
		return http.StatusNotFound, msgNotFound
	case d.Check == authz.CheckOwnProject:
		return http.StatusForbidden, msgCannotPush
	case d.Check != authz.CheckRole && d.Check != authz.CheckTokenScope:
		return d.Status, d.Message
	case push:
		return http.StatusForbidden, msgCannotPush
	case who.Kind == auth.JobKind:
		return http.StatusForbidden, "Insufficient permissions to pull from the repository of project " + p.FullPath() + "."
	}
	return http.StatusForbidden, msgCannotRead
}

func (h *Handler) findProject(ctx context.Context, path string) (*model.Project, error) {
	p, err := h.Store.ProjectByPath(ctx, path)
	if err != nil {
		return nil, err
	}
	if p.PendingDelete || p.Namespace.PendingDelete {
		return nil, model.ErrNotFound
	}
	return p, nil
}

// backend hands the request to git http-backend for the project's
// repository.
func (h *Handler) backend(w http.ResponseWriter, r *http.Request, p *model.Project, who *auth.Principal) {
	suffix := "/info/refs"
	if !strings.HasSuffix(r.URL.Path, suffix) {
		suffix = r.URL.Path[strings.LastIndexByte(r.URL.Path, '/'):]
	}
	r2 := r.Clone(r.Context())
	r2.URL.Path = "/" + strings.TrimPrefix(h.Repos.Path(p.ID), h.Repos.Root+"/") + suffix
	user := "anonymous"
	if who.User != nil {
		user = who.User.Username
	}
	env := []string{
		"GIT_PROJECT_ROOT=" + h.Repos.Root,
		"GIT_HTTP_EXPORT_ALL=1",
		"REMOTE_USER=" + user,
		// http-backend refuses receive-pack without this; access was
		// decided above.
		"GIT_CONFIG_COUNT=3",
		"GIT_CONFIG_KEY_0=http.receivepack", "GIT_CONFIG_VALUE_0=true",
		"GIT_CONFIG_KEY_1=uploadpack.allowFilter", "GIT_CONFIG_VALUE_1=true",
		// refs/pipelines/* belong to the server: pushes may not touch them.
		"GIT_CONFIG_KEY_2=receive.hideRefs", "GIT_CONFIG_VALUE_2=refs/pipelines",
	}
	h.Repos.serveBackend(w, r2, env, h.Log)
}

// receivePack reads the ref-update commands ahead of git, runs the push,
// then reports the updates that took effect.
func (h *Handler) receivePack(w http.ResponseWriter, r *http.Request, p *model.Project, who *auth.Principal) {
	body := io.Reader(r.Body)
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			plain(w, http.StatusBadRequest, "Malformed request body.")
			return
		}
		defer zr.Close()
		body = zr
		r.Header.Del("Content-Encoding")
		r.ContentLength = -1
	}
	br := bufio.NewReader(body)
	updates, raw, caps, err := readCommandsCaps(br)
	if err != nil {
		plain(w, http.StatusBadRequest, "Malformed push request.")
		return
	}
	// The replayed bytes are the ones read, so Content-Length still holds.
	r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(raw), br))
	rec := &reportRecorder{ResponseWriter: w}
	h.backend(rec, r, p, who)
	// A job token's push starts no pipeline: a job pushing to its own
	// project would otherwise loop.
	if h.OnPush == nil || len(updates) == 0 || who.Kind == auth.JobKind {
		return
	}
	applied := h.applied(r.Context(), p.ID, updates, rec.buf.Bytes(), caps)
	if len(applied) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 30*time.Second)
	defer cancel()
	h.OnPush(ctx, Push{Project: p, Pusher: who, Updates: applied})
}

// applied keeps the updates git reported as done ("ok <ref>" in its
// report-status); git refuses some (non-fast-forward, hidden refs, a
// stale old value) and those must start no pipeline. Without a report it
// falls back to comparing the refs with the pushed values.
func (h *Handler) applied(ctx context.Context, projectID int64, updates []RefUpdate, resp []byte, caps []string) []RefUpdate {
	sideband := false
	for _, c := range caps {
		sideband = sideband || c == "side-band-64k" || c == "side-band"
	}
	if ok, reported := reportedRefs(resp, sideband); reported {
		var out []RefUpdate
		for _, u := range updates {
			if ok[u.Ref] {
				out = append(out, u)
			}
		}
		return out
	}
	refs, err := h.Repos.Refs(ctx, projectID, "refs/")
	if err != nil {
		h.Log.Error("git: list refs after push", "err", err)
		return nil
	}
	now := make(map[string]string, len(refs))
	for _, ref := range refs {
		now[ref.Name] = ref.SHA
	}
	var out []RefUpdate
	for _, u := range updates {
		cur, exists := now[u.Ref]
		if (u.Deleted() && !exists) || (!u.Deleted() && cur == u.New) {
			out = append(out, u)
		}
	}
	return out
}

// reportRecorder passes receive-pack's response through and keeps its
// first bytes, where the report-status is (a push's response is small).
type reportRecorder struct {
	http.ResponseWriter
	buf bytes.Buffer
}

const maxReport = 1 << 20

func (w *reportRecorder) Write(p []byte) (int, error) {
	if room := maxReport - w.buf.Len(); room > 0 {
		w.buf.Write(p[:min(len(p), room)])
	}
	return w.ResponseWriter.Write(p)
}

func (w *reportRecorder) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Route describes one git endpoint for the printed route table; the
// handler above enforces exactly this.
type Route struct {
	Method, Path, PAT, JobToken, Permission string
}

// Routes are the smart-HTTP endpoints: personal access tokens and job
// tokens (as gitlab-ci-token) by HTTP Basic only.
var Routes = []Route{
	{"GET", "/{full_path}.git/info/refs?service=git-upload-pack", "basic", "basic", "download_code"},
	{"POST", "/{full_path}.git/git-upload-pack", "basic", "basic", "download_code"},
	{"GET", "/{full_path}.git/info/refs?service=git-receive-pack", "basic", "basic (own project, if allowed)", "push_code"},
	{"POST", "/{full_path}.git/git-receive-pack", "basic", "basic (own project, if allowed)", "push_code"},
}
