package store

import (
	"context"
	"database/sql"
	"sort"
	"time"

	"github.com/ciwarden/ciwarden/internal/model"
)

// memberTable picks the table and key column for a membership source, so
// project and group memberships share one implementation.
func memberTable(kind string) (table, key string) {
	if kind == model.SourceProject {
		return "project_members", "project_id"
	}
	return "group_members", "namespace_id"
}

const memberCols = "m.user_id, m.access_level, m.expires_at, m.created_by, m.created_at, " + userColsU

func scanMember(row interface{ Scan(...any) error }, kind string, sourceID int64) (*model.Member, error) {
	m := model.Member{SourceKind: kind, SourceID: sourceID, User: &model.User{}}
	var expires sql.NullInt64
	var created int64
	uDest, uFinish := userDest(m.User)
	if err := row.Scan(append([]any{&m.UserID, &m.AccessLevel, &expires, &m.CreatedBy, &created}, uDest...)...); err != nil {
		return nil, err
	}
	m.ExpiresAt = fromNullMicros(expires)
	m.CreatedAt = fromMicros(created)
	uFinish()
	return &m, nil
}

// AddMember creates a direct membership; an existing one is ErrConflict.
func (q *Queries) AddMember(ctx context.Context, m *model.Member) error {
	defer q.changed(resetChange, 0) // cached access levels (store.Cache)
	table, key := memberTable(m.SourceKind)
	if m.CreatedAt.IsZero() {
		m.CreatedAt = time.Now().UTC()
	}
	_, err := q.exec(ctx, "INSERT INTO "+table+" ("+key+", user_id, access_level, expires_at, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?)",
		m.SourceID, m.UserID, int(m.AccessLevel), nullMicros(m.ExpiresAt), m.CreatedBy, micros(m.CreatedAt))
	return q.d.mapErr(err)
}

// UpdateMember changes a direct membership's level and expiry.
func (q *Queries) UpdateMember(ctx context.Context, m *model.Member) error {
	defer q.changed(resetChange, 0)
	table, key := memberTable(m.SourceKind)
	res, err := q.exec(ctx, "UPDATE "+table+" SET access_level = ?, expires_at = ? WHERE "+key+" = ? AND user_id = ?",
		int(m.AccessLevel), nullMicros(m.ExpiresAt), m.SourceID, m.UserID)
	return affected(res, err, "member")
}

// RemoveMember deletes a direct membership.
func (q *Queries) RemoveMember(ctx context.Context, kind string, sourceID, userID int64) error {
	defer q.changed(resetChange, 0)
	table, key := memberTable(kind)
	res, err := q.exec(ctx, "DELETE FROM "+table+" WHERE "+key+" = ? AND user_id = ?", sourceID, userID)
	return affected(res, err, "member")
}

// Member loads one direct membership.
func (q *Queries) Member(ctx context.Context, kind string, sourceID, userID int64) (*model.Member, error) {
	table, key := memberTable(kind)
	m, err := scanMember(q.queryRow(ctx, "SELECT "+memberCols+" FROM "+table+" m JOIN users u ON u.id = m.user_id WHERE m."+key+" = ? AND m.user_id = ?",
		sourceID, userID), kind, sourceID)
	return m, notFound(err, "member")
}

// Members lists the direct members of one source, ordered by user ID.
func (q *Queries) Members(ctx context.Context, kind string, sourceID int64) ([]*model.Member, error) {
	table, key := memberTable(kind)
	rows, err := q.query(ctx, "SELECT "+memberCols+" FROM "+table+" m JOIN users u ON u.id = m.user_id WHERE m."+key+" = ? ORDER BY m.user_id", sourceID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*model.Member
	for rows.Next() {
		m, err := scanMember(rows, kind, sourceID)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// CountOwners counts a group's direct owners, to keep the last one.
func (q *Queries) CountOwners(ctx context.Context, namespaceID int64) (int, error) {
	var n int
	err := q.queryRow(ctx, "SELECT COUNT(*) FROM group_members WHERE namespace_id = ? AND access_level = ?", namespaceID, int(model.Owner)).Scan(&n)
	return n, err
}

// MembersAll lists direct and inherited members: those of the project
// (when projectID is not 0) and of every group in groupIDs. Each user
// appears once, with the highest level. Expired memberships are left out.
func (q *Queries) MembersAll(ctx context.Context, projectID int64, groupIDs []int64) ([]*model.Member, error) {
	var all []*model.Member
	if projectID != 0 {
		ms, err := q.Members(ctx, model.SourceProject, projectID)
		if err != nil {
			return nil, err
		}
		all = append(all, ms...)
	}
	for _, g := range groupIDs {
		ms, err := q.Members(ctx, model.SourceNamespace, g)
		if err != nil {
			return nil, err
		}
		all = append(all, ms...)
	}
	now := time.Now()
	best := map[int64]*model.Member{}
	for _, m := range all {
		if m.ExpiresAt != nil && !now.Before(*m.ExpiresAt) {
			continue
		}
		if b, ok := best[m.UserID]; !ok || m.AccessLevel > b.AccessLevel {
			best[m.UserID] = m
		}
	}
	out := make([]*model.Member, 0, len(best))
	for _, m := range best {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].UserID < out[j].UserID })
	return out, nil
}

// ProjectAccessLevel is a user's effective level on a project: the highest
// of the direct membership and every ancestor group's membership, Owner in
// their own personal namespace. Expired memberships count for nothing.
func (q *Queries) ProjectAccessLevel(ctx context.Context, userID int64, p *model.Project) (model.AccessLevel, error) {
	level, _, err := q.ProjectAccessLevelUntil(ctx, userID, p)
	return level, err
}

// ProjectAccessLevelUntil is ProjectAccessLevel and the moment it may
// change by the clock alone: the earliest expiry of the memberships it
// considered (zero when none expires), for a cache to keep the level no
// longer than that.
func (q *Queries) ProjectAccessLevelUntil(ctx context.Context, userID int64, p *model.Project) (model.AccessLevel, time.Time, error) {
	if userID == 0 {
		return model.NoAccess, time.Time{}, nil
	}
	if p.Namespace != nil && p.Namespace.OwnerID != nil && *p.Namespace.OwnerID == userID {
		return model.Owner, time.Time{}, nil
	}
	now := micros(time.Now())
	args := []any{p.ID, userID, now, userID, now}
	query := `SELECT COALESCE(MAX(l), 0), MIN(e) FROM (
		SELECT access_level AS l, expires_at AS e FROM project_members WHERE project_id = ? AND user_id = ? AND (expires_at IS NULL OR expires_at > ?)
		UNION ALL
		SELECT access_level AS l, expires_at AS e FROM group_members WHERE user_id = ? AND (expires_at IS NULL OR expires_at > ?) AND namespace_id IN (`
	var ancestors []int64
	if p.Namespace != nil {
		ancestors = p.Namespace.Traversal
	}
	if len(ancestors) == 0 {
		ancestors = []int64{0}
	}
	for _, id := range ancestors {
		args = append(args, id)
	}
	query += placeholders(len(ancestors)) + ")) levels"
	var level int
	var until sql.NullInt64
	if err := q.queryRow(ctx, query, args...).Scan(&level, &until); err != nil {
		return 0, time.Time{}, err
	}
	var deadline time.Time
	if until.Valid {
		deadline = fromMicros(until.Int64)
	}
	return model.AccessLevel(level), deadline, nil
}

// GroupAccessLevel is a user's effective level on a group: the highest
// membership of the group or an ancestor. related reports whether the user
// belongs to the group, an ancestor, a descendant group or a project
// beneath it; any of these lets them see it (GitLab shows a private parent
// to the members of its children).
func (q *Queries) GroupAccessLevel(ctx context.Context, userID int64, n *model.Namespace) (level model.AccessLevel, related bool, err error) {
	if userID == 0 {
		return model.NoAccess, false, nil
	}
	now := micros(time.Now())
	args := []any{userID, now}
	for _, id := range n.Traversal {
		args = append(args, id)
	}
	var l int
	if err := q.queryRow(ctx, "SELECT COALESCE(MAX(access_level), 0) FROM group_members WHERE user_id = ? AND (expires_at IS NULL OR expires_at > ?) AND namespace_id IN ("+
		placeholders(len(n.Traversal))+")", args...).Scan(&l); err != nil {
		return 0, false, err
	}
	if l > 0 {
		return model.AccessLevel(l), true, nil
	}
	var found int
	err = q.queryRow(ctx, "SELECT COUNT(*) FROM namespaces n WHERE n.id = ? AND "+groupMembership(""), append([]any{n.ID}, groupMembershipArgs(userID, now)...)...).Scan(&found)
	return 0, found > 0, err
}
