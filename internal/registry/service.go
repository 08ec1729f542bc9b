package registry

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/store"
)

// Repositories is the registry API's business: the repositories a project's
// pushes made (rows kept by the token service when it grants a push), and
// their tags as the registry stores them.
//
// Repository rows come from the token service rather than from the
// registry's notifications: a grant is decided in ciwarden's request path
// with the project at hand, needs no endpoint for the registry to call
// back and no queue, and works the same on every replica. A grant whose
// push never happens leaves a repository with no tags, which the API
// lists as GitLab lists one whose push failed.
type Repositories struct {
	Store    *store.Store
	Registry *Registry
	// Host is the registry's host:port as clients name it (location).
	Host string
	Now  func() time.Time
	// Log is told what cleanup policies did; nil: slog's default.
	Log *slog.Logger
}

func (s *Repositories) log() *slog.Logger {
	if s.Log == nil {
		return slog.Default()
	}
	return s.Log
}

// Pushed records the repository at path below project p.
func (s *Repositories) Pushed(ctx context.Context, p *model.Project, path string) error {
	name := strings.TrimPrefix(strings.TrimPrefix(path, strings.ToLower(p.FullPath())), "/")
	return s.Store.EnsureContainerRepository(ctx, &model.ContainerRepository{ProjectID: p.ID, Name: name, Path: path, CreatedAt: s.Now()})
}

// Location is where clients pull path (or path:tag) from.
func (s *Repositories) Location(path string) string { return s.Host + "/" + path }

// List is one page of a project's repositories.
func (s *Repositories) List(ctx context.Context, projectID int64, page store.Page) ([]*model.ContainerRepository, int, error) {
	return s.Store.ListContainerRepositories(ctx, projectID, page)
}

// Repository loads a repository of project projectID (0: any project).
func (s *Repositories) Repository(ctx context.Context, projectID, id int64) (*model.ContainerRepository, error) {
	r, err := s.Store.ContainerRepository(ctx, id)
	if err != nil || (projectID != 0 && r.ProjectID != projectID) {
		return nil, model.Refuse(model.ErrNotFound, "Repository")
	}
	return r, nil
}

// Tags is a repository's tag names.
func (s *Repositories) Tags(ctx context.Context, r *model.ContainerRepository) ([]string, error) {
	if s.Registry == nil {
		return nil, ErrUnavailable
	}
	return s.Registry.images.Tags(ctx, r.Path)
}

// Tag describes one tag.
func (s *Repositories) Tag(ctx context.Context, r *model.ContainerRepository, name string) (*TagInfo, error) {
	if s.Registry == nil {
		return nil, ErrUnavailable
	}
	return s.Registry.images.Tag(ctx, r.Path, name)
}

// DeleteTag removes one tag.
func (s *Repositories) DeleteTag(ctx context.Context, r *model.ContainerRepository, name string) error {
	if s.Registry == nil {
		return ErrUnavailable
	}
	return s.Registry.images.DeleteTag(ctx, r.Path, name)
}

// DeleteRepository removes a repository's images, then its row.
func (s *Repositories) DeleteRepository(ctx context.Context, r *model.ContainerRepository) error {
	if s.Registry == nil {
		return ErrUnavailable
	}
	if err := s.Registry.images.DeleteRepository(ctx, r.Path); err != nil {
		return err
	}
	return s.Store.DeleteContainerRepository(ctx, r.ID)
}

// DeleteProjectImages removes every image of a project, before its rows
// go with it (the project's deletion).
func (s *Repositories) DeleteProjectImages(ctx context.Context, projectID int64) error {
	if s.Registry == nil {
		return nil
	}
	paths, err := s.Store.ProjectContainerPaths(ctx, projectID)
	if err != nil {
		return err
	}
	for _, p := range paths {
		if err := s.Registry.images.DeleteRepository(ctx, p); err != nil {
			return err
		}
	}
	return nil
}

// HasTagsUnder reports whether an image repository at or below path (a
// project's or a group's full path) has a tag: such a project or group
// keeps its path (GitLab refuses the rename too), since images are stored
// under their path and would no longer be reachable under the new one.
func (s *Repositories) HasTagsUnder(ctx context.Context, path string) (bool, error) {
	paths, err := s.Store.ContainerPathsUnder(ctx, strings.ToLower(path))
	if err != nil || len(paths) == 0 || s.Registry == nil {
		return false, err
	}
	for _, p := range paths {
		tags, err := s.Registry.images.Tags(ctx, p)
		if err != nil {
			return false, err
		}
		if len(tags) > 0 {
			return true, nil
		}
	}
	return false, nil
}

// BulkDelete is GitLab's DELETE .../tags: the tags whose names match
// NameRegexDelete and not NameRegexKeep, except the KeepN newest, and
// only those older than OlderThan.
type BulkDelete struct {
	NameRegexDelete string
	NameRegexKeep   string
	KeepN           int
	OlderThan       string
}

// maxBulkTags bounds one bulk deletion's work.
const maxBulkTags = 10_000

// DeleteTags runs a bulk deletion and returns the deleted tags.
func (s *Repositories) DeleteTags(ctx context.Context, r *model.ContainerRepository, in BulkDelete) ([]string, error) {
	del, err := fullMatch("name_regex_delete", in.NameRegexDelete)
	if err != nil {
		return nil, err
	}
	var keep *regexp.Regexp
	if in.NameRegexKeep != "" {
		if keep, err = fullMatch("name_regex_keep", in.NameRegexKeep); err != nil {
			return nil, err
		}
	}
	var olderThan time.Duration
	if in.OlderThan != "" {
		if olderThan, err = ParseAge(in.OlderThan); err != nil {
			return nil, err
		}
	}
	if in.KeepN < 0 {
		return nil, model.Refuse(model.ErrInvalid, "keep_n must be 0 or more")
	}
	names, err := s.Tags(ctx, r)
	if err != nil {
		return nil, err
	}
	if len(names) > maxBulkTags {
		names = names[:maxBulkTags]
	}
	var cands []*TagInfo
	for _, n := range names {
		if !del.MatchString(n) || (keep != nil && keep.MatchString(n)) {
			continue
		}
		info := &TagInfo{Name: n}
		if in.KeepN > 0 || olderThan > 0 {
			if info, err = s.Tag(ctx, r, n); err != nil {
				return nil, err
			}
		}
		cands = append(cands, info)
	}
	// Newest first; keep_n keeps the head.
	slices.SortStableFunc(cands, func(a, b *TagInfo) int { return created(b).Compare(created(a)) })
	if in.KeepN > 0 {
		cands = cands[min(in.KeepN, len(cands)):]
	}
	var deleted []string
	for _, c := range cands {
		if olderThan > 0 && (c.CreatedAt == nil || c.CreatedAt.After(s.Now().Add(-olderThan))) {
			continue
		}
		if err := s.DeleteTag(ctx, r, c.Name); err != nil {
			return deleted, err
		}
		deleted = append(deleted, c.Name)
	}
	return deleted, nil
}

func created(t *TagInfo) time.Time {
	if t.CreatedAt == nil {
		return time.Time{}
	}
	return *t.CreatedAt
}

// fullMatch compiles a name regex, anchored at both ends (GitLab matches
// whole tag names).
func fullMatch(field, expr string) (*regexp.Regexp, error) {
	if expr == "" {
		return nil, model.Refuse(model.ErrInvalid, field+" is missing")
	}
	if len(expr) > 1024 {
		return nil, model.Refuse(model.ErrInvalid, field+" is too long")
	}
	re, err := regexp.Compile(`\A(?:` + expr + `)\z`)
	if err != nil {
		return nil, model.Refuse(model.ErrInvalid, fmt.Sprintf("%s is not a valid regular expression", field))
	}
	return re, nil
}

var ageRE = regexp.MustCompile(`^(\d{1,6})\s*(s|secs?|seconds?|m|mins?|minutes?|h|hrs?|hours?|d|days?|w|weeks?|mo|months?|y|years?)$`)

// ParseAge reads an older_than value as GitLab takes it: "1h", "7d",
// "2 weeks", "1month".
func ParseAge(s string) (time.Duration, error) {
	m := ageRE.FindStringSubmatch(strings.ToLower(strings.TrimSpace(s)))
	if m == nil {
		return 0, model.Refuse(model.ErrInvalid, "older_than is not a duration such as 1h, 7d, 2weeks or 1month")
	}
	n, _ := strconv.Atoi(m[1])
	unit := time.Second
	switch u := m[2]; {
	case strings.HasPrefix(u, "mo"):
		unit = 30 * 24 * time.Hour
	case u[0] == 'm':
		unit = time.Minute
	case u[0] == 'h':
		unit = time.Hour
	case u[0] == 'd':
		unit = 24 * time.Hour
	case u[0] == 'w':
		unit = 7 * 24 * time.Hour
	case u[0] == 'y':
		unit = 365 * 24 * time.Hour
	}
	return time.Duration(n) * unit, nil
}
