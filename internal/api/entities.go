package api

import (
	"strings"
	"time"

	"github.com/ciwarden/ciwarden/internal/authz"
	"github.com/ciwarden/ciwarden/internal/git"
	"github.com/ciwarden/ciwarden/internal/model"
)

// GitLab's JSON shapes, one typed struct per entity. Field names follow
// GitLab's API entities so that existing clients decode them unchanged; a
// field GitLab always sends is never omitempty (a pointer that is nil is
// null), and one it sends only sometimes is.

// timeJSON is GitLab's time format, 2006-01-02T15:04:05.000Z, in UTC. It
// is written digit by digit: a job's entity carries up to five times, and
// time.Format's layout interpretation was a fifth of GET /job's rendering
// (issue 14). Years outside 0-9999 take time.Format's path.
func timeJSON(t time.Time) string {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.Format(timeLayout)
	}
	hour, minute, sec := t.Clock()
	var b [24]byte
	put := func(i, v, width int) {
		for j := i + width - 1; j >= i; j-- {
			b[j] = byte('0' + v%10)
			v /= 10
		}
	}
	put(0, year, 4)
	b[4] = '-'
	put(5, int(month), 2)
	b[7] = '-'
	put(8, day, 2)
	b[10] = 'T'
	put(11, hour, 2)
	b[13] = ':'
	put(14, minute, 2)
	b[16] = ':'
	put(17, sec, 2)
	b[19] = '.'
	put(20, t.Nanosecond()/1e6, 3)
	b[23] = 'Z'
	return string(b[:])
}

const timeLayout = "2006-01-02T15:04:05.000Z"

// dateJSON is a date-only field: null when unset.
func dateJSON(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := t.UTC().Format(time.DateOnly)
	return &s
}

// timePtrJSON is a time field that may be null.
func timePtrJSON(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := timeJSON(*t)
	return &s
}

// durationJSON is the seconds from start to end, null until both are
// known.
func durationJSON(start, end *time.Time) *float64 {
	if start == nil || end == nil {
		return nil
	}
	d := end.Sub(*start).Seconds()
	return &d
}

// runTimes are when a pipeline or a job ran, as GitLab's entities for both
// show it: queued_duration is from queued to started.
type runTimes struct {
	StartedAt      *string  `json:"started_at"`
	FinishedAt     *string  `json:"finished_at"`
	Duration       *float64 `json:"duration"`
	QueuedDuration *float64 `json:"queued_duration"`
}

func newRunTimes(queued, started, finished *time.Time) runTimes {
	return runTimes{StartedAt: timePtrJSON(started), FinishedAt: timePtrJSON(finished), Duration: durationJSON(started, finished),
		QueuedDuration: durationJSON(queued, started)}
}

// nonNil makes a nil list an empty one: GitLab sends [] rather than null.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (a *API) webURL(path string) string {
	return strings.TrimSuffix(a.ExternalURL, "/") + "/" + path
}

// messageEntity is a bare {"message": ...} answer (202 Accepted on a
// deletion, 201 Created on an upload).
type messageEntity struct {
	Message string `json:"message"`
}

// userEntity is GitLab's UserBasic; userPrivate, when set, adds what only
// the user themself or an administrator may see.
type userEntity struct {
	ID        int64   `json:"id"`
	Username  string  `json:"username"`
	Name      string  `json:"name"`
	State     string  `json:"state"`
	Locked    bool    `json:"locked"`
	AvatarURL *string `json:"avatar_url"`
	WebURL    string  `json:"web_url"`
	CreatedAt string  `json:"created_at"`
	*userPrivate
}

type userPrivate struct {
	Email       string  `json:"email"`
	PublicEmail *string `json:"public_email"`
	IsAdmin     bool    `json:"is_admin"`
	NamespaceID int64   `json:"namespace_id"`
	Bot         bool    `json:"bot"`
	External    bool    `json:"external"`
}

// userJSON renders u; full adds the private fields.
func (a *API) userJSON(u *model.User, full bool) *userEntity {
	e := &userEntity{ID: u.ID, Username: u.Username, Name: u.Name, State: u.State(), WebURL: a.webURL(u.Username),
		CreatedAt: timeJSON(u.CreatedAt)}
	if full {
		e.userPrivate = &userPrivate{Email: u.Email, IsAdmin: u.Admin, NamespaceID: u.NamespaceID}
	}
	return e
}

// patEntity is GitLab's PersonalAccessToken entity.
type patEntity struct {
	ID          int64    `json:"id"`
	Name        string   `json:"name"`
	Revoked     bool     `json:"revoked"`
	CreatedAt   string   `json:"created_at"`
	Description string   `json:"description"`
	Scopes      []string `json:"scopes"`
	UserID      int64    `json:"user_id"`
	LastUsedAt  *string  `json:"last_used_at"`
	Active      bool     `json:"active"`
	ExpiresAt   *string  `json:"expires_at"`
}

// createdPATEntity is the answer to a token's creation: the only time its
// secret is shown.
type createdPATEntity struct {
	*patEntity
	Token string `json:"token"`
}

func patJSON(t *model.PersonalAccessToken, now time.Time) *patEntity {
	return &patEntity{ID: t.ID, Name: t.Name, Revoked: t.Revoked, CreatedAt: timeJSON(t.CreatedAt), Scopes: nonNil(t.Scopes),
		UserID: t.UserID, LastUsedAt: timePtrJSON(t.LastUsedAt), Active: t.Active(now), ExpiresAt: dateJSON(t.ExpiresAt)}
}

// namespaceEntity is GitLab's NamespaceBasic.
type namespaceEntity struct {
	ID        int64   `json:"id"`
	Name      string  `json:"name"`
	Path      string  `json:"path"`
	Kind      string  `json:"kind"`
	FullPath  string  `json:"full_path"`
	ParentID  *int64  `json:"parent_id"`
	AvatarURL *string `json:"avatar_url"`
	WebURL    string  `json:"web_url"`
}

func (a *API) namespaceEntity(n *model.Namespace) namespaceEntity {
	return namespaceEntity{ID: n.ID, Name: n.Name, Path: n.Path, Kind: n.Kind, FullPath: n.FullPath, ParentID: n.ParentID,
		WebURL: a.webURL(n.FullPath)}
}

// groupEntity is GitLab's Group entity, as far as ciwarden keeps its
// fields.
type groupEntity struct {
	ID          int64            `json:"id"`
	Name        string           `json:"name"`
	Path        string           `json:"path"`
	Description string           `json:"description"`
	Visibility  model.Visibility `json:"visibility"`
	FullName    string           `json:"full_name"`
	FullPath    string           `json:"full_path"`
	ParentID    *int64           `json:"parent_id"`
	CreatedAt   string           `json:"created_at"`
	WebURL      string           `json:"web_url"`
	AvatarURL   *string          `json:"avatar_url"`
}

func (a *API) groupJSON(n *model.Namespace) *groupEntity {
	return &groupEntity{ID: n.ID, Name: n.Name, Path: n.Path, Description: n.Description, Visibility: n.Visibility,
		FullName: n.FullName, FullPath: n.FullPath, ParentID: n.ParentID, CreatedAt: timeJSON(n.CreatedAt),
		WebURL: a.webURL("groups/" + n.FullPath)}
}

// groupDetailEntity is GitLab's GroupDetail: the group with its projects.
type groupDetailEntity struct {
	*groupEntity
	Projects []*projectEntity `json:"projects"`
}

// projectEntity is GitLab's project entity, as far as ciwarden keeps
// its fields.
type projectEntity struct {
	basicProject
	Visibility                         model.Visibility `json:"visibility"`
	EmptyRepo                          bool             `json:"empty_repo"`
	Archived                           bool             `json:"archived"`
	CreatorID                          int64            `json:"creator_id"`
	MarkedForDeletionOn                *string          `json:"marked_for_deletion_on"`
	CIPushRepositoryForJobTokenAllowed bool             `json:"ci_push_repository_for_job_token_allowed"`
	Links                              struct {
		Self string `json:"self"`
	} `json:"_links"`
}

func (a *API) projectJSON(p *model.Project) *projectEntity {
	e := &projectEntity{basicProject: a.basicProject(p), Visibility: p.Visibility, EmptyRepo: !a.Repos.HasBranches(p.ID), CreatorID: p.CreatorID,
		CIPushRepositoryForJobTokenAllowed: p.CIPushRepositoryForJobTokenAllowed}
	e.Links.Self = a.webURL("api/v4/projects/" + itoa(p.ID))
	return e
}

// projectDetailEntity is one project with its container registry cleanup
// policy, as GET /projects/:id shows it.
type projectDetailEntity struct {
	*projectEntity
	ContainerExpirationPolicy *containerPolicyEntity `json:"container_expiration_policy,omitempty"`
}

// containerPolicyEntity is GitLab's ContainerExpirationPolicy; name_regex
// and name_regex_delete are one field under two names.
type containerPolicyEntity struct {
	Cadence         string  `json:"cadence"`
	Enabled         bool    `json:"enabled"`
	KeepN           *int    `json:"keep_n"`
	OlderThan       *string `json:"older_than"`
	NameRegex       *string `json:"name_regex"`
	NameRegexDelete *string `json:"name_regex_delete"`
	NameRegexKeep   *string `json:"name_regex_keep"`
	NextRunAt       *string `json:"next_run_at"`
}

func containerPolicyJSON(p *model.ContainerPolicy) *containerPolicyEntity {
	e := &containerPolicyEntity{Cadence: p.Cadence, Enabled: p.Enabled, KeepN: p.KeepN, OlderThan: p.OlderThan,
		NameRegex: p.NameRegex, NameRegexDelete: p.NameRegex, NameRegexKeep: p.NameRegexKeep}
	if !p.NextRunAt.IsZero() {
		t := timeJSON(p.NextRunAt)
		e.NextRunAt = &t
	}
	return e
}

// basicProject is the fields every project entity carries (GitLab's
// BasicProjectDetails).
type basicProject struct {
	ID                int64           `json:"id"`
	Description       string          `json:"description"`
	Name              string          `json:"name"`
	NameWithNamespace string          `json:"name_with_namespace"`
	Path              string          `json:"path"`
	PathWithNamespace string          `json:"path_with_namespace"`
	CreatedAt         string          `json:"created_at"`
	LastActivityAt    string          `json:"last_activity_at"`
	DefaultBranch     string          `json:"default_branch"`
	WebURL            string          `json:"web_url"`
	HTTPURLToRepo     string          `json:"http_url_to_repo"`
	ReadmeURL         *string         `json:"readme_url"`
	Namespace         namespaceEntity `json:"namespace"`
	Topics            []string        `json:"topics"`
	TagList           []string        `json:"tag_list"`
}

func (a *API) basicProject(p *model.Project) basicProject {
	full := p.FullPath()
	return basicProject{ID: p.ID, Description: p.Description, Name: p.Name, NameWithNamespace: p.FullName(), Path: p.Path,
		PathWithNamespace: full, CreatedAt: timeJSON(p.CreatedAt), LastActivityAt: timeJSON(p.UpdatedAt),
		DefaultBranch: p.DefaultBranch, WebURL: a.webURL(full), HTTPURLToRepo: a.webURL(full + ".git"),
		Namespace: a.namespaceEntity(p.Namespace), Topics: []string{}, TagList: []string{}}
}

// memberEntity is GitLab's Member: the user's basic fields with the
// membership's. Its created_at is the membership's, which, declared here,
// takes the place of the user's.
type memberEntity struct {
	*userEntity
	AccessLevel     model.AccessLevel `json:"access_level"`
	ExpiresAt       *string           `json:"expires_at"`
	CreatedAt       string            `json:"created_at"`
	MembershipState string            `json:"membership_state"`
}

func (a *API) memberJSON(m *model.Member) *memberEntity {
	return &memberEntity{userEntity: a.userJSON(m.User, false), AccessLevel: m.AccessLevel, ExpiresAt: dateJSON(m.ExpiresAt),
		CreatedAt: timeJSON(m.CreatedAt), MembershipState: "active"}
}

// pipelineEntity is GitLab's PipelineBasic, as listings, a job and a
// package show a pipeline.
type pipelineEntity struct {
	ID        int64  `json:"id"`
	IID       int64  `json:"iid"`
	ProjectID int64  `json:"project_id"`
	SHA       string `json:"sha"`
	Ref       string `json:"ref"`
	Status    string `json:"status"`
	Source    string `json:"source"`
	CreatedAt string `json:"created_at"`
	UpdatedAt string `json:"updated_at"`
	WebURL    string `json:"web_url"`
}

// pipelineJSON renders p, a pipeline of the route's project.
func (a *API) pipelineJSON(c *Ctx, p *model.Pipeline) *pipelineEntity {
	return a.pipelineAt(p, c.Project)
}

// pipelineAt renders p, a pipeline of project proj (an upstream or
// downstream pipeline may be another project's).
func (a *API) pipelineAt(p *model.Pipeline, proj *model.Project) *pipelineEntity {
	return &pipelineEntity{ID: p.ID, IID: p.IID, ProjectID: p.ProjectID, SHA: p.SHA, Ref: p.Ref, Status: p.Status,
		Source: p.Source, CreatedAt: timeJSON(p.CreatedAt), UpdatedAt: timeJSON(p.UpdatedAt),
		WebURL: a.webURL(proj.FullPath() + "/-/pipelines/" + itoa(p.ID))}
}

// pipelineDetailEntity is GitLab's Pipeline entity (one pipeline: GET,
// create, cancel, retry).
type pipelineDetailEntity struct {
	*pipelineEntity
	BeforeSHA  string      `json:"before_sha"`
	Tag        bool        `json:"tag"`
	YAMLErrors *string     `json:"yaml_errors"`
	User       *userEntity `json:"user"`
	runTimes
	CommittedAt    *string        `json:"committed_at"`
	Coverage       *string        `json:"coverage"`
	DetailedStatus detailedStatus `json:"detailed_status"`
	// TriggeredBy is the pipeline upstream (as GitLab's pipeline details
	// show it), with the job that triggered this one; absent where nothing
	// upstream did, or the caller may not read the upstream pipeline.
	TriggeredBy *upstreamEntity `json:"triggered_by,omitempty"`
}

// upstreamEntity is the upstream pipeline and its job (source_job).
type upstreamEntity struct {
	*pipelineEntity
	SourceJob sourceJobEntity `json:"source_job"`
}

type sourceJobEntity struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

// detailedStatus is GitLab's DetailedStatus, reduced to what a status
// name determines.
type detailedStatus struct {
	Icon  string `json:"icon"`
	Text  string `json:"text"`
	Label string `json:"label"`
	Group string `json:"group"`
}

func (a *API) pipelineDetailJSON(c *Ctx, p *model.Pipeline) *pipelineDetailEntity {
	e := &pipelineDetailEntity{pipelineEntity: a.pipelineJSON(c, p), BeforeSHA: p.BeforeSHA, Tag: p.Tag,
		runTimes:       newRunTimes(nil, p.StartedAt, p.FinishedAt),
		DetailedStatus: detailedStatus{Icon: "status_" + p.Status, Text: p.Status, Label: p.Status, Group: p.Status}}
	if p.YAMLErrors != "" {
		e.YAMLErrors = &p.YAMLErrors
	}
	if u, err := a.Store.User(c.Context(), p.UserID); err == nil {
		e.User = a.userJSON(u, false)
	}
	e.TriggeredBy = a.upstreamJSON(c, p)
	return e
}

// upstreamJSON is p's upstream pipeline and job, when the caller may read
// that pipeline's project's pipelines: a link never reveals a project.
func (a *API) upstreamJSON(c *Ctx, p *model.Pipeline) *upstreamEntity {
	if p.SourceJobID == 0 {
		return nil
	}
	ctx := c.Context()
	up, err := a.Store.Pipeline(ctx, p.SourcePipelineID)
	if err != nil {
		return nil
	}
	proj, err := a.Access.FindProject(ctx, itoa(up.ProjectID))
	if err != nil {
		return nil
	}
	if ok, err := a.Access.Allows(ctx, c.Principal, proj, authz.ReadPipeline); err != nil || !ok {
		return nil
	}
	e := &upstreamEntity{pipelineEntity: a.pipelineAt(up, proj)}
	if j, err := a.Store.Job(ctx, p.SourceJobID); err == nil {
		e.SourceJob = sourceJobEntity{ID: j.ID, Name: j.Name}
	}
	return e
}

// commitEntity is GitLab's Commit entity.
type commitEntity struct {
	ID             string   `json:"id"`
	ShortID        string   `json:"short_id"`
	CreatedAt      string   `json:"created_at"`
	ParentIDs      []string `json:"parent_ids"`
	Title          string   `json:"title"`
	Message        string   `json:"message"`
	AuthorName     string   `json:"author_name"`
	AuthorEmail    string   `json:"author_email"`
	AuthoredDate   string   `json:"authored_date"`
	CommitterName  string   `json:"committer_name"`
	CommitterEmail string   `json:"committer_email"`
	CommittedDate  string   `json:"committed_date"`
	WebURL         string   `json:"web_url"`
}

func (a *API) commitJSON(c *Ctx, cm *git.Commit) *commitEntity {
	return &commitEntity{ID: cm.SHA, ShortID: shortSHA(cm.SHA), CreatedAt: cm.CommittedAt, ParentIDs: nonNil(cm.Parents),
		Title: cm.Title, Message: cm.Message, AuthorName: cm.AuthorName, AuthorEmail: cm.AuthorEmail, AuthoredDate: cm.AuthoredAt,
		CommitterName: cm.CommitterName, CommitterEmail: cm.CommitterEmail, CommittedDate: cm.CommittedAt,
		WebURL: a.webURL(c.Project.FullPath() + "/-/commit/" + cm.SHA)}
}

// branchEntity is GitLab's Branch entity; protected, developers_can_*
// and can_push follow the branch's protected-branch rules.
type branchEntity struct {
	Name               string        `json:"name"`
	Commit             *commitEntity `json:"commit"`
	Merged             bool          `json:"merged"`
	Protected          bool          `json:"protected"`
	DevelopersCanPush  bool          `json:"developers_can_push"`
	DevelopersCanMerge bool          `json:"developers_can_merge"`
	CanPush            bool          `json:"can_push"`
	Default            bool          `json:"default"`
	WebURL             string        `json:"web_url"`
}

// tagEntity is GitLab's Tag entity.
type tagEntity struct {
	Name      string        `json:"name"`
	Message   string        `json:"message"`
	Target    string        `json:"target"`
	Commit    *commitEntity `json:"commit"`
	Release   *struct{}     `json:"release"` // null: ciwarden has no releases
	Protected bool          `json:"protected"`
}
