package authz

import "slices"

// Fine-grained job-token permissions (GitLab's Ci::JobToken::Policies):
// the names an allowlist entry's job_token_policies and a job's
// `job_token: permissions:` may list. Reads need read_*, writes admin_*.
const (
	PolicyReadJobs          = "read_jobs"
	PolicyAdminJobs         = "admin_jobs"
	PolicyReadPackages      = "read_packages"
	PolicyAdminPackages     = "admin_packages"
	PolicyReadPipelines     = "read_pipelines"
	PolicyAdminPipelines    = "admin_pipelines"
	PolicyReadRepositories  = "read_repositories"
	PolicyAdminRepositories = "admin_repositories"
	PolicyReadReleases      = "read_releases"
	PolicyAdminReleases     = "admin_releases"

	PolicyReadTerraformState  = "read_terraform_state"
	PolicyAdminTerraformState = "admin_terraform_state"
)

// policies is every name GitLab defines, including those that guard no
// ciwarden endpoint yet: an entry or a job may list them, and they take
// effect as the endpoints arrive.
var policies = []string{
	"read_deployments", "admin_deployments",
	"read_environments", "admin_environments",
	PolicyReadJobs, PolicyAdminJobs,
	"read_merge_requests",
	PolicyReadPackages, PolicyAdminPackages,
	PolicyReadPipelines, PolicyAdminPipelines,
	PolicyReadReleases, PolicyAdminReleases,
	PolicyReadRepositories, PolicyAdminRepositories,
	"read_secure_files", "admin_secure_files",
	PolicyReadTerraformState, PolicyAdminTerraformState,
	"read_work_items",
	// Deprecated in GitLab, still accepted there.
	PolicyReadContainers, PolicyAdminContainers,
}

// KnownPolicy reports whether name is a policy name.
func KnownPolicy(name string) bool { return slices.Contains(policies, name) }

// policyActions maps each policy that guards an endpoint taking job
// tokens to the action it guards, so that explain can ask "may job J do P
// on project X" with the role P's endpoints need. A push also needs the
// project's ci_push_repository_for_job_token_allowed, which git checks.
var policyActions = map[string]Action{
	PolicyReadJobs:            ReadJobArtifacts,
	PolicyReadPackages:        ReadPackage,
	PolicyAdminPackages:       CreatePackage,
	PolicyAdminPipelines:      TriggerPipeline,
	PolicyReadRepositories:    ReadRepository,
	PolicyAdminRepositories:   PushCode,
	PolicyReadReleases:        ReadRelease,
	PolicyAdminReleases:       AdminRelease,
	PolicyReadTerraformState:  ReadTerraformState,
	PolicyAdminTerraformState: AdminTerraformState,
	PolicyReadContainers:      PullImage,
	PolicyAdminContainers:     PushImage,
}

// PolicyAction is the action a policy guards, when some endpoint uses it.
func PolicyAction(policy string) (Action, bool) {
	a, ok := policyActions[policy]
	return a, ok
}

// Policies is every policy name, in GitLab's order (the web UI's
// permission checkboxes).
func Policies() []string { return slices.Clone(policies) }
