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
	BasicUser string
}

// Present reports whether any credential was sent.
func (c Credentials) Present() bool { return c.PAT != "" }

// Extract finds the personal access token a request carries in the
// transports that accepts allows, following GitLab's order: the
// private_token parameter, the PRIVATE-TOKEN header, then Bearer. form holds
// parameters parsed from the body, if any.
func Extract(r *http.Request, form url.Values, accepts Transport) (Credentials, error) {
	var c Credentials
	if accepts&Param != 0 {
		v, err := single(r.URL.Query(), form, "private_token")
		if err != nil {
			return c, err
		}
		if v != "" {
			return Credentials{PAT: v, PATFrom: Param}, nil
		}
	}
	if accepts&Header != 0 {
		if vs := r.Header.Values("Private-Token"); len(vs) > 1 {
			return c, ErrAmbiguous
		} else if len(vs) == 1 && vs[0] != "" {
			return Credentials{PAT: vs[0], PATFrom: Header}, nil
		}
	}
	if accepts&Bearer != 0 {
		if v, ok := bearer(r); ok {
			return Credentials{PAT: v, PATFrom: Bearer}, nil
		}
	}
	if accepts&Basic != 0 {
		if u, p, ok := r.BasicAuth(); ok && p != "" {
			return Credentials{PAT: p, PATFrom: Basic, BasicUser: u}, nil
		}
	}
	return c, nil
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
