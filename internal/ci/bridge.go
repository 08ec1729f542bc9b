package ci

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"

	"github.com/ciwarden/ciwarden/internal/auth"
	"github.com/ciwarden/ciwarden/internal/authz"
	"github.com/ciwarden/ciwarden/internal/ci/expr"
	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/store"
)

// MaxPipelineDepth cuts trigger loops (A triggers B triggers A) and runaway
// child pipelines: a pipeline may have at most this many pipelines
// upstream of it, through bridges and job-token triggers alike. GitLab
// limits its pipeline hierarchy too (child pipelines two levels deep,
// 1,000 pipelines in a hierarchy); ciwarden counts one chain, which one
// indexed read per level answers, and allows a little more than GitLab's
// child depth so that a multi-project pipeline may still have children.
const MaxPipelineDepth = 4

// Bridge failure reasons, GitLab's names (failure_reason of a bridge).
const (
	// ReasonBridgeProjectNotFound: the project does not exist or its user
	// cannot see it; the two are not told apart.
	ReasonBridgeProjectNotFound = "downstream_bridge_project_not_found"
	// ReasonBridgePermissions: the user may see the project but not
	// create a pipeline there (role, token access scope, policies).
	ReasonBridgePermissions = "insufficient_bridge_permissions"
	// ReasonBridgeDepth: the downstream would pass MaxPipelineDepth.
	ReasonBridgeDepth = "reached_max_descendant_pipelines_depth"
	// ReasonDownstreamFailed: the downstream could not be created (a ref
	// or configuration refused), or, with strategy: depend, did not
	// succeed.
	ReasonDownstreamFailed = "downstream_pipeline_creation_failed"
	ReasonDownstreamStatus = "downstream_pipeline_failed"
)

// maxForwardedValue bounds a forwarded variable once expanded.
const maxForwardedValue = 64 << 10

// ReasonTooDeep refuses a trigger past MaxPipelineDepth.
var ReasonTooDeep = "Pipeline hierarchy is too deep: at most " + strconv.Itoa(MaxPipelineDepth) +
	" pipelines may be upstream of a pipeline"

// IsBridge reports whether j is a trigger: job, without decoding its spec
// unless its JSON has a trigger key (every enqueue passes here).
func IsBridge(j *model.Job) bool {
	return bytes.Contains(j.Spec, []byte(`"trigger":`)) && SpecOf(j).Trigger != nil
}

// depth counts the pipelines upstream of pipeline id (at most
// MaxPipelineDepth+1 reads).
func depth(ctx context.Context, q *store.Queries, id int64) (int, error) {
	n := 0
	for id != 0 && n <= MaxPipelineDepth {
		p, err := q.Pipeline(ctx, id)
		if errors.Is(err, model.ErrNotFound) {
			return n, nil
		}
		if err != nil {
			return 0, err
		}
		if p.SourcePipelineID == 0 {
			return n, nil
		}
		id = p.SourcePipelineID
		n++
	}
	return n, nil
}

// runBridge starts a bridge that became pending: it runs (so that exactly
// one caller creates its downstream), then creates the downstream pipeline
// as the upstream pipeline's user, decided as a job-token trigger
// (authz.TriggerPipeline). Without strategy: depend it succeeds once the
// downstream exists; with it, it mirrors the downstream's end
// (mirrorDownstream). A refusal fails the bridge with GitLab's reason.
func (s *Service) runBridge(ctx context.Context, id int64) error {
	// Once started, a bridge finishes its work even if the request that
	// made it pending goes away: nothing else would end it.
	ctx = context.WithoutCancel(ctx)
	// Running with no runner and no start time, which also keeps it out
	// of the silent-runner sweep (store.SilentJobs) while it waits for its
	// downstream.
	b, err := s.UpdateJob(ctx, id, EvRun, nil)
	if errors.Is(err, ErrNotAllowed) {
		return nil // someone else started it
	}
	if err != nil {
		return err
	}
	spec := SpecOf(b).Trigger
	reason, downstream, err := s.bridgeDownstream(ctx, b, spec)
	if err != nil {
		return err
	}
	switch {
	case reason != "":
		s.Log.Info("bridge failed", "job_id", b.ID, "reason", reason)
		_, err = s.Finish(ctx, b.ID, StateFailed, reason, nil)
	case spec.Strategy != "depend":
		_, err = s.Finish(ctx, b.ID, StateSuccess, "", nil)
	case model.Complete(downstream.Status):
		// It ended while being created (nothing to run, or refused
		// configuration): mirror it now.
		err = s.mirrorDownstream(ctx, downstream)
	}
	if errors.Is(err, ErrNotAllowed) {
		return nil // the bridge was canceled meanwhile
	}
	return err
}

// bridgeDownstream creates bridge b's downstream pipeline, or says why not.
func (s *Service) bridgeDownstream(ctx context.Context, b *model.Job, t *TriggerSpec) (string, *model.Pipeline, error) {
	up, err := s.Store.Pipeline(ctx, b.PipelineID)
	if err != nil {
		return "", nil, err
	}
	if n, err := depth(ctx, &s.Store.Queries, up.ID); err != nil {
		return "", nil, err
	} else if n+1 > MaxPipelineDepth {
		return ReasonBridgeDepth, nil, nil
	}
	upProject, err := s.Store.Project(ctx, b.ProjectID)
	if err != nil {
		return "", nil, err
	}
	user, err := s.Store.User(ctx, b.UserID)
	if errors.Is(err, model.ErrNotFound) {
		user, err = nil, nil
	}
	if err != nil {
		return "", nil, err
	}
	in := CreateInput{User: user, SourceJob: b, RefuseInvalid: true}
	if t.Artifact != "" {
		// A dynamic child pipeline: its configuration is a file a job of
		// this pipeline made.
		data, err := s.artifactConfig(ctx, up.ID, t)
		if errors.Is(err, model.ErrNotFound) || errors.Is(err, errConfigTooLarge) {
			return ReasonDownstreamFailed, nil, nil
		}
		if err != nil {
			return "", nil, err
		}
		in.Project, in.Ref, in.Tag, in.SHA = upProject, up.Ref, up.Tag, up.SHA
		in.Source, in.ConfigYAML = model.SourceParentPipeline, data
	} else if len(t.Include) > 0 {
		// A child pipeline: the same project and commit, its
		// configuration from the listed files.
		in.Project, in.Ref, in.Tag, in.SHA = upProject, up.Ref, up.Tag, up.SHA
		in.Source, in.ConfigYAML = model.SourceParentPipeline, includeYAML(t.Include)
	} else {
		target, err := s.access().FindProject(ctx, t.Project)
		if errors.Is(err, model.ErrNotFound) {
			return ReasonBridgeProjectNotFound, nil, nil
		}
		if err != nil {
			return "", nil, err
		}
		in.Project, in.Ref, in.Source = target, t.Branch, model.SourcePipeline
		if in.Ref == "" {
			in.Ref = target.DefaultBranch
		}
	}
	// A multi-project pipeline's ref may be protected in its project: the
	// ref is resolved first, so that one decision covers the project and
	// the ref. A ref that does not exist is told only once the decision
	// has allowed the rest (it does not reveal an invisible project's
	// branches).
	var fullRef string
	var noRef error
	if in.SHA == "" {
		fullRef, in.SHA, noRef = s.ResolveRef(ctx, in.Project.ID, in.Ref)
		var refused *RefusedError
		if noRef != nil && !errors.As(noRef, &refused) {
			return "", nil, noRef
		}
		in.Tag = strings.HasPrefix(fullRef, "refs/tags/")
	}
	// The bridge acts as a job of its pipeline, running, with its user's
	// standing: the job-token trigger's decision on the ref
	// (authz.TriggerPipelineOnRef, the trigger API's), logged as one. A
	// child pipeline runs on its parent's ref, which its pipeline already
	// ran on.
	who := auth.JobPrincipal(b, upProject, up, user)
	d, err := s.access().ProjectRef(ctx, who, in.Project, authz.TriggerPipelineOnRef, fullRef)
	if err != nil {
		return "", nil, err
	}
	switch {
	case !d.Allowed && d.Check == authz.CheckVisibility:
		return ReasonBridgeProjectNotFound, nil, nil
	case !d.Allowed:
		// GitLab fails a bridge whose user may not run the downstream
		// pipeline, protected ref included, with
		// insufficient_bridge_permissions; the log says which check.
		s.Log.Info("bridge's downstream refused", "job_id", b.ID, "check", d.Check, "reason", d.Message)
		return ReasonBridgePermissions, nil, nil
	case user == nil:
		return ReasonBridgePermissions, nil, nil
	case noRef != nil:
		s.Log.Info("bridge's downstream refused", "job_id", b.ID, "reason", noRef.Error())
		return ReasonDownstreamFailed, nil, nil
	}
	if t.ForwardYAMLVariables {
		// Expanded upstream, as GitLab does, so that PARENT_PIPELINE_ID:
		// $CI_PIPELINE_ID names this pipeline in the child.
		vars := PipelineVariables(PipelineContext{ExternalURL: s.ExternalURL, RegistryURL: s.RegistryURL, Project: upProject, Pipeline: up, User: user})
		vars = append(vars, up.Variables...)
		for _, v := range SpecOf(b).Variables {
			if !v.Raw {
				if x, ok := expr.ExpandLimit(v.Value, vars.Lookup, maxForwardedValue); ok {
					v.Value = x
				}
			}
			in.Variables = append(in.Variables, v)
		}
	}
	if t.ForwardPipelineVariables {
		in.Variables = append(in.Variables, up.Variables...)
	}
	p, err := s.CreatePipeline(ctx, in)
	var refused *RefusedError
	var invalid *model.ValidationError
	switch {
	case errors.As(err, &refused), errors.As(err, &invalid):
		s.Log.Info("bridge's downstream refused", "job_id", b.ID, "reason", err.Error())
		return ReasonDownstreamFailed, nil, nil
	case err != nil:
		// Whatever else failed (a repository read), the bridge must end
		// rather than stay running with nothing downstream.
		s.Log.Warn("bridge's downstream not created", "job_id", b.ID, "err", err)
		return ReasonDownstreamFailed, nil, nil
	}
	return "", p, nil
}

// includeYAML is a configuration that includes the local files of a
// child pipeline's trigger:include.
func includeYAML(files []string) []byte {
	var b strings.Builder
	b.WriteString("include:\n")
	for _, f := range files {
		q, _ := json.Marshal(f) // a JSON string is a YAML flow scalar
		b.WriteString("  - local: " + string(q) + "\n")
	}
	return []byte(b.String())
}

// mirrorDownstream ends the bridge of strategy: depend upstream of p, now
// that p has ended: success for success, failed otherwise.
func (s *Service) mirrorDownstream(ctx context.Context, p *model.Pipeline) error {
	b, err := s.Store.Job(ctx, p.SourceJobID)
	if errors.Is(err, model.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	t := SpecOf(b).Trigger
	if t == nil || t.Strategy != "depend" || b.Status != model.StatusRunning {
		return nil // a job-token trigger's job, or a bridge that ended
	}
	state, reason := StateSuccess, ""
	if p.Status != model.StatusSuccess {
		state, reason = StateFailed, ReasonDownstreamStatus
	}
	_, err = s.Finish(ctx, b.ID, state, reason, nil)
	if errors.Is(err, ErrNotAllowed) {
		return nil
	}
	return err
}

var errConfigTooLarge = errors.New("ci: the artifact is over the configuration's size limit")

// artifactConfig reads the file t.Artifact of the artifacts of job
// t.ArtifactJob in pipeline pipelineID (its latest attempt, which must
// have succeeded), bounded as a .gitlab-ci.yml is.
func (s *Service) artifactConfig(ctx context.Context, pipelineID int64, t *TriggerSpec) ([]byte, error) {
	if s.ArtifactFile == nil {
		return nil, model.ErrNotFound
	}
	jobs, err := s.Store.PipelineJobs(ctx, pipelineID, false)
	if err != nil {
		return nil, err
	}
	for _, j := range jobs {
		if j.Name != t.ArtifactJob || j.Status != model.StatusSuccess {
			continue
		}
		rc, err := s.ArtifactFile(ctx, j, t.Artifact)
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		data, err := io.ReadAll(io.LimitReader(rc, maxConfigBytes+1))
		if err != nil {
			return nil, err
		}
		if len(data) > maxConfigBytes {
			return nil, errConfigTooLarge
		}
		return data, nil
	}
	return nil, model.ErrNotFound
}

// upstreamNeeds adds the jobs of needs: {pipeline, job} entries (a child
// pipeline fetching its parent's artifacts: pipeline: $PARENT_PIPELINE_ID)
// to picked. The pipeline must be upstream of the job's own (GitLab allows
// only the parent hierarchy), and the job's token must be allowed to read
// its artifacts (the one decision); anything else is left out, as
// needs:project does.
func (s *Service) upstreamNeeds(ctx context.Context, in dependencyInput, spec Spec, picked []*model.Job) ([]*model.Job, error) {
	var lookup func(string) (string, bool)
	for _, n := range spec.Needs {
		if n.Pipeline == "" || n.Project != "" || !n.Artifacts {
			continue
		}
		if lookup == nil {
			lookup = s.refVariables(in, spec).Lookup
		}
		v, _ := expr.ExpandLimit(n.Pipeline, lookup, 64)
		id, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil || !s.isUpstream(ctx, in.Pipeline, id) {
			continue
		}
		jobs, err := s.Store.PipelineJobs(ctx, id, false)
		if err != nil {
			return nil, err
		}
		for _, j := range jobs {
			if j.Name != n.Job {
				continue
			}
			ok, err := s.mayReadArtifacts(ctx, in, j.ProjectID)
			if err != nil {
				return nil, err
			}
			if ok {
				picked = append(picked, j)
			}
		}
	}
	return picked, nil
}

// isUpstream reports whether pipeline id is upstream of p (within
// MaxPipelineDepth).
func (s *Service) isUpstream(ctx context.Context, p *model.Pipeline, id int64) bool {
	for n := 0; p.SourcePipelineID != 0 && n < MaxPipelineDepth; n++ {
		if p.SourcePipelineID == id {
			return true
		}
		up, err := s.Store.Pipeline(ctx, p.SourcePipelineID)
		if err != nil {
			return false
		}
		p = up
	}
	return false
}

// mayReadArtifacts decides whether the job's token may read artifacts of
// project projectID.
func (s *Service) mayReadArtifacts(ctx context.Context, in dependencyInput, projectID int64) (bool, error) {
	p := in.Project
	if projectID != p.ID {
		var err error
		if p, err = s.Store.Project(ctx, projectID); errors.Is(err, model.ErrNotFound) {
			return false, nil
		} else if err != nil {
			return false, err
		}
	}
	d, err := s.access().Project(ctx, auth.JobPrincipal(in.Job, in.Project, in.Pipeline, in.User), p, authz.ReadJobArtifacts)
	return err == nil && d.Allowed, err
}
