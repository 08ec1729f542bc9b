package authz_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/ciwarden/ciwarden/internal/authz"
	"github.com/ciwarden/ciwarden/internal/model"
)

// The job-token access scope (gitlab-compat.md §3.1, §4): a table over
// every combination of the facts Decide sees for a job token, checked
// against an oracle written from the rules, plus named spot cases.

// The job's own project sits two groups deep, so that an allowlist entry
// can name the project, its parent group or its grandparent group.
const (
	jtOwnID      = 10
	jtOwnPath    = "platform/build/app"
	jtParentID   = 2 // platform/build
	jtAncestorID = 1 // platform
	jtOtherID    = 20
	jtOtherPath  = "data/warehouse/models"
)

// scopeAction is what the test expects of an action, written out from
// GitLab's permissions table and policy list rather than read from the
// authz.Action value, so that a drift in an Action shows up as a failure.
type scopeAction struct {
	action     authz.Action
	write      bool
	auth       bool // needs a signed-in caller even to read
	min        model.AccessLevel
	minPrivate model.AccessLevel
	policy     string // "" where job tokens have no policy
	ownOnly    bool   // a job token may do it in its own project only
	// pushToggle: a job token may do it only where the project lets its
	// jobs push (ci_push_repository_for_job_token_allowed).
	pushToggle bool
}

var (
	jtReadPackage     = scopeAction{action: authz.ReadPackage, minPrivate: model.Reporter, policy: "read_packages"}
	jtCreatePackage   = scopeAction{action: authz.CreatePackage, write: true, min: model.Developer, policy: "admin_packages"}
	jtDestroyPackage  = scopeAction{action: authz.DestroyPackage, write: true, min: model.Maintainer, policy: "admin_packages"}
	jtReadArtifacts   = scopeAction{action: authz.ReadJobArtifacts, minPrivate: model.Reporter, policy: "read_jobs"}
	jtReadRepository  = scopeAction{action: authz.ReadRepository, minPrivate: model.Reporter, policy: "read_repositories"}
	jtReadPipeline    = scopeAction{action: authz.ReadPipeline, minPrivate: model.Reporter, policy: "read_pipelines"}
	jtPushCode        = scopeAction{action: authz.PushCode, write: true, min: model.Developer, policy: "admin_repositories", ownOnly: true, pushToggle: true}
	jtReadProject     = scopeAction{action: authz.ReadProject}
	jtUpdateProject   = scopeAction{action: authz.UpdateProject, write: true, min: model.Maintainer}
	jtReadRunners     = scopeAction{action: authz.UpdateProjectRead, auth: true, min: model.Maintainer}
	jtScopeActionList = []scopeAction{
		jtReadPackage, jtCreatePackage, jtDestroyPackage, jtReadArtifacts,
		jtReadRepository, jtReadPipeline, jtPushCode, jtReadProject, jtUpdateProject, jtReadRunners,
	}
)

// jtAllPolicies is GitLab's policy list (gitlab-compat.md §4.5), used to
// build lists that hold everything but the one policy an action needs: a
// neighbour (read_x for admin_x) must not stand in for it.
var jtAllPolicies = []string{
	"read_deployments", "admin_deployments", "read_environments", "admin_environments",
	"read_jobs", "admin_jobs", "read_merge_requests", "read_packages", "admin_packages",
	"read_pipelines", "admin_pipelines", "read_releases", "admin_releases",
	"read_repositories", "admin_repositories", "read_secure_files", "admin_secure_files",
	"read_terraform_state", "admin_terraform_state", "read_work_items",
	"read_containers", "admin_containers",
}

// jtWith is a list that grants policy (and one unrelated policy); for an
// action without a policy it is every policy, which still grants nothing.
func jtWith(policy string) []string {
	if policy == "" {
		return slices.Clone(jtAllPolicies)
	}
	return []string{"read_releases", policy}
}

// jtWithout is every policy except the given one.
func jtWithout(policy string) []string {
	var out []string
	for _, p := range jtAllPolicies {
		if p != policy {
			out = append(out, p)
		}
	}
	return out
}

// scopeCase is one row: the job token, the target and the user's role.
type scopeCase struct {
	vis   model.Visibility
	other bool // the target is not the job's own project
	level model.AccessLevel
	live  bool
	admin bool // spot cases only
	// The scope facts; ignored by the rules on the job's own project, but
	// set there too so the table shows they are.
	outbound bool
	listed   bool
	inbound  bool
	// entry is "", "project", "group" or "ancestor_group".
	entry         string
	entryDefault  bool
	entryPolicies []string
	// pushOff: the project does not let its jobs' tokens push.
	pushOff bool
	// restricted: the job declared `job_token: permissions: jobPerms`.
	restricted bool
	jobPerms   []string
	act        scopeAction
}

func (c scopeCase) subject() authz.Subject {
	return authz.Subject{
		Authenticated: true,
		Admin:         c.admin,
		Job: &authz.JobToken{
			Dead:        deadUnless(c.live),
			ProjectID:   jtOwnID,
			ProjectPath: jtOwnPath,
			Restricted:  c.restricted,
			Permissions: c.jobPerms,
		},
	}
}

// deadUnless is a job token's liveness as the table writes it.
func deadUnless(live bool) string {
	if live {
		return ""
	}
	return authz.JobEnded
}

func (c scopeCase) targetPath() string {
	if c.other {
		return jtOtherPath
	}
	return jtOwnPath
}

func (c scopeCase) target() authz.Target {
	t := authz.Target{
		Kind:         authz.Project,
		ID:           jtOwnID,
		Path:         jtOwnPath,
		Visibility:   c.vis,
		Level:        c.level,
		JobTokenPush: !c.pushOff,
		Scope: authz.Scope{
			OutboundEnabled: c.outbound,
			InOutboundList:  c.listed,
			InboundInForce:  c.inbound,
		},
	}
	if c.other {
		t.ID, t.Path = jtOtherID, jtOtherPath
	}
	e := &authz.Entry{DefaultPermissions: c.entryDefault, Policies: c.entryPolicies}
	switch c.entry {
	case "project":
		e.Kind, e.ID = "project", jtOwnID
	case "group":
		e.Kind, e.ID = "group", jtParentID
	case "ancestor_group":
		e.Kind, e.ID = "group", jtAncestorID
	default:
		e = nil
	}
	t.Scope.Entry = e
	return t
}

func (c scopeCase) String() string {
	entry := c.entry
	switch {
	case entry == "":
		entry = "none"
	case c.entryDefault:
		entry += "(default)"
	default:
		entry += fmt.Sprintf("(%s)", strings.Join(c.entryPolicies, ","))
	}
	job := "undeclared"
	if c.restricted {
		job = "[" + strings.Join(c.jobPerms, ",") + "]"
	}
	where := "own"
	if c.other {
		where = "other"
	}
	return fmt.Sprintf("%s/%s/outbound=%v/listed=%v/inbound=%v/entry=%s/job=%s/level=%d/live=%v/admin=%v/%s",
		c.vis, where, c.outbound, c.listed, c.inbound, entry, job, c.level, c.live, c.admin, c.act.action.Name)
}

// jtCheckNames is the order of the checks (gitlab-compat.md §3.1, §4).
var jtCheckNames = []string{
	"authentication", "liveness", "visibility", "own_project", "credential_scope", "outbound_scope",
	"inbound_allowlist", "entry_policy", "job_permissions", "admin", "role",
	"feature_visibility", "job_token_push",
}

// checkNamesFor is jtCheckNames as Explain shows them for act: the push
// toggle only where it concerns the action.
func checkNamesFor(act scopeAction) []string {
	if act.pushToggle {
		return jtCheckNames
	}
	return jtCheckNames[:len(jtCheckNames)-1]
}

// scopeOracle judges each check on its own, from the rules and not from
// authz: for every check name that refuses, the refusal. Decide must
// answer the first of them in jtCheckNames order; Explain must fail
// exactly these.
func scopeOracle(c scopeCase) map[string]authz.Decision {
	fails := map[string]authz.Decision{}
	fail := func(check string, status int, msg string) {
		fails[check] = authz.Decision{Status: status, Message: msg, Check: check}
	}
	scopeMsg := fmt.Sprintf("Authentication by CI/CD job token not allowed from %s to %s.", jtOwnPath, c.targetPath())
	policyDenial := func(check string, granted []string) {
		switch {
		case c.act.policy == "":
			fail(check, http.StatusForbidden, "This action is unauthorized for CI/CD job tokens.")
		case !slices.Contains(granted, c.act.policy):
			fail(check, http.StatusForbidden, fmt.Sprintf(
				"Insufficient permissions to access this resource in project %s. The following token permission is required: %s.",
				c.targetPath(), c.act.policy))
		}
	}
	private := c.vis == model.Private

	// authentication: a job token is a signed-in caller. token_scope: a
	// job token is never a read_api credential. admin: no action here is
	// admin-only. None of these can refuse.

	// liveness: a finished or erased job's token is no credential.
	if !c.live {
		fail("liveness", http.StatusUnauthorized, "401 Unauthorized")
	}
	// visibility: public to all, internal to every signed-in user, private
	// to members; administrators see everything.
	if !c.admin && private && c.level < model.Guest {
		fail("visibility", http.StatusNotFound, "404 Project Not Found")
	}
	if c.other {
		// own_project: a push takes a token of the target project only.
		if c.act.ownOnly {
			fail("own_project", http.StatusForbidden, "A CI/CD job token may do this only in its own project.")
		}
		// outbound_scope: the job's project limits its token to listed
		// private projects; public and internal ones are exempt.
		if c.outbound && private && !c.listed {
			fail("outbound_scope", http.StatusForbidden, scopeMsg)
		}
		// inbound_allowlist: a private target admits only what it lists.
		if c.inbound && c.entry == "" && private {
			fail("inbound_allowlist", http.StatusForbidden, scopeMsg)
		}
		// entry_policy: the nearest entry grants its policies only, unless
		// it keeps the default permissions.
		if c.inbound && c.entry != "" && !c.entryDefault {
			policyDenial("entry_policy", c.entryPolicies)
		}
	}
	// job_permissions: a job that declared permissions gets only those,
	// anywhere, except checkout and dependency downloads in its own project.
	if c.restricted {
		implicit := !c.other && (c.act.policy == "read_repositories" || c.act.policy == "read_jobs")
		if !implicit {
			policyDenial("job_permissions", c.jobPerms)
		}
	}
	// role: the user's role, as for any caller; administrators pass.
	if !c.admin && (c.level < c.act.min || (private && c.level < c.act.minPrivate)) {
		fail("role", http.StatusForbidden, "403 Forbidden")
	}
	// feature_visibility: on a public or internal target that does not
	// list the job's project, the token keeps only what everyone gets.
	if c.other && c.inbound && c.entry == "" && !private && (c.act.write || c.act.auth || c.act.min > model.NoAccess) {
		fail("feature_visibility", http.StatusForbidden, scopeMsg)
	}
	// job_token_push: a push needs the project's leave for its jobs.
	if c.act.pushToggle && c.pushOff {
		fail("job_token_push", http.StatusForbidden, "This project does not allow CI/CD job tokens to push to its repository.")
	}
	return fails
}

// scopeExpect is the decision the oracle predicts: the first refusal.
func scopeExpect(fails map[string]authz.Decision) authz.Decision {
	for _, name := range jtCheckNames {
		if d, ok := fails[name]; ok {
			return d
		}
	}
	return authz.Decision{Allowed: true, Status: http.StatusOK}
}

// scopeVerify compares Decide and Explain with the oracle and returns what
// differs, or "".
func scopeVerify(c scopeCase, fails map[string]authz.Decision) string {
	want := scopeExpect(fails)
	s, tg := c.subject(), c.target()
	if got := authz.Decide(s, tg, c.act.action); got != want {
		return fmt.Sprintf("Decide = %+v, want %+v", got, want)
	}
	got, steps := authz.Explain(s, tg, c.act.action)
	if got != want {
		return fmt.Sprintf("Explain decision = %+v, want %+v", got, want)
	}
	names := checkNamesFor(c.act)
	if len(steps) != len(names) {
		return fmt.Sprintf("Explain gave %d steps, want %d: %+v", len(steps), len(names), steps)
	}
	for i, st := range steps {
		if st.Check != names[i] {
			return fmt.Sprintf("Explain step %d is %q, want %q", i, st.Check, names[i])
		}
		d, failing := fails[st.Check]
		switch {
		case failing && (st.Result != "fail" || st.Status != d.Status || st.Message != d.Message):
			return fmt.Sprintf("Explain step %+v, want fail %d %q", st, d.Status, d.Message)
		case !failing && (st.Result != "pass" && st.Result != "not_applicable" || st.Status != 0 || st.Message != ""):
			return fmt.Sprintf("Explain step %+v, want pass or not_applicable", st)
		}
	}
	return ""
}

// jtEntryCase is an allowlist entry shape in the table.
type jtEntryCase struct {
	kind string // "" for no entry
	// perms: "default", "listed_with" or "listed_without".
	perms string
}

var jtEntryCases = func() []jtEntryCase {
	// Without an entry there is nothing to hold permissions: one row.
	out := []jtEntryCase{{}}
	for _, k := range []string{"project", "group", "ancestor_group"} {
		for _, p := range []string{"default", "listed_with", "listed_without"} {
			out = append(out, jtEntryCase{k, p})
		}
	}
	return out
}()

// TestScopeDecisionTable is every visibility x own or other project x
// outbound on/off x on the outbound list or not x inbound on/off x entry
// (none, project, group, ancestor group; default, listed with or without
// the policy) x job permissions (undeclared, with, without) x role (none
// to owner) x live or dead x action.
func TestScopeDecisionTable(t *testing.T) {
	levels := []model.AccessLevel{model.NoAccess, model.Guest, model.Reporter, model.Developer, model.Maintainer, model.Owner}
	bools := []bool{false, true}
	rows, failures := 0, 0
	statuses := map[int]int{}
	checks := map[string]int{}
	for _, vis := range []model.Visibility{model.Private, model.Internal, model.Public} {
		for _, other := range bools {
			for _, outbound := range bools {
				for _, listed := range bools {
					for _, inbound := range bools {
						for _, ec := range jtEntryCases {
							for _, job := range []string{"undeclared", "with", "without"} {
								for _, level := range levels {
									for _, live := range bools {
										for _, act := range jtScopeActionList {
											c := scopeCase{
												vis: vis, other: other, level: level, live: live,
												outbound: outbound, listed: listed, inbound: inbound,
												entry: ec.kind, entryDefault: ec.perms == "default",
												act: act,
											}
											switch ec.perms {
											case "listed_with":
												c.entryPolicies = jtWith(act.policy)
											case "listed_without":
												c.entryPolicies = jtWithout(act.policy)
											}
											switch job {
											case "with":
												c.restricted, c.jobPerms = true, jtWith(act.policy)
											case "without":
												c.restricted, c.jobPerms = true, jtWithout(act.policy)
											}
											rows++
											fails := scopeOracle(c)
											d := scopeExpect(fails)
											statuses[d.Status]++
											checks[d.Check]++
											if msg := scopeVerify(c, fails); msg != "" {
												failures++
												t.Errorf("%s: %s", c, msg)
												if failures >= 30 {
													t.Fatalf("stopping after %d failures", failures)
												}
											}
										}
									}
								}
							}
						}
					}
				}
			}
		}
	}
	const want = 3 * 2 * 2 * 2 * 2 * 10 * 3 * 6 * 2 * 10
	if rows != want {
		t.Fatalf("ran %d rows, want %d", rows, want)
	}
	// Every outcome the rules know must occur somewhere in the table, or
	// the table is not exercising the decision.
	for _, s := range []int{http.StatusOK, http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound} {
		if statuses[s] == 0 {
			t.Errorf("no row answers %d", s)
		}
	}
	for _, name := range []string{"", "liveness", "visibility", "outbound_scope", "inbound_allowlist", "entry_policy", "job_permissions", "role", "feature_visibility"} {
		if checks[name] == 0 {
			t.Errorf("no row is decided by check %q", name)
		}
	}
}

// TestScopeSpotCases are the headline behaviours, written out by hand.
// Each is checked against Decide and against the oracle, so the oracle
// cannot drift along with a mistake in Decide.
func TestScopeSpotCases(t *testing.T) {
	allowed := authz.Decision{Allowed: true, Status: http.StatusOK}
	scopeOther := authz.Decision{Status: http.StatusForbidden,
		Message: "Authentication by CI/CD job token not allowed from platform/build/app to data/warehouse/models."}
	withCheck := func(d authz.Decision, check string) authz.Decision { d.Check = check; return d }
	policyMsg := func(project, policy string) string {
		return "Insufficient permissions to access this resource in project " + project +
			". The following token permission is required: " + policy + "."
	}
	// base is a live token of a Developer on another private project whose
	// allowlist is in force and lists the job's project with the default
	// permissions; each case changes what it is about.
	base := func(act scopeAction) scopeCase {
		return scopeCase{vis: model.Private, other: true, level: model.Developer, live: true,
			inbound: true, entry: "project", entryDefault: true, act: act}
	}
	with := func(act scopeAction, f func(*scopeCase)) scopeCase {
		c := base(act)
		f(&c)
		return c
	}
	for _, tc := range []struct {
		name string
		c    scopeCase
		want authz.Decision
	}{
		{"allowlisted member reads a private project",
			base(jtReadPackage), allowed},
		{"private target not allowlisted, member",
			with(jtReadPackage, func(c *scopeCase) { c.entry = "" }),
			withCheck(scopeOther, "inbound_allowlist")},
		{"private target not allowlisted, non-member sees nothing",
			with(jtReadPackage, func(c *scopeCase) { c.entry, c.level = "", model.NoAccess }),
			authz.Decision{Status: http.StatusNotFound, Message: "404 Project Not Found", Check: "visibility"}},
		{"private target allowlisted, non-member sees nothing",
			with(jtReadPackage, func(c *scopeCase) { c.level = model.NoAccess }),
			authz.Decision{Status: http.StatusNotFound, Message: "404 Project Not Found", Check: "visibility"}},
		{"dead token on its own project",
			with(jtReadRepository, func(c *scopeCase) { c.other, c.live, c.level = false, false, model.Owner }),
			authz.Decision{Status: http.StatusUnauthorized, Message: "401 Unauthorized", Check: "liveness"}},
		{"dead token on a project it could not see: 401 before 404",
			with(jtReadPackage, func(c *scopeCase) { c.live, c.level = false, model.NoAccess }),
			authz.Decision{Status: http.StatusUnauthorized, Message: "401 Unauthorized", Check: "liveness"}},
		{"entry with [read_packages] publishing",
			with(jtCreatePackage, func(c *scopeCase) { c.entryDefault, c.entryPolicies = false, []string{"read_packages"} }),
			authz.Decision{Status: http.StatusForbidden, Message: policyMsg(jtOtherPath, "admin_packages"), Check: "entry_policy"}},
		{"entry with [read_packages] pulling",
			with(jtReadPackage, func(c *scopeCase) { c.entryDefault, c.entryPolicies = false, []string{"read_packages"} }),
			allowed},
		{"entry with [admin_packages] pulling: write does not imply read",
			with(jtReadPackage, func(c *scopeCase) { c.entryDefault, c.entryPolicies = false, []string{"admin_packages"} }),
			authz.Decision{Status: http.StatusForbidden, Message: policyMsg(jtOtherPath, "read_packages"), Check: "entry_policy"}},
		{"ancestor group entry with [read_packages] publishing",
			with(jtCreatePackage, func(c *scopeCase) {
				c.entry, c.entryDefault, c.entryPolicies = "ancestor_group", false, []string{"read_packages"}
			}),
			authz.Decision{Status: http.StatusForbidden, Message: policyMsg(jtOtherPath, "admin_packages"), Check: "entry_policy"}},
		{"group entry with default permissions publishing",
			with(jtCreatePackage, func(c *scopeCase) { c.entry = "group" }), allowed},
		{"entry with policies, action without a policy",
			with(jtReadProject, func(c *scopeCase) { c.entryDefault, c.entryPolicies = false, []string{"read_packages"} }),
			authz.Decision{Status: http.StatusForbidden, Message: "This action is unauthorized for CI/CD job tokens.", Check: "entry_policy"}},
		{"entry with default permissions, Reporter publishing: the role still binds",
			with(jtCreatePackage, func(c *scopeCase) { c.level = model.Reporter }),
			authz.Decision{Status: http.StatusForbidden, Message: "403 Forbidden", Check: "role"}},
		{"job restricted to [read_packages] publishing in its own project",
			with(jtCreatePackage, func(c *scopeCase) { c.other, c.restricted, c.jobPerms = false, true, []string{"read_packages"} }),
			authz.Decision{Status: http.StatusForbidden, Message: policyMsg(jtOwnPath, "admin_packages"), Check: "job_permissions"}},
		{"job restricted to [admin_packages] publishing in its own project",
			with(jtCreatePackage, func(c *scopeCase) { c.other, c.restricted, c.jobPerms = false, true, []string{"admin_packages"} }),
			allowed},
		{"job restricted to [read_packages] checks out its own code",
			with(jtReadRepository, func(c *scopeCase) { c.other, c.restricted, c.jobPerms = false, true, []string{"read_packages"} }),
			allowed},
		{"job restricted to [read_packages] downloads its own dependencies",
			with(jtReadArtifacts, func(c *scopeCase) { c.other, c.restricted, c.jobPerms = false, true, []string{"read_packages"} }),
			allowed},
		{"job restricted to [read_packages] reads its own pipelines",
			with(jtReadPipeline, func(c *scopeCase) { c.other, c.restricted, c.jobPerms = false, true, []string{"read_packages"} }),
			authz.Decision{Status: http.StatusForbidden, Message: policyMsg(jtOwnPath, "read_pipelines"), Check: "job_permissions"}},
		{"job restricted to [read_packages] clones another project: no implicit read there",
			with(jtReadRepository, func(c *scopeCase) { c.restricted, c.jobPerms = true, []string{"read_packages"} }),
			authz.Decision{Status: http.StatusForbidden, Message: policyMsg(jtOtherPath, "read_repositories"), Check: "job_permissions"}},
		{"internal target, non-member, allowlisted: pulls packages (no #333444)",
			with(jtReadPackage, func(c *scopeCase) { c.vis, c.level = model.Internal, model.NoAccess }), allowed},
		{"internal target, non-member, allowlisted: clones",
			with(jtReadRepository, func(c *scopeCase) { c.vis, c.level = model.Internal, model.NoAccess }), allowed},
		{"internal target, non-member, allowlisted: publishing needs a role",
			with(jtCreatePackage, func(c *scopeCase) { c.vis, c.level = model.Internal, model.NoAccess }),
			authz.Decision{Status: http.StatusForbidden, Message: "403 Forbidden", Check: "role"}},
		{"public target not allowlisted: non-member pulls",
			with(jtReadPackage, func(c *scopeCase) { c.vis, c.entry, c.level = model.Public, "", model.NoAccess }), allowed},
		{"public target not allowlisted: member clones",
			with(jtReadRepository, func(c *scopeCase) { c.vis, c.entry = model.Public, "" }), allowed},
		{"public target not allowlisted: Developer publishing",
			with(jtCreatePackage, func(c *scopeCase) { c.vis, c.entry = model.Public, "" }),
			withCheck(scopeOther, "feature_visibility")},
		{"internal target not allowlisted: Owner publishing",
			with(jtCreatePackage, func(c *scopeCase) { c.vis, c.entry, c.level = model.Internal, "", model.Owner }),
			withCheck(scopeOther, "feature_visibility")},
		{"push to its own project, Developer",
			with(jtPushCode, func(c *scopeCase) { c.other, c.level = false, model.Developer }), allowed},
		{"push to its own project, Maintainer, pushes not allowed for job tokens",
			with(jtPushCode, func(c *scopeCase) { c.other, c.level, c.pushOff = false, model.Maintainer, true }),
			authz.Decision{Status: 403, Message: "This project does not allow CI/CD job tokens to push to its repository.", Check: "job_token_push"}},
		{"push to another project, allowlisted, Owner",
			with(jtPushCode, func(c *scopeCase) { c.vis, c.level = model.Private, model.Owner }),
			authz.Decision{Status: 403, Message: "A CI/CD job token may do this only in its own project.", Check: "own_project"}},
		{"public target not allowlisted: Maintainer administering",
			with(jtUpdateProject, func(c *scopeCase) { c.vis, c.entry, c.level = model.Public, "", model.Maintainer }),
			withCheck(scopeOther, "feature_visibility")},
		{"public target not allowlisted: Maintainer reading runners",
			with(jtReadRunners, func(c *scopeCase) { c.vis, c.entry, c.level = model.Public, "", model.Maintainer }),
			withCheck(scopeOther, "feature_visibility")},
		{"public target not allowlisted: non-member publishing lacks the role first",
			with(jtCreatePackage, func(c *scopeCase) { c.vis, c.entry, c.level = model.Public, "", model.NoAccess }),
			authz.Decision{Status: http.StatusForbidden, Message: "403 Forbidden", Check: "role"}},
		{"public target, allowlist off: Developer publishes",
			with(jtCreatePackage, func(c *scopeCase) { c.vis, c.entry, c.inbound = model.Public, "", false }), allowed},
		{"private target, allowlist off: member reads",
			with(jtReadPackage, func(c *scopeCase) { c.entry, c.inbound = "", false }), allowed},
		{"outbound limit on, private target not on the list",
			with(jtReadPackage, func(c *scopeCase) { c.outbound, c.inbound = true, false }),
			withCheck(scopeOther, "outbound_scope")},
		{"outbound limit on, private target on the list",
			with(jtReadPackage, func(c *scopeCase) { c.outbound, c.listed = true, true }), allowed},
		{"outbound limit on, internal target not on the list: exempt",
			with(jtReadPackage, func(c *scopeCase) { c.vis, c.outbound = model.Internal, true }), allowed},
		{"outbound refusal comes before the inbound one",
			with(jtReadPackage, func(c *scopeCase) { c.outbound, c.entry = true, "" }),
			withCheck(scopeOther, "outbound_scope")},
		{"own private project: every scope fact ignored",
			with(jtCreatePackage, func(c *scopeCase) {
				c.other, c.outbound, c.listed, c.entry = false, true, false, ""
			}), allowed},
		{"own project: Reporter cannot publish",
			with(jtCreatePackage, func(c *scopeCase) { c.other, c.level = false, model.Reporter }),
			authz.Decision{Status: http.StatusForbidden, Message: "403 Forbidden", Check: "role"}},
		// Administrators see every project and pass every role, but the
		// token access scope binds their job tokens all the same.
		{"admin, private target not allowlisted",
			with(jtReadPackage, func(c *scopeCase) { c.admin, c.level, c.entry = true, model.NoAccess, "" }),
			withCheck(scopeOther, "inbound_allowlist")},
		{"admin non-member, private target allowlisted: reads",
			with(jtReadPackage, func(c *scopeCase) { c.admin, c.level = true, model.NoAccess }), allowed},
		{"admin non-member, private target allowlisted: publishes",
			with(jtCreatePackage, func(c *scopeCase) { c.admin, c.level = true, model.NoAccess }), allowed},
		{"admin, public target not allowlisted: publishing",
			with(jtCreatePackage, func(c *scopeCase) { c.admin, c.vis, c.entry = true, model.Public, "" }),
			withCheck(scopeOther, "feature_visibility")},
		{"admin, entry with [read_packages] publishing",
			with(jtCreatePackage, func(c *scopeCase) {
				c.admin, c.entryDefault, c.entryPolicies = true, false, []string{"read_packages"}
			}),
			authz.Decision{Status: http.StatusForbidden, Message: policyMsg(jtOtherPath, "admin_packages"), Check: "entry_policy"}},
		{"admin, dead token",
			with(jtReadPackage, func(c *scopeCase) { c.admin, c.live = true, false }),
			authz.Decision{Status: http.StatusUnauthorized, Message: "401 Unauthorized", Check: "liveness"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fails := scopeOracle(tc.c)
			if got := scopeExpect(fails); got != tc.want {
				t.Errorf("oracle = %+v, want %+v", got, tc.want)
			}
			if got := authz.Decide(tc.c.subject(), tc.c.target(), tc.c.act.action); got != tc.want {
				t.Errorf("Decide = %+v, want %+v", got, tc.want)
			}
			if msg := scopeVerify(tc.c, fails); msg != "" {
				t.Error(msg)
			}
		})
	}
}

// TestScopeExplainAllFailures: a case that fails many checks at once, with
// its steps written out by hand.
func TestScopeExplainAllFailures(t *testing.T) {
	c := scopeCase{
		vis: model.Private, other: true, level: model.NoAccess, live: false,
		outbound: true, inbound: true,
		restricted: true, jobPerms: []string{"read_jobs"},
		act: jtCreatePackage,
	}
	scope := "Authentication by CI/CD job token not allowed from platform/build/app to data/warehouse/models."
	want := []authz.Step{
		{Check: "authentication", Result: "pass"},
		{Check: "liveness", Result: "fail", Status: 401, Message: "401 Unauthorized"},
		{Check: "visibility", Result: "fail", Status: 404, Message: "404 Project Not Found"},
		{Check: "own_project"},
		{Check: "credential_scope", Result: "pass"},
		{Check: "outbound_scope", Result: "fail", Status: 403, Message: scope},
		{Check: "inbound_allowlist", Result: "fail", Status: 403, Message: scope},
		{Check: "entry_policy"},
		{Check: "job_permissions", Result: "fail", Status: 403, Message: "Insufficient permissions to access this resource in project data/warehouse/models. The following token permission is required: admin_packages."},
		{Check: "admin", Result: "pass"},
		{Check: "role", Result: "fail", Status: 403, Message: "403 Forbidden"},
		{Check: "feature_visibility"},
	}
	d, steps := authz.Explain(c.subject(), c.target(), c.act.action)
	if wantD := (authz.Decision{Status: 401, Message: "401 Unauthorized", Check: "liveness"}); d != wantD {
		t.Errorf("Explain decision = %+v, want %+v", d, wantD)
	}
	if len(steps) != len(want) {
		t.Fatalf("Explain steps = %+v, want %d steps", steps, len(want))
	}
	for i, st := range steps {
		w := want[i]
		// Without an entry, or on a private target, the entry policy and
		// feature checks have nothing to judge: either non-failing result
		// is fine.
		if w.Result == "" && st.Check == w.Check && st.Status == 0 && st.Message == "" &&
			(st.Result == "pass" || st.Result == "not_applicable") {
			continue
		}
		if st != w {
			t.Errorf("step %d = %+v, want %+v", i, st, w)
		}
	}
	if msg := scopeVerify(c, scopeOracle(c)); msg != "" {
		t.Error(msg)
	}
}
