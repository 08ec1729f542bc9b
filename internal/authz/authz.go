// Package authz is ciwarden's one access decision. Decide is a pure
// function of who is asking (Subject), what they ask about (Target) and
// what they want to do (Action); every endpoint goes through it, and it
// says which check refused, so a denial can explain itself.
package authz

import (
	"net/http"
	"slices"

	"github.com/ciwarden/ciwarden/internal/model"
)

// TargetKind is what an action applies to.
type TargetKind int

const (
	// Instance actions have no project or group (user administration,
	// creating a top-level group).
	Instance TargetKind = iota
	Project
	Group
	// Job is a runner's call about one job (its state, its log, its
	// artifacts), made with that job's token.
	Job
)

// Subject is the caller, as authz needs to see it.
type Subject struct {
	Authenticated bool
	Admin         bool
	// ReadOnly is a credential limited to reads (read_api).
	ReadOnly bool
	// NoAPI: a personal access token without api or read_api (a registry
	// token: read_registry, write_registry), good for images only.
	NoAPI bool
	// NoImagePull, NoImagePush: a personal access token whose scopes do
	// not reach the container registry (pull: api, read_api,
	// read_registry, write_registry; push: api, write_registry).
	NoImagePull, NoImagePush bool
	// Job is set when the credential is a CI/CD job token.
	Job *JobToken
	// Runner: the credential is a runner's token (runner-protocol.md §4).
	Runner bool
	// Registrar: the credential is the instance's runner registration
	// token (legacy POST /runners).
	Registrar bool
	// TriggerProjectID is set when the credential is a pipeline trigger
	// token: the project it belongs to, the only one it may act on.
	TriggerProjectID int64
}

// JobToken is a job-token caller as the decision sees it.
type JobToken struct {
	// JobID is the job whose token it is.
	JobID int64
	// Dead says why the token may no longer be used, "" while it may
	// (security.md §1): JobEnded, ProjectDeleted or UserBlocked.
	Dead        string
	ProjectID   int64
	ProjectPath string
	// Restricted: the job declared `job_token: permissions:`, and its token
	// may do only what Permissions lists.
	Restricted  bool
	Permissions []string
}

// Why a job token is dead, in the order liveness reports them: a token
// revoked with its user or project stays dead even for the final-call
// grace that a job's own end leaves its runner.
const (
	UserBlocked    = "user_blocked"
	ProjectDeleted = "project_deleted"
	JobEnded       = "job_ended"
)

// Live reports whether the token may be used.
func (j *JobToken) Live() bool { return j.Dead == "" }

// Scope is what the token access scope says about one job token and one
// target project, loaded before the decision (gitlab-compat.md §4).
type Scope struct {
	// OutboundEnabled: the job's project limits where its token goes, and
	// InOutboundList: the target is on that list.
	OutboundEnabled bool
	InOutboundList  bool
	// InboundInForce: the target's allowlist applies (its own setting or
	// the instance's enforcement).
	InboundInForce bool
	// Entry is the nearest entry on the target's allowlist that admits the
	// job's project: its project entry, else the deepest ancestor group's.
	Entry *Entry
}

// Entry is one allowlist entry.
type Entry struct {
	// Kind is "project" or "group"; ID names it.
	Kind string
	ID   int64
	// DefaultPermissions keeps everything the role allows; otherwise only
	// Policies.
	DefaultPermissions bool
	Policies           []string
}

// Target is the project or group acted on, with the subject's standing on
// it, loaded before the decision so that Decide stays pure.
type Target struct {
	Kind TargetKind
	// ID and Path name the target (Path in denial messages).
	ID         int64
	Path       string
	Visibility model.Visibility
	// Level is the subject's effective access level (inherited included).
	Level model.AccessLevel
	// Related is true for a group when the subject belongs to a subgroup or
	// a project beneath it: they may see the group but hold no role on it.
	Related bool
	// Scope is the token access scope, for a job token on a project.
	Scope Scope
	// Owner: the caller made the resource acted on (ran the job it would
	// erase).
	Owner bool
	// JobTokenPush: the project lets its own jobs' tokens push
	// (ci_push_repository_for_job_token_allowed).
	JobTokenPush bool
	// InGrace: the target job ended less than the final-call grace ago
	// (security.md §1).
	InGrace bool
	// Ref is the branch or tag a ref action touches, with the protection
	// rules that cover it (protected.go); nil for other actions.
	Ref *Ref
}

// Action is a permission an endpoint needs.
type Action struct {
	Name string
	// Write actions need an api-scoped credential and a signed-in caller.
	Write bool
	// Auth: the action needs a signed-in caller even when it only reads.
	Auth bool
	// Min is the role needed on the target once it is visible.
	Min model.AccessLevel
	// MinPrivate is the role needed when the target is private; reading
	// code, for instance, is open on public and internal projects but
	// needs Reporter on a private one.
	MinPrivate model.AccessLevel
	// AdminOnly actions are for instance administrators.
	AdminOnly bool
	// Policy is the fine-grained permission a job token needs for the
	// action (policies.go); empty where job tokens have no business.
	Policy string
	// JobOwnProject: a job token may do this in its own project only
	// (gitlab-compat.md §3.1 step 5, §4.7).
	JobOwnProject bool
	// OwnProjectMessage, when set, is own_project's 403 in the words
	// GitLab uses for this action (the container registry API's).
	OwnProjectMessage string
	// JobTokenPush: a job token may do this only where the project allows
	// its jobs to push (the push toggle).
	JobTokenPush bool
	// NonOwnerMin is the role needed by a caller who does not own the
	// resource acted on; an owner needs only Min.
	NonOwnerMin model.AccessLevel
	// Runner actions are a runner's own calls, by its token; Registration
	// is legacy registration, by the registration token.
	Runner       bool
	Registration bool
	// FinalGrace: the job's runner may repeat this call for a while after
	// the job ended (its final update: security.md §1).
	FinalGrace bool
	// NotFound is the message of the visibility check's 404 where GitLab
	// answers other words than "404 Project Not Found" (the trigger API's
	// "404 Not Found", seed troubleshooting).
	NotFound string
	// RoleInvalid, when set, answers a role below Min 400 with this as a
	// validation error of base, as GitLab's pipeline creation does for a
	// trigger ("Insufficient permissions to create a new pipeline").
	RoleInvalid string
	// Ref is what the action does to a branch or tag, which protected
	// refs govern (protected.go); RefNone for every other action.
	Ref RefOp
	// EntryPolicyRequired: a job token of another project needs an entry
	// on the target's allowlist that names Policy, whatever the entry's
	// default permissions say and whether the allowlist is in force: for
	// writes whose cross-project abuse does harm (Terraform state,
	// gitlab-compat.md §8 item 10).
	EntryPolicyRequired bool
	// Image: a container registry action (registry.go), which a
	// credential's registry scopes govern rather than its API scopes.
	Image bool
}

// The actions. Roles follow GitLab's permissions table.
var (
	ReadUser        = Action{Name: "read_user"}
	ReadCurrentUser = Action{Name: "read_current_user", Auth: true}
	AdminUsers      = Action{Name: "admin_users", Write: true, AdminOnly: true}
	ListAllUsers    = Action{Name: "read_users_list", Auth: true}
	ReadOwnTokens   = Action{Name: "read_personal_access_tokens", Auth: true}
	RevokeOwnToken  = Action{Name: "revoke_personal_access_token", Write: true}
	// CreateOwnToken is a signed-in user making a token for themselves
	// (the web UI's tokens page; the API's POST is the administrators').
	CreateOwnToken = Action{Name: "create_personal_access_token", Write: true, Auth: true}
	// ChangeOwnPassword is a signed-in user's password page (issue 19);
	// administrators set others' with PUT /users/:id (AdminUsers).
	ChangeOwnPassword = Action{Name: "change_own_password", Write: true, Auth: true}
	CreateGroup       = Action{Name: "create_group", Write: true}
	CreateProject     = Action{Name: "create_project", Write: true}
	// Browse is listing what the caller may see; the listing filters.
	Browse = Action{Name: "browse"}
	// Observe is the operator's endpoints: health, readiness, metrics.
	Observe = Action{Name: "observe"}
	// SignIn is the web UI's sign-in and sign-out, open to everyone;
	// ReadStatic its stylesheet and script (issue 19).
	SignIn     = Action{Name: "sign_in"}
	ReadStatic = Action{Name: "read_static"}
	// ReadMetadata is GET /version and /metadata: any signed-in caller
	// (GitLab's lib/api/metadata.rb authenticates, nothing more).
	ReadMetadata = Action{Name: "read_instance_metadata", Auth: true}

	ReadProject         = Action{Name: "read_project"}
	UpdateProject       = Action{Name: "admin_project", Write: true, Min: model.Maintainer}
	RemoveProject       = Action{Name: "remove_project", Write: true, Min: model.Owner}
	AdminProjectMembers = Action{Name: "admin_project_member", Write: true, Min: model.Maintainer}
	// ManageOwners is granting, changing or removing the Owner role of a
	// project or group: Owners only (GitLab's rule).
	ManageOwners   = Action{Name: "admin_owner_member", Write: true, Min: model.Owner}
	ReadRepository = Action{Name: "download_code", MinPrivate: model.Reporter, Policy: PolicyReadRepositories}
	// PushAbility is the role a push needs, whatever the credential's
	// scope: what the branches API reports as can_push.
	PushAbility = Action{Name: "push_code_ability", Min: model.Developer}
	PushCode    = Action{Name: "push_code", Write: true, Min: model.Developer, Policy: PolicyAdminRepositories, JobOwnProject: true, JobTokenPush: true}
	// Pipelines and jobs: everyone who sees a public or internal project
	// sees its pipelines; a private one needs Reporter.
	ReadPipeline   = Action{Name: "read_pipeline", MinPrivate: model.Reporter, Policy: PolicyReadPipelines}
	CreatePipeline = Action{Name: "create_pipeline", Write: true, Min: model.Developer}
	UpdatePipeline = Action{Name: "update_pipeline", Write: true, Min: model.Developer}
	// EraseJob: Maintainers erase any job, a Developer the jobs they ran.
	EraseJob       = Action{Name: "erase_build", Write: true, Min: model.Developer, NonOwnerMin: model.Maintainer}
	DeletePipeline = Action{Name: "destroy_pipeline", Write: true, Min: model.Owner}
	// TriggerPipeline is the trigger API (POST /projects/:id/trigger/pipeline
	// and the webhook form) with a job token or a trigger token, and a
	// trigger: bridge: a pipeline as the token's user, who needs Developer.
	// A job token's whole decision applies, with admin_pipelines as the
	// policy an allowlist entry or job_token: permissions: must grant;
	// a target the user cannot see is GitLab's plain 404 (gitlab-compat.md
	// §3.5, the seed's troubleshooting).
	TriggerPipeline = Action{Name: "trigger_pipeline", Write: true, Min: model.Developer, Policy: PolicyAdminPipelines,
		NotFound: MsgNotFound, RoleInvalid: MsgPipelinePermissions}
	// Trigger tokens are the Maintainers' (GitLab's admin_build).
	ReadTriggers  = Action{Name: "read_pipeline_trigger", Auth: true, Min: model.Maintainer}
	AdminTriggers = Action{Name: "admin_pipeline_trigger", Write: true, Min: model.Maintainer}
	// Pipeline schedules (GitLab's rights): Reporters read them, Developers
	// create and play them; a change is a Developer's row, then the
	// handler's AdminSchedule: the schedule's owner or a Maintainer
	// (NonOwnerMin; the handler says who owns), who also read its
	// variables; a Maintainer takes one over.
	ReadSchedules  = Action{Name: "read_pipeline_schedule", Auth: true, Min: model.Reporter}
	CreateSchedule = Action{Name: "create_pipeline_schedule", Write: true, Min: model.Developer}
	PlaySchedule   = Action{Name: "play_pipeline_schedule", Write: true, Min: model.Developer}
	UpdateSchedule = Action{Name: "update_pipeline_schedule", Write: true, Min: model.Developer}
	AdminSchedule  = Action{Name: "admin_pipeline_schedule", Auth: true, Min: model.Developer, NonOwnerMin: model.Maintainer}
	TakeSchedule   = Action{Name: "take_ownership_pipeline_schedule", Write: true, Min: model.Maintainer}
	// UpdateProjectRead is reading what Maintainers manage (runners).
	UpdateProjectRead = Action{Name: "admin_project_read", Auth: true, Min: model.Maintainer}

	// The token access scope: Maintainers read and change it; explain is
	// for Maintainers and the job's user, which its handler checks.
	ReadJobTokenScope  = Action{Name: "read_job_token_scope", Auth: true, Min: model.Maintainer}
	AdminJobTokenScope = Action{Name: "admin_job_token_scope", Write: true, Min: model.Maintainer}
	ExplainJobToken    = Action{Name: "explain_job_token", Auth: true}
	ReadSettings       = Action{Name: "read_application_settings", Auth: true, AdminOnly: true}
	AdminSettings      = Action{Name: "admin_application_settings", Write: true, AdminOnly: true}

	ReadGroup         = Action{Name: "read_group"}
	UpdateGroup       = Action{Name: "admin_group", Write: true, Min: model.Owner}
	RemoveGroup       = Action{Name: "remove_group", Write: true, Min: model.Owner}
	AdminGroupMembers = Action{Name: "admin_group_member", Write: true, Min: model.Owner}
	CreateSubgroup    = Action{Name: "create_subgroup", Write: true, Min: model.Maintainer}
	// CreateProjectIn is creating a project in a group (GitLab's default
	// project_creation_level: Developers and Maintainers); in a personal
	// namespace its owner holds Owner, everyone else nothing.
	CreateProjectIn = Action{Name: "create_projects", Write: true, Min: model.Developer}
)

// Checks, in the order Decide runs them; a Decision names the one that
// refused. The job-token checks (liveness to feature_visibility) pass
// untouched for other callers and for targets that are not projects.
const (
	CheckAuthentication = "authentication"
	CheckRunner         = "runner" // the runner protocol's credentials
	CheckOwnJob         = "own_job"
	CheckTriggerProject = "trigger_project" // a trigger token on another project
	CheckLiveness       = "liveness"
	CheckVisibility     = "visibility"
	CheckOwnProject     = "own_project"
	CheckTokenScope     = "credential_scope" // a personal access token's scopes (read_api)
	CheckOutbound       = "outbound_scope"
	CheckInbound        = "inbound_allowlist"
	CheckEntryPolicy    = "entry_policy"
	CheckExplicitPolicy = "explicit_entry_policy"
	CheckJobPermissions = "job_permissions"
	CheckAdmin          = "admin"
	CheckRole           = "role"
	CheckOwner          = "owner"
	CheckFeature        = "feature_visibility"
	CheckJobTokenPush   = "job_token_push"
	CheckProtectedRef   = "protected_ref"
)

// Decision is Decide's answer: allowed, or refused with the HTTP status,
// GitLab's message and the failed check.
type Decision struct {
	Allowed bool
	Status  int
	Message string
	Check   string
}

// Allow is the positive decision.
var Allow = Decision{Allowed: true, Status: http.StatusOK}

func deny(status int, msg, check string) Decision {
	return Decision{Status: status, Message: msg, Check: check}
}

// Messages GitLab answers with.
const (
	MsgUnauthorized    = "401 Unauthorized"
	MsgForbidden       = "403 Forbidden"
	MsgProjectNotFound = "404 Project Not Found"
	MsgGroupNotFound   = "404 Group Not Found"
	MsgNotFound        = "404 Not Found"
	// MsgPipelinePermissions: GitLab's refusal of a pipeline to a user
	// without the role to create one.
	MsgPipelinePermissions = "Insufficient permissions to create a new pipeline"
	MsgInsufficientScope   = "insufficient_scope"
	// MsgOwnProjectOnly: the action takes a job token of the target
	// project only.
	MsgOwnProjectOnly = "A CI/CD job token may do this only in its own project."
	// MsgNoJobTokenPolicy: an allowlist entry or a job narrowed the token
	// to listed policies, and the route declares none.
	MsgNoJobTokenPolicy = "This action is unauthorized for CI/CD job tokens."
	// MsgJobTokenPushOff: the project has not allowed its jobs' tokens to
	// push (git answers its own words).
	MsgJobTokenPushOff = "This project does not allow CI/CD job tokens to push to its repository."
)

// ScopeMessage is the 403 of a cross-project use the token access scope
// refuses (gitlab-compat.md §3.1 step 7).
func ScopeMessage(source, target string) string {
	return "Authentication by CI/CD job token not allowed from " + source + " to " + target + "."
}

// PolicyMessage is the 403 of a job token that lacks the policy a route
// needs (gitlab-compat.md §3.1 step 8).
func PolicyMessage(project, policy string) string {
	return "Insufficient permissions to access this resource in project " + project +
		". The following token permission is required: " + policy + "."
}

// Each check passes, fails (filling in the Decision it is handed), or
// is skipped when it has nothing to say about this request (a job-token
// check for a personal access token, an entry policy with no entry).
// They are called through a switch on a small integer, not a table of
// funcs, and hand back a small result rather than a Decision: a call
// through a func value moves s, t and a to the heap, copying a Decision
// out of every check costs more than the checks, and the decision is on
// every request's path.

type checkID uint8

const (
	idAuthentication checkID = iota
	idRunner
	idOwnJob
	idLiveness
	idTriggerProject
	idVisibility
	idOwnProject
	idTokenScope
	idOutbound
	idInbound
	idEntryPolicy
	idExplicitPolicy
	idJobPermissions
	idAdmin
	idRole
	idOwner
	idFeature
	idJobTokenPush
	idProtectedRef
	numChecks
)

// checkNames names each check, in Decide's order.
var checkNames = [numChecks]string{
	CheckAuthentication, CheckRunner, CheckOwnJob, CheckLiveness, CheckTriggerProject, CheckVisibility, CheckOwnProject, CheckTokenScope,
	CheckOutbound, CheckInbound, CheckEntryPolicy, CheckExplicitPolicy, CheckJobPermissions, CheckAdmin, CheckRole, CheckOwner, CheckFeature,
	CheckJobTokenPush, CheckProtectedRef,
}

// result is what one check says; a failing check also fills in the
// Decision it was handed.
type result uint8

const (
	passed result = iota
	failed
	skipped // not applicable: the check did not look
	// omitted: the check never concerns this action or this kind of
	// caller (a runner check on a REST action); Explain leaves it out.
	omitted
)

func fail(d *Decision, v Decision) result {
	*d = v
	return failed
}

func run(c checkID, s *Subject, t *Target, a *Action, d *Decision) result {
	switch c {
	case idAuthentication:
		return checkAuthentication(s, t, a, d)
	case idRunner:
		return checkRunner(s, t, a, d)
	case idOwnJob:
		return checkOwnJob(s, t, a, d)
	case idLiveness:
		return checkLiveness(s, t, a, d)
	case idTriggerProject:
		return checkTriggerProject(s, t, a, d)
	case idVisibility:
		return checkVisibility(s, t, a, d)
	case idOwnProject:
		return checkOwnProject(s, t, a, d)
	case idTokenScope:
		return checkTokenScope(s, t, a, d)
	case idOutbound:
		return checkOutbound(s, t, a, d)
	case idInbound:
		return checkInbound(s, t, a, d)
	case idEntryPolicy:
		return checkEntryPolicy(s, t, a, d)
	case idExplicitPolicy:
		return checkExplicitPolicy(s, t, a, d)
	case idJobPermissions:
		return checkJobPermissions(s, t, a, d)
	case idAdmin:
		return checkAdmin(s, t, a, d)
	case idRole:
		return checkRole(s, t, a, d)
	case idOwner:
		return checkOwner(s, t, a, d)
	case idFeature:
		return checkFeature(s, t, a, d)
	case idJobTokenPush:
		return checkJobTokenPush(s, t, a, d)
	}
	return checkProtectedRef(s, t, a, d)
}

// Decide runs the checks in order and returns the first refusal:
// authentication; the runner protocol's own credentials (a runner's token,
// a job's token on calls about that job); a job token's liveness; visibility of the target,
// refused as 404 so that existence is never revealed, even to a caller
// whose credential could not have done the action anyway; actions a job
// token may do only in its own project; the credential's scope; for a job token on another project, the token
// access scope in both directions and the nearest allowlist entry's
// policies; the job's own declared permissions; administrator-only
// actions; the role; and what a job token outside the target's allowlist
// may still do on a public or internal project (gitlab-compat.md §3.1, §4).
func Decide(s Subject, t Target, a Action) Decision {
	var d Decision
	for c := range numChecks {
		if run(c, &s, &t, &a, &d) == failed {
			return d
		}
	}
	return Allow
}

// Step is one check as Explain reports it.
type Step struct {
	Check string `json:"check"`
	// Result is "pass", "fail" or "not_applicable".
	Result  string `json:"result"`
	Status  int    `json:"status,omitempty"`
	Message string `json:"message,omitempty"`
}

// Explain runs every check, not only up to the first refusal, so that a
// maintainer sees each problem at once; the Decision is Decide's.
func Explain(s Subject, t Target, a Action) (Decision, []Step) {
	out := Allow
	steps := make([]Step, 0, numChecks)
	for c := range numChecks {
		var d Decision
		st := Step{Check: checkNames[c], Result: "pass"}
		switch run(c, &s, &t, &a, &d) {
		case failed:
			st.Result, st.Status, st.Message = "fail", d.Status, d.Message
			if out.Allowed {
				out = d
			}
		case skipped:
			st.Result = "not_applicable"
		case omitted:
			continue
		}
		steps = append(steps, st)
	}
	return out, steps
}

func checkAuthentication(s *Subject, t *Target, a *Action, d *Decision) result {
	if (a.Write || a.Auth || a.AdminOnly) && !s.Authenticated {
		return fail(d, deny(http.StatusUnauthorized, MsgUnauthorized, CheckAuthentication))
	}
	return passed
}

// checkRunner: the runner protocol's calls take a runner's token, and
// legacy registration the registration token; GitLab answers anything else
// 403, which gitlab-runner counts against the runner's health
// (runner-protocol.md §4).
func checkRunner(s *Subject, t *Target, a *Action, d *Decision) result {
	switch {
	case a.Runner && !s.Runner, a.Registration && !s.Registrar:
		return fail(d, deny(http.StatusForbidden, MsgForbidden, CheckRunner))
	case a.Runner, a.Registration:
		return passed
	}
	return omitted
}

// checkOwnJob: a runner's call about a job carries that job's token
// (runner-protocol.md §7: "The token's job must match :id").
func checkOwnJob(s *Subject, t *Target, a *Action, d *Decision) result {
	if t.Kind != Job {
		return omitted
	}
	if s.Job == nil || s.Job.JobID != t.ID {
		return fail(d, deny(http.StatusForbidden, MsgForbidden, CheckOwnJob))
	}
	return passed
}

// checkLiveness: a job token works while its job runs (or cancels), its
// project is not being deleted and its user may sign in. The only
// exception is the runner repeating its final update shortly after the
// job's own end.
func checkLiveness(s *Subject, t *Target, a *Action, d *Decision) result {
	switch {
	case s.Job == nil:
		return skipped
	case s.Job.Live():
		return passed
	case s.Job.Dead == JobEnded && a.FinalGrace && t.InGrace:
		return passed
	}
	return fail(d, deny(http.StatusUnauthorized, MsgUnauthorized, CheckLiveness))
}

// checkTriggerProject: a trigger token acts on its own project only; on
// any other it is as unknown as a wrong token (GitLab: 404), whatever its
// owner may see there.
func checkTriggerProject(s *Subject, t *Target, a *Action, d *Decision) result {
	switch {
	case s.TriggerProjectID == 0:
		return omitted
	case t.Kind != Project || t.ID != s.TriggerProjectID:
		return fail(d, deny(http.StatusNotFound, MsgNotFound, CheckTriggerProject))
	}
	return passed
}

func checkVisibility(s *Subject, t *Target, a *Action, d *Decision) result {
	if t.Kind == Instance || t.Kind == Job {
		return skipped
	}
	if !s.Admin && !visible(*s, *t) {
		if a.NotFound != "" {
			return fail(d, deny(http.StatusNotFound, a.NotFound, CheckVisibility))
		}
		if t.Kind == Group {
			return fail(d, deny(http.StatusNotFound, MsgGroupNotFound, CheckVisibility))
		}
		return fail(d, deny(http.StatusNotFound, MsgProjectNotFound, CheckVisibility))
	}
	return passed
}

func checkTokenScope(s *Subject, t *Target, a *Action, d *Decision) result {
	if a.Image {
		if s.NoImagePull || (a.Write && s.NoImagePush) {
			return fail(d, deny(http.StatusForbidden, MsgInsufficientScope, CheckTokenScope))
		}
		return passed
	}
	if s.NoAPI || (a.Write && s.ReadOnly) {
		return fail(d, deny(http.StatusForbidden, MsgInsufficientScope, CheckTokenScope))
	}
	return passed
}

// checkOwnProject: some actions take a job token of the target project
// only, whatever the allowlists say (a push, GitLab's container registry
// API). Checked after visibility, so that it never reveals a project.
func checkOwnProject(s *Subject, t *Target, a *Action, d *Decision) result {
	if !a.JobOwnProject || !crossProject(s, t) {
		return skipped
	}
	if a.OwnProjectMessage != "" {
		return fail(d, deny(http.StatusForbidden, a.OwnProjectMessage, CheckOwnProject))
	}
	return fail(d, deny(http.StatusForbidden, MsgOwnProjectOnly, CheckOwnProject))
}

// crossProject: a job token acting on a project other than its job's,
// where the token access scope applies.
func crossProject(s *Subject, t *Target) bool {
	return s.Job != nil && t.Kind == Project && t.ID != s.Job.ProjectID
}

// checkOutbound is the seed's "Limit CI_JOB_TOKEN access": with the limit
// on, the job's project reaches only the private projects on its list;
// public and internal ones are exempt (gitlab-compat.md §4.1).
func checkOutbound(s *Subject, t *Target, a *Action, d *Decision) result {
	if !crossProject(s, t) || !t.Scope.OutboundEnabled {
		return skipped
	}
	if t.Visibility == model.Private && !t.Scope.InOutboundList {
		return fail(d, deny(http.StatusForbidden, ScopeMessage(s.Job.ProjectPath, t.Path), CheckOutbound))
	}
	return passed
}

// checkInbound is the target's allowlist: a private target admits only
// listed projects and groups. A public or internal one admits everyone,
// but an unlisted caller keeps only what the public gets, which
// checkFeature enforces (§4.4).
func checkInbound(s *Subject, t *Target, a *Action, d *Decision) result {
	if !crossProject(s, t) || !t.Scope.InboundInForce {
		return skipped
	}
	if t.Scope.Entry == nil && t.Visibility == model.Private {
		return fail(d, deny(http.StatusForbidden, ScopeMessage(s.Job.ProjectPath, t.Path), CheckInbound))
	}
	return passed
}

// checkEntryPolicy: the nearest entry's policies, unless it keeps the
// default permissions (everything the role allows).
func checkEntryPolicy(s *Subject, t *Target, a *Action, d *Decision) result {
	if !crossProject(s, t) || !t.Scope.InboundInForce || t.Scope.Entry == nil || t.Scope.Entry.DefaultPermissions {
		return skipped
	}
	return needPolicy(t.Scope.Entry.Policies, t, a, CheckEntryPolicy, d)
}

// checkExplicitPolicy: for an action that needs it, a job token of
// another project is admitted only by an allowlist entry that names the
// action's policy: an entry keeping the default permissions, or an
// allowlist that is not in force, is not enough (the facts load the
// nearest entry for such actions even then).
func checkExplicitPolicy(s *Subject, t *Target, a *Action, d *Decision) result {
	switch {
	case !a.EntryPolicyRequired:
		return omitted
	case !crossProject(s, t):
		return skipped
	case t.Scope.Entry == nil:
		return fail(d, deny(http.StatusForbidden, ScopeMessage(s.Job.ProjectPath, t.Path), CheckExplicitPolicy))
	case !slices.Contains(t.Scope.Entry.Policies, a.Policy):
		return fail(d, deny(http.StatusForbidden, PolicyMessage(t.Path, a.Policy), CheckExplicitPolicy))
	}
	return passed
}

// implicitJobPolicies are what a job's own token may always do in its own
// project, whatever it declares: the runner checks out the job's code and
// downloads its dependencies with it.
var implicitJobPolicies = []string{PolicyReadRepositories, PolicyReadJobs}

// checkJobPermissions: a job that declared `job_token: permissions:` gets
// only those, on every project including its own.
func checkJobPermissions(s *Subject, t *Target, a *Action, d *Decision) result {
	if s.Job == nil || !s.Job.Restricted || t.Kind != Project {
		return skipped
	}
	if t.ID == s.Job.ProjectID && slices.Contains(implicitJobPolicies, a.Policy) {
		return passed
	}
	return needPolicy(s.Job.Permissions, t, a, CheckJobPermissions, d)
}

func needPolicy(granted []string, t *Target, a *Action, name string, d *Decision) result {
	switch {
	case a.Policy == "":
		return fail(d, deny(http.StatusForbidden, MsgNoJobTokenPolicy, name))
	case !slices.Contains(granted, a.Policy):
		return fail(d, deny(http.StatusForbidden, PolicyMessage(t.Path, a.Policy), name))
	}
	return passed
}

func checkAdmin(s *Subject, t *Target, a *Action, d *Decision) result {
	if a.AdminOnly && !s.Admin {
		return fail(d, deny(http.StatusForbidden, MsgForbidden, CheckAdmin))
	}
	return passed
}

func checkRole(s *Subject, t *Target, a *Action, d *Decision) result {
	if t.Kind == Instance || t.Kind == Job || s.Admin {
		return passed
	}
	if t.Level < a.Min || (t.Visibility == model.Private && t.Level < a.MinPrivate) {
		if a.RoleInvalid != "" {
			return fail(d, deny(http.StatusBadRequest, a.RoleInvalid, CheckRole))
		}
		return fail(d, deny(http.StatusForbidden, MsgForbidden, CheckRole))
	}
	return passed
}

// checkOwner: some actions need a higher role on what someone else made
// (erasing another user's job needs Maintainer, one's own Developer).
func checkOwner(s *Subject, t *Target, a *Action, d *Decision) result {
	switch {
	case a.NonOwnerMin == 0:
		return omitted
	case s.Admin || t.Owner || t.Level >= a.NonOwnerMin:
		return passed
	}
	return fail(d, deny(http.StatusForbidden, MsgForbidden, CheckOwner))
}

// checkFeature: a job token outside a public or internal target's
// allowlist loses its role there and keeps what the project's features
// give everyone: reads open to the public, nothing that needs a role.
// Every feature a job token reaches (repository, builds, packages) is open
// to everyone who sees the project; ciwarden has no per-feature
// visibility.
func checkFeature(s *Subject, t *Target, a *Action, d *Decision) result {
	if !crossProject(s, t) || !t.Scope.InboundInForce || t.Scope.Entry != nil || t.Visibility == model.Private {
		return skipped
	}
	if a.Write || a.Auth || a.AdminOnly || a.Min > 0 {
		return fail(d, deny(http.StatusForbidden, ScopeMessage(s.Job.ProjectPath, t.Path), CheckFeature))
	}
	return passed
}

// checkJobTokenPush: a job token pushes only where its project allows it
// (ci_push_repository_for_job_token_allowed, off by default); own_project
// has already kept it to its own project.
func checkJobTokenPush(s *Subject, t *Target, a *Action, d *Decision) result {
	switch {
	case !a.JobTokenPush:
		return omitted
	case s.Job == nil:
		return skipped
	case !t.JobTokenPush:
		return fail(d, deny(http.StatusForbidden, MsgJobTokenPushOff, CheckJobTokenPush))
	}
	return passed
}

// visible: public to everyone, internal to every signed-in user, private
// to members (and, for groups, to members of what lies beneath).
func visible(s Subject, t Target) bool {
	switch {
	case t.Visibility == model.Public:
		return true
	case t.Visibility == model.Internal && s.Authenticated:
		return true
	case t.Level >= model.Guest:
		return true
	}
	return t.Kind == Group && t.Related
}
