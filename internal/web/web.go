// Package web is ciwarden's HTML UI (issue 19): server-rendered pages at
// GitLab's URLs, so that every web_url the API returns resolves. Every
// page is a row of the route table (Surface web) that takes the session
// cookie and nothing else, and passes authenticate -> facts ->
// authz.Decide in internal/gate before its handler runs, exactly as the
// API; handlers here read through the same services and render a page.
// Templates and the stylesheet are embedded: nothing is fetched at run
// time, and every page reads without JavaScript.
package web

import (
	"bytes"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/ciwarden/ciwarden/internal/access"
	"github.com/ciwarden/ciwarden/internal/accounts"
	"github.com/ciwarden/ciwarden/internal/artifacts"
	"github.com/ciwarden/ciwarden/internal/authz"
	"github.com/ciwarden/ciwarden/internal/ci"
	"github.com/ciwarden/ciwarden/internal/gate"
	"github.com/ciwarden/ciwarden/internal/git"
	"github.com/ciwarden/ciwarden/internal/jobtoken"
	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/packages"
	"github.com/ciwarden/ciwarden/internal/projects"
	"github.com/ciwarden/ciwarden/internal/registry"
	"github.com/ciwarden/ciwarden/internal/releases"
	"github.com/ciwarden/ciwarden/internal/runners"
	"github.com/ciwarden/ciwarden/internal/store"
	"github.com/ciwarden/ciwarden/internal/terraform"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// UI holds what the pages need: the same services as the API.
type UI struct {
	Store     *store.Store
	Accounts  *accounts.Service
	Projects  *projects.Service
	CI        *ci.Service
	Runners   *runners.Service
	Repos     *git.Repos
	Artifacts *artifacts.Service
	Access    *access.Authorizer
	JobTokens *jobtoken.Service
	Releases  *releases.Service
	Packages  *packages.Service
	Terraform *terraform.Service
	Registry  *registry.Repositories
	Log       *slog.Logger
	Now       func() time.Time
}

// session is how every page row takes its credential: the session cookie
// only.
var session = gate.Accepts{Session: true}

// Routes are the pages, as rows of the route table. Paths are in
// ServeMux's pattern syntax, with one extension the dispatcher adds:
// {id...} may stand first and names a project's or group's full path
// (nested groups), ending where the rest of the pattern matches.
func (u *UI) Routes() []gate.Route {
	row := func(method, path string, target gate.TargetKind, act authz.Action, h func(*gate.Ctx) error) gate.Route {
		return gate.Route{Surface: gate.Web, Method: method, Path: path, Accepts: session, Target: target, Action: act, Handle: h}
	}
	return []gate.Route{
		row(http.MethodGet, "/users/sign_in", gate.NoTarget, authz.SignIn, u.signInPage),
		row(http.MethodPost, "/users/sign_in", gate.NoTarget, authz.SignIn, u.signIn),
		row(http.MethodPost, "/users/sign_out", gate.NoTarget, authz.SignIn, u.signOut),
		row(http.MethodGet, "/-/static/{file}", gate.NoTarget, authz.ReadStatic, u.static),
		row(http.MethodGet, "/", gate.NoTarget, authz.ReadCurrentUser, u.dashboard),
		// User settings and administration (tokens.go)
		row(http.MethodGet, tokensPath, gate.NoTarget, authz.ReadOwnTokens, u.tokensPage),
		row(http.MethodPost, tokensPath, gate.NoTarget, authz.CreateOwnToken, u.createToken),
		row(http.MethodPost, tokensPath+"/{token_id}/revoke", gate.NoTarget, authz.RevokeOwnToken, u.revokeToken),
		row(http.MethodGet, passwordPath, gate.NoTarget, authz.ChangeOwnPassword, u.passwordPage),
		row(http.MethodPost, passwordPath, gate.NoTarget, authz.ChangeOwnPassword, u.changePassword),
		row(http.MethodGet, "/admin/runners", gate.NoTarget, authz.ManageInstanceRunners, u.runnersPage),
		row(http.MethodPost, "/admin/runners", gate.NoTarget, authz.CreateInstanceRunner, u.createRunner),
		row(http.MethodGet, "/groups/new", gate.NoTarget, authz.CreateGroup, u.newGroupPage),
		row(http.MethodPost, "/groups", gate.NoTarget, authz.CreateGroup, u.createGroup),
		row(http.MethodGet, "/projects/new", gate.NoTarget, authz.CreateProject, u.newProjectPage),
		row(http.MethodPost, "/projects", gate.NoTarget, authz.CreateProject, u.createProject),
		row(http.MethodGet, "/groups/{id...}", gate.GroupTarget, authz.ReadGroup, u.groupPage),
		row(http.MethodGet, "/{id...}/-/pipelines", gate.ProjectTarget, authz.ReadPipeline, u.pipelinesPage),
		row(http.MethodGet, "/{id...}/-/pipelines/{pipeline_id}", gate.ProjectTarget, authz.ReadPipeline, u.pipelinePage),
		row(http.MethodGet, "/{id...}/-/jobs/{job_id}", gate.ProjectTarget, authz.ReadPipeline, u.jobPage),
		row(http.MethodGet, "/{id...}/-/jobs/{job_id}/trace.json", gate.ProjectTarget, authz.ReadPipeline, u.jobTrace),
		row(http.MethodGet, "/{id...}/-/jobs/{job_id}/raw", gate.ProjectTarget, authz.ReadPipeline, u.jobRaw),
		row(http.MethodGet, "/{id...}/-/jobs/{job_id}/artifacts/download", gate.ProjectTarget, authz.ReadJobArtifacts, u.jobArtifacts),
		// Browsing inside the archive (browse.go), as the download is read.
		row(http.MethodGet, "/{id...}/-/jobs/{job_id}/artifacts/browse", gate.ProjectTarget, authz.ReadJobArtifacts, u.artifactsBrowse),
		row(http.MethodGet, "/{id...}/-/jobs/{job_id}/artifacts/browse/{path...}", gate.ProjectTarget, authz.ReadJobArtifacts, u.artifactsBrowse),
		row(http.MethodGet, "/{id...}/-/jobs/{job_id}/artifacts/file/{path...}", gate.ProjectTarget, authz.ReadJobArtifacts, u.artifactsFile),
		row(http.MethodGet, "/{id...}/-/jobs/{job_id}/artifacts/raw/{path...}", gate.ProjectTarget, authz.ReadJobArtifacts, u.artifactsRaw),
		// The buttons (actions.go)
		row(http.MethodPost, "/{id...}/-/pipelines/{pipeline_id}/cancel", gate.ProjectTarget, authz.UpdatePipeline, u.cancelPipeline),
		row(http.MethodPost, "/{id...}/-/pipelines/{pipeline_id}/retry", gate.ProjectTarget, authz.UpdatePipeline, u.retryPipeline),
		row(http.MethodPost, "/{id...}/-/jobs/{job_id}/{action}", gate.ProjectTarget, authz.UpdatePipeline, u.jobAction),
		// Settings > CI/CD > Token access (settings.go)
		row(http.MethodGet, "/{id...}/-/settings/ci_cd", gate.ProjectTarget, authz.ReadJobTokenScope, u.settingsPage),
		row(http.MethodPost, "/{id...}/-/settings/ci_cd/job_token_scope", gate.ProjectTarget, authz.AdminJobTokenScope, u.setScope),
		row(http.MethodPost, "/{id...}/-/settings/ci_cd/allowlist", gate.ProjectTarget, authz.AdminJobTokenScope, u.addEntry),
		row(http.MethodPost, "/{id...}/-/settings/ci_cd/allowlist/remove", gate.ProjectTarget, authz.AdminJobTokenScope, u.removeEntry),
		row(http.MethodPost, "/{id...}/-/settings/ci_cd/allowlist/permissions", gate.ProjectTarget, authz.AdminJobTokenScope, u.editEntry),
		row(http.MethodGet, "/{id...}/-/settings/ci_cd/authorizations.csv", gate.ProjectTarget, authz.ReadJobTokenScope, u.exportLog),
		row(http.MethodGet, "/{id...}/-/settings/ci_cd/explain", gate.ProjectTarget, authz.ExplainJobToken, u.explainPage),
		// A project's runners, for its Maintainers (tokens.go)
		row(http.MethodGet, "/{id...}/-/runners", gate.ProjectTarget, authz.ManageProjectRunners, u.runnersPage),
		row(http.MethodPost, "/{id...}/-/runners", gate.ProjectTarget, authz.CreateProjectRunner, u.createRunner),
		// Releases, packages, Terraform states and the container registry
		// (features.go): the API's actions, so the same roles read and change.
		row(http.MethodGet, "/{id...}/-/releases", gate.ProjectTarget, authz.ReadRelease, u.releasesPage),
		// A tag may hold slashes ("release/1.0", escaped in the API's URLs
		// but unescaped in the path): {tag...}, the edit and download rows
		// first.
		row(http.MethodGet, "/{id...}/-/releases/{tag...}/edit", gate.ProjectTarget, authz.AdminRelease, u.releaseEditPage),
		row(http.MethodGet, "/{id...}/-/releases/{tag...}/downloads/{path...}", gate.ProjectTarget, authz.ReadRelease, u.releaseDownload),
		row(http.MethodGet, "/{id...}/-/releases/{tag...}", gate.ProjectTarget, authz.ReadRelease, u.releasePage),
		row(http.MethodPost, "/{id...}/-/releases/{tag...}", gate.ProjectTarget, authz.AdminRelease, u.updateRelease),
		row(http.MethodGet, "/{id...}/-/tags/{tag...}", gate.ProjectTarget, authz.ReadRepository, u.tagPage),
		row(http.MethodGet, "/{id...}/-/packages", gate.ProjectTarget, authz.ReadPackage, u.packagesPage),
		row(http.MethodGet, "/{id...}/-/packages/{package_id}", gate.ProjectTarget, authz.ReadPackage, u.packagePage),
		row(http.MethodPost, "/{id...}/-/packages/{package_id}/delete", gate.ProjectTarget, authz.DestroyPackage, u.deletePackage),
		row(http.MethodGet, "/{id...}/-/packages/{package_id}/files/{file_id}/download", gate.ProjectTarget, authz.ReadPackage, u.packageFile),
		row(http.MethodGet, "/{id...}/-/terraform", gate.ProjectTarget, authz.ReadTerraformState, u.terraformPage),
		row(http.MethodPost, "/{id...}/-/terraform/{name}/unlock", gate.ProjectTarget, authz.AdminTerraformState, u.unlockState),
		row(http.MethodPost, "/{id...}/-/terraform/{name}/delete", gate.ProjectTarget, authz.AdminTerraformState, u.deleteState),
		row(http.MethodGet, "/{id...}/-/container_registry", gate.ProjectTarget, authz.ReadContainerRepository, u.registryPage),
		row(http.MethodPost, "/{id...}/-/container_registry/{repository_id}/tags/{tag}/delete", gate.ProjectTarget, authz.DestroyContainerRepository, u.deleteTag),
		// The API's other web_url values (repository.go)
		row(http.MethodGet, "/{id...}/-/commit/{sha}", gate.ProjectTarget, authz.ReadRepository, u.commitPage),
		row(http.MethodGet, "/{id...}/-/tree/{ref...}", gate.ProjectTarget, authz.ReadRepository, u.treePage),
		row(http.MethodGet, "/users/{username}", gate.NoTarget, authz.ReadUser, u.userPage),
		// Last: a project's page is any path no other row matched
		// (Dispatcher serves a group's or a user's path by their rows).
		row(http.MethodGet, projectPage, gate.ProjectTarget, authz.ReadProject, u.projectPage),
	}
}

// Dispatcher serves the page rows through g: it matches a request's path
// against each row in order and runs the first that fits. A path no page
// names gets notFound, or the HTML 404 page when a browser asks.
func (u *UI) Dispatcher(routes []gate.Route, g *gate.Gate, notFound http.Handler) http.Handler {
	var rows []*gate.Route
	for i := range routes {
		if routes[i].Surface == gate.Web {
			rows = append(rows, &routes[i])
		}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pathMatched := false
		for _, rt := range rows {
			vals, ok := match(rt.Path, r.URL.Path)
			if !ok {
				continue
			}
			pathMatched = true
			if rt.Method != r.Method && !(rt.Method == http.MethodGet && r.Method == http.MethodHead) {
				continue
			}
			if rt.Path == projectPage {
				// /<path> is a project's page, or else a group's or a
				// user's (GitLab's namespace URLs): routing by what the
				// path names, before the gate decides on it.
				rt, vals = u.namespaceRow(r, rows, vals["id"])
			}
			for k, v := range vals {
				r.SetPathValue(k, v)
			}
			g.Serve(rt, w, r)
			return
		}
		if pathMatched {
			w.Header().Set("Allow", "GET, POST")
			gate.Plain(w, http.StatusMethodNotAllowed, "Method not allowed.")
			return
		}
		if strings.Contains(r.Header.Get("Accept"), "text/html") {
			u.errorPage(w, nil, http.StatusNotFound, "404 Not Found")
			return
		}
		notFound.ServeHTTP(w, r)
	})
}

// projectPage is the project page's row, every path's last resort.
const projectPage = "/{id...}"

// namespaceRow picks the row for /<path>: the project page when a project
// has that path (or none has, for the gate's 404), the group page or the
// user page when a group or a user's namespace has it.
func (u *UI) namespaceRow(r *http.Request, rows []*gate.Route, path string) (*gate.Route, map[string]string) {
	project := map[string]string{"id": path}
	var rt *gate.Route
	for _, x := range rows {
		if x.Path == projectPage {
			rt = x
		}
	}
	if _, err := u.Access.FindProject(r.Context(), path); !errors.Is(err, model.ErrNotFound) {
		return rt, project
	}
	ns, err := u.Store.NamespaceByPath(r.Context(), path)
	if err != nil {
		return rt, project
	}
	want, vals := "/groups/{id...}", map[string]string{"id": path}
	if ns.Kind == model.NamespaceUser {
		want, vals = "/users/{username}", map[string]string{"username": path}
	}
	for _, x := range rows {
		if x.Path == want && x.Method == http.MethodGet {
			return x, vals
		}
	}
	return rt, project
}

// match matches path against pattern: literal segments, {name} for one
// segment, {name...} for one or more (a full path: never "-", which
// starts GitLab's /-/ routes, nor a segment ending in .git, which is
// git's). It returns the wildcards' values.
func match(pattern, path string) (map[string]string, bool) {
	if pattern == "/" {
		return nil, path == "/"
	}
	ps := strings.Split(strings.Trim(pattern, "/"), "/")
	if path == "/" || !strings.HasPrefix(path, "/") {
		return nil, false
	}
	xs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	vals := map[string]string{}
	var rec func(i, j int) bool
	rec = func(i, j int) bool {
		if i == len(ps) {
			return j == len(xs)
		}
		p := ps[i]
		switch {
		case strings.HasSuffix(p, "...}"):
			name := p[1 : len(p)-4]
			for k := j; k < len(xs); k++ {
				if xs[k] == "-" || xs[k] == "" || strings.HasSuffix(xs[k], ".git") {
					return false
				}
				if rec(i+1, k+1) {
					vals[name] = strings.Join(xs[j:k+1], "/")
					return true
				}
			}
			return false
		case j >= len(xs):
			return false
		case strings.HasPrefix(p, "{"):
			if xs[j] == "" {
				return false
			}
			vals[p[1:len(p)-1]] = xs[j]
			return rec(i+1, j+1)
		case p == xs[j]:
			return rec(i+1, j+1)
		}
		return false
	}
	if !rec(0, 0) {
		return nil, false
	}
	return vals, true
}

// static serves the embedded stylesheet and script.
func (u *UI) static(c *gate.Ctx) error {
	name := c.R.PathValue("file")
	data, err := fs.ReadFile(staticFS, "static/"+name)
	if err != nil {
		return gate.NotFound("")
	}
	ct := "text/css; charset=utf-8"
	if strings.HasSuffix(name, ".js") {
		ct = "text/javascript; charset=utf-8"
	}
	c.W.Header().Set("Content-Type", ct)
	c.W.Header().Set("Cache-Control", "public, max-age=3600")
	c.W.Write(data)
	return nil
}

// page is what every template gets: the signed-in user, the CSRF token
// for its forms, and the page's own data.
type page struct {
	Title string
	User  any
	CSRF  string
	Data  any
}

var funcs = template.FuncMap{
	"since": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
	"ptime": func(t *time.Time) string {
		if t == nil {
			return "-"
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	"dur": func(a, b *time.Time) string {
		if a == nil || b == nil {
			return "-"
		}
		return b.Sub(*a).Round(time.Second).String()
	},
	"log":    func(s string) template.HTML { return template.HTML(RenderLog(s)) },
	"has":    slices.Contains[[]string],
	"online": online,
	"list":   func(v ...string) []string { return v },
	"upath":  escapePath,
	"permdata": func(def bool, policies, all []string) map[string]any {
		return map[string]any{"Default": def, "Policies": policies, "All": all}
	},
	// explainable: the permissions explain can ask about (those that
	// guard an endpoint).
	"explainable": func(all []string) []string {
		return slices.DeleteFunc(slices.Clone(all), func(p string) bool { _, ok := authz.PolicyAction(p); return !ok })
	},
}

// pages are the parsed templates, each page with the layout. They are
// embedded constants: a broken one fails every test that starts a
// server, never a start in production after root was created.
var pages = loadPages()

func loadPages() map[string]*template.Template {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		panic(err)
	}
	out := map[string]*template.Template{}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base != "layout" {
			out[base] = template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", n))
		}
	}
	return out
}

// render writes page name with status.
func (u *UI) render(w http.ResponseWriter, c *gate.Ctx, status int, name, title string, data any) error {
	p := page{Title: title, Data: data}
	if c != nil {
		p.CSRF = c.CSRFToken()
		if c.Principal != nil && c.Principal.User != nil {
			p.User = c.Principal.User
		}
	}
	var buf bytes.Buffer
	if err := pages[name].Execute(&buf, p); err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, err := w.Write(buf.Bytes())
	return err
}

// errorPage is the gate's WebError: a refusal or failure as a page, with
// the status and words the API would give.
func (u *UI) errorPage(w http.ResponseWriter, c *gate.Ctx, status int, msg string) {
	title := http.StatusText(status)
	if err := u.render(w, c, status, "error", title, map[string]any{"Status": status, "Message": msg}); err != nil && u.Log != nil {
		u.Log.Error("rendering the error page failed", "err", err)
	}
}

// WebError renders the gate's refusals and failures on page routes.
func (u *UI) WebError(c *gate.Ctx, status int, msg string) { u.errorPage(c.W, c, status, msg) }
