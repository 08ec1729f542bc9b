package web

import (
	"encoding/csv"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/ciwarden/ciwarden/internal/authz"
	"github.com/ciwarden/ciwarden/internal/gate"
	"github.com/ciwarden/ciwarden/internal/jobtoken"
	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/store"
)

// Settings > CI/CD > Token access (the seed's page; gitlab-compat.md §5):
// the outbound limit and its allowlist, the inbound toggle and its
// project and group allowlist with each entry's permissions, the
// authentication log and explain. Every change goes through
// jobtoken.Service, as the REST API's, and a refusal shows the API's
// message.

func settingsPath(p *model.Project) string { return "/" + p.FullPath() + "/-/settings/ci_cd" }

// entryRow is an allowlist entry as the page shows it.
type entryRow struct {
	Kind     string // project or group
	ID       int64
	Path     string
	Self     bool // the project itself: always in scope, not removable
	Default  bool
	Policies []string
}

func projectRows(links []*model.ScopeLink, self int64) []entryRow {
	var out []entryRow
	for _, l := range links {
		path := strconv.FormatInt(l.ProjectID, 10)
		if l.Project != nil {
			path = l.Project.FullPath()
		}
		out = append(out, entryRow{Kind: "project", ID: l.ProjectID, Path: path, Self: l.ProjectID == self, Default: l.DefaultPermissions, Policies: l.Policies})
	}
	return out
}

// logFilter narrows the authentication log on the page and in the CSV.
type logFilter struct {
	Result string // "", allowed, denied
	Origin string // substring of the origin project's path
}

func (f logFilter) keep(e *jobtoken.LogEntry) bool {
	switch {
	case f.Result == "allowed" && !e.LastAllowed, f.Result == "denied" && e.LastAllowed:
		return false
	case f.Origin != "" && !strings.Contains(strings.ToLower(e.OriginPath), strings.ToLower(f.Origin)):
		return false
	}
	return true
}

func (f logFilter) query() string {
	v := url.Values{}
	if f.Result != "" {
		v.Set("result", f.Result)
	}
	if f.Origin != "" {
		v.Set("origin", f.Origin)
	}
	return v.Encode()
}

func readLogFilter(c *gate.Ctx) logFilter {
	var f logFilter
	f.Result, _ = c.Params.String("result")
	if f.Result != "allowed" && f.Result != "denied" {
		f.Result = ""
	}
	f.Origin, _ = c.Params.String("origin")
	return f
}

// filteredLog is the project's whole authentication log, filtered (at
// most a few thousand rows: one per origin project).
func (u *UI) filteredLog(c *gate.Ctx, f logFilter) ([]*jobtoken.LogEntry, error) {
	all, err := u.JobTokens.AllAuthorizations(c.Context(), c.Principal, c.Project)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(all, func(e *jobtoken.LogEntry) bool { return !f.keep(e) }), nil
}

// settingsPage renders the page; status and msg report a refused change.
func (u *UI) settingsPage(c *gate.Ctx) error {
	notice, _ := c.Params.String("notice")
	return u.renderSettings(c, http.StatusOK, "", notice)
}

func (u *UI) renderSettings(c *gate.Ctx, status int, errMsg, notice string) error {
	ctx, p := c.Context(), c.Project
	sc, err := u.JobTokens.Scope(ctx, p)
	if err != nil {
		return err
	}
	all := store.Page{Number: 1, PerPage: 10 * model.MaxScopeLinks}
	out, _, err := u.JobTokens.ProjectAllowlist(ctx, p, model.Outbound, all)
	if err != nil {
		return err
	}
	in, _, err := u.JobTokens.ProjectAllowlist(ctx, p, model.Inbound, all)
	if err != nil {
		return err
	}
	groups, _, err := u.JobTokens.GroupAllowlist(ctx, p, all)
	if err != nil {
		return err
	}
	inbound := projectRows(in, p.ID)
	for _, l := range groups {
		path := strconv.FormatInt(l.GroupID, 10)
		if l.Group != nil {
			path = l.Group.FullPath
		}
		inbound = append(inbound, entryRow{Kind: "group", ID: l.GroupID, Path: path, Default: l.DefaultPermissions, Policies: l.Policies})
	}
	f := readLogFilter(c)
	log, err := u.filteredLog(c, f)
	if err != nil {
		return err
	}
	return u.render(c.W, c, status, "settings", "CI/CD settings · "+p.FullPath(), map[string]any{
		"Nav": nav(c), "Scope": sc, "Outbound": projectRows(out, p.ID), "Inbound": inbound,
		"Policies": authz.Policies(), "Log": log, "Filter": f, "FilterQuery": f.query(),
		"CanAdmin": c.Can(authz.AdminJobTokenScope), "Error": errMsg, "Notice": notice, "Path": settingsPath(p),
	})
}

// done answers a change: back to the page with a notice (303, so that a
// reload does not post again), or the page again with the refusal's
// status and message.
func (u *UI) done(c *gate.Ctx, err error, notice string) error {
	if err != nil {
		status, msg := c.Describe(err)
		if status >= 500 {
			return err
		}
		return u.renderSettings(c, status, msg, "")
	}
	http.Redirect(c.W, c.R, settingsPath(c.Project)+"?notice="+url.QueryEscape(notice)+"#token-access", http.StatusSeeOther)
	return nil
}

// setScope is a toggle: which (inbound or outbound) set to value.
func (u *UI) setScope(c *gate.Ctx) error {
	which, _ := c.Params.String("which")
	on, _ := c.Params.Bool("enabled")
	if err := c.Params.Err(); err != nil {
		return u.done(c, err, "")
	}
	var err error
	switch which {
	case model.Inbound:
		err = u.JobTokens.SetScope(c.Context(), c.Project, &on, nil)
	case model.Outbound:
		err = u.JobTokens.SetScope(c.Context(), c.Project, nil, &on)
	default:
		err = gate.ParamError("which does not have a valid value")
	}
	return u.done(c, err, "Token access settings saved.")
}

// permissions reads an entry's permissions from the form: "default" or
// the checked policies.
func permissions(c *gate.Ctx) (jobtoken.Permissions, error) {
	var pm jobtoken.Permissions
	mode, _ := c.Params.String("permissions")
	def := mode != "fine_grained"
	pm.Default = &def
	if !def {
		pm.Policies, _ = c.Params.Strings("job_token_policies")
		pm.Listed = true
	}
	if err := c.Params.Err(); err != nil {
		return pm, err
	}
	for _, p := range pm.Policies {
		if !authz.KnownPolicy(p) {
			return pm, gate.ParamError("job_token_policies does not have a valid value")
		}
	}
	return pm, nil
}

// targetProjectID resolves what the form names (a path or an ID); one
// that does not exist is 0, which the service refuses in the API's words.
func targetID(c *gate.Ctx, ref string, group bool) (int64, error) {
	ref = strings.Trim(strings.TrimSpace(ref), "/")
	if ref == "" {
		return 0, nil
	}
	var id int64
	var err error
	if group {
		var n *model.Namespace
		if n, err = c.FindGroup(ref); err == nil {
			id = n.ID
		}
	} else {
		var p *model.Project
		if p, err = c.FindProject(ref); err == nil {
			id = p.ID
		}
	}
	if err != nil && !errors.Is(err, model.ErrNotFound) {
		return 0, err
	}
	return id, nil
}

// addEntry adds a project (inbound or outbound) or a group (inbound).
func (u *UI) addEntry(c *gate.Ctx) error {
	kind, _ := c.Params.String("kind")
	ref, _ := c.Params.String("target")
	if err := c.Params.Err(); err != nil {
		return u.done(c, err, "")
	}
	id, err := targetID(c, ref, kind == "group")
	if err != nil {
		return err
	}
	switch kind {
	case model.Outbound:
		_, err = u.JobTokens.AddProject(c.Context(), c.Principal, c.Project, model.Outbound, id, jobtoken.Permissions{})
	case model.Inbound, "group":
		var pm jobtoken.Permissions
		if pm, err = permissions(c); err != nil {
			break
		}
		if kind == "group" {
			_, err = u.JobTokens.AddGroup(c.Context(), c.Principal, c.Project, id, pm)
		} else {
			_, err = u.JobTokens.AddProject(c.Context(), c.Principal, c.Project, model.Inbound, id, pm)
		}
	default:
		err = gate.ParamError("kind does not have a valid value")
	}
	return u.done(c, err, "Added "+ref+" to the allowlist.")
}

// entryParams reads which entry a remove or an edit is about.
func entryParams(c *gate.Ctx) (string, int64, error) {
	kind, _ := c.Params.String("kind")
	id, _ := c.Params.Int("id")
	if err := c.Params.Err(); err != nil {
		return "", 0, err
	}
	if kind != model.Inbound && kind != model.Outbound && kind != "group" {
		return "", 0, gate.ParamError("kind does not have a valid value")
	}
	return kind, id, nil
}

func (u *UI) removeEntry(c *gate.Ctx) error {
	kind, id, err := entryParams(c)
	if err == nil {
		if kind == "group" {
			err = u.JobTokens.RemoveGroup(c.Context(), c.Principal, c.Project, id)
		} else {
			err = u.JobTokens.RemoveProject(c.Context(), c.Principal, c.Project, kind, id)
		}
	}
	return u.done(c, err, "Removed the entry from the allowlist.")
}

func (u *UI) editEntry(c *gate.Ctx) error {
	kind, id, err := entryParams(c)
	var pm jobtoken.Permissions
	if err == nil {
		pm, err = permissions(c)
	}
	if err == nil {
		if kind == "group" {
			_, err = u.JobTokens.UpdateGroup(c.Context(), c.Project, id, pm)
		} else {
			_, err = u.JobTokens.UpdateProject(c.Context(), c.Project, id, pm)
		}
	}
	return u.done(c, err, "Permissions saved.")
}

// exportLog is the authentication log as CSV, filtered as the page is
// (jobtoken.CSV: the REST export's columns).
func (u *UI) exportLog(c *gate.Ctx) error {
	rows, err := u.filteredLog(c, readLogFilter(c))
	if err != nil {
		return err
	}
	h := c.W.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", gate.Attachment("job_token_authorizations_"+strconv.FormatInt(c.Project.ID, 10)+".csv"))
	c.W.WriteHeader(http.StatusOK)
	_ = csv.NewWriter(c.W).WriteAll(jobtoken.CSV(rows))
	return nil
}

// explainPage is "Explain a denial": job ID and permission in, each check
// of the decision out (jobtoken.Service.Explain, as the REST explain).
func (u *UI) explainPage(c *gate.Ctx) error {
	data := map[string]any{"Nav": nav(c), "Policies": authz.Policies(), "Path": settingsPath(c.Project)}
	jobID, _ := c.Params.Int("job_id")
	policy, _ := c.Params.String("permission")
	data["JobID"], data["Permission"] = jobID, policy
	status := http.StatusOK
	if err := c.Params.Err(); err != nil {
		status, data["Error"] = c.Describe(err)
	} else if jobID != 0 || policy != "" {
		act, ok := authz.PolicyAction(policy)
		if !ok {
			status, data["Error"] = http.StatusBadRequest, "permission does not have a valid value"
		} else if x, err := u.JobTokens.Explain(c.Context(), c.Principal, c.Project, jobID, act); err != nil {
			if status, data["Error"] = c.Describe(err); status >= 500 {
				return err
			}
		} else {
			data["X"] = x
		}
	}
	return u.render(c.W, c, status, "explain", "Explain a job token decision", data)
}
