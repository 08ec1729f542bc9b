package api

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/ciwarden/ciwarden/internal/authz"
	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/store"
)

// The token access scope over REST (gitlab-compat.md §5): the toggles,
// the inbound project and group allowlists with GitLab's codes and
// bodies, and beyond GitLab the entries' fine-grained permissions, the
// outbound allowlist, the authentication log and explain.

// GitLab's words for the scope's refusals.
const (
	msgProjectAlreadyListed = "Target project is already in the job token scope"
	msgGroupAlreadyListed   = "This group is already in the job token allowlist."
	msgSelfLink             = "Validation failed: Target project can't be the same as the source project"
	msgProjectLinkLimit     = "Validation failed: Source project exceeds the allowable number of project links in this direction"
	msgGroupLinkLimit       = "Validation failed: Source project exceeds the allowable number of group links"
	msgTargetProjectHidden  = "The target_project that you are attempting to access does not exist or you don't have permission to perform this action"
	msgTargetGroupHidden    = "The target_group that you are attempting to access does not exist or you don't have permission to perform this action"
	msgProjectNotListed     = "Target project is not in the job token scope"
	msgGroupNotListed       = "Target group is not in the job token scope"
	msgSelfRemoval          = "Source project cannot be removed from the job token scope"
	msgInboundEnforced      = "The instance enforces the job token allowlist on every project; it cannot be turned off"
	msgOutboundNeedsTarget  = "Insufficient permissions to add the target project: the Maintainer role is required on it too"
)

// getJobTokenScope is GET /projects/:id/job_token_scope.
// inbound_enabled is the effective value: the instance's enforcement
// keeps the allowlist in force whatever the project's own toggle says.
func (a *API) getJobTokenScope(c *Ctx) error {
	inbound, err := a.Access.InboundInForce(c.Context(), c.Project)
	if err != nil {
		return err
	}
	writeJSON(c.W, http.StatusOK, map[string]bool{
		"inbound_enabled":  inbound,
		"outbound_enabled": c.Project.JobTokenOutboundEnabled,
	})
	return nil
}

// patchJobTokenScope is PATCH /projects/:id/job_token_scope: enabled is
// the inbound toggle (GitLab's name), outbound_enabled the seed's limit.
// Anything else, or neither, is a 400 and changes nothing.
func (a *API) patchJobTokenScope(c *Ctx) error {
	for _, n := range c.Params.Names() {
		if n != "enabled" && n != "outbound_enabled" {
			return errParam(n + " does not have a valid value")
		}
	}
	if !c.Params.Has("enabled") && !c.Params.Has("outbound_enabled") {
		return errParam("enabled is missing")
	}
	inbound, err := c.strictBool("enabled")
	if err != nil {
		return err
	}
	outbound, err := c.strictBool("outbound_enabled")
	if err != nil {
		return err
	}
	if err := a.Store.Tx(c.Context(), func(q *store.Queries) error {
		if inbound != nil && !*inbound {
			enforced, err := q.BoolSetting(c.Context(), store.SettingEnforceInboundScope, false)
			if err != nil {
				return err
			}
			if enforced {
				return errBadRequest(msgInboundEnforced)
			}
		}
		return q.SetJobTokenScope(c.Context(), c.Project.ID, inbound, outbound)
	}); err != nil {
		return err
	}
	c.W.WriteHeader(http.StatusNoContent)
	return nil
}

// strictBool reads an optional boolean that may not be null, blank or a
// number.
func (c *Ctx) strictBool(name string) (*bool, error) {
	if !c.Params.Has(name) {
		return nil, nil
	}
	raw, _ := c.Params.Raw(name)
	if s, ok := raw.(string); raw == nil || (ok && strings.TrimSpace(s) == "") {
		return nil, errParam(name + " is empty")
	}
	if _, isNum := raw.(json.Number); isNum {
		return nil, errParam(name + " is invalid")
	}
	v, _ := c.Params.Bool(name)
	if err := c.Params.Err(); err != nil {
		return nil, err
	}
	return &v, nil
}

// listProjectAllowlist is GET .../allowlist (dir inbound) and
// .../outbound_allowlist: the project itself first (always in scope,
// never stored), then its links. Inbound entries show their permissions;
// outbound ones have none.
func (a *API) listProjectAllowlist(dir string) func(*Ctx) error {
	return func(c *Ctx) error {
		pg, err := c.page()
		if err != nil {
			return err
		}
		// At most 200 links (plus those kept over a lowered limit): read
		// them all and page in memory, the project itself included.
		links, _, err := a.Store.ProjectLinks(c.Context(), c.Project.ID, dir, store.Page{Number: 1, PerPage: 10 * model.MaxScopeLinks})
		if err != nil {
			return err
		}
		self := &model.ScopeLink{Direction: dir, DefaultPermissions: true}
		all := []map[string]any{a.linkedProjectJSON(c.Project, self)}
		for _, l := range links {
			all = append(all, a.linkedProjectJSON(l.Project, l))
		}
		c.writePage(pageOf(all, pg), pg, len(all))
		return nil
	}
}

func pageOf[T any](all []T, pg store.Page) []T {
	lo := min(pg.Offset(), len(all))
	hi := min(lo+pg.Limit(), len(all))
	return all[lo:hi]
}

// linkedProjectJSON is GitLab's basic project details, plus the entry's
// permissions.
func (a *API) linkedProjectJSON(p *model.Project, l *model.ScopeLink) map[string]any {
	m := a.basicProjectJSON(p)
	m["avatar_url"], m["forks_count"], m["star_count"] = nil, 0, 0
	if l.Direction == model.Inbound {
		m["default_permissions"], m["job_token_policies"] = l.DefaultPermissions, policiesJSON(l.Policies)
	}
	return m
}

func policiesJSON(p []string) []string {
	if p == nil {
		return []string{}
	}
	return p
}

// listGroupAllowlist is GET .../groups_allowlist.
func (a *API) listGroupAllowlist(c *Ctx) error {
	pg, err := c.page()
	if err != nil {
		return err
	}
	links, total, err := a.Store.GroupLinks(c.Context(), c.Project.ID, pg)
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(links))
	for _, l := range links {
		out = append(out, map[string]any{
			"id": l.Group.ID, "name": l.Group.Name, "web_url": a.webURL("groups/" + l.Group.FullPath),
			"full_path":           l.Group.FullPath,
			"default_permissions": l.DefaultPermissions, "job_token_policies": policiesJSON(l.Policies),
		})
	}
	c.writePage(out, pg, total)
	return nil
}

// permissionParams reads default_permissions and job_token_policies.
// Listing policies without default_permissions means they apply.
func (c *Ctx) permissionParams(l *model.ScopeLink) error {
	if c.Params.ScalarInJSON("job_token_policies") {
		return errParam("job_token_policies is invalid")
	}
	policies, listed := c.Params.Strings("job_token_policies")
	def, hasDef := c.Params.Bool("default_permissions")
	if err := c.Params.Err(); err != nil {
		return err
	}
	for _, p := range policies {
		if !authz.KnownPolicy(p) {
			return errParam("job_token_policies does not have a valid value")
		}
	}
	if listed {
		l.Policies = slices.Compact(slices.Sorted(slices.Values(policies)))
		l.DefaultPermissions = false
	}
	if hasDef {
		l.DefaultPermissions = def
	}
	return nil
}

// targetID reads the required integer id parameter of an add.
func (c *Ctx) targetID(name string) (int64, error) {
	c.Params.Require(name)
	id, _ := c.Params.Int(name)
	if err := c.Params.Err(); err != nil {
		return 0, err
	}
	return id, nil
}

// addProjectLink is POST .../allowlist (dir inbound) and
// .../outbound_allowlist.
func (a *API) addProjectLink(dir string) func(*Ctx) error {
	return func(c *Ctx) error { return a.addProjectLinkIn(c, dir) }
}

func (a *API) addProjectLinkIn(c *Ctx, dir string) error {
	id, err := c.targetID("target_project_id")
	if err != nil {
		return err
	}
	l := &model.ScopeLink{OwnerProjectID: c.Project.ID, Direction: dir, ProjectID: id, DefaultPermissions: true, AddedByID: c.Principal.UserID()}
	if dir == model.Outbound {
		// Permissions belong to the accessed project's (inbound) entry;
		// an outbound entry only says where the token may go.
		for _, n := range []string{"default_permissions", "job_token_policies"} {
			if c.Params.Has(n) {
				return errParam(n + " does not apply to the outbound allowlist")
			}
		}
	} else if err := c.permissionParams(l); err != nil {
		return err
	}
	target, err := c.FindProject(itoa(id))
	if errors.Is(err, model.ErrNotFound) {
		return errNotFound("target_project_id not found")
	} else if err != nil {
		return err
	}
	d, level, err := a.Access.Project(c.Context(), c.Principal, target, authz.ReadProject)
	switch {
	case err != nil:
		return err
	case !d.Allowed:
		return errBadRequest(msgTargetProjectHidden)
	case target.ID == c.Project.ID:
		return errBadRequest(msgSelfLink)
	case dir == model.Outbound && level < model.Maintainer && !c.Principal.Admin():
		// The seed: whoever adds a project to the outbound scope is a
		// Maintainer of both.
		return errMessage(http.StatusForbidden, "403 Forbidden - "+msgOutboundNeedsTarget)
	}
	err = a.storeLink(c,
		func(q *store.Queries) (int, error) { return q.CountProjectLinks(c.Context(), c.Project.ID, dir) },
		func(q *store.Queries) error { return q.AddProjectLink(c.Context(), l) },
		msgProjectLinkLimit, msgProjectAlreadyListed)
	if err != nil {
		return err
	}
	writeJSON(c.W, http.StatusCreated, map[string]int64{"source_project_id": c.Project.ID, "target_project_id": target.ID})
	return nil
}

// addGroupLink is POST .../groups_allowlist.
func (a *API) addGroupLink(c *Ctx) error {
	id, err := c.targetID("target_group_id")
	if err != nil {
		return err
	}
	l := &model.ScopeLink{OwnerProjectID: c.Project.ID, Direction: model.Inbound, GroupID: id, DefaultPermissions: true, AddedByID: c.Principal.UserID()}
	if err := c.permissionParams(l); err != nil {
		return err
	}
	g, err := c.FindGroup(itoa(id))
	if errors.Is(err, model.ErrNotFound) {
		return errNotFound("target_group_id not found")
	} else if err != nil {
		return err
	}
	if ok, err := c.canReadGroup(g); err != nil {
		return err
	} else if !ok {
		return errBadRequest(msgTargetGroupHidden)
	}
	err = a.storeLink(c,
		func(q *store.Queries) (int, error) { return q.CountGroupLinks(c.Context(), c.Project.ID) },
		func(q *store.Queries) error { return q.AddGroupLink(c.Context(), l) },
		msgGroupLinkLimit, msgGroupAlreadyListed)
	if err != nil {
		return err
	}
	writeJSON(c.W, http.StatusCreated, map[string]int64{"source_project_id": c.Project.ID, "target_group_id": g.ID})
	return nil
}

// storeLink adds one entry within the limit of model.MaxScopeLinks (as
// counted by count), under the project's lock so that concurrent adds
// cannot both pass it.
func (a *API) storeLink(c *Ctx, count func(*store.Queries) (int, error), add func(*store.Queries) error, overLimit, duplicate string) error {
	err := a.Store.Tx(c.Context(), func(q *store.Queries) error {
		if err := q.LockProject(c.Context(), c.Project.ID); err != nil {
			return err
		}
		n, err := count(q)
		if err != nil {
			return err
		}
		if n >= model.MaxScopeLinks {
			return errBadRequest(overLimit)
		}
		return add(q)
	})
	if errors.Is(err, model.ErrConflict) {
		return errBadRequest(duplicate)
	}
	return err
}

// canReadGroup: whether the caller may see group g.
func (c *Ctx) canReadGroup(g *model.Namespace) (bool, error) {
	d, _, err := c.API.Access.Group(c.Context(), c.Principal, g, authz.ReadGroup)
	return d.Allowed, err
}

// updateProjectLink is PUT .../allowlist/:target_project_id: the entry's
// fine-grained permissions.
func (a *API) updateProjectLink(c *Ctx) error {
	id, err := c.PathInt("target_project_id")
	if err != nil {
		return err
	}
	l, err := a.Store.ProjectLink(c.Context(), c.Project.ID, model.Inbound, id)
	if errors.Is(err, model.ErrNotFound) {
		return errBadRequest(msgProjectNotListed)
	} else if err != nil {
		return err
	}
	return a.updateLink(c, l, "target_project_id", id)
}

// updateGroupLink is PUT .../groups_allowlist/:target_group_id.
func (a *API) updateGroupLink(c *Ctx) error {
	id, err := c.PathInt("target_group_id")
	if err != nil {
		return err
	}
	l, err := a.Store.GroupLink(c.Context(), c.Project.ID, id)
	if errors.Is(err, model.ErrNotFound) {
		return errBadRequest(msgGroupNotListed)
	} else if err != nil {
		return err
	}
	return a.updateLink(c, l, "target_group_id", id)
}

func (a *API) updateLink(c *Ctx, l *model.ScopeLink, idName string, id int64) error {
	if !c.Params.Has("default_permissions") && !c.Params.Has("job_token_policies") {
		return errParam("default_permissions, job_token_policies are missing, at least one parameter must be provided")
	}
	if err := c.permissionParams(l); err != nil {
		return err
	}
	if err := a.Store.Tx(c.Context(), func(q *store.Queries) error { return q.SetLinkPermissions(c.Context(), l) }); err != nil {
		return err
	}
	writeJSON(c.W, http.StatusOK, map[string]any{
		"source_project_id": c.Project.ID, idName: id,
		"default_permissions": l.DefaultPermissions, "job_token_policies": policiesJSON(l.Policies),
	})
	return nil
}

// removeProjectLink is DELETE .../allowlist/:target_project_id and
// .../outbound_allowlist/:target_project_id. The removal bumps the
// project's scope version, so the next request of a token the entry
// admitted is refused on every replica.
func (a *API) removeProjectLink(dir string) func(*Ctx) error {
	return func(c *Ctx) error { return a.removeProjectLinkIn(c, dir) }
}

func (a *API) removeProjectLinkIn(c *Ctx, dir string) error {
	id, err := c.PathInt("target_project_id")
	if err != nil {
		return err
	}
	target, err := c.FindProject(itoa(id))
	if errors.Is(err, model.ErrNotFound) {
		return errNotFound("Project")
	} else if err != nil {
		return err
	}
	if target.ID == c.Project.ID {
		return errBadRequest(msgSelfRemoval)
	}
	return a.removeLink(c,
		func(q *store.Queries) error {
			return q.DeleteProjectLink(c.Context(), c.Project.ID, dir, target.ID)
		},
		func() (bool, error) {
			d, _, err := a.Access.Project(c.Context(), c.Principal, target, authz.ReadProject)
			return d.Allowed, err
		},
		errNotFound("Project"), errBadRequest(msgProjectNotListed))
}

// removeGroupLink is DELETE .../groups_allowlist/:target_group_id.
func (a *API) removeGroupLink(c *Ctx) error {
	id, err := c.PathInt("target_group_id")
	if err != nil {
		return err
	}
	g, err := c.FindGroup(itoa(id))
	if errors.Is(err, model.ErrNotFound) {
		return errNotFound("target_group_id not found")
	} else if err != nil {
		return err
	}
	return a.removeLink(c,
		func(q *store.Queries) error { return q.DeleteGroupLink(c.Context(), c.Project.ID, g.ID) },
		func() (bool, error) { return c.canReadGroup(g) },
		errNotFound("target_group_id not found"), errBadRequest(msgGroupNotListed))
}

// removeLink deletes one entry. A listed target is removable even when
// the caller cannot see it; an unlisted one they cannot see answers as a
// missing one, so that DELETE reveals nothing (security.md §3).
func (a *API) removeLink(c *Ctx, del func(q *store.Queries) error, visible func() (bool, error), missing, unlisted error) error {
	err := a.Store.Tx(c.Context(), del)
	if errors.Is(err, model.ErrNotFound) {
		ok, verr := visible()
		switch {
		case verr != nil:
			return verr
		case !ok:
			return missing
		}
		return unlisted
	} else if err != nil {
		return err
	}
	c.W.WriteHeader(http.StatusNoContent)
	return nil
}

// authorizationColumns are the authentication log's fields, in the JSON
// and the CSV alike.
var authorizationColumns = []string{"origin_project_id", "origin_project_path", "last_used_at", "allowed_count",
	"denied_count", "last_policy", "last_result", "last_denial_reason", "last_denied_at"}

// listAuthorizations is GET .../job_token_scope/authorizations: the
// authentication log of this project, newest first; ?format=csv exports
// all of it. This process's pending uses are written first, so the log
// a maintainer reads includes every use this replica has seen.
func (a *API) listAuthorizations(c *Ctx) error {
	if err := a.AuthLog.Flush(c.Context()); err != nil {
		return err
	}
	format, _ := c.Params.String("format")
	switch format {
	case "", "json":
	case "csv":
		return a.exportAuthorizations(c)
	default:
		return errParam("format does not have a valid value")
	}
	pg, err := c.page()
	if err != nil {
		return err
	}
	rows, total, err := a.Store.Authorizations(c.Context(), c.Project.ID, pg)
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(rows))
	for _, r := range rows {
		vals, err := a.authorizationValues(c, r)
		if err != nil {
			return err
		}
		m := make(map[string]any, len(vals))
		for i, col := range authorizationColumns {
			m[col] = vals[i]
		}
		if m["origin_project_id"] != nil {
			m["origin_project"] = map[string]any{"id": r.Origin.ID, "path_with_namespace": r.Origin.FullPath(), "web_url": a.webURL(r.Origin.FullPath())}
		}
		out = append(out, m)
	}
	c.writePage(out, pg, total)
	return nil
}

// authorizationValues is one log row in authorizationColumns' order. An
// origin project the reader cannot see (a job that tried and was
// refused) is not named.
func (a *API) authorizationValues(c *Ctx, r *model.JobTokenAuthorization) ([]any, error) {
	seen, _, err := a.Access.Project(c.Context(), c.Principal, r.Origin, authz.ReadProject)
	if err != nil {
		return nil, err
	}
	originID, originPath := any(r.OriginProjectID), r.Origin.FullPath()
	if !seen.Allowed {
		originID, originPath = nil, msgHiddenProject
	}
	result, deniedAt := "allowed", any(nil)
	if !r.LastAllowed {
		result = "denied"
	}
	if r.LastDeniedAt != nil {
		deniedAt = timeJSON(*r.LastDeniedAt)
	}
	reason := r.LastDenialReason
	if !seen.Allowed {
		// The scope's messages name the source project.
		reason = strings.ReplaceAll(reason, r.Origin.FullPath(), msgHiddenProject)
	}
	return []any{originID, originPath, timeJSON(r.LastUsedAt), r.AllowedCount, r.DeniedCount,
		r.LastPolicy, result, reason, deniedAt}, nil
}

// msgHiddenProject stands for a project the reader cannot see.
const msgHiddenProject = "a project you cannot see"

func (a *API) exportAuthorizations(c *Ctx) error {
	recs := [][]string{authorizationColumns}
	for n := 1; ; n++ {
		rows, total, err := a.Store.Authorizations(c.Context(), c.Project.ID, store.Page{Number: n, PerPage: 1000})
		if err != nil {
			return err
		}
		for _, r := range rows {
			vals, err := a.authorizationValues(c, r)
			if err != nil {
				return err
			}
			rec := make([]string, len(vals))
			for i, v := range vals {
				switch x := v.(type) {
				case string:
					rec[i] = x
				case int64:
					rec[i] = strconv.FormatInt(x, 10)
				}
			}
			recs = append(recs, rec)
		}
		if len(rows) == 0 || len(recs)-1 >= total {
			break
		}
	}
	h := c.W.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", attachment("job_token_authorizations_"+itoa(c.Project.ID)+".csv"))
	c.W.WriteHeader(http.StatusOK)
	// A failed write is a client gone away: nothing to answer.
	_ = csv.NewWriter(c.W).WriteAll(recs)
	return nil
}

// explainJobToken is GET .../job_token_scope/explain?job_id=J&permission=P:
// every check the decision runs for job J's token doing P on this
// project, with the first failure. For maintainers of this project and
// the job's user, who must also see the job's project; anyone else, like
// a job that does not exist, gets 404.
func (a *API) explainJobToken(c *Ctx) error {
	c.Params.Require("job_id", "permission")
	jobID, _ := c.Params.Int("job_id")
	policy, _ := c.Params.String("permission")
	if err := c.Params.Err(); err != nil {
		return err
	}
	act, ok := authz.PolicyAction(policy)
	if !ok {
		return errParam("permission does not have a valid value")
	}
	maintainer := c.Level >= model.Maintainer || c.Principal.Admin()
	j, err := a.Store.Job(c.Context(), jobID)
	if errors.Is(err, model.ErrNotFound) || (err == nil && !maintainer && j.UserID != c.Principal.UserID()) {
		return errNotFound("Job")
	} else if err != nil {
		return err
	}
	who, err := a.Auth.PrincipalOfJob(c.Context(), j)
	if err != nil {
		return err
	}
	if who.Project == nil {
		return errNotFound("Job") // its project is gone
	}
	// Explaining a job reveals that it exists, whether it runs and which
	// entries admit its project: only to a caller who may see that
	// project (the job's user normally does).
	seen, _, err := a.Access.Project(c.Context(), c.Principal, who.Project, authz.ReadProject)
	if err != nil {
		return err
	}
	if !seen.Allowed {
		return errNotFound("Job")
	}
	s, t, err := a.Access.Facts(c.Context(), who, c.Project)
	if err != nil {
		return err
	}
	d, steps := authz.Explain(s, t, act)
	shown := steps[:0]
	for _, st := range steps {
		// Checks that never concern a job token are left out.
		if st.Check != authz.CheckAuthentication && st.Check != authz.CheckTokenScope && st.Check != authz.CheckAdmin {
			shown = append(shown, st)
		}
	}
	out := map[string]any{
		"job_id": j.ID, "source_project": s.Job.ProjectPath, "target_project": c.Project.FullPath(), "permission": policy,
		"allowed": d.Allowed, "checks": shown, "failed_check": nil, "status": d.Status, "message": nil,
	}
	if !d.Allowed {
		out["failed_check"], out["message"] = d.Check, d.Message
	}
	if e := t.Scope.Entry; e != nil && maintainer {
		out["entry"] = map[string]any{"kind": e.Kind, "id": e.ID, "default_permissions": e.DefaultPermissions, "job_token_policies": policiesJSON(e.Policies)}
	}
	writeJSON(c.W, http.StatusOK, out)
	return nil
}

// getApplicationSettings is GET /application/settings (administrators):
// the settings ciwarden has.
func (a *API) getApplicationSettings(c *Ctx) error {
	enforce, err := a.Store.BoolSetting(c.Context(), store.SettingEnforceInboundScope, false)
	if err != nil {
		return err
	}
	writeJSON(c.W, http.StatusOK, map[string]any{store.SettingEnforceInboundScope: enforce})
	return nil
}

// updateApplicationSettings is PUT /application/settings.
func (a *API) updateApplicationSettings(c *Ctx) error {
	v, err := c.strictBool(store.SettingEnforceInboundScope)
	if err != nil {
		return err
	}
	if v == nil {
		return errParam(store.SettingEnforceInboundScope + " is missing")
	}
	if err := a.Store.Tx(c.Context(), func(q *store.Queries) error {
		return q.SetBoolSetting(c.Context(), store.SettingEnforceInboundScope, *v)
	}); err != nil {
		return err
	}
	return a.getApplicationSettings(c)
}
