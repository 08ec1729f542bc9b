package store

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ciwarden/ciwarden/internal/model"
)

// The token access scope: each project's settings, its project and group
// links, and the instance setting that enforces inbound allowlists.

// SetJobTokenScope changes a project's inbound and outbound toggles; nil
// leaves one as it is.
func (q *Queries) SetJobTokenScope(ctx context.Context, projectID int64, inbound, outbound *bool) error {
	// Cached job tokens carry their project, outbound toggle included.
	defer q.changed(resetChange, 0)
	sets, args := []string{}, []any{}
	if inbound != nil {
		sets, args = append(sets, "ci_inbound_job_token_scope_enabled = ?"), append(args, *inbound)
	}
	if outbound != nil {
		sets, args = append(sets, "ci_outbound_job_token_scope_enabled = ?"), append(args, *outbound)
	}
	if len(sets) == 0 {
		return nil
	}
	res, err := q.exec(ctx, "UPDATE projects SET "+strings.Join(sets, ", ")+" WHERE id = ?", append(args, projectID)...)
	return affected(res, err, "project")
}

const scopeLinkCols = "l.id, l.owner_project_id, l.default_permissions, l.job_token_policies, COALESCE(l.added_by_id, 0), l.created_at"

// scopeLinkDest is Scan's destinations for scopeLinkCols, and what to
// run after the scan, as namespaceDest.
func scopeLinkDest(l *model.ScopeLink) ([]any, func()) {
	var policies string
	var created int64
	return []any{&l.ID, &l.OwnerProjectID, &l.DefaultPermissions, &policies, &l.AddedByID, &created}, func() {
		l.Policies = strings.Fields(policies)
		l.CreatedAt = fromMicros(created)
	}
}

// AddProjectLink stores a project link; an existing one is ErrConflict.
func (q *Queries) AddProjectLink(ctx context.Context, l *model.ScopeLink) error {
	if l.CreatedAt.IsZero() {
		l.CreatedAt = time.Now().UTC()
	}
	id, err := q.insert(ctx, `INSERT INTO job_token_project_links (owner_project_id, direction, allowed_project_id, default_permissions, job_token_policies, added_by_id, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, l.OwnerProjectID, l.Direction, l.ProjectID, l.DefaultPermissions,
		strings.Join(l.Policies, " "), nullID(l.AddedByID), micros(l.CreatedAt))
	l.ID = id
	if err != nil {
		return err
	}
	return q.scopeChanged(ctx, l.OwnerProjectID)
}

// AddGroupLink stores an inbound group link; an existing one is
// ErrConflict.
func (q *Queries) AddGroupLink(ctx context.Context, l *model.ScopeLink) error {
	if l.CreatedAt.IsZero() {
		l.CreatedAt = time.Now().UTC()
	}
	id, err := q.insert(ctx, `INSERT INTO job_token_group_links (owner_project_id, allowed_group_id, default_permissions, job_token_policies, added_by_id, created_at)
		VALUES (?, ?, ?, ?, ?, ?)`, l.OwnerProjectID, l.GroupID, l.DefaultPermissions,
		strings.Join(l.Policies, " "), nullID(l.AddedByID), micros(l.CreatedAt))
	l.ID = id
	if err != nil {
		return err
	}
	return q.scopeChanged(ctx, l.OwnerProjectID)
}

func nullID(id int64) sql.NullInt64 { return sql.NullInt64{Int64: id, Valid: id != 0} }

// ProjectLink loads one project link.
func (q *Queries) ProjectLink(ctx context.Context, owner int64, direction string, allowed int64) (*model.ScopeLink, error) {
	l := &model.ScopeLink{Direction: direction, ProjectID: allowed}
	dest, finish := scopeLinkDest(l)
	err := q.queryRow(ctx, "SELECT "+scopeLinkCols+` FROM job_token_project_links l
		WHERE l.owner_project_id = ? AND l.direction = ? AND l.allowed_project_id = ?`, owner, direction, allowed).Scan(dest...)
	if err != nil {
		return nil, notFound(err, "allowlist entry")
	}
	finish()
	return l, nil
}

// GroupLink loads one group link.
func (q *Queries) GroupLink(ctx context.Context, owner, group int64) (*model.ScopeLink, error) {
	l := &model.ScopeLink{Direction: model.Inbound, GroupID: group}
	dest, finish := scopeLinkDest(l)
	err := q.queryRow(ctx, "SELECT "+scopeLinkCols+` FROM job_token_group_links l
		WHERE l.owner_project_id = ? AND l.allowed_group_id = ?`, owner, group).Scan(dest...)
	if err != nil {
		return nil, notFound(err, "allowlist entry")
	}
	finish()
	return l, nil
}

// SetLinkPermissions changes a link's fine-grained permissions; a
// GroupID says it is a group link.
func (q *Queries) SetLinkPermissions(ctx context.Context, l *model.ScopeLink) error {
	table := "job_token_project_links"
	if l.GroupID != 0 {
		table = "job_token_group_links"
	}
	res, err := q.exec(ctx, "UPDATE "+table+" SET default_permissions = ?, job_token_policies = ? WHERE id = ?",
		l.DefaultPermissions, strings.Join(l.Policies, " "), l.ID)
	if err := affected(res, err, "allowlist entry"); err != nil {
		return err
	}
	return q.scopeChanged(ctx, l.OwnerProjectID)
}

// DeleteProjectLink removes a project link.
func (q *Queries) DeleteProjectLink(ctx context.Context, owner int64, direction string, allowed int64) error {
	res, err := q.exec(ctx, "DELETE FROM job_token_project_links WHERE owner_project_id = ? AND direction = ? AND allowed_project_id = ?",
		owner, direction, allowed)
	if err := affected(res, err, "allowlist entry"); err != nil {
		return err
	}
	return q.scopeChanged(ctx, owner)
}

// DeleteGroupLink removes a group link.
func (q *Queries) DeleteGroupLink(ctx context.Context, owner, group int64) error {
	res, err := q.exec(ctx, "DELETE FROM job_token_group_links WHERE owner_project_id = ? AND allowed_group_id = ?", owner, group)
	if err := affected(res, err, "allowlist entry"); err != nil {
		return err
	}
	return q.scopeChanged(ctx, owner)
}

// scopeChanged bumps the project's scope version in the transaction that
// changed its links, so that every replica's copy of the lists is stale
// from the commit on. Cached job tokens carry their project, version
// included: they are dropped too.
func (q *Queries) scopeChanged(ctx context.Context, project int64) error {
	q.changed(resetChange, 0)
	_, err := q.exec(ctx, "UPDATE projects SET job_token_scope_version = job_token_scope_version + 1 WHERE id = ?", project)
	return err
}

// CountProjectLinks and CountGroupLinks count a project's links, for the
// limit of model.MaxScopeLinks.
func (q *Queries) CountProjectLinks(ctx context.Context, owner int64, direction string) (int, error) {
	var n int
	err := q.queryRow(ctx, "SELECT COUNT(*) FROM job_token_project_links WHERE owner_project_id = ? AND direction = ?", owner, direction).Scan(&n)
	return n, err
}

func (q *Queries) CountGroupLinks(ctx context.Context, owner int64) (int, error) {
	var n int
	err := q.queryRow(ctx, "SELECT COUNT(*) FROM job_token_group_links WHERE owner_project_id = ?", owner).Scan(&n)
	return n, err
}

// ProjectLinks lists a project's links in one direction, oldest first,
// each with its linked project.
func (q *Queries) ProjectLinks(ctx context.Context, owner int64, direction string, page Page) ([]*model.ScopeLink, int, error) {
	var total int
	if err := q.queryRow(ctx, "SELECT COUNT(*) FROM job_token_project_links WHERE owner_project_id = ? AND direction = ?", owner, direction).Scan(&total); err != nil {
		return nil, 0, err
	}
	rows, err := q.query(ctx, "SELECT "+scopeLinkCols+", "+projectCols+` FROM job_token_project_links l
		JOIN projects p ON p.id = l.allowed_project_id JOIN namespaces n ON n.id = p.namespace_id
		WHERE l.owner_project_id = ? AND l.direction = ? ORDER BY l.id LIMIT ? OFFSET ?`, owner, direction, page.Limit(), page.Offset())
	if err != nil {
		return nil, 0, err
	}
	out, err := collect(rows, func(row interface{ Scan(...any) error }) (*model.ScopeLink, error) {
		l := &model.ScopeLink{Direction: direction}
		dest, finish := scopeLinkDest(l)
		p, err := scanProject(prefixScanner{row, dest})
		if err != nil {
			return nil, err
		}
		finish()
		l.ProjectID, l.Project = p.ID, p
		return l, nil
	})
	return out, total, err
}

// GroupLinks lists a project's group links, oldest first, each with its
// group.
func (q *Queries) GroupLinks(ctx context.Context, owner int64, page Page) ([]*model.ScopeLink, int, error) {
	var total int
	if err := q.queryRow(ctx, "SELECT COUNT(*) FROM job_token_group_links WHERE owner_project_id = ?", owner).Scan(&total); err != nil {
		return nil, 0, err
	}
	rows, err := q.query(ctx, "SELECT "+scopeLinkCols+", "+nsCols+` FROM job_token_group_links l
		JOIN namespaces n ON n.id = l.allowed_group_id
		WHERE l.owner_project_id = ? ORDER BY l.id LIMIT ? OFFSET ?`, owner, page.Limit(), page.Offset())
	if err != nil {
		return nil, 0, err
	}
	out, err := collect(rows, func(row interface{ Scan(...any) error }) (*model.ScopeLink, error) {
		l := &model.ScopeLink{Direction: model.Inbound}
		dest, finish := scopeLinkDest(l)
		var ns model.Namespace
		nsDest, nsFinish := namespaceDest(&ns)
		if err := row.Scan(append(dest, nsDest...)...); err != nil {
			return nil, err
		}
		nsFinish()
		finish()
		l.GroupID, l.Group = ns.ID, &ns
		return l, nil
	})
	return out, total, err
}

// prefixScanner scans leading columns into prefix before handing the rest
// to a row scanner written for a table's own columns.
type prefixScanner struct {
	row    interface{ Scan(...any) error }
	prefix []any
}

func (s prefixScanner) Scan(dest ...any) error {
	return s.row.Scan(slices.Concat(s.prefix, dest)...)
}

// InboundEntry is the nearest entry on owner's inbound allowlist that
// admits a job of project source in namespace traversal ancestors (root
// first): the project link if there is one, else the deepest ancestor
// group's link; nil when none admits it. One indexed query whatever the
// list's size.
func (q *Queries) InboundEntry(ctx context.Context, owner, source int64, ancestors []int64) (*model.ScopeLink, error) {
	args := []any{owner, source, owner}
	marks := make([]string, len(ancestors))
	for i, id := range ancestors {
		marks[i] = "?"
		args = append(args, id)
	}
	groups := "1 = 0"
	if len(ancestors) > 0 {
		groups = "allowed_group_id IN (" + strings.Join(marks, ", ") + ")"
	}
	rows, err := q.query(ctx, `SELECT id, 0, default_permissions, job_token_policies FROM job_token_project_links
			WHERE owner_project_id = ? AND direction = 'inbound' AND allowed_project_id = ?
		UNION ALL
		SELECT id, allowed_group_id, default_permissions, job_token_policies FROM job_token_group_links
			WHERE owner_project_id = ? AND `+groups, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var links []*model.ScopeLink
	for rows.Next() {
		l := &model.ScopeLink{OwnerProjectID: owner, Direction: model.Inbound}
		var policies string
		if err := rows.Scan(&l.ID, &l.GroupID, &l.DefaultPermissions, &policies); err != nil {
			return nil, err
		}
		l.Policies = strings.Fields(policies)
		if l.GroupID == 0 {
			l.ProjectID = source
		}
		links = append(links, l)
	}
	return model.NearestEntry(links, ancestors), rows.Err()
}

// ScopeLinks reads every link a project keeps, project links in both
// directions and group links, for a cache of its lists.
func (q *Queries) ScopeLinks(ctx context.Context, owner int64) ([]*model.ScopeLink, error) {
	rows, err := q.query(ctx, `SELECT id, direction, allowed_project_id, 0, default_permissions, job_token_policies
			FROM job_token_project_links WHERE owner_project_id = ?
		UNION ALL
		SELECT id, 'inbound', 0, allowed_group_id, default_permissions, job_token_policies
			FROM job_token_group_links WHERE owner_project_id = ?`, owner, owner)
	if err != nil {
		return nil, err
	}
	return collect(rows, func(row interface{ Scan(...any) error }) (*model.ScopeLink, error) {
		l := &model.ScopeLink{OwnerProjectID: owner}
		var policies string
		if err := row.Scan(&l.ID, &l.Direction, &l.ProjectID, &l.GroupID, &l.DefaultPermissions, &policies); err != nil {
			return nil, err
		}
		l.Policies = strings.Fields(policies)
		return l, nil
	})
}

// OutboundAllows reports whether source's outbound list names target.
func (q *Queries) OutboundAllows(ctx context.Context, source, target int64) (bool, error) {
	var n int
	err := q.queryRow(ctx, `SELECT COUNT(*) FROM job_token_project_links
		WHERE owner_project_id = ? AND direction = 'outbound' AND allowed_project_id = ?`, source, target).Scan(&n)
	return n > 0, err
}

// Instance settings.
const (
	// SettingEnforceInboundScope is enforce_ci_inbound_job_token_scope_enabled:
	// every project's inbound allowlist is in force, whatever its toggle.
	SettingEnforceInboundScope = "enforce_ci_inbound_job_token_scope_enabled"
)

// BoolSetting reads an instance setting; def when it was never set.
func (q *Queries) BoolSetting(ctx context.Context, name string, def bool) (bool, error) {
	var v string
	err := q.queryRow(ctx, "SELECT value FROM application_settings WHERE name = ?", name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return def, nil
	}
	return v == "true", err
}

// SetBoolSetting writes an instance setting.
func (q *Queries) SetBoolSetting(ctx context.Context, name string, v bool) error {
	_, err := q.exec(ctx, `INSERT INTO application_settings (name, value) VALUES (?, ?)
		ON CONFLICT (name) DO UPDATE SET value = excluded.value`, name, strconv.FormatBool(v))
	return err
}

// RecordAuthorizations adds a batch of authentication-log uses, one per
// (accessed, origin) pair, each already summed by the caller.
func (q *Queries) RecordAuthorizations(ctx context.Context, batch []*model.JobTokenAuthorization) error {
	for _, a := range batch {
		var deniedAt sql.NullInt64
		if a.LastDeniedAt != nil {
			deniedAt = sql.NullInt64{Int64: micros(*a.LastDeniedAt), Valid: true}
		}
		// A project deleted since the use leaves nothing to log against:
		// insert only while both projects exist.
		_, err := q.exec(ctx, `INSERT INTO job_token_authorizations (accessed_project_id, origin_project_id, last_used_at,
				allowed_count, denied_count, last_policy, last_allowed, last_denial_reason, last_denied_at)
			SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?
			WHERE EXISTS (SELECT 1 FROM projects WHERE id = ?) AND EXISTS (SELECT 1 FROM projects WHERE id = ?)
			ON CONFLICT (accessed_project_id, origin_project_id) DO UPDATE SET
				last_used_at = excluded.last_used_at,
				allowed_count = job_token_authorizations.allowed_count + excluded.allowed_count,
				denied_count = job_token_authorizations.denied_count + excluded.denied_count,
				last_policy = excluded.last_policy,
				last_allowed = excluded.last_allowed,
				last_denial_reason = CASE WHEN excluded.last_denied_at IS NULL THEN job_token_authorizations.last_denial_reason ELSE excluded.last_denial_reason END,
				last_denied_at = COALESCE(excluded.last_denied_at, job_token_authorizations.last_denied_at)`,
			a.AccessedProjectID, a.OriginProjectID, micros(a.LastUsedAt), a.AllowedCount, a.DeniedCount,
			a.LastPolicy, a.LastAllowed, a.LastDenialReason, deniedAt, a.AccessedProjectID, a.OriginProjectID)
		if err != nil {
			return err
		}
	}
	return nil
}

// Authorizations lists the authentication log of an accessed project,
// most recent first, each with its origin project.
func (q *Queries) Authorizations(ctx context.Context, accessed int64, page Page) ([]*model.JobTokenAuthorization, int, error) {
	var total int
	if err := q.queryRow(ctx, "SELECT COUNT(*) FROM job_token_authorizations WHERE accessed_project_id = ?", accessed).Scan(&total); err != nil {
		return nil, 0, err
	}
	rows, err := q.query(ctx, `SELECT a.accessed_project_id, a.origin_project_id, a.last_used_at, a.allowed_count, a.denied_count,
			a.last_policy, a.last_allowed, a.last_denial_reason, a.last_denied_at, `+projectCols+`
		FROM job_token_authorizations a JOIN projects p ON p.id = a.origin_project_id JOIN namespaces n ON n.id = p.namespace_id
		WHERE a.accessed_project_id = ? ORDER BY a.last_used_at DESC, a.origin_project_id LIMIT ? OFFSET ?`, accessed, page.Limit(), page.Offset())
	if err != nil {
		return nil, 0, err
	}
	out, err := collect(rows, func(row interface{ Scan(...any) error }) (*model.JobTokenAuthorization, error) {
		a := &model.JobTokenAuthorization{}
		var used int64
		var denied sql.NullInt64
		p, err := scanProject(prefixScanner{row, []any{&a.AccessedProjectID, &a.OriginProjectID, &used, &a.AllowedCount, &a.DeniedCount,
			&a.LastPolicy, &a.LastAllowed, &a.LastDenialReason, &denied}})
		if err != nil {
			return nil, err
		}
		a.LastUsedAt, a.LastDeniedAt, a.Origin = fromMicros(used), fromNullMicros(denied), p
		return a, nil
	})
	return out, total, err
}
