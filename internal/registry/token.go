package registry

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/ciwarden/ciwarden/internal/authz"
	"github.com/ciwarden/ciwarden/internal/gate"
	"github.com/ciwarden/ciwarden/internal/model"
)

// TokenTTL is how long an issued registry token works: GitLab's default
// (container_registry_token_expire_delay). A client asks again for each
// new operation.
const TokenTTL = 5 * time.Minute

// Limits on what one token request may ask (docs/security.md: every read
// of client input is bounded).
const (
	// MaxScopes is the most scopes one request may name; docker asks for
	// one or two (a push with a cross-repository mount).
	MaxScopes = 64
	// maxNameLen is the longest image path (Distribution's limit).
	maxNameLen = 255
	// maxComponents bounds the path's segments, and so the project
	// lookups of one scope: GitLab nests groups 20 deep.
	maxComponents = 24
)

// Scope is one requested scope: repository:<name>:<actions>.
type Scope struct {
	Type    string // "repository" or "registry"
	Name    string
	Actions []string
}

// Distribution's path component grammar: lower-case letters and digits,
// separated by one period, one or two underscores, or dashes. A ".."
// or an upper-case letter never matches.
var componentRE = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*$`)

// ParseScopes reads the scope parameters: each may hold several scopes
// separated by spaces (both forms are in use). A malformed scope is a
// model.ErrInvalid naming it.
func ParseScopes(values []string) ([]Scope, error) {
	var out []Scope
	for _, v := range values {
		for f := range strings.FieldsSeq(v) {
			if len(out) == MaxScopes {
				return nil, invalidf("too many scopes: at most %d in one request", MaxScopes)
			}
			sc, err := parseScope(f)
			if err != nil {
				return nil, err
			}
			out = append(out, sc)
		}
	}
	return out, nil
}

func parseScope(s string) (Scope, error) {
	typ, rest, ok := strings.Cut(s, ":")
	i := strings.LastIndexByte(rest, ':')
	if !ok || i < 0 {
		return Scope{}, invalidf("scope %q is not <type>:<name>:<actions>", clip(s))
	}
	sc := Scope{Type: typ, Name: rest[:i], Actions: strings.Split(rest[i+1:], ",")}
	switch typ {
	case "registry":
		if sc.Name != "catalog" {
			return Scope{}, invalidf("scope %q: the registry resource is catalog", clip(s))
		}
		return sc, nil
	case "repository":
	default:
		return Scope{}, invalidf("scope %q: unknown resource type %q", clip(s), clip(typ))
	}
	if err := ValidatePath(sc.Name); err != nil {
		return Scope{}, err
	}
	return sc, nil
}

// ValidatePath checks an image path: lower case, Distribution's grammar,
// no "." or ".." segment.
func ValidatePath(name string) error {
	parts := strings.Split(name, "/")
	switch {
	case name == "":
		return invalidf("the image path is empty")
	case len(name) > maxNameLen:
		return invalidf("the image path is longer than %d characters", maxNameLen)
	case len(parts) > maxComponents:
		return invalidf("the image path has more than %d segments", maxComponents)
	}
	for _, p := range parts {
		if !componentRE.MatchString(p) {
			return invalidf("image path %q: segment %q is not lower-case letters and digits with . _ - between them", clip(name), clip(p))
		}
	}
	return nil
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// imageActions maps a scope's actions to the actions authz decides.
var imageActions = map[string]authz.Action{"pull": authz.PullImage, "push": authz.PushImage, "delete": authz.DeleteImage}

// Actions is the scope's known actions, "*" meaning all; others are
// dropped (not granted).
func (s Scope) actions() []string {
	var out []string
	for _, a := range s.Actions {
		switch {
		case a == "*":
			return []string{"pull", "push", "delete"}
		case imageActions[a].Name != "" && !slices.Contains(out, a):
			out = append(out, a)
		}
	}
	return out
}

// Grant is one scope as issued: the actions that were allowed.
type Grant struct {
	Type    string   `json:"type"`
	Name    string   `json:"name"`
	Actions []string `json:"actions"`
}

// Decider decides one action on one project for the request's caller
// (the gate's AuthorizeProject, with its authentication log); owner says
// the caller's job belongs to the project.
type Decider func(p *model.Project, act authz.Action, owner bool) error

// Request is a token request's caller, as the service needs it.
type Request struct {
	Subject string // the user name, "" when anonymous
	// JobProjectID is the project of a job token's job, else 0.
	JobProjectID int64
	Admin        bool
	Scopes       []Scope
	// FindProject resolves a project by full path (model.ErrNotFound when
	// there is none the caller could be told of).
	FindProject func(string) (*model.Project, error)
	Decide      Decider
	// Denied is told of each action left out, for the server's log.
	Denied func(scope Scope, action string, why error)
	// Pushed is told of each repository a push was granted to: its
	// project and the path below it.
	Pushed func(p *model.Project, path string) error
}

// Token is the token service's answer.
type Token struct {
	Token       string `json:"token"`
	AccessToken string `json:"access_token"`
	ExpiresIn   int    `json:"expires_in"`
	IssuedAt    string `json:"issued_at"`
}

// Issue decides every requested scope and signs a token with what was
// allowed: a denied action is left out, never an error
// (gitlab-compat.md §3.4), and the registry refuses what the token lacks.
func (k *Keys) Issue(ctx context.Context, req Request, now time.Time) (*Token, error) {
	var grants []Grant
	for _, sc := range req.Scopes {
		g, err := decideScope(ctx, req, sc)
		if err != nil {
			return nil, err
		}
		if len(g.Actions) > 0 {
			grants = mergeGrant(grants, g)
		}
	}
	jti := make([]byte, 16)
	rand.Read(jti)
	claims := map[string]any{
		"iss": Issuer, "sub": req.Subject, "aud": Service,
		"iat": now.Unix(), "nbf": now.Add(-5 * time.Second).Unix(), "exp": now.Add(TokenTTL).Unix(),
		"jti": hex.EncodeToString(jti), "access": grantsOrEmpty(grants),
	}
	tok, err := k.sign(claims)
	if err != nil {
		return nil, fmt.Errorf("registry: signing a token: %w", err)
	}
	return &Token{Token: tok, AccessToken: tok, ExpiresIn: int(TokenTTL.Seconds()), IssuedAt: now.UTC().Format(time.RFC3339)}, nil
}

func grantsOrEmpty(g []Grant) []Grant {
	if g == nil {
		return []Grant{}
	}
	return g
}

func mergeGrant(gs []Grant, g Grant) []Grant {
	for i := range gs {
		if gs[i].Type == g.Type && gs[i].Name == g.Name {
			for _, a := range g.Actions {
				if !slices.Contains(gs[i].Actions, a) {
					gs[i].Actions = append(gs[i].Actions, a)
				}
			}
			return gs
		}
	}
	return append(gs, g)
}

func decideScope(ctx context.Context, req Request, sc Scope) (Grant, error) {
	g := Grant{Type: sc.Type, Name: sc.Name}
	if sc.Type == "registry" {
		// The catalog lists every repository: administrators only, as in
		// GitLab.
		if req.Admin && slices.Contains(sc.Actions, "*") {
			g.Actions = []string{"*"}
		} else if req.Denied != nil {
			req.Denied(sc, "*", model.ErrForbidden)
		}
		return g, nil
	}
	actions := sc.actions()
	if len(actions) == 0 {
		return g, nil
	}
	p, err := projectOf(sc.Name, req.FindProject)
	if err != nil {
		if !isRefusal(err) {
			return g, err
		}
		for _, a := range actions {
			if req.Denied != nil {
				req.Denied(sc, a, err)
			}
		}
		return g, nil
	}
	for _, a := range actions {
		err := req.Decide(p, imageActions[a], req.JobProjectID == p.ID)
		switch {
		case err == nil:
			g.Actions = append(g.Actions, a)
		case !isRefusal(err):
			return g, err
		case req.Denied != nil:
			req.Denied(sc, a, err)
		}
	}
	if slices.Contains(g.Actions, "push") && req.Pushed != nil {
		if err := req.Pushed(p, sc.Name); err != nil {
			return g, err
		}
	}
	return g, nil
}

// projectOf is the project an image path belongs to: its longest prefix
// (of at least two segments: <namespace>/<project>) that is a project, as
// GitLab's <group>/<project>/<name...> paths are read.
func projectOf(name string, find func(string) (*model.Project, error)) (*model.Project, error) {
	parts := strings.Split(name, "/")
	for n := len(parts); n >= 2; n-- {
		p, err := find(strings.Join(parts[:n], "/"))
		if err == nil {
			return p, nil
		}
		if !isNotFound(err) {
			return nil, err
		}
	}
	return nil, fmt.Errorf("%w: no project holds the image path %q", model.ErrNotFound, name)
}

func invalidf(format string, args ...any) error {
	return model.Refuse(model.ErrInvalid, fmt.Sprintf(format, args...))
}

func isNotFound(err error) bool { return errors.Is(err, model.ErrNotFound) }

// isRefusal: the action was refused (authz said no, or there is no such
// project), as opposed to failing.
func isRefusal(err error) bool {
	var denied *gate.Denied
	return errors.As(err, &denied) || isNotFound(err)
}
