package runnerapi

import (
	"net/http"

	"github.com/ciwarden/ciwarden/internal/auth"
	"github.com/ciwarden/ciwarden/internal/authz"
	"github.com/ciwarden/ciwarden/internal/gate"
)

// How the runner protocol's calls authenticate (runner-protocol.md §4).
var (
	// runnerToken: a runner's own calls.
	runnerToken = gate.Accepts{RunnerToken: true}
	// registrationToken: legacy registration.
	registrationToken = gate.Accepts{RegistrationToken: true}
	// jobToken: calls about a job, with its token in JOB-TOKEN or the
	// body's token.
	jobToken = gate.Accepts{JobToken: auth.Header | auth.Param}
	// jobPayload: the same, the body a payload (a trace chunk, an
	// artifact's multipart stream).
	jobPayload = gate.Accepts{JobToken: auth.Header | auth.Param, RawBody: true}
	// dependency: the downloading job's token in the JOB-TOKEN header only
	// (runner-protocol.md §10.2); a token anywhere else is not looked at,
	// and the anonymous request is refused.
	dependency = gate.Accepts{JobToken: auth.Header, RawBody: true}
	// userAPI: managing runners over GitLab's REST API with a personal
	// access token.
	userAPI = gate.Accepts{PAT: auth.Header | auth.Param | auth.Bearer}
)

// Routes are the runner protocol's rows of the route table, and the REST
// rows that manage runners.
func (a *API) Routes() []gate.Route {
	return []gate.Route{
		// Managing runners (GitLab's REST API).
		{Surface: gate.REST, Method: http.MethodPost, Path: "/user/runners", Accepts: userAPI, Target: gate.NoTarget, Action: authz.CreateRunner, Handle: a.createUserRunner},
		{Surface: gate.REST, Method: http.MethodGet, Path: "/runners", Accepts: userAPI, Target: gate.NoTarget, Action: authz.ReadCurrentUser, Handle: a.listRunners},
		{Surface: gate.REST, Method: http.MethodGet, Path: "/runners/all", Accepts: userAPI, Target: gate.NoTarget, Action: authz.ManageInstanceRunners, Handle: a.listAllRunners},
		{Surface: gate.REST, Method: http.MethodGet, Path: "/projects/{id}/runners", Accepts: userAPI, Target: gate.ProjectTarget, Action: authz.UpdateProjectRead, Handle: a.projectRunners},

		// The runner protocol: a runner's own calls by its token, calls
		// about a job by that job's token (each one heard from the job's
		// runner).
		{Surface: gate.Runner, Method: http.MethodPost, Path: "/runners", Accepts: registrationToken, Target: gate.NoTarget, Action: authz.RegisterRunner, Handle: a.registerRunner},
		{Surface: gate.Runner, Method: http.MethodPost, Path: "/runners/verify", Accepts: runnerToken, Target: gate.NoTarget, Action: authz.RunnerCall, Handle: a.verifyRunner},
		{Surface: gate.Runner, Method: http.MethodDelete, Path: "/runners", Accepts: runnerToken, Target: gate.NoTarget, Action: authz.RunnerCall, Handle: a.unregisterRunner},
		{Surface: gate.Runner, Method: http.MethodDelete, Path: "/runners/managers", Accepts: runnerToken, Target: gate.NoTarget, Action: authz.RunnerCall, Handle: a.unregisterManager},
		{Surface: gate.Runner, Method: http.MethodPost, Path: "/jobs/request", Accepts: runnerToken, Target: gate.NoTarget, Action: authz.RunnerCall, Handle: a.requestJob},
		{Surface: gate.Runner, Method: http.MethodPut, Path: "/jobs/{job_id}", Accepts: jobToken, Target: gate.JobTarget, Action: authz.UpdateJobState, Handle: a.heard(a.updateJob)},
		{Surface: gate.Runner, Method: http.MethodPatch, Path: "/jobs/{job_id}/trace", Accepts: jobPayload, Target: gate.JobTarget, Action: authz.AppendJobLog, Handle: a.heard(a.patchTrace)},
		// Artifacts: the upload after the script, with the job's own
		// token; the download of a dependency's archive before it, with
		// the running job's token.
		{Surface: gate.Runner, Method: http.MethodPost, Path: "/jobs/{job_id}/artifacts", Accepts: jobPayload, Target: gate.JobTarget, Action: authz.UploadJobArtifacts, Handle: a.heard(a.uploadArtifacts)},
		{Surface: gate.Runner, Method: http.MethodGet, Path: "/jobs/{job_id}/artifacts", Accepts: dependency, Target: gate.JobProjectTarget, Action: authz.DownloadDependency, Handle: a.heard(a.downloadDependency)},
	}
}
