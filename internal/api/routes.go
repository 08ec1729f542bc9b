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
		{http.MethodGet, "/user", userAPI, NoTarget, authz.ReadCurrentUser, a.currentUser},
		{http.MethodGet, "/users", userAPI, NoTarget, authz.ListAllUsers, a.listUsers},
		{http.MethodPost, "/users", userAPI, NoTarget, authz.AdminUsers, a.createUser},
		{http.MethodGet, "/users/{user_id}", userAPI, NoTarget, authz.ReadUser, a.getUser},
		{http.MethodPut, "/users/{user_id}", userAPI, NoTarget, authz.AdminUsers, a.updateUser},
		{http.MethodPost, "/users/{user_id}/block", userAPI, NoTarget, authz.AdminUsers, a.blockUser},
		{http.MethodPost, "/users/{user_id}/unblock", userAPI, NoTarget, authz.AdminUsers, a.unblockUser},

		// The instance's version (metadata.go)
		{http.MethodGet, "/version", userAPI, NoTarget, authz.ReadMetadata, a.getMetadata},
		{http.MethodGet, "/metadata", userAPI, NoTarget, authz.ReadMetadata, a.getMetadata},

		// Personal access tokens
		{http.MethodPost, "/users/{user_id}/personal_access_tokens", userAPI, NoTarget, authz.AdminUsers, a.createPAT},
		{http.MethodGet, "/personal_access_tokens", userAPI, NoTarget, authz.ReadOwnTokens, a.listPATs},
		{http.MethodGet, "/personal_access_tokens/self", userAPI, NoTarget, authz.ReadOwnTokens, a.selfPAT},
		{http.MethodGet, "/personal_access_tokens/{token_id}", userAPI, NoTarget, authz.ReadOwnTokens, a.getPAT},
		{http.MethodDelete, "/personal_access_tokens/{token_id}", userAPI, NoTarget, authz.RevokeOwnToken, a.revokePAT},

		// Groups
		{http.MethodGet, "/groups", userAPI, NoTarget, authz.Browse, a.listGroups},
		{http.MethodPost, "/groups", userAPI, NoTarget, authz.CreateGroup, a.createGroup},
		{http.MethodGet, "/groups/{id}", userAPI, GroupTarget, authz.ReadGroup, a.getGroup},
		{http.MethodPut, "/groups/{id}", userAPI, GroupTarget, authz.UpdateGroup, a.updateGroup},
		{http.MethodDelete, "/groups/{id}", userAPI, GroupTarget, authz.RemoveGroup, a.deleteGroup},
		{http.MethodGet, "/groups/{id}/projects", userAPI, GroupTarget, authz.ReadGroup, a.groupProjects},
		{http.MethodGet, "/groups/{id}/subgroups", userAPI, GroupTarget, authz.ReadGroup, a.groupSubgroups},

		// Projects
		{http.MethodGet, "/projects", userAPI, NoTarget, authz.Browse, a.listProjects},
		{http.MethodPost, "/projects", userAPI, NoTarget, authz.CreateProject, a.createProject},
		{http.MethodGet, "/projects/{id}", userAPI, ProjectTarget, authz.ReadProject, a.getProject},
		{http.MethodPut, "/projects/{id}", userAPI, ProjectTarget, authz.UpdateProject, a.updateProject},
		{http.MethodDelete, "/projects/{id}", userAPI, ProjectTarget, authz.RemoveProject, a.deleteProject},

		// Protected branches and tags (protected_refs.go): Maintainers
		// read and manage them (GitLab's admin_project); what they allow is
		// decided by authz's protected_ref.
		{http.MethodGet, "/projects/{id}/protected_branches", userAPI, ProjectTarget, authz.UpdateProjectRead, a.listProtectedRefs},
		{http.MethodPost, "/projects/{id}/protected_branches", userAPI, ProjectTarget, authz.UpdateProject, a.protectRef},
		{http.MethodGet, "/projects/{id}/protected_branches/{name}", userAPI, ProjectTarget, authz.UpdateProjectRead, a.getProtectedRef},
		{http.MethodPatch, "/projects/{id}/protected_branches/{name}", userAPI, ProjectTarget, authz.UpdateProject, a.updateProtectedRef},
		{http.MethodDelete, "/projects/{id}/protected_branches/{name}", userAPI, ProjectTarget, authz.UpdateProject, a.unprotectRef},
		{http.MethodGet, "/projects/{id}/protected_tags", userAPI, ProjectTarget, authz.UpdateProjectRead, a.listProtectedRefs},
		{http.MethodPost, "/projects/{id}/protected_tags", userAPI, ProjectTarget, authz.UpdateProject, a.protectRef},
		{http.MethodGet, "/projects/{id}/protected_tags/{tag}", userAPI, ProjectTarget, authz.UpdateProjectRead, a.getProtectedRef},
		{http.MethodDelete, "/projects/{id}/protected_tags/{tag}", userAPI, ProjectTarget, authz.UpdateProject, a.unprotectRef},

		// Members, of projects and of groups
		{http.MethodGet, "/projects/{id}/members", userAPI, ProjectTarget, authz.ReadProject, a.listMembers},
		{http.MethodGet, "/projects/{id}/members/all", userAPI, ProjectTarget, authz.ReadProject, a.listAllMembers},
		{http.MethodGet, "/projects/{id}/members/{user_id}", userAPI, ProjectTarget, authz.ReadProject, a.getMember},
		{http.MethodGet, "/projects/{id}/members/all/{user_id}", userAPI, ProjectTarget, authz.ReadProject, a.getAllMember},
		{http.MethodPost, "/projects/{id}/members", userAPI, ProjectTarget, authz.AdminProjectMembers, a.addMember},
		{http.MethodPut, "/projects/{id}/members/{user_id}", userAPI, ProjectTarget, authz.AdminProjectMembers, a.updateMember},
		{http.MethodDelete, "/projects/{id}/members/{user_id}", userAPI, ProjectTarget, authz.AdminProjectMembers, a.removeMember},
		{http.MethodGet, "/groups/{id}/members", userAPI, GroupTarget, authz.ReadGroup, a.listMembers},
		{http.MethodGet, "/groups/{id}/members/all", userAPI, GroupTarget, authz.ReadGroup, a.listAllMembers},
		{http.MethodGet, "/groups/{id}/members/{user_id}", userAPI, GroupTarget, authz.ReadGroup, a.getMember},
		{http.MethodGet, "/groups/{id}/members/all/{user_id}", userAPI, GroupTarget, authz.ReadGroup, a.getAllMember},
		{http.MethodPost, "/groups/{id}/members", userAPI, GroupTarget, authz.AdminGroupMembers, a.addMember},
		{http.MethodPut, "/groups/{id}/members/{user_id}", userAPI, GroupTarget, authz.AdminGroupMembers, a.updateMember},
		{http.MethodDelete, "/groups/{id}/members/{user_id}", userAPI, GroupTarget, authz.AdminGroupMembers, a.removeMember},

		// CI/CD variables (variables.go): project, group, instance
		{http.MethodGet, "/projects/{id}/variables", userAPI, ProjectTarget, authz.ReadCIVariables, a.listVariables},
		{http.MethodPost, "/projects/{id}/variables", userAPI, ProjectTarget, authz.AdminCIVariables, a.createVariable},
		{http.MethodGet, "/projects/{id}/variables/{key}", userAPI, ProjectTarget, authz.ReadCIVariables, a.getVariable},
		{http.MethodPut, "/projects/{id}/variables/{key}", userAPI, ProjectTarget, authz.AdminCIVariables, a.updateVariable},
		{http.MethodDelete, "/projects/{id}/variables/{key}", userAPI, ProjectTarget, authz.AdminCIVariables, a.deleteVariable},
		{http.MethodGet, "/groups/{id}/variables", userAPI, GroupTarget, authz.ReadCIVariables, a.listVariables},
		{http.MethodPost, "/groups/{id}/variables", userAPI, GroupTarget, authz.AdminCIVariables, a.createVariable},
		{http.MethodGet, "/groups/{id}/variables/{key}", userAPI, GroupTarget, authz.ReadCIVariables, a.getVariable},
		{http.MethodPut, "/groups/{id}/variables/{key}", userAPI, GroupTarget, authz.AdminCIVariables, a.updateVariable},
		{http.MethodDelete, "/groups/{id}/variables/{key}", userAPI, GroupTarget, authz.AdminCIVariables, a.deleteVariable},
		{http.MethodGet, "/admin/ci/variables", userAPI, NoTarget, authz.ReadInstanceCIVariables, a.listVariables},
		{http.MethodPost, "/admin/ci/variables", userAPI, NoTarget, authz.AdminInstanceCIVariables, a.createVariable},
		{http.MethodGet, "/admin/ci/variables/{key}", userAPI, NoTarget, authz.ReadInstanceCIVariables, a.getVariable},
		{http.MethodPut, "/admin/ci/variables/{key}", userAPI, NoTarget, authz.AdminInstanceCIVariables, a.updateVariable},
		{http.MethodDelete, "/admin/ci/variables/{key}", userAPI, NoTarget, authz.AdminInstanceCIVariables, a.deleteVariable},

		// Pipelines and jobs
		{http.MethodGet, "/projects/{id}/pipelines", userAPI, ProjectTarget, authz.ReadPipeline, a.listPipelines},
		{http.MethodPost, "/projects/{id}/pipeline", userAPI, ProjectTarget, authz.CreatePipeline, a.createPipeline},
		{http.MethodGet, "/projects/{id}/pipelines/{pipeline_id}", userAPI, ProjectTarget, authz.ReadPipeline, a.getPipeline},
		{http.MethodDelete, "/projects/{id}/pipelines/{pipeline_id}", userAPI, ProjectTarget, authz.DeletePipeline, a.deletePipeline},
		{http.MethodGet, "/projects/{id}/pipelines/{pipeline_id}/jobs", userAPI, ProjectTarget, authz.ReadPipeline, a.pipelineJobs},
		{http.MethodPost, "/projects/{id}/pipelines/{pipeline_id}/cancel", userAPI, ProjectTarget, authz.UpdatePipeline, a.cancelPipeline},
		{http.MethodPost, "/projects/{id}/pipelines/{pipeline_id}/retry", userAPI, ProjectTarget, authz.UpdatePipeline, a.retryPipeline},
		// Triggers (triggers.go): the trigger API takes a job token or a
		// trigger token in its token parameter, nothing else.
		{http.MethodPost, "/projects/{id}/trigger/pipeline", triggerAPI, ProjectTarget, authz.TriggerPipeline, a.triggerPipeline},
		{http.MethodPost, "/projects/{id}/ref/{ref}/trigger/pipeline", triggerAPI, ProjectTarget, authz.TriggerPipeline, a.triggerPipeline},
		{http.MethodGet, "/projects/{id}/pipelines/{pipeline_id}/bridges", userAPI, ProjectTarget, authz.ReadPipeline, a.pipelineBridges},
		// Pipeline schedules (schedules.go)
		{http.MethodGet, "/projects/{id}/pipeline_schedules", userAPI, ProjectTarget, authz.ReadSchedules, a.listSchedules},
		{http.MethodPost, "/projects/{id}/pipeline_schedules", userAPI, ProjectTarget, authz.CreateSchedule, a.createSchedule},
		{http.MethodGet, "/projects/{id}/pipeline_schedules/{schedule_id}", userAPI, ProjectTarget, authz.ReadSchedules, a.getSchedule},
		{http.MethodPut, "/projects/{id}/pipeline_schedules/{schedule_id}", userAPI, ProjectTarget, authz.UpdateSchedule, a.updateSchedule},
		{http.MethodDelete, "/projects/{id}/pipeline_schedules/{schedule_id}", userAPI, ProjectTarget, authz.UpdateSchedule, a.deleteSchedule},
		{http.MethodPost, "/projects/{id}/pipeline_schedules/{schedule_id}/take_ownership", userAPI, ProjectTarget, authz.TakeSchedule, a.takeScheduleOwnership},
		{http.MethodPost, "/projects/{id}/pipeline_schedules/{schedule_id}/play", userAPI, ProjectTarget, authz.PlaySchedule, a.playSchedule},
		{http.MethodGet, "/projects/{id}/pipeline_schedules/{schedule_id}/pipelines", userAPI, ProjectTarget, authz.ReadSchedules, a.schedulePipelines},
		{http.MethodPost, "/projects/{id}/pipeline_schedules/{schedule_id}/variables", userAPI, ProjectTarget, authz.UpdateSchedule, a.createScheduleVariable},
		{http.MethodPut, "/projects/{id}/pipeline_schedules/{schedule_id}/variables/{key}", userAPI, ProjectTarget, authz.UpdateSchedule, a.updateScheduleVariable},
		{http.MethodDelete, "/projects/{id}/pipeline_schedules/{schedule_id}/variables/{key}", userAPI, ProjectTarget, authz.UpdateSchedule, a.deleteScheduleVariable},

		{http.MethodGet, "/projects/{id}/triggers", userAPI, ProjectTarget, authz.ReadTriggers, a.listTriggers},
		{http.MethodPost, "/projects/{id}/triggers", userAPI, ProjectTarget, authz.AdminTriggers, a.createTrigger},
		{http.MethodGet, "/projects/{id}/triggers/{trigger_id}", userAPI, ProjectTarget, authz.ReadTriggers, a.getTrigger},
		{http.MethodPut, "/projects/{id}/triggers/{trigger_id}", userAPI, ProjectTarget, authz.AdminTriggers, a.updateTrigger},
		{http.MethodDelete, "/projects/{id}/triggers/{trigger_id}", userAPI, ProjectTarget, authz.AdminTriggers, a.deleteTrigger},
		{http.MethodGet, "/projects/{id}/jobs", userAPI, ProjectTarget, authz.ReadPipeline, a.listJobs},
		{http.MethodGet, "/projects/{id}/jobs/{job_id}", userAPI, ProjectTarget, authz.ReadPipeline, a.getJob},
		{http.MethodPost, "/projects/{id}/jobs/{job_id}/cancel", userAPI, ProjectTarget, authz.UpdatePipeline, a.cancelJob},
		{http.MethodPost, "/projects/{id}/jobs/{job_id}/retry", userAPI, ProjectTarget, authz.UpdatePipeline, a.retryJob},
		{http.MethodPost, "/projects/{id}/jobs/{job_id}/play", userAPI, ProjectTarget, authz.UpdatePipeline, a.playJob},
		{http.MethodPost, "/projects/{id}/jobs/{job_id}/erase", userAPI, ProjectTarget, authz.UpdatePipeline, a.eraseJob},

		{http.MethodGet, "/projects/{id}/jobs/{job_id}/trace", userAPI, ProjectTarget, authz.ReadPipeline, a.jobTrace},
		{http.MethodGet, "/job", jobAPI, NoTarget, authz.ReadCurrentUser, a.currentJob},

		// Job artifacts (artifacts.go); the runner's upload and dependency
		// download are internal/runnerapi's. ServeMux cannot match a ref
		// with slashes before /download or /raw/, so
		// jobs/artifacts/<ref>/... is the catch-all jobs/{ref_path...},
		// which every more specific jobs/ route outranks.
		{http.MethodGet, "/projects/{id}/jobs/{job_id}/artifacts", artifactsAPI, ProjectTarget, authz.ReadJobArtifacts, a.downloadJobArtifacts},
		{http.MethodGet, "/projects/{id}/jobs/{job_id}/artifacts/{artifact_path...}", artifactsAPI, ProjectTarget, authz.ReadJobArtifacts, a.jobArtifactFile},
		{http.MethodGet, "/projects/{id}/jobs/{ref_path...}", artifactsAPI, ProjectTarget, authz.ReadJobArtifacts, a.refArtifacts},
		{http.MethodDelete, "/projects/{id}/jobs/{job_id}/artifacts", userAPI, ProjectTarget, authz.DeleteJobArtifacts, a.deleteJobArtifacts},

		// Repository
		{http.MethodGet, "/projects/{id}/repository/branches", userAPI, ProjectTarget, authz.ReadRepository, a.listBranches},
		{http.MethodGet, "/projects/{id}/repository/tags", userAPI, ProjectTarget, authz.ReadRepository, a.listTags},
		{http.MethodGet, "/projects/{id}/repository/commits/{sha}", userAPI, ProjectTarget, authz.ReadRepository, a.getCommit},
		{http.MethodGet, "/projects/{id}/repository/files/{file_path}/raw", userAPI, ProjectTarget, authz.ReadRepository, a.rawFile},
		// The repository archive (releases.go): format as a parameter or
		// as the path's extension, as GitLab's archive(.:format).
		{http.MethodGet, "/projects/{id}/repository/archive", userAPI, ProjectTarget, authz.ReadRepository, a.repositoryArchive("")},
		{http.MethodGet, "/projects/{id}/repository/archive.zip", userAPI, ProjectTarget, authz.ReadRepository, a.repositoryArchive("zip")},
		{http.MethodGet, "/projects/{id}/repository/archive.tar.gz", userAPI, ProjectTarget, authz.ReadRepository, a.repositoryArchive("tar.gz")},
		{http.MethodGet, "/projects/{id}/repository/archive.tar.bz2", userAPI, ProjectTarget, authz.ReadRepository, a.repositoryArchive("tar.bz2")},
		{http.MethodGet, "/projects/{id}/repository/archive.tar", userAPI, ProjectTarget, authz.ReadRepository, a.repositoryArchive("tar")},

		// Token access scope (job_token_scope.go)
		{http.MethodGet, "/projects/{id}/job_token_scope", userAPI, ProjectTarget, authz.ReadJobTokenScope, a.getJobTokenScope},
		{http.MethodPatch, "/projects/{id}/job_token_scope", userAPI, ProjectTarget, authz.AdminJobTokenScope, a.patchJobTokenScope},
		{http.MethodGet, "/projects/{id}/job_token_scope/allowlist", userAPI, ProjectTarget, authz.ReadJobTokenScope, a.listProjectAllowlist(model.Inbound)},
		{http.MethodPost, "/projects/{id}/job_token_scope/allowlist", userAPI, ProjectTarget, authz.AdminJobTokenScope, a.addProjectLink(model.Inbound)},
		{http.MethodPut, "/projects/{id}/job_token_scope/allowlist/{target_project_id}", userAPI, ProjectTarget, authz.AdminJobTokenScope, a.updateProjectLink},
		{http.MethodDelete, "/projects/{id}/job_token_scope/allowlist/{target_project_id}", userAPI, ProjectTarget, authz.AdminJobTokenScope, a.removeProjectLink(model.Inbound)},
		{http.MethodGet, "/projects/{id}/job_token_scope/groups_allowlist", userAPI, ProjectTarget, authz.ReadJobTokenScope, a.listGroupAllowlist},
		{http.MethodPost, "/projects/{id}/job_token_scope/groups_allowlist", userAPI, ProjectTarget, authz.AdminJobTokenScope, a.addGroupLink},
		{http.MethodPut, "/projects/{id}/job_token_scope/groups_allowlist/{target_group_id}", userAPI, ProjectTarget, authz.AdminJobTokenScope, a.updateGroupLink},
		{http.MethodDelete, "/projects/{id}/job_token_scope/groups_allowlist/{target_group_id}", userAPI, ProjectTarget, authz.AdminJobTokenScope, a.removeGroupLink},
		{http.MethodGet, "/projects/{id}/job_token_scope/outbound_allowlist", userAPI, ProjectTarget, authz.ReadJobTokenScope, a.listProjectAllowlist(model.Outbound)},
		{http.MethodPost, "/projects/{id}/job_token_scope/outbound_allowlist", userAPI, ProjectTarget, authz.AdminJobTokenScope, a.addProjectLink(model.Outbound)},
		{http.MethodDelete, "/projects/{id}/job_token_scope/outbound_allowlist/{target_project_id}", userAPI, ProjectTarget, authz.AdminJobTokenScope, a.removeProjectLink(model.Outbound)},
		{http.MethodGet, "/projects/{id}/job_token_scope/authorizations", userAPI, ProjectTarget, authz.ReadJobTokenScope, a.listAuthorizations},
		{http.MethodGet, "/projects/{id}/job_token_scope/explain", userAPI, ProjectTarget, authz.ExplainJobToken, a.explainJobToken},
		{http.MethodGet, "/application/settings", userAPI, NoTarget, authz.ReadSettings, a.getApplicationSettings},
		{http.MethodPut, "/application/settings", userAPI, NoTarget, authz.AdminSettings, a.updateApplicationSettings},

		// Generic package registry and the packages API (packages.go). The
		// generic GET names the type as a wildcard: a literal "generic"
		// would clash in the mux with .../package_files/{id}/download.
		{http.MethodPut, "/projects/{id}/packages/generic/{package_name}/{package_version}/{file_name}", genericWrite, ProjectTarget, authz.CreatePackage, a.putGenericFile},
		{http.MethodGet, "/projects/{id}/packages/{package_type}/{package_name}/{package_version}/{file_name}", genericRead, ProjectTarget, authz.ReadPackage, a.getGenericFile},
		{http.MethodGet, "/projects/{id}/packages", packagesRead, ProjectTarget, authz.ReadPackage, a.listPackages},
		{http.MethodGet, "/projects/{id}/packages/{package_id}", packagesRead, ProjectTarget, authz.ReadPackage, a.getPackage},
		{http.MethodDelete, "/projects/{id}/packages/{package_id}", packagesAdmin, ProjectTarget, authz.DestroyPackage, a.deletePackage},
		{http.MethodGet, "/projects/{id}/packages/{package_id}/package_files", packagesRead, ProjectTarget, authz.ReadPackage, a.listPackageFiles},
		{http.MethodDelete, "/projects/{id}/packages/{package_id}/package_files/{package_file_id}", packagesAdmin, ProjectTarget, authz.DestroyPackage, a.deletePackageFile},
		{http.MethodGet, "/projects/{id}/packages/{package_id}/package_files/{package_file_id}/download", packagesRead, ProjectTarget, authz.ReadPackage, a.downloadPackageFile},

		// Releases and release links (releases.go): personal access tokens
		// and job tokens (gitlab-compat.md §6, read_releases and
		// admin_releases); changes also pass protected_ref on the tag.
		{http.MethodGet, "/projects/{id}/releases", jobAPI, ProjectTarget, authz.ReadRelease, a.listReleases},
		{http.MethodPost, "/projects/{id}/releases", jobAPI, ProjectTarget, authz.AdminRelease, a.createRelease},
		{http.MethodGet, "/projects/{id}/releases/permalink/latest", jobAPI, ProjectTarget, authz.ReadRelease, a.latestRelease},
		{http.MethodGet, "/projects/{id}/releases/permalink/latest/{suffix_path...}", jobAPI, ProjectTarget, authz.ReadRelease, a.latestRelease},
		{http.MethodGet, "/projects/{id}/releases/{tag_name}", jobAPI, ProjectTarget, authz.ReadRelease, a.getRelease},
		{http.MethodPut, "/projects/{id}/releases/{tag_name}", jobAPI, ProjectTarget, authz.AdminRelease, a.updateRelease},
		{http.MethodDelete, "/projects/{id}/releases/{tag_name}", jobAPI, ProjectTarget, authz.AdminRelease, a.deleteRelease},
		{http.MethodGet, "/projects/{id}/releases/{tag_name}/downloads/{direct_asset_path...}", jobAPI, ProjectTarget, authz.ReadRelease, a.releaseDownload},
		{http.MethodGet, "/projects/{id}/releases/{tag_name}/assets/links", jobAPI, ProjectTarget, authz.ReadRelease, a.listReleaseLinks},
		{http.MethodPost, "/projects/{id}/releases/{tag_name}/assets/links", jobAPI, ProjectTarget, authz.AdminRelease, a.createReleaseLink},
		{http.MethodGet, "/projects/{id}/releases/{tag_name}/assets/links/{link_id}", jobAPI, ProjectTarget, authz.ReadRelease, a.getReleaseLink},
		{http.MethodPut, "/projects/{id}/releases/{tag_name}/assets/links/{link_id}", jobAPI, ProjectTarget, authz.AdminRelease, a.updateReleaseLink},
		{http.MethodDelete, "/projects/{id}/releases/{tag_name}/assets/links/{link_id}", jobAPI, ProjectTarget, authz.AdminRelease, a.deleteReleaseLink},
		// Terraform state (terraform.go): OpenTofu's HTTP backend. Locks
		// come as POST/DELETE .../lock or as the LOCK/UNLOCK methods (on
		// the state's address or .../lock); the two listings are REST
		// additions (GitLab has them in GraphQL only).
		{http.MethodGet, "/projects/{id}/terraform/state", terraformAPI, ProjectTarget, authz.ReadTerraformState, a.listStates},
		{http.MethodGet, "/projects/{id}/terraform/state/{name}", terraformAPI, ProjectTarget, authz.ReadTerraformState, a.getState},
		{http.MethodPost, "/projects/{id}/terraform/state/{name}", terraformAPI, ProjectTarget, authz.AdminTerraformState, a.postState},
		{http.MethodDelete, "/projects/{id}/terraform/state/{name}", terraformAPI, ProjectTarget, authz.AdminTerraformState, a.deleteState},
		{"LOCK", "/projects/{id}/terraform/state/{name}", terraformAPI, ProjectTarget, authz.AdminTerraformState, a.lockState},
		{"UNLOCK", "/projects/{id}/terraform/state/{name}", terraformAPI, ProjectTarget, authz.AdminTerraformState, a.unlockState},
		{http.MethodPost, "/projects/{id}/terraform/state/{name}/lock", terraformAPI, ProjectTarget, authz.AdminTerraformState, a.lockState},
		{http.MethodDelete, "/projects/{id}/terraform/state/{name}/lock", terraformAPI, ProjectTarget, authz.AdminTerraformState, a.unlockState},
		{"LOCK", "/projects/{id}/terraform/state/{name}/lock", terraformAPI, ProjectTarget, authz.AdminTerraformState, a.lockState},
		{"UNLOCK", "/projects/{id}/terraform/state/{name}/lock", terraformAPI, ProjectTarget, authz.AdminTerraformState, a.unlockState},
		{http.MethodGet, "/projects/{id}/terraform/state/{name}/versions", terraformAPI, ProjectTarget, authz.ReadTerraformState, a.listStateVersions},
		{http.MethodGet, "/projects/{id}/terraform/state/{name}/versions/{serial}", terraformAPI, ProjectTarget, authz.ReadTerraformState, a.getStateVersion},
		{http.MethodDelete, "/projects/{id}/terraform/state/{name}/versions/{serial}", terraformAPI, ProjectTarget, authz.AdminTerraformState, a.deleteStateVersion},
		// Container registry API (registry.go); job tokens: own project only.
		{http.MethodGet, "/projects/{id}/registry/repositories", registryAPI, ProjectTarget, authz.ReadContainerRepository, a.listContainerRepositories},
		{http.MethodDelete, "/projects/{id}/registry/repositories/{repository_id}", registryAPI, ProjectTarget, authz.DestroyContainerRepository, a.deleteContainerRepository},
		{http.MethodGet, "/projects/{id}/registry/repositories/{repository_id}/tags", registryAPI, ProjectTarget, authz.ReadContainerRepository, a.listContainerTags},
		{http.MethodDelete, "/projects/{id}/registry/repositories/{repository_id}/tags", registryAPI, ProjectTarget, authz.DestroyContainerRepository, a.deleteContainerTags},
		{http.MethodGet, "/projects/{id}/registry/repositories/{repository_id}/tags/{tag_name}", registryAPI, ProjectTarget, authz.ReadContainerRepository, a.getContainerTag},
		{http.MethodDelete, "/projects/{id}/registry/repositories/{repository_id}/tags/{tag_name}", registryAPI, ProjectTarget, authz.DestroyContainerRepository, a.deleteContainerTag},
		{http.MethodGet, "/registry/repositories/{id}", registryAPI, NoTarget, authz.FindContainerRepository, a.getContainerRepository},
	}
}
