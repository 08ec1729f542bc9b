package authz

import (
	"net/http"

	"github.com/ciwarden/ciwarden/internal/model"
)

// RefOp is what an action does to a branch or tag, as protected refs see
// it (issue 16: protected branches and tags).
type RefOp uint8

const (
	RefNone RefOp = iota
	// RefPush moves an existing branch forward; RefForcePush rewrites
	// its history (non-fast-forward); RefCreate and RefDelete create
	// and delete a branch by a push.
	RefPush
	RefForcePush
	RefCreate
	RefDelete
	// RefCreateTag, RefUpdateTag and RefDeleteTag are a push's changes
	// to a tag.
	RefCreateTag
	RefUpdateTag
	RefDeleteTag
	// RefRunPipeline creates a pipeline on the ref, and RefRunJob retries
	// or plays a job of one (or plays a schedule on it): both need the right to push or merge to a
	// protected branch, to create a protected tag (GitLab's rule), so
	// nobody runs a protected pipeline they could not have pushed.
	RefRunPipeline
	RefRunJob
)

// Ref is the branch or tag a ref action touches, with the rules of its
// project that cover it (a name may match an exact rule and wildcards);
// no rules: the ref is not protected.
type Ref struct {
	Name  string // short name: main, release/1.0, v1
	Tag   bool
	Rules []*model.ProtectedRef
}

// GitLab's messages for refused changes to protected refs (its branch and
// tag checks; git shows them as the remote's words).
const (
	MsgPushProtectedBranch      = "You are not allowed to push code to protected branches on this project."
	MsgForcePushProtectedBranch = "You are not allowed to force push code to a protected branch on this project."
	MsgCreateProtectedBranch    = "You are not allowed to create protected branches on this project."
	MsgDeleteProtectedBranch    = "You are not allowed to delete protected branches from this project. Only a project maintainer or owner can delete a protected branch."
	MsgDeleteProtectedBranchGit = "You can only delete protected branches using the web interface."
	MsgCreateProtectedTag       = "You are not allowed to create this tag as it is protected."
	MsgUpdateProtectedTag       = "Protected tags cannot be updated."
	MsgDeleteProtectedTag       = "You are not allowed to delete protected tags from this project. Only a project maintainer or owner can delete a protected tag."
	MsgDeleteProtectedTagGit    = "You can only delete protected tags using the web interface."
)

// ProtectedRefPipelineMessage is GitLab's refusal of a pipeline on a
// protected ref the caller may not update.
func ProtectedRefPipelineMessage(ref string) string {
	return "Insufficient permissions for protected ref '" + ref + "'"
}

// refAction is a push's change to one ref: everything push_code needs
// (role, job-token policy, own project, the push toggle), and the
// protected_ref check on top, so a per-ref decision repeats the push's
// checks with the same facts rather than counting anything twice.
func refAction(name string, op RefOp) Action { return onRef(PushCode, name, op) }

// onRef is act on one ref: everything act needs, and the protected_ref
// check on top.
func onRef(act Action, name string, op RefOp) Action {
	act.Name, act.Ref = name, op
	return act
}

// The actions of a push, one per ref it changes.
var (
	PushBranch      = refAction("push_branch", RefPush)
	ForcePushBranch = refAction("force_push_branch", RefForcePush)
	CreateBranch    = refAction("create_branch", RefCreate)
	DeleteBranch    = refAction("delete_branch", RefDelete)
	CreateTag       = refAction("create_tag", RefCreateTag)
	UpdateTag       = refAction("update_tag", RefUpdateTag)
	DeleteTag       = refAction("delete_tag", RefDeleteTag)

	// PushBranchAbility is PushAbility on one branch: the branches API's
	// can_push, whatever the credential's scope.
	PushBranchAbility = Action{Name: "push_code_ability_on_ref", Min: model.Developer, Ref: RefPush}

	// CreatePipelineOnRef is create_pipeline on the pipeline's ref;
	// RunJobOnRef is update_pipeline (retry, play) on the job's.
	CreatePipelineOnRef = Action{Name: "create_pipeline_on_ref", Write: true, Min: model.Developer, Ref: RefRunPipeline}
	// TriggerPipelineOnRef is the trigger API's pipeline on its ref: the
	// trigger's checks (a job token's policy and scope included) and the
	// protected_ref check on top.
	TriggerPipelineOnRef = onRef(TriggerPipeline, "trigger_pipeline_on_ref", RefRunPipeline)
	RunJobOnRef          = Action{Name: "update_pipeline_on_ref", Write: true, Min: model.Developer, Ref: RefRunJob}
	// PlayScheduleOnRef is running a pipeline schedule by hand: its
	// pipeline runs as the player on the schedule's ref, which they must
	// be allowed to update, refused as GitLab's play_pipeline_schedule
	// (403) rather than as a pipeline's validation.
	PlayScheduleOnRef = onRef(PlaySchedule, "play_pipeline_schedule_on_ref", RefRunJob)
	// SaveScheduleOnRef is creating a pipeline schedule on a ref, or
	// moving one to it: only for whoever may run pipelines there (GitLab's
	// schedule policy), so that no schedule is set up to run where its
	// owner could not.
	SaveScheduleOnRef = onRef(CreateSchedule, "save_pipeline_schedule_on_ref", RefRunJob)
)

// refLevelAllows: a protected ref's level admits the caller. No one is no
// one; Admin is instance administrators; a role level needs that role in
// the project, administrators included (GitLab 16.0 made administrators
// need the allowed permission too). A job token holds its user's role.
func refLevelAllows(l model.AccessLevel, s *Subject, t *Target) bool {
	switch l {
	case model.NoAccess:
		return false
	case model.AdminAccess:
		return s.Admin
	}
	return t.Level >= l
}

// anyRule: at least one covering rule admits the caller at the level
// level picks (the most permissive rule decides who pushes, as GitLab).
func anyRule(rs []*model.ProtectedRef, s *Subject, t *Target, level func(*model.ProtectedRef) model.AccessLevel) bool {
	for _, r := range rs {
		if refLevelAllows(level(r), s, t) {
			return true
		}
	}
	return false
}

func pushLevel(r *model.ProtectedRef) model.AccessLevel  { return r.PushLevel }
func mergeLevel(r *model.ProtectedRef) model.AccessLevel { return r.MergeLevel }

// mayUpdate: the caller may push or merge to the protected branch, or
// create the protected tag.
func mayUpdate(rs []*model.ProtectedRef, tag bool, s *Subject, t *Target) bool {
	return anyRule(rs, s, t, pushLevel) || (!tag && anyRule(rs, s, t, mergeLevel))
}

// checkProtectedRef: a change to a protected branch or tag needs what its
// rules allow. Pushing or creating needs a rule's push (tag: create)
// level; a force push also needs every covering rule to allow it; a
// protected branch or tag is never deleted by a push, and a protected tag
// never moved.
func checkProtectedRef(s *Subject, t *Target, a *Action, d *Decision) result {
	if a.Ref == RefNone {
		return omitted
	}
	if t.Ref == nil || len(t.Ref.Rules) == 0 {
		return skipped
	}
	rs := t.Ref.Rules
	maintainer := s.Admin || t.Level >= model.Maintainer
	refuse := func(msg string) result { return fail(d, deny(http.StatusForbidden, msg, CheckProtectedRef)) }
	switch a.Ref {
	case RefPush:
		if !anyRule(rs, s, t, pushLevel) {
			return refuse(MsgPushProtectedBranch)
		}
	case RefForcePush:
		if !anyRule(rs, s, t, pushLevel) {
			return refuse(MsgPushProtectedBranch)
		}
		for _, r := range rs {
			if !r.AllowForcePush {
				return refuse(MsgForcePushProtectedBranch)
			}
		}
	case RefCreate:
		if !anyRule(rs, s, t, pushLevel) {
			return refuse(MsgCreateProtectedBranch)
		}
	case RefDelete:
		if !maintainer {
			return refuse(MsgDeleteProtectedBranch)
		}
		return refuse(MsgDeleteProtectedBranchGit)
	case RefCreateTag:
		if !anyRule(rs, s, t, pushLevel) {
			return refuse(MsgCreateProtectedTag)
		}
	case RefUpdateTag:
		return refuse(MsgUpdateProtectedTag)
	case RefDeleteTag:
		if !maintainer {
			return refuse(MsgDeleteProtectedTag)
		}
		return refuse(MsgDeleteProtectedTagGit)
	case RefRunPipeline:
		if !mayUpdate(rs, t.Ref.Tag, s, t) {
			return refuse(ProtectedRefPipelineMessage(t.Ref.Name))
		}
	case RefRunJob:
		if !mayUpdate(rs, t.Ref.Tag, s, t) {
			return refuse(MsgForbidden)
		}
	}
	return passed
}
