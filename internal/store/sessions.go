package store

import (
	"context"
	"time"

	"github.com/ciwarden/ciwarden/internal/model"
)

// SetPasswordHash stores a user's password hash (accounts hashes it) and
// ends every session of the user in the same transaction when called in
// one: a changed password signs the user out everywhere.
func (q *Queries) SetPasswordHash(ctx context.Context, userID int64, hash string) error {
	res, err := q.exec(ctx, "UPDATE users SET password_hash = ? WHERE id = ?", hash, userID)
	if err := affected(res, err, "user"); err != nil {
		return err
	}
	_, err = q.exec(ctx, "DELETE FROM web_sessions WHERE user_id = ?", userID)
	return err
}

// PasswordHash is the stored hash of a user's password, "" when they have
// none.
func (q *Queries) PasswordHash(ctx context.Context, userID int64) (string, error) {
	var h string
	err := q.queryRow(ctx, "SELECT password_hash FROM users WHERE id = ?", userID).Scan(&h)
	return h, notFound(err, "user")
}

// CreateSession stores a browser session under the digest of its secret.
func (q *Queries) CreateSession(ctx context.Context, s *model.Session, digest string) error {
	id, err := q.insert(ctx, "INSERT INTO web_sessions (digest, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
		digest, s.UserID, micros(s.CreatedAt), micros(s.ExpiresAt))
	s.ID = id
	return err
}

// SessionAndUser finds a session by the digest of its secret with its
// user, in one statement.
func (q *Queries) SessionAndUser(ctx context.Context, digest string) (*model.Session, *model.User, error) {
	var s model.Session
	var u model.User
	var created, expires int64
	uDest, uFinish := userDest(&u)
	err := q.queryRow(ctx, "SELECT s.id, s.user_id, s.created_at, s.expires_at, "+userColsU+
		" FROM web_sessions s JOIN users u ON u.id = s.user_id WHERE s.digest = ?", digest).
		Scan(append([]any{&s.ID, &s.UserID, &created, &expires}, uDest...)...)
	if err != nil {
		return nil, nil, notFound(err, "session")
	}
	uFinish()
	s.CreatedAt, s.ExpiresAt = fromMicros(created), fromMicros(expires)
	return &s, &u, nil
}

// DeleteSession ends one session (sign out).
func (q *Queries) DeleteSession(ctx context.Context, digest string) error {
	_, err := q.exec(ctx, "DELETE FROM web_sessions WHERE digest = ?", digest)
	return err
}

// DeleteExpiredSessions removes the sessions that have expired at now
// (a session ends at its expires_at, as authentication reads it).
func (q *Queries) DeleteExpiredSessions(ctx context.Context, now time.Time) error {
	_, err := q.exec(ctx, "DELETE FROM web_sessions WHERE expires_at <= ?", micros(now))
	return err
}
