package git

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ciwarden/ciwarden/internal/auth"
	"github.com/ciwarden/ciwarden/internal/authz"
	"github.com/ciwarden/ciwarden/internal/gate"
	"github.com/ciwarden/ciwarden/internal/model"
)

const msgNotGitRequest = "Not a git request."

// Push is a completed push: who pushed which refs of which project.
type Push struct {
	Project *model.Project
	Pusher  *auth.Principal
	Updates []RefUpdate
}

// StartsPipelines: a change of refs made with a job token (a push, a
// release's new tag) starts no pipeline: a job changing its own project
// would otherwise loop.
func (p Push) StartsPipelines() bool { return p.Pusher != nil && p.Pusher.Kind != auth.JobKind }

// Handler serves repositories over smart HTTP at /<full-path>.git/...;
// its rows go through the gate like every other route, so access is
// decided before any of its handlers runs.
type Handler struct {
	Repos *Repos
	Log   *slog.Logger
	// OnPush runs after a receive-pack, before the response ends, with the
	// ref updates that took effect.
	OnPush func(ctx context.Context, p Push)

	// The pre-receive hook of protected refs (protected.go).
	hookOnce sync.Once
	hookDir  string
	hookErr  error
}

// gitPrefix is the repository part of every git route's Path.
const gitPrefix = "/{full_path}.git"

// Routes are the smart-HTTP endpoints: personal access tokens and job
// tokens (as gitlab-ci-token) by HTTP Basic only; the dumb protocol is not
// served. The request body is git's, never parameters.
func (h *Handler) Routes() []gate.Route {
	basic := gate.Accepts{PAT: auth.Basic, JobToken: auth.Basic, RawBody: true}
	row := func(method, suffix string, act authz.Action, handle func(*gate.Ctx) error) gate.Route {
		return gate.Route{Surface: gate.Git, Method: method, Path: gitPrefix + suffix, Accepts: basic,
			Target: gate.ProjectTarget, Action: act, Handle: handle}
	}
	return []gate.Route{
		row(http.MethodGet, "/info/refs?service=git-upload-pack", authz.ReadRepository, h.serveBackend),
		row(http.MethodPost, "/git-upload-pack", authz.ReadRepository, h.serveBackend),
		row(http.MethodGet, "/info/refs?service=git-receive-pack", authz.PushCode, h.serveBackend),
		row(http.MethodPost, "/git-receive-pack", authz.PushCode, h.receivePack),
	}
}

// request is a parsed git smart-HTTP URL.
type request struct {
	projectPath string
	service     string // git-upload-pack or git-receive-pack
	advertise   bool   // GET info/refs
}

// suffix is the part of a route's Path after the repository.
func (r request) suffix() string {
	if r.advertise {
		return "/info/refs?service=" + r.service
	}
	return "/" + r.service
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

// Dispatcher matches smart-HTTP requests to their rows of routes and runs
// them through g, with the repository's path as the project target. A
// request that is not git's goes to other (the web UI's pages), or is
// answered NotGitRequest when other is nil.
func Dispatcher(routes []gate.Route, g *gate.Gate, other http.Handler) http.Handler {
	if other == nil {
		other = NotGitRequest
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, ok := parseGitPath(r)
		if !ok {
			other.ServeHTTP(w, r)
			return
		}
		wantMethod := http.MethodPost
		if req.advertise {
			wantMethod = http.MethodGet
		}
		if r.Method != wantMethod {
			gate.Plain(w, http.StatusMethodNotAllowed, "Method not allowed.")
			return
		}
		for i := range routes {
			rt := &routes[i]
			if rt.Surface == gate.Git && rt.Method == r.Method && rt.Path == gitPrefix+req.suffix() {
				r.SetPathValue("id", req.projectPath)
				g.Serve(rt, w, r)
				return
			}
		}
		// The dumb protocol, or a service that does not exist.
		gate.Plain(w, http.StatusForbidden, "Unsupported git service.")
	})
}

// NotGitRequest answers a path that is neither git's nor anything else's.
var NotGitRequest = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	gate.Plain(w, http.StatusNotFound, msgNotGitRequest)
})

// serveBackend hands a decided request to git http-backend.
func (h *Handler) serveBackend(c *gate.Ctx) error {
	h.backend(c.W, c.R, c.Project, c.Principal, "", nil)
	return nil
}

// backend hands the request to git http-backend for the project's
// repository. hooksPath, when set, is git's core.hooksPath for this request, and
// extra adds to git's environment (what the hooks read).
func (h *Handler) backend(w http.ResponseWriter, r *http.Request, p *model.Project, who *auth.Principal, hooksPath string, extra []string) {
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
	config := []string{
		// http-backend refuses receive-pack without this; access was
		// decided above.
		"http.receivepack", "true",
		"uploadpack.allowFilter", "true",
		// refs/pipelines/* belong to the server: pushes may not touch them.
		"receive.hideRefs", "refs/pipelines",
	}
	if hooksPath != "" {
		config = append(config, "core.hooksPath", hooksPath)
	}
	env := []string{
		"GIT_PROJECT_ROOT=" + h.Repos.Root,
		"GIT_HTTP_EXPORT_ALL=1",
		"REMOTE_USER=" + user,
		"GIT_CONFIG_COUNT=" + strconv.Itoa(len(config)/2),
	}
	for i := 0; i < len(config); i += 2 {
		n := strconv.Itoa(i / 2)
		env = append(env, "GIT_CONFIG_KEY_"+n+"="+config[i], "GIT_CONFIG_VALUE_"+n+"="+config[i+1])
	}
	env = append(env, extra...)
	h.Repos.serveBackend(w, r2, env, h.Log)
}

// receivePack reads the ref-update commands ahead of git, runs the push,
// then reports the updates that took effect.
func (h *Handler) receivePack(c *gate.Ctx) error {
	w, r, p, who := c.W, c.R, c.Project, c.Principal
	body := io.Reader(r.Body)
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			gate.Plain(w, http.StatusBadRequest, "Malformed request body.")
			return nil
		}
		defer zr.Close()
		body = zr
		r.Header.Del("Content-Encoding")
		r.ContentLength = -1
	}
	br := bufio.NewReader(body)
	updates, raw, caps, err := readCommandsCaps(br)
	if err != nil {
		gate.Plain(w, http.StatusBadRequest, "Malformed push request.")
		return nil
	}
	verdict, err := decideRefs(c, updates)
	if err != nil {
		return err
	}
	hooks, extra, cleanup, err := h.hookEnv(verdict)
	if err != nil {
		return err
	}
	defer cleanup()
	// The replayed bytes are the ones read, so Content-Length still holds.
	r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(raw), br))
	rec := &reportRecorder{ResponseWriter: w}
	h.backend(rec, r, p, who, hooks, extra)
	if h.OnPush == nil || len(updates) == 0 || !(Push{Pusher: who}).StartsPipelines() {
		return nil
	}
	applied := h.applied(r.Context(), p.ID, updates, rec.buf.Bytes(), caps)
	if len(applied) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 30*time.Second)
	defer cancel()
	h.OnPush(ctx, Push{Project: p, Pusher: who, Updates: applied})
	return nil
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
