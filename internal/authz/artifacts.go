package authz

import "github.com/ciwarden/ciwarden/internal/model"

// Job artifacts, with GitLab's roles and job-token policy.
var (
	// ReadJobArtifacts is downloading a job's artifacts (GitLab's
	// read_job_artifacts): everyone who sees a public project, every
	// signed-in user on an internal one, Reporter on a private one. The
	// runner's dependency download asks it for the downloading job's user
	// on the target job's project.
	ReadJobArtifacts = Action{Name: "read_job_artifacts", MinPrivate: model.Reporter, Policy: PolicyReadJobs}
	// DeleteJobArtifacts is GitLab's destroy_artifacts: Maintainer.
	DeleteJobArtifacts = Action{Name: "destroy_artifacts", Write: true, Min: model.Maintainer}
)
