package auth

import (
	"errors"
	"net/http"
	"strings"
)

// Transport is a way a credential may travel in a request.
type Transport uint8

const (
	// Header: PRIVATE-TOKEN (personal access tokens) or JOB-TOKEN.
	Header Transport = 1 << iota
	// Param: private_token, or job_token / token, in the query or form.
	Param
	// Basic: HTTP Basic auth; the password is the token.
	Basic
	// Bearer: Authorization: Bearer <token>.
	Bearer
	// TriggerParam: the trigger API's token parameter (query, form or
	// JSON), which holds a job token or a pipeline trigger token
	// (gitlab-compat.md §3.5). Only the trigger rows declare it.
	TriggerParam
)

// AllTransports accepts a credential wherever GitLab accepts one.
const AllTransports = Header | Param | Basic | Bearer

func (t Transport) String() string {
	var parts []string
	for _, x := range []struct {
		t    Transport
		name string
	}{{Header, "header"}, {Param, "param"}, {Basic, "basic"}, {Bearer, "bearer"}, {TriggerParam, "token"}} {
		if t&x.t != 0 {
			parts = append(parts, x.name)
		}
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, "|")
}

// ErrAmbiguous is a credential parameter sent more than once or as an
// array (private_token[]=...): refused with 401, never guessed at.
var ErrAmbiguous = errors.New("credential parameter given more than once")

// Credentials are the secrets a request carries, found by Extract. Each
// field is empty when absent.
type Credentials struct {
	PAT       string
	PATFrom   Transport
	Job       string
	JobFrom   Transport
	BasicUser string
	// Runner is a runner's token; Registration the legacy registration
	// token (runner-protocol.md §4).
	Runner       string
	Registration string
	// Trigger is a pipeline trigger token (the trigger rows only).
	Trigger string
	// Session is the web UI's session secret, from its cookie (the page
	// rows only).
	Session string
}

// Present reports whether any credential was sent.
func (c Credentials) Present() bool {
	return c.PAT != "" || c.Job != "" || c.Runner != "" || c.Registration != "" || c.Trigger != "" || c.Session != ""
}

// Accept is what a route takes: the transports of personal access tokens
// and job tokens, and the runner protocol's own credentials.
type Accept struct {
	PAT Transport
	Job Transport
	// Runner: a runner's token, in the body's token or the RUNNER-TOKEN
	// header (gitlab-runner sends both).
	Runner bool
	// Registration: the registration token, in the body's token.
	Registration bool
	// Trigger: a pipeline trigger token in the token parameter, where the
	// route also takes a job token there (TriggerParam).
	Trigger bool
	// Session: the web UI's session cookie, and nothing else (pages take
	// no token; the API takes no cookie, as GitLab's API v4 without its
	// CSRF token: issue 19).
	Session bool
}

// SessionCookie names the web UI's session cookie.
const SessionCookie = "_ciwarden_session"

// Params gives the one value of a parameter sent in the query string or
// the body; a parameter sent twice or as an array is ErrAmbiguous.
type Params interface {
	Single(name string) (string, error)
}

// JobTokenUser is the HTTP Basic user name that marks the password as a job
// token (git, registries, package managers).
const JobTokenUser = "gitlab-ci-token"

// ErrJobTokenNotAccepted is a job token sent as Bearer to a route that
// does not take one: GitLab answers 401 rather than ignoring it.
var ErrJobTokenNotAccepted = errors.New("job token not accepted here")

// Extract finds the credential a request carries in the transports the
// route accepts, in GitLab's order: HTTP Basic, then the job token header
// and parameters, then the personal access token parameter and header,
// then Bearer. A job token is never taken for a personal access token.
// Credentials travelling any other way are not looked at: the request is
// anonymous as far as they go.
func Extract(r *http.Request, params Params, a Accept) (Credentials, error) {
	switch {
	case a.Session:
		if ck, err := r.Cookie(SessionCookie); err == nil && strings.HasPrefix(ck.Value, SessionPrefix) {
			return Credentials{Session: ck.Value}, nil
		}
		return Credentials{}, nil
	case a.Registration:
		v, err := params.Single("token")
		return Credentials{Registration: v}, err
	case a.Runner:
		v, err := params.Single("token")
		if v == "" && err == nil {
			v = r.Header.Get("Runner-Token")
		}
		return Credentials{Runner: v}, err
	}
	pat, job := a.PAT, a.Job
	if job&TriggerParam != 0 {
		// The trigger API reads only its token parameter: a job token by
		// its prefix, anything else a trigger token (GitLab's
		// Ci::PipelineTriggerService tells them apart the same way).
		v, err := params.Single("token")
		switch {
		case err != nil:
			return Credentials{}, err
		case strings.HasPrefix(v, JobTokenPrefix):
			return Credentials{Job: v, JobFrom: TriggerParam}, nil
		case v != "" && a.Trigger:
			return Credentials{Trigger: v}, nil
		}
	}
	if u, p, ok := r.BasicAuth(); ok && p != "" {
		switch {
		case u == JobTokenUser && job&Basic != 0:
			return Credentials{Job: p, JobFrom: Basic, BasicUser: u}, nil
		case u != JobTokenUser && pat&Basic != 0 && !strings.HasPrefix(p, JobTokenPrefix):
			return Credentials{PAT: p, PATFrom: Basic, BasicUser: u}, nil
		}
	}
	if job&Header != 0 {
		if vs := r.Header.Values("Job-Token"); len(vs) > 1 {
			return Credentials{}, ErrAmbiguous
		} else if len(vs) == 1 && vs[0] != "" {
			return Credentials{Job: vs[0], JobFrom: Header}, nil
		}
	}
	if job&Param != 0 {
		for _, name := range []string{"job_token", "token"} {
			v, err := params.Single(name)
			if err != nil {
				return Credentials{}, err
			}
			if v != "" {
				return Credentials{Job: v, JobFrom: Param}, nil
			}
		}
	}
	if pat&Param != 0 {
		v, err := params.Single("private_token")
		if err != nil {
			return Credentials{}, err
		}
		if v != "" && !strings.HasPrefix(v, JobTokenPrefix) {
			return Credentials{PAT: v, PATFrom: Param}, nil
		}
	}
	if pat&Header != 0 {
		if vs := r.Header.Values("Private-Token"); len(vs) > 1 {
			return Credentials{}, ErrAmbiguous
		} else if len(vs) == 1 && vs[0] != "" && !strings.HasPrefix(vs[0], JobTokenPrefix) {
			return Credentials{PAT: vs[0], PATFrom: Header}, nil
		}
	}
	if v, ok := bearer(r); ok {
		switch {
		case strings.HasPrefix(v, JobTokenPrefix) && job&Bearer != 0:
			return Credentials{Job: v, JobFrom: Bearer}, nil
		case strings.HasPrefix(v, JobTokenPrefix):
			return Credentials{}, ErrJobTokenNotAccepted
		case pat&Bearer != 0:
			return Credentials{PAT: v, PATFrom: Bearer}, nil
		}
	}
	return Credentials{}, nil
}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:]), true
	}
	return "", false
}
