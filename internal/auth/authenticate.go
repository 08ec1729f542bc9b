package auth

import (
	"context"
	"crypto/subtle"
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
	// RegistrationToken enables legacy runner registration with this
	// token; empty refuses every registration.
	RegistrationToken string

	cache *tokenCache
	pats  *store.Cache[string, patEntry] // see CachePersonalTokens; nil keeps nothing
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
// was sent, a *Failure when one was sent and is no good. A job token whose
// job ended, whose project is being deleted or whose user is blocked is
// still a Principal, marked dead: the decision refuses it (authz
// liveness), 401 on the API and 403 with the job's status on the runner
// protocol, the same rule for every route.
func (a *Authenticator) Authenticate(ctx context.Context, c Credentials) (*Principal, error) {
	switch {
	case c.Registration != "":
		return a.registrar(c.Registration)
	case c.Runner != "":
		return a.runner(ctx, c.Runner)
	case c.Job != "":
		return a.job(ctx, c.Job)
	case c.Trigger != "":
		return a.trigger(ctx, c.Trigger)
	case c.Session != "":
		return a.session(ctx, c.Session)
	case c.PAT == "":
		return AnonymousPrincipal, nil
	}
	return a.personal(ctx, c.PAT)
}

// patEntry is a personal access token with its user, as cached.
type patEntry struct {
	token *model.PersonalAccessToken
	user  *model.User
}

// CachePersonalTokens keeps up to max personal access tokens with their
// users in memory on a database no other process writes (store.NewCache:
// on PostgreSQL every request reads them, in one statement). Revoking a
// token or blocking its user forgets them all before the call returns;
// expiry is checked on every request.
func (a *Authenticator) CachePersonalTokens(max int) {
	a.pats = store.NewCache[string, patEntry](a.Store, max)
}

// PersonalTokenCached reports whether secret's token is in the cache, so
// that tests can show a token died with its cache entry warm.
func (a *Authenticator) PersonalTokenCached(secret string) bool {
	return a.pats.Has(Digest(secret))
}

// personal resolves a personal access token: revoked, expired, or its
// user blocked or gone, it is refused.
func (a *Authenticator) personal(ctx context.Context, secret string) (*Principal, error) {
	now := a.Now()
	digest := Digest(secret)
	e, gen, ok := a.pats.Get(digest)
	if !ok {
		t, u, err := a.Store.PATAndUser(ctx, digest)
		if errors.Is(err, model.ErrNotFound) {
			return nil, errBadToken
		}
		if err != nil {
			return nil, fmt.Errorf("look up token: %w", err)
		}
		e = patEntry{t, u}
		if !t.Revoked && !u.Blocked {
			a.pats.Put(digest, gen, e)
		}
	}
	// Copies: the cached values are shared with other requests.
	t, u := *e.token, *e.user
	if t.Revoked {
		return nil, errRevoked
	}
	if t.Expired(now) {
		return nil, errExpired
	}
	if u.Blocked {
		return nil, errBlocked
	}
	if t.LastUsedAt == nil || now.Sub(*t.LastUsedAt) > a.TouchEvery {
		// Best effort: a failed bookkeeping write must not fail the request.
		_ = a.Store.TouchPAT(ctx, t.ID, now)
		a.pats.Update(digest, func(e patEntry) patEntry {
			touched := *e.token
			touched.LastUsedAt = &now
			return patEntry{&touched, e.user}
		})
	}
	return &Principal{Kind: UserKind, User: &u, Token: &t}, nil
}

// ErrUnknownTrigger is a trigger API token that is neither a job token
// nor a usable trigger token (unknown, or its owner gone or blocked):
// GitLab answers 404 "404 Not Found" there, which says nothing about the
// project.
var ErrUnknownTrigger = errors.New("unknown trigger token")

// trigger resolves a pipeline trigger token to its owner. It is read
// every time (a use is rare and its owner's standing must be current).
func (a *Authenticator) trigger(ctx context.Context, secret string) (*Principal, error) {
	t, err := a.Store.TriggerByDigest(ctx, Digest(secret))
	if errors.Is(err, model.ErrNotFound) {
		return nil, ErrUnknownTrigger
	}
	if err != nil {
		return nil, fmt.Errorf("look up trigger token: %w", err)
	}
	u, err := a.Store.User(ctx, t.OwnerID)
	if errors.Is(err, model.ErrNotFound) || err == nil && u.Blocked {
		return nil, ErrUnknownTrigger
	}
	if err != nil {
		return nil, fmt.Errorf("load trigger owner: %w", err)
	}
	return &Principal{Kind: TriggerKind, User: u, Trigger: t}, nil
}

// registrar checks the legacy registration token (constant time); with
// none configured, registration is off and every token is refused.
func (a *Authenticator) registrar(secret string) (*Principal, error) {
	if a.RegistrationToken == "" || subtle.ConstantTimeCompare([]byte(secret), []byte(a.RegistrationToken)) != 1 {
		return nil, errBadToken
	}
	return &Principal{Kind: RegistrarKind}, nil
}

// runner resolves a runner's token.
func (a *Authenticator) runner(ctx context.Context, secret string) (*Principal, error) {
	r, err := a.Store.RunnerByDigest(ctx, Digest(secret))
	if errors.Is(err, model.ErrNotFound) {
		return nil, errBadToken
	}
	if err != nil {
		return nil, fmt.Errorf("look up runner token: %w", err)
	}
	return &Principal{Kind: RunnerKind, Runner: r}, nil
}

// job resolves a job token. Live tokens may come from the cache, which
// forgets a token the moment its job, pipeline, project or user changes;
// dead ones are read every time and never cached.
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
	if err != nil || !p.Live() {
		return p, err
	}
	a.cache.put(digest, gen, p)
	cp := *p
	return &cp, nil
}

// loadJob reads a job token's job, project, pipeline and user: in one
// statement, so one round trip on PostgreSQL, where every request reads
// them afresh and no replica can serve a token after its death committed.
// Only when that finds nothing (no such token, or a job whose project,
// pipeline or user is gone) are they read one by one to tell which.
func (a *Authenticator) loadJob(ctx context.Context, digest string) (*Principal, error) {
	f, err := a.Store.JobFactsByTokenDigest(ctx, digest)
	if err == nil {
		return JobPrincipal(f.Job, f.Project, f.Pipeline, f.User), nil
	}
	if !errors.Is(err, model.ErrNotFound) {
		return nil, fmt.Errorf("look up job token: %w", err)
	}
	j, err := a.Store.JobByTokenDigest(ctx, digest)
	if errors.Is(err, model.ErrNotFound) {
		return nil, errBadToken
	}
	if err != nil {
		return nil, fmt.Errorf("look up job token: %w", err)
	}
	return LoadJobPrincipal(ctx, a.Store, j)
}

// LoadJobPrincipal is job j's token as authentication builds it, whether
// or not the job still runs (explain asks about any job): its project,
// pipeline and user read from st. A project or user gone makes it dead.
func LoadJobPrincipal(ctx context.Context, st *store.Store, j *model.Job) (*Principal, error) {
	p, err := st.Project(ctx, j.ProjectID)
	if errors.Is(err, model.ErrNotFound) {
		p, err = nil, nil // being removed: the token is dead
	}
	if err != nil {
		return nil, err
	}
	u, err := st.User(ctx, j.UserID)
	if errors.Is(err, model.ErrNotFound) {
		u, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	pl, err := st.Pipeline(ctx, j.PipelineID)
	if errors.Is(err, model.ErrNotFound) {
		pl, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	return JobPrincipal(j, p, pl, u), nil
}

// session resolves a web UI session. A session that is unknown, expired
// or whose user is blocked is no failure: the browser is simply signed
// out (anonymous), and the page sends it to sign in.
func (a *Authenticator) session(ctx context.Context, secret string) (*Principal, error) {
	s, u, err := a.Store.SessionAndUser(ctx, Digest(secret))
	if errors.Is(err, model.ErrNotFound) {
		return AnonymousPrincipal, nil
	}
	if err != nil {
		return nil, fmt.Errorf("look up session: %w", err)
	}
	if !a.Now().Before(s.ExpiresAt) || u.Blocked {
		return AnonymousPrincipal, nil
	}
	return &Principal{Kind: UserKind, User: u, Session: s}, nil
}
