package store

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"github.com/ciwarden/ciwarden/internal/model"
)

const (
	patCols  = "id, user_id, name, scopes, expires_at, revoked, created_at, last_used_at"
	patColsT = "t.id, t.user_id, t.name, t.scopes, t.expires_at, t.revoked, t.created_at, t.last_used_at"
)

func scanPAT(row interface{ Scan(...any) error }) (*model.PersonalAccessToken, error) {
	var t model.PersonalAccessToken
	dest, finish := patDest(&t)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	finish()
	return &t, nil
}

// patDest returns scan destinations for patCols and a function that
// completes t once the row is scanned (as namespaceDest).
func patDest(t *model.PersonalAccessToken) ([]any, func()) {
	var scopes string
	var expires, lastUsed sql.NullInt64
	var created int64
	return []any{&t.ID, &t.UserID, &t.Name, &scopes, &expires, &t.Revoked, &created, &lastUsed}, func() {
		if scopes != "" {
			t.Scopes = strings.Split(scopes, ",")
		}
		t.ExpiresAt = fromNullMicros(expires)
		t.LastUsedAt = fromNullMicros(lastUsed)
		t.CreatedAt = fromMicros(created)
	}
}

// CreatePAT stores a token under the digest of its secret.
func (q *Queries) CreatePAT(ctx context.Context, t *model.PersonalAccessToken, digest string) error {
	if t.CreatedAt.IsZero() {
		t.CreatedAt = time.Now().UTC()
	}
	id, err := q.insert(ctx, "INSERT INTO personal_access_tokens (user_id, name, scopes, digest, expires_at, revoked, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
		t.UserID, t.Name, strings.Join(t.Scopes, ","), digest, nullMicros(t.ExpiresAt), t.Revoked, micros(t.CreatedAt))
	t.ID = id
	return err
}

// PATByDigest finds a token by the digest of its secret: one indexed
// lookup however many tokens exist.
func (q *Queries) PATByDigest(ctx context.Context, digest string) (*model.PersonalAccessToken, error) {
	t, err := scanPAT(q.queryRow(ctx, "SELECT "+patCols+" FROM personal_access_tokens WHERE digest = ?", digest))
	return t, notFound(err, "personal access token")
}

// PATAndUser finds a token by the digest of its secret with its user, in
// one statement (one round trip on PostgreSQL). A token whose user is gone
// is not found.
func (q *Queries) PATAndUser(ctx context.Context, digest string) (*model.PersonalAccessToken, *model.User, error) {
	var t model.PersonalAccessToken
	var u model.User
	tDest, tFinish := patDest(&t)
	uDest, uFinish := userDest(&u)
	if err := q.queryRow(ctx, "SELECT "+patColsT+", "+userColsU+" FROM personal_access_tokens t JOIN users u ON u.id = t.user_id WHERE t.digest = ?",
		digest).Scan(append(tDest, uDest...)...); err != nil {
		return nil, nil, notFound(err, "personal access token")
	}
	tFinish()
	uFinish()
	return &t, &u, nil
}

// PAT loads a token by ID.
func (q *Queries) PAT(ctx context.Context, id int64) (*model.PersonalAccessToken, error) {
	t, err := scanPAT(q.queryRow(ctx, "SELECT "+patCols+" FROM personal_access_tokens WHERE id = ?", id))
	return t, notFound(err, "personal access token")
}

// ListPATs lists tokens, of one user when userID is not zero.
func (q *Queries) ListPATs(ctx context.Context, userID int64, page Page) ([]*model.PersonalAccessToken, int, error) {
	cond, args := "", []any{}
	if userID != 0 {
		cond, args = " WHERE user_id = ?", []any{userID}
	}
	var total int
	if err := q.queryRow(ctx, "SELECT COUNT(*) FROM personal_access_tokens"+cond, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	rows, err := q.query(ctx, "SELECT "+patCols+" FROM personal_access_tokens"+cond+" ORDER BY id LIMIT ? OFFSET ?", append(args, page.Limit(), page.Offset())...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var out []*model.PersonalAccessToken
	for rows.Next() {
		t, err := scanPAT(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, t)
	}
	return out, total, rows.Err()
}

// RevokePAT marks a token revoked; it stays listed, as in GitLab.
func (q *Queries) RevokePAT(ctx context.Context, id int64) error {
	defer q.changed(resetChange, 0) // cached tokens (store.Cache)
	res, err := q.exec(ctx, "UPDATE personal_access_tokens SET revoked = ? WHERE id = ?", true, id)
	return affected(res, err, "personal access token")
}

// TouchPAT records a use. Callers throttle it: it is a write on the
// request path.
func (q *Queries) TouchPAT(ctx context.Context, id int64, at time.Time) error {
	_, err := q.exec(ctx, "UPDATE personal_access_tokens SET last_used_at = ? WHERE id = ?", micros(at), id)
	return err
}
