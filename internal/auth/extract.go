package auth

import (
	"errors"
	"net/http"
	"net/url"
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
)

// AllTransports accepts a credential wherever GitLab accepts one.
const AllTransports = Header | Param | Basic | Bearer

func (t Transport) String() string {
	var parts []string
	for _, x := range []struct {
		t    Transport
		name string
	}{{Header, "header"}, {Param, "param"}, {Basic, "basic"}, {Bearer, "bearer"}} {
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
}

// Present reports whether any credential was sent.
func (c Credentials) Present() bool { return c.PAT != "" || c.Job != "" }

// JobTokenUser is the HTTP Basic user name that marks the password as a job
// token (git, registries, package managers).
const JobTokenUser = "gitlab-ci-token"

// ErrJobTokenNotAccepted is a job token sent as Bearer to a route that
// does not take one: GitLab answers 401 rather than ignoring it.
var ErrJobTokenNotAccepted = errors.New("job token not accepted here")

// Extract finds the credential a request carries in the transports a route
// accepts (pat for personal access tokens, job for job tokens), in GitLab's
// order: HTTP Basic, then the job token header and parameters, then the
// personal access token parameter and header, then Bearer. A job token is
// never taken for a personal access token. form holds parameters parsed
// from the body, if any.
func Extract(r *http.Request, form url.Values, pat, job Transport) (Credentials, error) {
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
			v, err := single(r.URL.Query(), form, name)
			if err != nil {
				return Credentials{}, err
			}
			if v != "" {
				return Credentials{Job: v, JobFrom: Param}, nil
			}
		}
	}
	if pat&Param != 0 {
		v, err := single(r.URL.Query(), form, "private_token")
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

// single returns the one value of a credential parameter in the query or
// the body; an array form or a repeated parameter is ErrAmbiguous.
func single(query, form url.Values, name string) (string, error) {
	var vals []string
	for _, src := range []url.Values{query, form} {
		if src == nil {
			continue
		}
		if _, ok := src[name+"[]"]; ok {
			return "", ErrAmbiguous
		}
		vals = append(vals, src[name]...)
	}
	if len(vals) > 1 {
		return "", ErrAmbiguous
	}
	if len(vals) == 1 {
		return vals[0], nil
	}
	return "", nil
}
