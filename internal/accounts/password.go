package accounts

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"

	"github.com/ciwarden/ciwarden/internal/auth"
	"github.com/ciwarden/ciwarden/internal/model"
)

// Passwords are hashed with argon2id, a memory-hard function
// (architecture.md, "passwords"; never a fast hash). The parameters are
// OWASP's minimum for argon2id (19 MiB, 2 passes, 1 lane): about 20 ms
// here, so that a sign-in is cheap for the server and a guess expensive
// for whoever stole the table.
const (
	argonTime    = 2
	argonMemory  = 19 * 1024 // KiB
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16
)

// GitLab's default password length limits (its minimum is 8); the maximum
// also bounds the work a request can ask of the hash.
const (
	minPasswordLength = 8
	maxPasswordLength = 128
)

// HashPassword returns password's argon2id hash in the PHC string format
// ($argon2id$v=19$m=...,t=...,p=...$salt$hash).
func HashPassword(password string) string {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		panic("crypto/rand: " + err.Error())
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		enc.EncodeToString(salt), enc.EncodeToString(key))
}

// passwordMatches checks password against a PHC argon2id hash with the
// parameters the hash names (so that raising them later keeps old hashes
// working). An empty or unreadable hash matches nothing.
func passwordMatches(hash, password string) bool {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m > 1<<20 || t > 16 || p == 0 {
		return false
	}
	enc := base64.RawStdEncoding
	salt, err1 := enc.DecodeString(parts[4])
	want, err2 := enc.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 {
		return false
	}
	got := argon2.IDKey([]byte(password), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// validatePassword is GitLab's rule on a new password.
func validatePassword(password string) error {
	n := utf8.RuneCountInString(password)
	switch {
	case n < minPasswordLength:
		return model.Invalid("password", fmt.Sprintf("is too short (minimum is %d characters)", minPasswordLength))
	case n > maxPasswordLength:
		return model.Invalid("password", fmt.Sprintf("is too long (maximum is %d characters)", maxPasswordLength))
	}
	return nil
}

// SetPassword validates and stores a user's new password; every session
// of the user ends with it (a changed password signs out everywhere).
func (s *Service) SetPassword(ctx context.Context, userID int64, password string) error {
	if err := validatePassword(password); err != nil {
		return err
	}
	return s.Store.SetPasswordHash(ctx, userID, HashPassword(password))
}

// Sign-in throttling: after signInFailures failed attempts on one login
// within signInWindow, further attempts on it are refused until the window
// has passed, whether or not the password is right (GitLab's lockout is
// 10 attempts; ours is per process, so a fleet of n replicas allows n
// times as many guesses, still far too few to guess a password).
const (
	signInFailures = 10
	signInWindow   = 10 * time.Minute
	// maxThrottled bounds the throttle's memory: a full table starts
	// again empty (a flood of made-up logins cannot grow it).
	maxThrottled = 100_000
)

// MsgBadCredentials answers a sign-in with an unknown login, a wrong
// password, or a user who cannot sign in (blocked, no password): one
// answer, so that the form reveals nothing about which (GitLab's words).
const MsgBadCredentials = "Invalid login or password."

// MsgThrottled answers a sign-in refused for too many failed attempts.
const MsgThrottled = "Too many failed sign-in attempts. Try again later."

type attempts struct {
	count int
	first time.Time
}

type throttle struct {
	mu    sync.Mutex
	fails map[string]attempts
}

func (t *throttle) blocked(login string, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	a, ok := t.fails[login]
	if ok && now.Sub(a.first) > signInWindow {
		delete(t.fails, login)
		return false
	}
	return ok && a.count >= signInFailures
}

func (t *throttle) fail(login string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.fails == nil || len(t.fails) >= maxThrottled {
		t.fails = map[string]attempts{}
	}
	a := t.fails[login]
	if a.count == 0 || now.Sub(a.first) > signInWindow {
		a = attempts{first: now}
	}
	a.count++
	t.fails[login] = a
}

func (t *throttle) forget(login string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.fails, login)
}

// SessionLifetime is how long a browser session lasts (GitLab's default
// session_expire_delay is a week).
const SessionLifetime = 7 * 24 * time.Hour

// SignIn checks a login (username or email) and password and opens a
// session, returning its secret for the cookie (stored only as a digest).
func (s *Service) SignIn(ctx context.Context, login, password string) (*model.User, string, error) {
	key := strings.ToLower(strings.TrimSpace(login))
	now := s.Now()
	if s.signIns.blocked(key, now) {
		return nil, "", model.Refuse(model.ErrTooManyRequests, MsgThrottled)
	}
	if len(password) > 4*maxPasswordLength || len(key) > 255 {
		return nil, "", model.Refuse(model.ErrUnauthorized, MsgBadCredentials)
	}
	u, err := s.Store.UserByUsername(ctx, key)
	if errors.Is(err, model.ErrNotFound) {
		u, err = s.Store.UserByEmail(ctx, key)
	}
	var hash string
	if err == nil {
		hash, err = s.Store.PasswordHash(ctx, u.ID)
	}
	if err != nil && !errors.Is(err, model.ErrNotFound) {
		return nil, "", err
	}
	if hash == "" {
		// Hash anyway: an unknown login takes as long as a wrong password.
		hash = dummyHash()
	}
	if !passwordMatches(hash, password) || u == nil || u.Blocked {
		s.signIns.fail(key, now)
		return nil, "", model.Refuse(model.ErrUnauthorized, MsgBadCredentials)
	}
	s.signIns.forget(key)
	// Expired sessions go at sign-ins: a table that grows with sign-ins
	// is trimmed by them, with no sweeper of its own.
	if err := s.Store.DeleteExpiredSessions(ctx, now); err != nil {
		return nil, "", err
	}
	secret, err := s.openSession(ctx, u.ID, now)
	return u, secret, err
}

// openSession starts a session of userID and returns its secret (stored
// only as its digest).
func (s *Service) openSession(ctx context.Context, userID int64, now time.Time) (string, error) {
	secret := auth.NewSecret(auth.SessionPrefix)
	sess := &model.Session{UserID: userID, CreatedAt: now.UTC(), ExpiresAt: now.Add(SessionLifetime).UTC()}
	if err := s.Store.CreateSession(ctx, sess, auth.Digest(secret)); err != nil {
		return "", err
	}
	return secret, nil
}

// GitLab's words on the password page.
const (
	MsgWrongCurrentPassword = "You must provide a valid current password."
	MsgConfirmationMismatch = "Password confirmation doesn't match Password"
)

// ChangePassword is a signed-in user's own change (the web UI's password
// page, issue 19): the current password must match, so that a borrowed
// session alone cannot take the account over, and wrong guesses count
// against the user's sign-in throttle as a sign-in's would; the new one,
// given twice, meets the rules. Every session of the user ends (their
// other browsers are signed out, as after PUT /users/:id) and a new one
// opens for the browser that asked: its secret is returned.
func (s *Service) ChangePassword(ctx context.Context, u *model.User, current, next, confirmation string) (string, error) {
	key := strings.ToLower(u.Username)
	now := s.Now()
	if s.signIns.blocked(key, now) {
		return "", model.Refuse(model.ErrTooManyRequests, MsgThrottled)
	}
	hash, err := s.Store.PasswordHash(ctx, u.ID)
	if err != nil {
		return "", err
	}
	if len(current) > 4*maxPasswordLength || !passwordMatches(hash, current) {
		s.signIns.fail(key, now)
		return "", model.Refuse(model.ErrInvalid, MsgWrongCurrentPassword)
	}
	if next != confirmation {
		return "", model.Refuse(model.ErrInvalid, MsgConfirmationMismatch)
	}
	if err := s.SetPassword(ctx, u.ID, next); err != nil {
		return "", err
	}
	return s.openSession(ctx, u.ID, now)
}

// SignOut ends the session whose secret the browser held.
func (s *Service) SignOut(ctx context.Context, secret string) error {
	if secret == "" {
		return nil
	}
	return s.Store.DeleteSession(ctx, auth.Digest(secret))
}

var (
	dummyOnce sync.Once
	dummy     string
)

// dummyHash is a hash no password matches by chance, computed once.
func dummyHash() string {
	dummyOnce.Do(func() { dummy = HashPassword(auth.NewSecret("")) })
	return dummy
}
