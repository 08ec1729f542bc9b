package api

import (
	"net/http"

	"github.com/ciwarden/ciwarden/internal/authz"
	"github.com/ciwarden/ciwarden/internal/model"
)

// Routes is the route table: every API endpoint, what it accepts, what it
// acts on and what it needs. `ciwarden routes` prints it.
func (a *API) Routes() []Route {
	return []Route{
		// Users
		{REST, http.MethodGet, "/user", userAPI, NoTarget, authz.ReadCurrentUser, a.currentUser},
		{REST, http.MethodGet, "/users", userAPI, NoTarget, authz.ListAllUsers, a.listUsers},
		{REST, http.MethodPost, "/users", userAPI, NoTarget, authz.AdminUsers, a.createUser},
		{REST, http.MethodGet, "/users/{user_id}", userAPI, NoTarget, authz.ReadUser, a.getUser},
		{REST, http.MethodPost, "/users/{user_id}/block", userAPI, NoTarget, authz.AdminUsers, a.blockUser},
		{REST, http.MethodPost, "/users/{user_id}/unblock", userAPI, NoTarget, authz.AdminUsers, a.unblockUser},

		// The instance's version (metadata.go)
		{REST, http.MethodGet, "/version", userAPI, NoTarget, authz.ReadMetadata, a.getMetadata},
		{REST, http.MethodGet, "/metadata", userAPI, NoTarget, authz.ReadMetadata, a.getMetadata},

		// Personal access tokens
		{REST, http.MethodPost, "/users/{user_id}/personal_access_tokens", userAPI, NoTarget, authz.AdminUsers, a.createPAT},
		{REST, http.MethodGet, "/personal_access_tokens", userAPI, NoTarget, authz.ReadOwnTokens, a.listPATs},
		{REST, http.MethodGet, "/personal_access_tokens/self", userAPI, NoTarget, authz.ReadOwnTokens, a.selfPAT},
		{REST, http.MethodGet, "/personal_access_tokens/{token_id}", userAPI, NoTarget, authz.ReadOwnTokens, a.getPAT},
		{REST, http.MethodDelete, "/personal_access_tokens/{token_id}", userAPI, NoTarget, authz.RevokeOwnToken, a.revokePAT},

		// Groups
		{REST, http.MethodGet, "/groups", userAPI, NoTarget, authz.Browse, a.listGroups},
		{REST, http.MethodPost, "/groups", userAPI, NoTarget, authz.CreateGroup, a.createGroup},
		{REST, http.MethodGet, "/groups/{id}", userAPI, GroupTarget, authz.ReadGroup, a.getGroup},
		{REST, http.MethodPut, "/groups/{id}", userAPI, GroupTarget, authz.UpdateGroup, a.updateGroup},
		{REST, http.MethodDelete, "/groups/{id}", userAPI, GroupTarget, authz.RemoveGroup, a.deleteGroup},
		{REST, http.MethodGet, "/groups/{id}/projects", userAPI, GroupTarget, authz.ReadGroup, a.groupProjects},
		{REST, http.MethodGet, "/groups/{id}/subgroups", userAPI, GroupTarget, authz.ReadGroup, a.groupSubgroups},

		// Projects
		{REST, http.MethodGet, "/projects", userAPI, NoTarget, authz.Browse, a.listProjects},
		{REST, http.MethodPost, "/projects", userAPI, NoTarget, authz.CreateProject, a.createProject},
		{REST, http.MethodGet, "/projects/{id}", userAPI, ProjectTarget, authz.ReadProject, a.getProject},
		{REST, http.MethodPut, "/projects/{id}", userAPI, ProjectTarget, authz.UpdateProject, a.updateProject},
		{REST, http.MethodDelete, "/projects/{id}", userAPI, ProjectTarget, authz.RemoveProject, a.deleteProject},

		// Members, of projects and of groups
		{REST, http.MethodGet, "/projects/{id}/members", userAPI, ProjectTarget, authz.ReadProject, a.listMembers},
		{REST, http.MethodGet, "/projects/{id}/members/all", userAPI, ProjectTarget, authz.ReadProject, a.listAllMembers},
		{REST, http.MethodGet, "/projects/{id}/members/{user_id}", userAPI, ProjectTarget, authz.ReadProject, a.getMember},
		{REST, http.MethodGet, "/projects/{id}/members/all/{user_id}", userAPI, ProjectTarget, authz.ReadProject, a.getAllMember},
		{REST, http.MethodPost, "/projects/{id}/members", userAPI, ProjectTarget, authz.AdminProjectMembers, a.addMember},
		{REST, http.MethodPut, "/projects/{id}/members/{user_id}", userAPI, ProjectTarget, authz.AdminProjectMembers, a.updateMember},
		{REST, http.MethodDelete, "/projects/{id}/members/{user_id}", userAPI, ProjectTarget, authz.AdminProjectMembers, a.removeMember},
		{REST, http.MethodGet, "/groups/{id}/members", userAPI, GroupTarget, authz.ReadGroup, a.listMembers},
		{REST, http.MethodGet, "/groups/{id}/members/all", userAPI, GroupTarget, authz.ReadGroup, a.listAllMembers},
		{REST, http.MethodGet, "/groups/{id}/members/{user_id}", userAPI, GroupTarget, authz.ReadGroup, a.getMember},
		{REST, http.MethodGet, "/groups/{id}/members/all/{user_id}", userAPI, GroupTarget, authz.ReadGroup, a.getAllMember},
		{REST, http.MethodPost, "/groups/{id}/members", userAPI, GroupTarget, authz.AdminGroupMembers, a.addMember},
		{REST, http.MethodPut, "/groups/{id}/members/{user_id}", userAPI, GroupTarget, authz.AdminGroupMembers, a.updateMember},
		{REST, http.MethodDelete, "/groups/{id}/members/{user_id}", userAPI, GroupTarget, authz.AdminGroupMembers, a.removeMember},

		// Pipelines and jobs
		{REST, http.MethodGet, "/projects/{id}/pipelines", userAPI, ProjectTarget, authz.ReadPipeline, a.listPipelines},
		{REST, http.MethodPost, "/projects/{id}/pipeline", userAPI, ProjectTarget, authz.CreatePipeline, a.createPipeline},
		{REST, http.MethodGet, "/projects/{id}/pipelines/{pipeline_id}", userAPI, ProjectTarget, authz.ReadPipeline, a.getPipeline},
		{REST, http.MethodDelete, "/projects/{id}/pipelines/{pipeline_id}", userAPI, ProjectTarget, authz.DeletePipeline, a.deletePipeline},
		{REST, http.MethodGet, "/projects/{id}/pipelines/{pipeline_id}/jobs", userAPI, ProjectTarget, authz.ReadPipeline, a.pipelineJobs},
		{REST, http.MethodPost, "/projects/{id}/pipelines/{pipeline_id}/cancel", userAPI, ProjectTarget, authz.UpdatePipeline, a.cancelPipeline},
		{REST, http.MethodPost, "/projects/{id}/pipelines/{pipeline_id}/retry", userAPI, ProjectTarget, authz.UpdatePipeline, a.retryPipeline},
		{REST, http.MethodGet, "/projects/{id}/jobs", userAPI, ProjectTarget, authz.ReadPipeline, a.listJobs},
		{REST, http.MethodGet, "/projects/{id}/jobs/{job_id}", userAPI, ProjectTarget, authz.ReadPipeline, a.getJob},
		{REST, http.MethodPost, "/projects/{id}/jobs/{job_id}/cancel", userAPI, ProjectTarget, authz.UpdatePipeline, a.cancelJob},
		{REST, http.MethodPost, "/projects/{id}/jobs/{job_id}/retry", userAPI, ProjectTarget, authz.UpdatePipeline, a.retryJob},
		{REST, http.MethodPost, "/projects/{id}/jobs/{job_id}/play", userAPI, ProjectTarget, authz.UpdatePipeline, a.playJob},
		{REST, http.MethodPost, "/projects/{id}/jobs/{job_id}/erase", userAPI, ProjectTarget, authz.UpdatePipeline, a.eraseJob},

		{REST, http.MethodGet, "/projects/{id}/jobs/{job_id}/trace", userAPI, ProjectTarget, authz.ReadPipeline, a.jobTrace},
		{REST, http.MethodGet, "/job", jobAPI, NoTarget, authz.ReadCurrentUser, a.currentJob},

		// Runners
		{REST, http.MethodPost, "/user/runners", userAPI, NoTarget, authz.CreateRunner, a.createUserRunner},
		{REST, http.MethodGet, "/runners", userAPI, NoTarget, authz.ReadCurrentUser, a.listRunners},
		{REST, http.MethodGet, "/runners/all", userAPI, NoTarget, authz.AdminUsers, a.listAllRunners},
		{REST, http.MethodGet, "/projects/{id}/runners", userAPI, ProjectTarget, authz.UpdateProjectRead, a.projectRunners},

		// The runner protocol (runner-protocol.md): a runner's own calls by
		// its token, calls about a job by that job's token.
		{Runner, http.MethodPost, "/runners", registerAPI, NoTarget, authz.RegisterRunner, a.registerRunner},
		{Runner, http.MethodPost, "/runners/verify", runnerAPI, NoTarget, authz.RunnerCall, a.verifyRunner},
		{Runner, http.MethodDelete, "/runners", runnerAPI, NoTarget, authz.RunnerCall, a.unregisterRunner},
		{Runner, http.MethodDelete, "/runners/managers", runnerAPI, NoTarget, authz.RunnerCall, a.unregisterManager},
		{Runner, http.MethodPost, "/jobs/request", runnerAPI, NoTarget, authz.RunnerCall, a.requestJob},
		{Runner, http.MethodPut, "/jobs/{job_id}", runnerJobAPI, JobTarget, authz.UpdateJobState, a.updateJob},
		{Runner, http.MethodPatch, "/jobs/{job_id}/trace", runnerLogAPI, JobTarget, authz.AppendJobLog, a.patchTrace},

		// Job artifacts (artifacts.go, artifacts_upload.go). The runner
		// uploads with its job's token and downloads dependencies with a
		// running job's token. ServeMux cannot match a ref with slashes
		// before /download or /raw/, so jobs/artifacts/<ref>/... is the
		// catch-all jobs/{ref_path...}, which every more specific jobs/
		// route above outranks.
		{Runner, http.MethodPost, "/jobs/{job_id}/artifacts", runnerUploadAPI, JobTarget, authz.UploadJobArtifacts, a.uploadArtifacts},
		{Runner, http.MethodGet, "/jobs/{job_id}/artifacts", dependencyAPI, JobProjectTarget, authz.DownloadDependency, a.downloadDependency},
		{REST, http.MethodGet, "/projects/{id}/jobs/{job_id}/artifacts", artifactsAPI, ProjectTarget, authz.ReadJobArtifacts, a.downloadJobArtifacts},
		{REST, http.MethodGet, "/projects/{id}/jobs/{job_id}/artifacts/{artifact_path...}", artifactsAPI, ProjectTarget, authz.ReadJobArtifacts, a.jobArtifactFile},
		{REST, http.MethodGet, "/projects/{id}/jobs/{ref_path...}", artifactsAPI, ProjectTarget, authz.ReadJobArtifacts, a.refArtifacts},
		{REST, http.MethodDelete, "/projects/{id}/jobs/{job_id}/artifacts", userAPI, ProjectTarget, authz.DeleteJobArtifacts, a.deleteJobArtifacts},

		// Repository
		{REST, http.MethodGet, "/projects/{id}/repository/branches", userAPI, ProjectTarget, authz.ReadRepository, a.listBranches},
		{REST, http.MethodGet, "/projects/{id}/repository/tags", userAPI, ProjectTarget, authz.ReadRepository, a.listTags},
		{REST, http.MethodGet, "/projects/{id}/repository/commits/{sha}", userAPI, ProjectTarget, authz.ReadRepository, a.getCommit},
		{REST, http.MethodGet, "/projects/{id}/repository/files/{file_path}/raw", userAPI, ProjectTarget, authz.ReadRepository, a.rawFile},

		// Token access scope (job_token_scope.go)
		{REST, http.MethodGet, "/projects/{id}/job_token_scope", userAPI, ProjectTarget, authz.ReadJobTokenScope, a.getJobTokenScope},
		{REST, http.MethodPatch, "/projects/{id}/job_token_scope", userAPI, ProjectTarget, authz.AdminJobTokenScope, a.patchJobTokenScope},
		{REST, http.MethodGet, "/projects/{id}/job_token_scope/allowlist", userAPI, ProjectTarget, authz.ReadJobTokenScope, a.listProjectAllowlist(model.Inbound)},
		{REST, http.MethodPost, "/projects/{id}/job_token_scope/allowlist", userAPI, ProjectTarget, authz.AdminJobTokenScope, a.addProjectLink(model.Inbound)},
		{REST, http.MethodPut, "/projects/{id}/job_token_scope/allowlist/{target_project_id}", userAPI, ProjectTarget, authz.AdminJobTokenScope, a.updateProjectLink},
		{REST, http.MethodDelete, "/projects/{id}/job_token_scope/allowlist/{target_project_id}", userAPI, ProjectTarget, authz.AdminJobTokenScope, a.removeProjectLink(model.Inbound)},
		{REST, http.MethodGet, "/projects/{id}/job_token_scope/groups_allowlist", userAPI, ProjectTarget, authz.ReadJobTokenScope, a.listGroupAllowlist},
		{REST, http.MethodPost, "/projects/{id}/job_token_scope/groups_allowlist", userAPI, ProjectTarget, authz.AdminJobTokenScope, a.addGroupLink},
		{REST, http.MethodPut, "/projects/{id}/job_token_scope/groups_allowlist/{target_group_id}", userAPI, ProjectTarget, authz.AdminJobTokenScope, a.updateGroupLink},
		{REST, http.MethodDelete, "/projects/{id}/job_token_scope/groups_allowlist/{target_group_id}", userAPI, ProjectTarget, authz.AdminJobTokenScope, a.removeGroupLink},
		{REST, http.MethodGet, "/projects/{id}/job_token_scope/outbound_allowlist", userAPI, ProjectTarget, authz.ReadJobTokenScope, a.listProjectAllowlist(model.Outbound)},
		{REST, http.MethodPost, "/projects/{id}/job_token_scope/outbound_allowlist", userAPI, ProjectTarget, authz.AdminJobTokenScope, a.addProjectLink(model.Outbound)},
		{REST, http.MethodDelete, "/projects/{id}/job_token_scope/outbound_allowlist/{target_project_id}", userAPI, ProjectTarget, authz.AdminJobTokenScope, a.removeProjectLink(model.Outbound)},
		{REST, http.MethodGet, "/projects/{id}/job_token_scope/authorizations", userAPI, ProjectTarget, authz.ReadJobTokenScope, a.listAuthorizations},
		{REST, http.MethodGet, "/projects/{id}/job_token_scope/explain", userAPI, ProjectTarget, authz.ExplainJobToken, a.explainJobToken},
		{REST, http.MethodGet, "/application/settings", userAPI, NoTarget, authz.ReadSettings, a.getApplicationSettings},
		{REST, http.MethodPut, "/application/settings", userAPI, NoTarget, authz.AdminSettings, a.updateApplicationSettings},

		// Generic package registry and the packages API (packages.go). The
		// generic GET names the type as a wildcard: a literal "generic"
		// would clash in the mux with .../package_files/{id}/download.
		{REST, http.MethodPut, "/projects/{id}/packages/generic/{package_name}/{package_version}/{file_name}", genericWrite, ProjectTarget, authz.CreatePackage, a.putGenericFile},
		{REST, http.MethodGet, "/projects/{id}/packages/{package_type}/{package_name}/{package_version}/{file_name}", genericRead, ProjectTarget, authz.ReadPackage, a.getGenericFile},
		{REST, http.MethodGet, "/projects/{id}/packages", packagesRead, ProjectTarget, authz.ReadPackage, a.listPackages},
		{REST, http.MethodGet, "/projects/{id}/packages/{package_id}", packagesRead, ProjectTarget, authz.ReadPackage, a.getPackage},
		{REST, http.MethodDelete, "/projects/{id}/packages/{package_id}", packagesAdmin, ProjectTarget, authz.DestroyPackage, a.deletePackage},
		{REST, http.MethodGet, "/projects/{id}/packages/{package_id}/package_files", packagesRead, ProjectTarget, authz.ReadPackage, a.listPackageFiles},
		{REST, http.MethodDelete, "/projects/{id}/packages/{package_id}/package_files/{package_file_id}", packagesAdmin, ProjectTarget, authz.DestroyPackage, a.deletePackageFile},
		{REST, http.MethodGet, "/projects/{id}/packages/{package_id}/package_files/{package_file_id}/download", packagesRead, ProjectTarget, authz.ReadPackage, a.downloadPackageFile},
	}
}
