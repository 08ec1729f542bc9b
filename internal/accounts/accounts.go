// Package accounts holds the rules for users and personal access tokens:
// who may exist, how tokens are minted, and the first start's root user.
//
// Its rules are tested through the API, against a real server on SQLite
// and PostgreSQL: user and token validation and duplicates in
// internal/api (TestCreateUserValidation, TestCreateTokenValidation,
// TestConcurrentDuplicates), token scopes, expiry, revocation and blocking
// in e2e (TestTokens, TestTokenScopesFormArray, TestUserConflicts), root's
// first start in e2e (TestStartup) and offline minting in e2e
// (TestAdminTokenCreate).
package accounts

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"github.com/ciwarden/ciwarden/internal/auth"
	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/store"
)

// Service creates and changes users and their tokens.
type Service struct {
	Store *store.Store
	Now   func() time.Time
	// EndWorkOf ends a blocked user's unfinished CI work (their jobs fail,
	// their tokens die); nil does nothing.
	EndWorkOf func(ctx context.Context, userID int64) error

	signIns throttle // failed sign-ins per login (password.go)
}

// NewUser is what POST /users accepts.
type NewUser struct {
	Username string
	Name     string
	Email    string
	Admin    bool
	// Password, when set, lets the user sign in to the web UI; stored as
	// an argon2id hash only (password.go).
	Password string
}

// ErrTaken is a username or email that another user has; GitLab answers 409.
type ErrTaken struct{ Field string }

func (e *ErrTaken) Error() string { return e.Field + " has already been taken" }
func (e *ErrTaken) Unwrap() error { return model.ErrConflict }

// CreateUser validates and creates a user with a personal namespace.
func (s *Service) CreateUser(ctx context.Context, in NewUser) (*model.User, error) {
	if err := model.ValidatePath("username", in.Username, true); err != nil {
		return nil, err
	}
	if err := model.ValidateName("name", in.Name); err != nil {
		return nil, err
	}
	if addr, err := mail.ParseAddress(in.Email); err != nil || addr.Address != in.Email {
		return nil, model.Invalid("email", "is invalid")
	}
	var hash string
	if in.Password != "" {
		if err := validatePassword(in.Password); err != nil {
			return nil, err
		}
		hash = HashPassword(in.Password)
	}
	u := &model.User{Username: in.Username, Name: in.Name, Email: in.Email, Admin: in.Admin, CreatedAt: s.Now().UTC()}
	// GitLab checks the email first. The checks give the clear message; the
	// unique indexes decide races, and their conflict is mapped the same way.
	err := s.Store.Tx(ctx, func(q *store.Queries) error {
		if _, err := q.UserByEmail(ctx, in.Email); err == nil {
			return &ErrTaken{Field: "Email"}
		}
		if _, err := q.UserByUsername(ctx, in.Username); err == nil {
			return &ErrTaken{Field: "Username"}
		}
		if _, err := q.NamespaceByPath(ctx, in.Username); err == nil {
			return &ErrTaken{Field: "Username"}
		}
		if err := q.CreateUser(ctx, u); err != nil || hash == "" {
			return err
		}
		return q.SetPasswordHash(ctx, u.ID, hash)
	})
	if errors.Is(err, model.ErrConflict) {
		var taken *ErrTaken
		if !errors.As(err, &taken) {
			field := "Username"
			if strings.Contains(err.Error(), "users_email") {
				field = "Email"
			}
			err = &ErrTaken{Field: field}
		}
	}
	if err != nil {
		return nil, err
	}
	return u, nil
}

// SetBlocked blocks or unblocks a user. A blocked user's tokens fail at
// once (authentication checks the user at every use), and their
// unfinished jobs are dropped.
func (s *Service) SetBlocked(ctx context.Context, id int64, blocked bool) error {
	if err := s.Store.SetUserBlocked(ctx, id, blocked); err != nil {
		return err
	}
	if blocked && s.EndWorkOf != nil {
		return s.EndWorkOf(ctx, id)
	}
	return nil
}

// NewToken is what POST /users/:id/personal_access_tokens accepts.
type NewToken struct {
	Name      string
	Scopes    []string
	ExpiresAt *time.Time
	// Secret, when set, is used instead of a generated value (the first
	// start's CIWARDEN_INITIAL_ROOT_TOKEN).
	Secret string
}

var knownScopes = map[string]bool{model.ScopeAPI: true, model.ScopeReadAPI: true,
	model.ScopeReadRegistry: true, model.ScopeWriteRegistry: true}

// CreateToken mints a personal access token and returns it with its
// secret, which is shown once and stored only as a digest.
func (s *Service) CreateToken(ctx context.Context, userID int64, in NewToken) (*model.PersonalAccessToken, string, error) {
	if err := model.ValidateName("name", in.Name); err != nil {
		return nil, "", err
	}
	if len(in.Scopes) == 0 {
		return nil, "", model.Invalid("scopes", "can't be blank")
	}
	for _, sc := range in.Scopes {
		if !knownScopes[sc] {
			return nil, "", model.Invalid("scopes", fmt.Sprintf("%q is not a valid scope (use api, read_api, read_registry or write_registry)", sc))
		}
	}
	if in.ExpiresAt != nil && !in.ExpiresAt.After(s.Now()) {
		return nil, "", model.Invalid("expires_at", "must be in the future")
	}
	secret := in.Secret
	if secret == "" {
		secret = auth.NewSecret(auth.PATPrefix)
	}
	t := &model.PersonalAccessToken{UserID: userID, Name: in.Name, Scopes: dedupe(in.Scopes), ExpiresAt: in.ExpiresAt, CreatedAt: s.Now().UTC()}
	if err := s.Store.CreatePAT(ctx, t, auth.Digest(secret)); err != nil {
		if errors.Is(err, model.ErrConflict) {
			return nil, "", model.Invalid("token", "is already in use")
		}
		return nil, "", err
	}
	return t, secret, nil
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// Boot is what a start learned about root.
type Boot struct {
	// Generated is the token of a root created by this start, to be shown
	// once; empty when CIWARDEN_INITIAL_ROOT_TOKEN gave it.
	Generated string
	// GeneratedPassword is root's web sign-in password, made by this
	// start and shown once with its token; empty when
	// CIWARDEN_INITIAL_ROOT_PASSWORD gave it.
	GeneratedPassword string
	// RootNeedsToken: root exists but holds no token known to work and to
	// be kept: every active api token of root is unused (the start that
	// printed it may have died before anyone copied it) and none is the
	// configured initial token. The operator is told how to make one.
	RootNeedsToken bool
}

// rootUsername is the admin a first start creates.
const rootUsername = "root"

// Bootstrap runs on every start: on an empty database it creates the admin
// user root and a token for it, the given one when initialToken is set or
// else a generated one that it returns to be shown once. On later starts
// it reports whether root lacks a usable token.
//
// Root also gets a password for the web UI's sign-in: initialPassword when
// set (CIWARDEN_INITIAL_ROOT_PASSWORD), else a generated one shown once
// with the token.
func (s *Service) Bootstrap(ctx context.Context, initialToken, initialPassword string) (Boot, error) {
	initialToken = strings.TrimSpace(initialToken)
	n, err := s.Store.CountUsers(ctx)
	if err != nil {
		return Boot{}, err
	}
	if n > 0 {
		needs, err := s.rootNeedsToken(ctx, initialToken)
		return Boot{RootNeedsToken: needs}, err
	}
	password := initialPassword
	if password == "" {
		// 20 characters of the token alphabet: ~120 bits.
		password = auth.NewSecret("")[:20]
	}
	root, err := s.CreateUser(ctx, NewUser{Username: rootUsername, Name: "Administrator", Email: "root@localhost", Admin: true, Password: password})
	if err != nil {
		var taken *ErrTaken
		if errors.As(err, &taken) {
			return Boot{}, nil // another replica won the race
		}
		return Boot{}, fmt.Errorf("create root user: %w", err)
	}
	_, secret, err := s.CreateToken(ctx, root.ID, NewToken{Name: "initial root token", Scopes: []string{model.ScopeAPI}, Secret: initialToken})
	if err != nil {
		return Boot{}, fmt.Errorf("create root token: %w", err)
	}
	var boot Boot
	if initialToken == "" {
		boot.Generated = secret
	}
	if initialPassword == "" {
		boot.GeneratedPassword = password
	}
	return boot, nil
}

// rootNeedsToken is Boot.RootNeedsToken. A root renamed or removed is the
// operator's choice: nothing to say then.
func (s *Service) rootNeedsToken(ctx context.Context, initialToken string) (bool, error) {
	root, err := s.Store.UserByUsername(ctx, rootUsername)
	if errors.Is(err, model.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	now := s.Now()
	usable := func(t *model.PersonalAccessToken) bool {
		return t.UserID == root.ID && t.Active(now) && t.HasScope(model.ScopeAPI)
	}
	if initialToken != "" {
		t, err := s.Store.PATByDigest(ctx, auth.Digest(initialToken))
		if err == nil && usable(t) {
			return false, nil
		}
		if err != nil && !errors.Is(err, model.ErrNotFound) {
			return false, err
		}
	}
	const perPage = 100
	for page := 1; ; page++ {
		tokens, total, err := s.Store.ListPATs(ctx, root.ID, store.Page{Number: page, PerPage: perPage})
		if err != nil {
			return false, err
		}
		for _, t := range tokens {
			if usable(t) && t.LastUsedAt != nil {
				return false, nil
			}
		}
		if page*perPage >= total {
			return true, nil
		}
	}
}

// OwnToken is token id if callerID owns it or the caller is an
// administrator; anyone else gets model.ErrNotFound, as for a token that
// does not exist (GET and DELETE /personal_access_tokens/:id, the tokens
// page).
func (s *Service) OwnToken(ctx context.Context, callerID int64, admin bool, id int64) (*model.PersonalAccessToken, error) {
	t, err := s.Store.PAT(ctx, id)
	if err == nil && t.UserID != callerID && !admin {
		return nil, model.ErrNotFound
	}
	return t, err
}
