package api

import (
	"encoding/csv"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/ciwarden/ciwarden/internal/authz"
	"github.com/ciwarden/ciwarden/internal/gate"
	"github.com/ciwarden/ciwarden/internal/jobtoken"
	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/store"
)

// The token access scope over REST (gitlab-compat.md §5): the toggles,
// the inbound project and group allowlists with GitLab's codes and
// bodies, and beyond GitLab the entries' fine-grained permissions, the
// outbound allowlist, the authentication log and explain. The rules are
// jobtoken.Service's; these handlers parse and render.

// scopeEntity is GET /projects/:id/job_token_scope.
type scopeEntity struct {
	InboundEnabled  bool `json:"inbound_enabled"`
	OutboundEnabled bool `json:"outbound_enabled"`
}

// getJobTokenScope is GET /projects/:id/job_token_scope.
func (a *API) getJobTokenScope(c *Ctx) error {
	sc, err := a.JobTokens.Scope(c.Context(), c.Project)
	if err != nil {
		return err
	}
	writeJSON(c.W, http.StatusOK, scopeEntity{InboundEnabled: sc.InboundEnabled, OutboundEnabled: sc.OutboundEnabled})
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
	if err := a.JobTokens.SetScope(c.Context(), c.Project, inbound, outbound); err != nil {
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

// linkPermissions are an inbound entry's permissions in its entities;
// outbound entries have none.
type linkPermissions struct {
	DefaultPermissions bool     `json:"default_permissions"`
	JobTokenPolicies   []string `json:"job_token_policies"`
}

func newLinkPermissions(def bool, policies []string) *linkPermissions {
	if policies == nil {
		policies = []string{}
	}
	return &linkPermissions{DefaultPermissions: def, JobTokenPolicies: policies}
}

func permissionsOf(l *model.ScopeLink) *linkPermissions {
	if l.Direction == model.Outbound {
		return nil
	}
	return newLinkPermissions(l.DefaultPermissions, l.Policies)
}

// linkedProjectEntity is one project of an allowlist: GitLab's basic
// project details, plus the entry's permissions.
type linkedProjectEntity struct {
	basicProject
	AvatarURL  *string `json:"avatar_url"`
	ForksCount int     `json:"forks_count"`
	StarCount  int     `json:"star_count"`
	*linkPermissions
}

// linkedGroupEntity is one group of the groups allowlist.
type linkedGroupEntity struct {
	ID       int64  `json:"id"`
	Name     string `json:"name"`
	WebURL   string `json:"web_url"`
	FullPath string `json:"full_path"`
	*linkPermissions
}

// linkEntity is the answer to adding an entry (source and target) and to
// changing one (with its permissions). A target ID is never 0.
type linkEntity struct {
	SourceProjectID int64 `json:"source_project_id"`
	TargetProjectID int64 `json:"target_project_id,omitempty"`
	TargetGroupID   int64 `json:"target_group_id,omitempty"`
	*linkPermissions
}

// listProjectAllowlist is GET .../allowlist (dir inbound) and
// .../outbound_allowlist: the project itself first, then its links.
func (a *API) listProjectAllowlist(dir string) func(*Ctx) error {
	return func(c *Ctx) error {
		return gate.List(c.Ctx, func(pg store.Page) ([]*model.ScopeLink, int, error) {
			return a.JobTokens.ProjectAllowlist(c.Context(), c.Project, dir, pg)
		}, func(l *model.ScopeLink) *linkedProjectEntity {
			return &linkedProjectEntity{basicProject: a.basicProject(l.Project), linkPermissions: permissionsOf(l)}
		})
	}
}

// listGroupAllowlist is GET .../groups_allowlist.
func (a *API) listGroupAllowlist(c *Ctx) error {
	return gate.List(c.Ctx, func(pg store.Page) ([]*model.ScopeLink, int, error) {
		return a.JobTokens.GroupAllowlist(c.Context(), c.Project, pg)
	}, func(l *model.ScopeLink) *linkedGroupEntity {
		return &linkedGroupEntity{ID: l.Group.ID, Name: l.Group.Name, WebURL: a.webURL("groups/" + l.Group.FullPath),
			FullPath: l.Group.FullPath, linkPermissions: permissionsOf(l)}
	})
}

// permissionParams reads default_permissions and job_token_policies.
func (c *Ctx) permissionParams() (jobtoken.Permissions, error) {
	var pm jobtoken.Permissions
	if c.Params.ScalarInJSON("job_token_policies") {
		return pm, errParam("job_token_policies is invalid")
	}
	pm.Policies, pm.Listed = c.Params.Strings("job_token_policies")
	def, hasDef := c.Params.Bool("default_permissions")
	if err := c.Params.Err(); err != nil {
		return pm, err
	}
	for _, p := range pm.Policies {
		if !authz.KnownPolicy(p) {
			return pm, errParam("job_token_policies does not have a valid value")
		}
	}
	if hasDef {
		pm.Default = &def
	}
	return pm, nil
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
	return func(c *Ctx) error {
		id, err := c.targetID("target_project_id")
		if err != nil {
			return err
		}
		var pm jobtoken.Permissions
		if dir == model.Outbound {
			for _, n := range []string{"default_permissions", "job_token_policies"} {
				if c.Params.Has(n) {
					return errParam(n + " does not apply to the outbound allowlist")
				}
			}
		} else if pm, err = c.permissionParams(); err != nil {
			return err
		}
		l, err := a.JobTokens.AddProject(c.Context(), c.Principal, c.Project, dir, id, pm)
		if err != nil {
			return err
		}
		writeJSON(c.W, http.StatusCreated, linkEntity{SourceProjectID: c.Project.ID, TargetProjectID: l.ProjectID})
		return nil
	}
}

// addGroupLink is POST .../groups_allowlist.
func (a *API) addGroupLink(c *Ctx) error {
	id, err := c.targetID("target_group_id")
	if err != nil {
		return err
	}
	pm, err := c.permissionParams()
	if err != nil {
		return err
	}
	l, err := a.JobTokens.AddGroup(c.Context(), c.Principal, c.Project, id, pm)
	if err != nil {
		return err
	}
	writeJSON(c.W, http.StatusCreated, linkEntity{SourceProjectID: c.Project.ID, TargetGroupID: l.GroupID})
	return nil
}

// updateLinkParams reads an update of an entry's permissions: its target
// in the path, and at least one of the two permission parameters.
func (c *Ctx) updateLinkParams(idName string) (int64, jobtoken.Permissions, error) {
	id, err := c.PathInt(idName)
	if err != nil {
		return 0, jobtoken.Permissions{}, err
	}
	if !c.Params.Has("default_permissions") && !c.Params.Has("job_token_policies") {
		return 0, jobtoken.Permissions{}, errParam("default_permissions, job_token_policies are missing, at least one parameter must be provided")
	}
	pm, err := c.permissionParams()
	return id, pm, err
}

// updateProjectLink is PUT .../allowlist/:target_project_id: the entry's
// fine-grained permissions.
func (a *API) updateProjectLink(c *Ctx) error {
	id, pm, err := c.updateLinkParams("target_project_id")
	if err != nil {
		return err
	}
	l, err := a.JobTokens.UpdateProject(c.Context(), c.Project, id, pm)
	if err != nil {
		return err
	}
	writeJSON(c.W, http.StatusOK, linkEntity{SourceProjectID: c.Project.ID, TargetProjectID: id, linkPermissions: permissionsOf(l)})
	return nil
}

// updateGroupLink is PUT .../groups_allowlist/:target_group_id.
func (a *API) updateGroupLink(c *Ctx) error {
	id, pm, err := c.updateLinkParams("target_group_id")
	if err != nil {
		return err
	}
	l, err := a.JobTokens.UpdateGroup(c.Context(), c.Project, id, pm)
	if err != nil {
		return err
	}
	writeJSON(c.W, http.StatusOK, linkEntity{SourceProjectID: c.Project.ID, TargetGroupID: id, linkPermissions: permissionsOf(l)})
	return nil
}

// removeProjectLink is DELETE .../allowlist/:target_project_id and
// .../outbound_allowlist/:target_project_id.
func (a *API) removeProjectLink(dir string) func(*Ctx) error {
	return func(c *Ctx) error {
		id, err := c.PathInt("target_project_id")
		if err != nil {
			return err
		}
		if err := a.JobTokens.RemoveProject(c.Context(), c.Principal, c.Project, dir, id); err != nil {
			return err
		}
		c.W.WriteHeader(http.StatusNoContent)
		return nil
	}
}

// removeGroupLink is DELETE .../groups_allowlist/:target_group_id.
func (a *API) removeGroupLink(c *Ctx) error {
	id, err := c.PathInt("target_group_id")
	if err != nil {
		return err
	}
	if err := a.JobTokens.RemoveGroup(c.Context(), c.Principal, c.Project, id); err != nil {
		return err
	}
	c.W.WriteHeader(http.StatusNoContent)
	return nil
}

// authorizationEntity is one row of the authentication log. The origin
// project is null (and origin_project absent) when the reader cannot see
// it.
type authorizationEntity struct {
	OriginProjectID   *int64               `json:"origin_project_id"`
	OriginProjectPath string               `json:"origin_project_path"`
	LastUsedAt        string               `json:"last_used_at"`
	AllowedCount      int64                `json:"allowed_count"`
	DeniedCount       int64                `json:"denied_count"`
	LastPolicy        string               `json:"last_policy"`
	LastResult        string               `json:"last_result"`
	LastDenialReason  string               `json:"last_denial_reason"`
	LastDeniedAt      *string              `json:"last_denied_at"`
	OriginProject     *originProjectEntity `json:"origin_project,omitempty"`
}

type originProjectEntity struct {
	ID                int64  `json:"id"`
	PathWithNamespace string `json:"path_with_namespace"`
	WebURL            string `json:"web_url"`
}

func (a *API) authorizationEntity(e *jobtoken.LogEntry) *authorizationEntity {
	out := &authorizationEntity{OriginProjectPath: e.OriginPath, LastUsedAt: timeJSON(e.LastUsedAt), AllowedCount: e.AllowedCount,
		DeniedCount: e.DeniedCount, LastPolicy: e.LastPolicy, LastResult: "allowed", LastDenialReason: e.LastDenialReason}
	if !e.LastAllowed {
		out.LastResult = "denied"
	}
	if e.LastDeniedAt != nil {
		at := timeJSON(*e.LastDeniedAt)
		out.LastDeniedAt = &at
	}
	if e.Origin != nil {
		out.OriginProjectID = &e.OriginProjectID
		out.OriginProject = &originProjectEntity{ID: e.Origin.ID, PathWithNamespace: e.OriginPath, WebURL: a.webURL(e.OriginPath)}
	}
	return out
}

// listAuthorizations is GET .../job_token_scope/authorizations: the
// authentication log of this project, newest first; ?format=csv exports
// all of it.
func (a *API) listAuthorizations(c *Ctx) error {
	format, _ := c.Params.String("format")
	switch format {
	case "", "json":
	case "csv":
		return a.exportAuthorizations(c)
	default:
		return errParam("format does not have a valid value")
	}
	return gate.List(c.Ctx, func(pg store.Page) ([]*jobtoken.LogEntry, int, error) {
		return a.JobTokens.Authorizations(c.Context(), c.Principal, c.Project, pg)
	}, a.authorizationEntity)
}

func (a *API) exportAuthorizations(c *Ctx) error {
	rows, err := a.JobTokens.AllAuthorizations(c.Context(), c.Principal, c.Project)
	if err != nil {
		return err
	}
	recs := jobtoken.CSV(rows)
	h := c.W.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", gate.Attachment("job_token_authorizations_"+itoa(c.Project.ID)+".csv"))
	c.W.WriteHeader(http.StatusOK)
	// A failed write is a client gone away: nothing to answer.
	_ = csv.NewWriter(c.W).WriteAll(recs)
	return nil
}

// explanationEntity is explain's answer; failed_check and message are
// null when the decision allows, entry is absent unless the reader may
// read the scope.
type explanationEntity struct {
	JobID         int64        `json:"job_id"`
	SourceProject string       `json:"source_project"`
	TargetProject string       `json:"target_project"`
	Permission    string       `json:"permission"`
	Allowed       bool         `json:"allowed"`
	Checks        []authz.Step `json:"checks"`
	FailedCheck   *string      `json:"failed_check"`
	Status        int          `json:"status"`
	Message       *string      `json:"message"`
	Entry         *entryEntity `json:"entry,omitempty"`
}

type entryEntity struct {
	Kind string `json:"kind"`
	ID   int64  `json:"id"`
	*linkPermissions
}

// explainJobToken is GET .../job_token_scope/explain?job_id=J&permission=P.
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
	x, err := a.JobTokens.Explain(c.Context(), c.Principal, c.Project, jobID, act)
	if err != nil {
		return err
	}
	out := &explanationEntity{JobID: x.Job.ID, SourceProject: x.Source, TargetProject: x.Target, Permission: x.Policy,
		Allowed: x.Decision.Allowed, Checks: x.Steps, Status: x.Decision.Status}
	if !x.Decision.Allowed {
		out.FailedCheck, out.Message = &x.Decision.Check, &x.Decision.Message
	}
	if e := x.Entry; e != nil {
		out.Entry = &entryEntity{Kind: e.Kind, ID: e.ID, linkPermissions: newLinkPermissions(e.DefaultPermissions, e.Policies)}
	}
	writeJSON(c.W, http.StatusOK, out)
	return nil
}

// settingsEntity is GET /application/settings: the settings ciwarden has.
type settingsEntity struct {
	EnforceInboundScope bool `json:"enforce_ci_inbound_job_token_scope_enabled"`
}

// getApplicationSettings is GET /application/settings (administrators).
func (a *API) getApplicationSettings(c *Ctx) error {
	enforce, err := a.JobTokens.InboundEnforced(c.Context())
	if err != nil {
		return err
	}
	writeJSON(c.W, http.StatusOK, settingsEntity{EnforceInboundScope: enforce})
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
	if err := a.JobTokens.SetInboundEnforced(c.Context(), *v); err != nil {
		return err
	}
	writeJSON(c.W, http.StatusOK, settingsEntity{EnforceInboundScope: *v})
	return nil
}
