package web

import (
	"errors"
	"net/http"
	"sort"
	"strconv"

	"github.com/ciwarden/ciwarden/internal/authz"
	"github.com/ciwarden/ciwarden/internal/gate"
	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/store"
)

// listPage is how many rows a page's table shows.
const listPage = 50

func viewer(c *gate.Ctx) store.Viewer {
	return store.Viewer{UserID: c.Principal.UserID(), Admin: c.Principal.Admin()}
}

// dashboard is "/": the projects the signed-in user is a member of.
func (u *UI) dashboard(c *gate.Ctx) error {
	projects, total, err := u.Store.ListProjects(c.Context(), store.ProjectFilter{Viewer: viewer(c), Membership: !c.Principal.Admin()},
		store.Page{Number: 1, PerPage: listPage})
	if err != nil {
		return err
	}
	return u.render(c.W, c, http.StatusOK, "dashboard", "Projects", map[string]any{"Projects": projects, "Total": total})
}

func (u *UI) groupPage(c *gate.Ctx) error {
	projects, _, err := u.Store.ListProjects(c.Context(), store.ProjectFilter{Viewer: viewer(c), NamespaceID: c.Group.ID, WithSubgroups: true},
		store.Page{Number: 1, PerPage: listPage})
	if err != nil {
		return err
	}
	return u.render(c.W, c, http.StatusOK, "group", c.Group.FullName, map[string]any{"Group": c.Group, "Projects": projects})
}

// projectNav is what the project's menu shows: only what the user may
// open (issue 19: show what the user may do, hide the rest).
type projectNav struct {
	Project   *model.Project
	Pipelines bool
	Settings  bool
	// Run: the user may cancel, retry and play (update_pipeline).
	Run bool
	// The features' pages (features.go), by the API's read actions.
	Releases, Packages, Terraform, Registry bool
	// Runners: the project's runners page (Maintainers).
	Runners bool
}

func nav(c *gate.Ctx) projectNav {
	return projectNav{Project: c.Project, Pipelines: c.Can(authz.ReadPipeline), Settings: c.Can(authz.ReadJobTokenScope),
		Run: c.Can(authz.UpdatePipeline), Releases: c.Can(authz.ReadRelease), Packages: c.Can(authz.ReadPackage),
		Terraform: c.Can(authz.ReadTerraformState), Registry: c.Can(authz.ReadContainerRepository),
		Runners: c.Can(authz.ManageProjectRunners)}
}

func (u *UI) projectPage(c *gate.Ctx) error {
	n := nav(c)
	var pipelines []*model.Pipeline
	if n.Pipelines {
		var err error
		pipelines, _, err = u.Store.ListPipelines(c.Context(), store.PipelineFilter{ProjectID: c.Project.ID}, store.Page{Number: 1, PerPage: 5})
		if err != nil {
			return err
		}
	}
	return u.render(c.W, c, http.StatusOK, "project", c.Project.FullPath(), map[string]any{"Nav": n, "Pipelines": pipelines})
}

// pipelineRow is a pipeline as the list shows it.
type pipelineRow struct {
	*model.Pipeline
	User string
}

func (u *UI) pipelinesPage(c *gate.Ctx) error {
	pg, err := pageNumber(c)
	if err != nil {
		return err
	}
	list, total, err := u.Store.ListPipelines(c.Context(), store.PipelineFilter{ProjectID: c.Project.ID}, store.Page{Number: pg, PerPage: listPage})
	if err != nil {
		return err
	}
	rows, err := u.withUsers(c, list)
	if err != nil {
		return err
	}
	return u.render(c.W, c, http.StatusOK, "pipelines", "Pipelines · "+c.Project.FullPath(),
		pager(map[string]any{"Nav": nav(c), "Pipelines": rows}, pg, total))
}

// withUsers names each pipeline's user, each user read once.
func (u *UI) withUsers(c *gate.Ctx, list []*model.Pipeline) ([]pipelineRow, error) {
	names := map[int64]string{}
	out := make([]pipelineRow, len(list))
	for i, p := range list {
		if _, ok := names[p.UserID]; !ok && p.UserID != 0 {
			usr, err := u.Store.User(c.Context(), p.UserID)
			switch {
			case err == nil:
				names[p.UserID] = usr.Username
			case errors.Is(err, model.ErrNotFound):
				names[p.UserID] = "(deleted)"
			default:
				return nil, err
			}
		}
		out[i] = pipelineRow{Pipeline: p, User: names[p.UserID]}
	}
	return out, nil
}

// stage is one column of the pipeline page.
type stage struct {
	Name string
	Jobs []*model.Job
}

func (u *UI) pipelinePage(c *gate.Ctx) error {
	p, err := c.PathPipeline()
	if err != nil {
		return err
	}
	jobs, _, err := u.Store.ListJobs(c.Context(), store.JobFilter{ProjectID: c.Project.ID, PipelineID: p.ID}, store.Page{Number: 1, PerPage: 1000})
	if err != nil {
		return err
	}
	sort.SliceStable(jobs, func(a, b int) bool {
		if jobs[a].StageIdx != jobs[b].StageIdx {
			return jobs[a].StageIdx < jobs[b].StageIdx
		}
		return jobs[a].ID < jobs[b].ID
	})
	var stages []stage
	for _, j := range jobs {
		if len(stages) == 0 || stages[len(stages)-1].Name != j.Stage {
			stages = append(stages, stage{Name: j.Stage})
		}
		stages[len(stages)-1].Jobs = append(stages[len(stages)-1].Jobs, j)
	}
	rows, err := u.withUsers(c, []*model.Pipeline{p})
	if err != nil {
		return err
	}
	return u.render(c.W, c, http.StatusOK, "pipeline", "Pipeline #"+strconv.FormatInt(p.ID, 10),
		map[string]any{"Nav": nav(c), "Pipeline": rows[0], "Stages": stages, "Complete": model.Complete(p.Status)})
}

// jobLog is the route's {job_id} and its log as stored (masked).
func (u *UI) jobLog(c *gate.Ctx) (*model.Job, []byte, error) {
	j, err := c.PathJob()
	if err != nil {
		return nil, nil, err
	}
	trace, err := u.Store.Trace(c.Context(), j.ID)
	return j, trace, err
}

func (u *UI) jobPage(c *gate.Ctx) error {
	j, trace, err := u.jobLog(c)
	if err != nil {
		return err
	}
	arts, err := u.Store.JobArtifacts(c.Context(), j.ID)
	if err != nil {
		return err
	}
	return u.render(c.W, c, http.StatusOK, "job", j.Name+" · job #"+strconv.FormatInt(j.ID, 10),
		map[string]any{"Nav": nav(c), "Job": j, "Log": string(trace), "Offset": len(trace), "Complete": model.Complete(j.Status),
			"Artifacts": arts, "CanDownload": c.Can(authz.ReadJobArtifacts)})
}

// jobArtifacts downloads the job's artifacts archive (artifacts.Service,
// as GET /projects/:id/jobs/:job_id/artifacts).
func (u *UI) jobArtifacts(c *gate.Ctx) error {
	j, err := c.PathJob()
	if err != nil {
		return err
	}
	art, obj, err := u.Artifacts.Archive(c.Context(), j)
	if err != nil {
		return err
	}
	gate.ServeStored(c, art.Filename, art.ContentType(), art.CreatedAt, obj)
	return nil
}

// traceChunk is what the job page's script polls: the log's HTML from
// offset on, the offset to ask from next, and whether the job is done.
type traceChunk struct {
	HTML     string `json:"html"`
	Offset   int    `json:"offset"`
	Status   string `json:"status"`
	Complete bool   `json:"complete"`
}

// jobTrace answers the job page's poll: only whole lines while the job
// runs (a line is rendered once, completely), everything once it ended.
func (u *UI) jobTrace(c *gate.Ctx) error {
	off, _ := c.Params.Int("offset")
	if err := c.Params.Err(); err != nil {
		return err
	}
	j, trace, err := u.jobLog(c)
	if err != nil {
		return err
	}
	if off < 0 || off > int64(len(trace)) {
		off = 0
	}
	rest := trace[off:]
	done := model.Complete(j.Status)
	if !done {
		if i := lastNewline(rest); i >= 0 {
			rest = rest[:i+1]
		} else {
			rest = nil
		}
	}
	gate.WriteJSON(c.W, http.StatusOK, traceChunk{HTML: RenderLog(string(rest)), Offset: int(off) + len(rest), Status: j.Status, Complete: done})
	return nil
}

func lastNewline(b []byte) int {
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == '\n' {
			return i
		}
	}
	return -1
}

// jobRaw is the log as stored (masked), as text.
func (u *UI) jobRaw(c *gate.Ctx) error {
	_, trace, err := u.jobLog(c)
	if err != nil {
		return err
	}
	return c.Text(trace)
}
