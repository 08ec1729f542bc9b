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
}

// NewUser is what POST /users accepts.
type NewUser struct {
	Username string
	Name     string
	Email    string
	Admin    bool
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
		return q.CreateUser(ctx, u)
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
// once: authentication re-reads the user on every request.
func (s *Service) SetBlocked(ctx context.Context, id int64, blocked bool) error {
	return s.Store.SetUserBlocked(ctx, id, blocked)
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

var knownScopes = map[string]bool{model.ScopeAPI: true, model.ScopeReadAPI: true}

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
			return nil, "", model.Invalid("scopes", fmt.Sprintf("%q is not a valid scope (use api or read_api)", sc))
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

// Bootstrap runs on every start: on an empty database it creates the admin
// user root and a token for it, the given one when initialToken is set or
// else a generated one that it returns to be shown once.
func (s *Service) Bootstrap(ctx context.Context, initialToken string) (generated string, err error) {
	n, err := s.Store.CountUsers(ctx)
	if err != nil || n > 0 {
		return "", err
	}
	root, err := s.CreateUser(ctx, NewUser{Username: "root", Name: "Administrator", Email: "root@localhost", Admin: true})
	if err != nil {
		var taken *ErrTaken
		if errors.As(err, &taken) {
			return "", nil // another replica won the race
		}
		return "", fmt.Errorf("create root user: %w", err)
	}
	initialToken = strings.TrimSpace(initialToken)
	_, secret, err := s.CreateToken(ctx, root.ID, NewToken{Name: "initial root token", Scopes: []string{model.ScopeAPI}, Secret: initialToken})
	if err != nil {
		return "", fmt.Errorf("create root token: %w", err)
	}
	if initialToken != "" {
		return "", nil
	}
	return secret, nil
}
