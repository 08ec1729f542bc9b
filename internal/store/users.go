package store

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"github.com/ciwarden/ciwarden/internal/model"
)

const (
	userCols  = "id, username, name, email, admin, blocked, COALESCE(namespace_id, 0), created_at"
	userColsU = "u.id, u.username, u.name, u.email, u.admin, u.blocked, COALESCE(u.namespace_id, 0), u.created_at"
)

func scanUser(row interface{ Scan(...any) error }) (*model.User, error) {
	var u model.User
	dest, finish := userDest(&u)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	finish()
	return &u, nil
}

// userDest returns scan destinations for userCols and a function that
// completes u once the row is scanned (as namespaceDest).
func userDest(u *model.User) ([]any, func()) {
	var created int64
	return []any{&u.ID, &u.Username, &u.Name, &u.Email, &u.Admin, &u.Blocked, &u.NamespaceID, &created}, func() {
		u.CreatedAt = fromMicros(created)
	}
}

// CreateUser inserts a user and their personal namespace (path = username).
// Call it inside Tx so both rows appear together.
func (q *Queries) CreateUser(ctx context.Context, u *model.User) error {
	if u.CreatedAt.IsZero() {
		u.CreatedAt = time.Now().UTC()
	}
	id, err := q.insert(ctx, "INSERT INTO users (username, name, email, admin, blocked, created_at) VALUES (?, ?, ?, ?, ?, ?)",
		u.Username, u.Name, u.Email, u.Admin, u.Blocked, micros(u.CreatedAt))
	if err != nil {
		return err
	}
	u.ID = id
	ns := &model.Namespace{Kind: model.NamespaceUser, Name: u.Name, Path: u.Username, FullPath: u.Username,
		FullName: u.Name, OwnerID: &u.ID, Visibility: model.Public, CreatedAt: u.CreatedAt}
	if err := q.CreateNamespace(ctx, ns); err != nil {
		return err
	}
	u.NamespaceID = ns.ID
	_, err = q.exec(ctx, "UPDATE users SET namespace_id = ? WHERE id = ?", ns.ID, u.ID)
	return err
}

// User loads a user by ID.
func (q *Queries) User(ctx context.Context, id int64) (*model.User, error) {
	u, err := scanUser(q.queryRow(ctx, "SELECT "+userCols+" FROM users WHERE id = ?", id))
	return u, notFound(err, "user")
}

// UserByUsername loads a user by username, case-insensitively.
func (q *Queries) UserByUsername(ctx context.Context, username string) (*model.User, error) {
	u, err := scanUser(q.queryRow(ctx, "SELECT "+userCols+" FROM users WHERE lower(username) = lower(?)", username))
	return u, notFound(err, "user")
}

// UserFilter narrows ListUsers.
type UserFilter struct {
	Username string // exact, case-insensitive
	Search   string // substring of username, name or email
	Active   bool
	Blocked  bool
}

// ListUsers returns one page of users ordered by ID, and the total count.
func (q *Queries) ListUsers(ctx context.Context, f UserFilter, page Page) ([]*model.User, int, error) {
	var where []string
	var args []any
	if f.Username != "" {
		where = append(where, "lower(username) = lower(?)")
		args = append(args, f.Username)
	}
	if f.Search != "" {
		where = append(where, "(lower(username) LIKE ? ESCAPE '\\' OR lower(name) LIKE ? ESCAPE '\\' OR lower(email) LIKE ? ESCAPE '\\')")
		s := likePattern(f.Search)
		args = append(args, s, s, s)
	}
	if f.Active {
		where = append(where, "blocked = ?")
		args = append(args, false)
	}
	if f.Blocked {
		where = append(where, "blocked = ?")
		args = append(args, true)
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	var total int
	if err := q.queryRow(ctx, "SELECT COUNT(*) FROM users"+cond, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	rows, err := q.query(ctx, "SELECT "+userCols+" FROM users"+cond+" ORDER BY id LIMIT ? OFFSET ?", append(args, page.Limit(), page.Offset())...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var out []*model.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, u)
	}
	return out, total, rows.Err()
}

// SetUserBlocked blocks or unblocks a user.
func (q *Queries) SetUserBlocked(ctx context.Context, id int64, blocked bool) error {
	defer q.changed(resetChange, 0)
	res, err := q.exec(ctx, "UPDATE users SET blocked = ? WHERE id = ?", blocked, id)
	return affected(res, err, "user")
}

// CountUsers is used by first-start bootstrapping.
func (q *Queries) CountUsers(ctx context.Context) (int, error) {
	var n int
	err := q.queryRow(ctx, "SELECT COUNT(*) FROM users").Scan(&n)
	return n, err
}

func affected(res sql.Result, err error, what string) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return notFound(sql.ErrNoRows, what)
	}
	return nil
}

// likePattern makes a lower-case substring pattern, escaping LIKE's
// wildcards so that user input matches literally.
func likePattern(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + strings.ToLower(r.Replace(s)) + "%"
}

// UserByEmail loads a user by email, case-insensitively.
func (q *Queries) UserByEmail(ctx context.Context, email string) (*model.User, error) {
	u, err := scanUser(q.queryRow(ctx, "SELECT "+userCols+" FROM users WHERE lower(email) = lower(?)", email))
	return u, notFound(err, "user")
}
