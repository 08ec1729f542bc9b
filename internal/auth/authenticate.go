package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/store"
)

// Failure says why authentication failed; the HTTP layer renders it.
// Messages never contain the presented secret.
type Failure struct {
	// Reason is GitLab's error code for token failures ("invalid_token")
	// or empty for a plain 401.
	Reason      string
	Description string
}

func (f *Failure) Error() string {
	if f.Description != "" {
		return "authentication failed: " + f.Description
	}
	return "authentication failed"
}

func (f *Failure) Unwrap() error { return model.ErrUnauthorized }

var (
	errBadToken = &Failure{}
	errExpired  = &Failure{Reason: "invalid_token", Description: "Token has expired."}
	errRevoked  = &Failure{Reason: "invalid_token", Description: "Token has been revoked."}
	errBlocked  = &Failure{}
)

// Authenticator resolves credentials against the store.
type Authenticator struct {
	Store *store.Store
	Now   func() time.Time
	// TouchEvery throttles last_used_at writes, which would otherwise add
	// a write to every request.
	TouchEvery time.Duration

	cache *tokenCache
}

// CacheJobTokens keeps the principals of up to max live job tokens in
// memory, forgotten when the store reports a change to their job, pipeline,
// project or user. Only for a database no other process writes
// (store.Shared false): changes made elsewhere would not be heard.
func (a *Authenticator) CacheJobTokens(max int) {
	c := newTokenCache(max)
	a.cache = c
	a.Store.Listen(c)
}

// Authenticate returns the Principal for c: anonymous when no credential
// was sent, a *Failure when one was sent and is no good.
func (a *Authenticator) Authenticate(ctx context.Context, c Credentials) (*Principal, error) {
	if c.Job != "" {
		return a.job(ctx, c.Job)
	}
	if c.PAT == "" {
		return AnonymousPrincipal, nil
	}
	now := a.Now()
	t, err := a.Store.PATByDigest(ctx, Digest(c.PAT))
	if errors.Is(err, model.ErrNotFound) {
		return nil, errBadToken
	}
	if err != nil {
		return nil, fmt.Errorf("look up token: %w", err)
	}
	if t.Revoked {
		return nil, errRevoked
	}
	if t.Expired(now) {
		return nil, errExpired
	}
	u, err := a.Store.User(ctx, t.UserID)
	if errors.Is(err, model.ErrNotFound) {
		return nil, errBadToken
	}
	if err != nil {
		return nil, fmt.Errorf("load token user: %w", err)
	}
	if u.Blocked {
		return nil, errBlocked
	}
	if t.LastUsedAt == nil || now.Sub(*t.LastUsedAt) > a.TouchEvery {
		// Best effort: a failed bookkeeping write must not fail the request.
		_ = a.Store.TouchPAT(ctx, t.ID, now)
	}
	return &Principal{Kind: UserKind, User: u, Token: t}, nil
}

// JobAlive reports whether a job's token may still be used: its job is
// running or canceling (canceling, so that after_script can use it) and
// not erased. Without the cache every use re-reads the job; with it, the
// change that ends the job evicts the token after commit (cache.go).
func JobAlive(j *model.Job) bool {
	return (j.Status == model.StatusRunning || j.Status == model.StatusCanceling) && j.ErasedAt == nil
}

// job resolves a job token: a live job whose project is not being deleted
// and whose user may still sign in.
func (a *Authenticator) job(ctx context.Context, secret string) (*Principal, error) {
	if !strings.HasPrefix(secret, JobTokenPrefix) {
		return nil, errBadToken
	}
	digest := Digest(secret)
	if a.cache == nil {
		return a.loadJob(ctx, digest)
	}
	p, gen := a.cache.get(digest)
	if p != nil {
		return p, nil
	}
	p, err := a.loadJob(ctx, digest)
	if err != nil {
		return nil, err
	}
	a.cache.put(digest, gen, p)
	cp := *p
	return &cp, nil
}

// loadJob reads a job token's job, project, pipeline and user.
func (a *Authenticator) loadJob(ctx context.Context, digest string) (*Principal, error) {
	j, err := a.Store.JobByTokenDigest(ctx, digest)
	if errors.Is(err, model.ErrNotFound) {
		return nil, errBadToken
	}
	if err != nil {
		return nil, fmt.Errorf("look up job token: %w", err)
	}
	if !JobAlive(j) {
		return nil, errBadToken
	}
	p, err := a.Store.Project(ctx, j.ProjectID)
	if errors.Is(err, model.ErrNotFound) || (err == nil && (p.PendingDelete || p.Namespace.PendingDelete)) {
		return nil, errBadToken
	}
	if err != nil {
		return nil, err
	}
	u, err := a.Store.User(ctx, j.UserID)
	if errors.Is(err, model.ErrNotFound) || (err == nil && u.Blocked) {
		return nil, errBadToken
	}
	if err != nil {
		return nil, err
	}
	pl, err := a.Store.Pipeline(ctx, j.PipelineID)
	if err != nil {
		return nil, err
	}
	who := &Principal{Kind: JobKind, User: u, Job: j, Project: p, Pipeline: pl}
	who.jobSubject = jobSubject(who)
	return who, nil
}
