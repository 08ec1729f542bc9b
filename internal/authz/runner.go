package authz

import "github.com/ciwarden/ciwarden/internal/model"

// The runner protocol's actions (runner-protocol.md). A runner calls with
// its own token; about a job, with that job's token, whose user's role is
// not asked: the runner acts for the job, not as its user. Every refusal
// there is a 403, which is how GitLab's runner API answers.
var (
	// RunnerCall is a runner's own call: verify, unregister, ask for a job.
	RunnerCall = Action{Name: "runner_call", Runner: true}
	// RegisterRunner is legacy registration with the registration token.
	RegisterRunner = Action{Name: "register_runner", Registration: true}
	// UpdateJobState is PUT /jobs/:id; the runner may repeat its final
	// update for a while after the job ended.
	UpdateJobState = Action{Name: "update_build", FinalGrace: true}
	// AppendJobLog is PATCH /jobs/:id/trace.
	AppendJobLog = Action{Name: "append_build_trace"}
	// UploadJobArtifacts is POST /jobs/:id/artifacts.
	UploadJobArtifacts = Action{Name: "create_build_artifacts"}
	// DownloadDependency is the runner fetching a dependency's archive
	// (GET /jobs/:id/artifacts) with the downloading job's token: that
	// job's user must be allowed to read the artifacts of job :id's
	// project, token access scope included.
	DownloadDependency = Action{Name: "read_job_artifacts", Auth: true, MinPrivate: model.Reporter, Policy: PolicyReadJobs}

	// CreateRunner is POST /user/runners for any signed-in caller; the
	// runner's type then needs its own right, decided on its scope.
	CreateRunner = Action{Name: "create_runner", Write: true}
	// CreateInstanceRunner: administrators (GitLab's create_instance_runner).
	CreateInstanceRunner = Action{Name: "create_instance_runner", Write: true, AdminOnly: true}
	// CreateGroupRunner: group Owners.
	CreateGroupRunner = Action{Name: "create_group_runner", Write: true, Min: model.Owner}
	// CreateProjectRunner: project Maintainers.
	CreateProjectRunner = Action{Name: "create_project_runner", Write: true, Min: model.Maintainer}
	// ManageProjectRunners and ManageGroupRunners: a project's runners are
	// managed by its Maintainers, a group's by its Owners (GET /runners
	// lists what the caller manages).
	ManageInstanceRunners = Action{Name: "admin_instance_runners", Auth: true, AdminOnly: true}
	ManageProjectRunners  = Action{Name: "admin_project_runners", Auth: true, Min: model.Maintainer}
	ManageGroupRunners    = Action{Name: "admin_group_runners", Auth: true, Min: model.Owner}
)
