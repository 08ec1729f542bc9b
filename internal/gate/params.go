package gate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ciwarden/ciwarden/internal/auth"
)

// maxParamsBody bounds a request body parsed as parameters.
const maxParamsBody = 1 << 20

// Params are a request's parameters from the JSON body, a form body and
// the query string, looked up in that order as GitLab merges them. Typed
// getters record the first type error; handlers check Err once.
type Params struct {
	json  map[string]any
	form  url.Values
	query url.Values
	err   error
}

// parseParams reads the body (bounded) as JSON or a form. A malformed body
// is a 400; an oversized one a 413.
func parseParams(w http.ResponseWriter, r *http.Request, rawBody bool) (*Params, error) {
	p := &Params{query: r.URL.Query()}
	if rawBody || r.Body == nil || r.Body == http.NoBody {
		return p, nil
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	r.Body = http.MaxBytesReader(w, r.Body, maxParamsBody)
	switch ct {
	case "application/json":
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(body)) == 0 {
			return p, nil
		}
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		var m map[string]any
		if err := dec.Decode(&m); err != nil || dec.Decode(new(any)) != io.EOF {
			return nil, ParamError("The request body is not valid JSON or not a JSON object")
		}
		p.json = m
	case "application/x-www-form-urlencoded":
		// Read by hand rather than with ParseForm, which ignores the body
		// of a GET; GitLab reads form parameters on any method.
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, err
		}
		if p.form, err = url.ParseQuery(string(body)); err != nil {
			return nil, ParamError("The request body is not a valid form")
		}
	case "multipart/form-data":
		if err := r.ParseMultipartForm(maxParamsBody); err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				return nil, err
			}
			return nil, ParamError("The request body is not a valid form")
		}
		p.form = url.Values(r.MultipartForm.Value)
	default:
		// A body that is not parameters is refused past the same bound
		// (413), and drained so the connection can be reused. Routes whose
		// body is a payload (a trace, a file) declare RawBody and never
		// come here.
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// errMalformed answers strings with NUL bytes or invalid UTF-8, which
// would otherwise reach the database (PostgreSQL refuses them; SQLite
// stores them), as GitLab's malformed-strings middleware does.
var errMalformed = Message(http.StatusBadRequest, "400 Bad Request - malformed string: null byte or invalid UTF-8")

// wellFormed reports whether every parameter and the path are valid UTF-8
// without NUL bytes.
func (p *Params) wellFormed(path string) bool {
	if !goodString(path) {
		return false
	}
	for _, src := range []url.Values{p.form, p.query} {
		for k, vs := range src {
			if !goodString(k) {
				return false
			}
			for _, v := range vs {
				if !goodString(v) {
					return false
				}
			}
		}
	}
	return goodJSON(p.json)
}

func goodString(s string) bool { return utf8.ValidString(s) && !strings.Contains(s, "\x00") }

func goodJSON(v any) bool {
	switch x := v.(type) {
	case string:
		return goodString(x)
	case map[string]any:
		for k, e := range x {
			if !goodString(k) || !goodJSON(e) {
				return false
			}
		}
	case []any:
		for _, e := range x {
			if !goodJSON(e) {
				return false
			}
		}
	}
	return true
}

// Single is the one value of a credential parameter, from the query
// string, a form body or a JSON body; sent twice, as an array (name[]=)
// or as a JSON value that is not a string, it is auth.ErrAmbiguous and
// the request is refused (security.md §2).
func (p *Params) Single(name string) (string, error) {
	var vals []string
	if v, ok := p.json[name]; ok {
		s, isStr := v.(string)
		if !isStr && v != nil {
			return "", auth.ErrAmbiguous
		}
		vals = append(vals, s)
	}
	if _, ok := p.json[name+"[]"]; ok {
		return "", auth.ErrAmbiguous
	}
	for _, src := range []url.Values{p.query, p.form} {
		if _, ok := src[name+"[]"]; ok {
			return "", auth.ErrAmbiguous
		}
		vals = append(vals, src[name]...)
	}
	if len(vals) > 1 {
		return "", auth.ErrAmbiguous
	}
	if len(vals) == 1 {
		return vals[0], nil
	}
	return "", nil
}

// Err is the first parameter error recorded by a getter.
func (p *Params) Err() error { return p.err }

// Fail records a parameter error (GitLab's {"error": msg} 400) unless
// one was recorded already; Err returns it.
func (p *Params) Fail(msg string) {
	if p.err == nil {
		p.err = ParamError(msg)
	}
}

// Raw finds a parameter: a JSON value, or the string of a form or query
// value. A repeated form or query value counts as the last one, as Rack
// does.
func (p *Params) Raw(name string) (any, bool) {
	if v, ok := p.json[name]; ok {
		return v, true
	}
	for _, src := range []url.Values{p.form, p.query} {
		if vs, ok := src[name]; ok && len(vs) > 0 {
			return vs[len(vs)-1], true
		}
	}
	return nil, false
}

// Has reports whether name was sent at all.
func (p *Params) Has(name string) bool {
	if _, ok := p.Raw(name); ok {
		return true
	}
	_, ok := p.rawList(name)
	return ok
}

// Require records "<name> is missing" for the first absent parameter.
func (p *Params) Require(names ...string) {
	for _, n := range names {
		v, ok := p.Raw(n)
		if list, isList := p.rawList(n); isList && len(list) > 0 && !ok {
			v, ok = list[0], true // name[]=... counts as given
		}
		if !ok || v == nil || v == "" {
			p.Fail(n + " is missing")
			return
		}
	}
}

// String returns a string parameter; a JSON number or boolean is taken as
// its text, as GitLab coerces them. JSON null reads as "".
func (p *Params) String(name string) (string, bool) {
	v, ok := p.Raw(name)
	if !ok {
		return "", false
	}
	switch x := v.(type) {
	case nil:
		return "", true
	case string:
		return x, true
	case json.Number:
		return x.String(), true
	case bool:
		return strconv.FormatBool(x), true
	}
	p.Fail(name + " is invalid")
	return "", false
}

// Int returns an integer parameter; "12" and 12 are accepted, 1.5, "abc",
// null and objects are invalid.
func (p *Params) Int(name string) (int64, bool) {
	v, ok := p.Raw(name)
	if !ok {
		return 0, false
	}
	var s string
	switch x := v.(type) {
	case string:
		s = x
	case json.Number:
		s = x.String()
	default:
		p.Fail(name + " is invalid")
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		p.Fail(name + " is invalid")
		return 0, false
	}
	return n, true
}

// Bool returns a boolean parameter: true/false, or their common spellings
// in forms (1/0, yes/no, t/f).
func (p *Params) Bool(name string) (bool, bool) {
	v, ok := p.Raw(name)
	if !ok {
		return false, false
	}
	switch x := v.(type) {
	case bool:
		return x, true
	case string:
		switch strings.ToLower(strings.TrimSpace(x)) {
		case "true", "1", "yes", "t", "on":
			return true, true
		case "false", "0", "no", "f", "off":
			return false, true
		}
	case json.Number:
		switch x.String() {
		case "1":
			return true, true
		case "0":
			return false, true
		}
	}
	p.Fail(name + " is invalid")
	return false, false
}

// Date returns a YYYY-MM-DD parameter as midnight UTC; empty or null
// means "no date".
func (p *Params) Date(name string) (*time.Time, bool) {
	s, ok := p.String(name)
	if !ok {
		return nil, false
	}
	if s == "" {
		return nil, true
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		// GitLab also accepts a full timestamp and keeps the date.
		if ts, err2 := time.Parse(time.RFC3339, s); err2 == nil {
			t = ts.UTC().Truncate(24 * time.Hour)
		} else {
			p.Fail(name + " is invalid")
			return nil, false
		}
	}
	return &t, true
}

func (p *Params) rawList(name string) ([]any, bool) {
	if v, ok := p.json[name]; ok {
		switch x := v.(type) {
		case []any:
			return x, true
		case string:
			// gitlab-runner sends tag_list as "a,b" even in JSON.
			var out []any
			for _, part := range strings.Split(x, ",") {
				out = append(out, part)
			}
			return out, true
		}
		return []any{v}, true
	}
	for _, src := range []url.Values{p.form, p.query} {
		if vs, ok := src[name+"[]"]; ok {
			out := make([]any, len(vs))
			for i, v := range vs {
				out[i] = v
			}
			return out, true
		}
		if vs, ok := src[name]; ok {
			var out []any
			for _, v := range vs {
				for _, part := range strings.Split(v, ",") {
					out = append(out, part)
				}
			}
			return out, true
		}
	}
	return nil, false
}

// Strings returns a list parameter: a JSON array, name[]=a&name[]=b, or a
// comma-separated value.
func (p *Params) Strings(name string) ([]string, bool) {
	vals, ok := p.rawList(name)
	if !ok {
		return nil, false
	}
	out := make([]string, 0, len(vals))
	for _, v := range vals {
		s, isStr := v.(string)
		if !isStr {
			p.Fail(fmt.Sprintf("%s is invalid", name))
			return nil, false
		}
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out, true
}

// credentialParams travel as parameters but are not an endpoint's own.
var credentialParams = map[string]bool{"private_token": true, "job_token": true, "token": true}

// Names lists the parameters sent: JSON keys and form and query names,
// without a trailing "[]" and without credentials. Endpoints that refuse
// unknown parameters check it.
func (p *Params) Names() []string {
	seen := map[string]bool{}
	var out []string
	add := func(n string) {
		n = strings.TrimSuffix(n, "[]")
		if !credentialParams[n] && !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	for n := range p.json {
		add(n)
	}
	for _, src := range []url.Values{p.form, p.query} {
		for n := range src {
			add(n)
		}
	}
	sort.Strings(out)
	return out
}

// Object is every parameter sent, as one JSON object, but for the omitted
// names: a JSON body's values as they came, form and query values as
// strings, name[KEY]=value as an object and name[]=value as a list (as
// Rack nests them), a JSON body's keys winning as in Raw. Its size is the
// body's and the query's, which are bounded.
func (p *Params) Object(omit ...string) map[string]any {
	out := map[string]any{}
	for _, src := range []url.Values{p.query, p.form} {
		for k, vs := range src {
			name, rest, nested := strings.Cut(k, "[")
			switch {
			case !nested:
				out[k] = vs[len(vs)-1]
			case rest == "]":
				list := make([]any, len(vs))
				for i, v := range vs {
					list[i] = v
				}
				out[name] = list
			case strings.HasSuffix(rest, "]"):
				m, _ := out[name].(map[string]any)
				if m == nil {
					m = map[string]any{}
					out[name] = m
				}
				m[strings.TrimSuffix(rest, "]")] = vs[len(vs)-1]
			default:
				out[k] = vs[len(vs)-1]
			}
		}
	}
	for k, v := range p.json {
		out[k] = v
	}
	for _, n := range omit {
		delete(out, n)
	}
	return out
}

// ScalarInJSON reports whether name came in a JSON body as something
// other than an array, where an array is required.
func (p *Params) ScalarInJSON(name string) bool {
	v, ok := p.json[name]
	if !ok {
		return false
	}
	_, isList := v.([]any)
	return !isList
}

// Hash reads a hash parameter: a JSON object of strings, or name[KEY]=value
// in the form or the query string (GitLab's variables[KEY]=value). ok is
// false when name was not sent; a value that is not a string, or a JSON
// value that is not an object, is a 400 naming the parameter. Its size is
// the body's and the query's, which are bounded.
func (p *Params) Hash(name string) (map[string]string, bool, error) {
	invalid := ParamError(name + " is invalid")
	if v, ok := p.json[name]; ok {
		m, isMap := v.(map[string]any)
		if !isMap {
			return nil, true, invalid
		}
		out := make(map[string]string, len(m))
		for k, v := range m {
			s, isStr := v.(string)
			if !isStr {
				return nil, true, invalid
			}
			out[k] = s
		}
		return out, true, nil
	}
	var out map[string]string
	prefix := name + "["
	for _, src := range []url.Values{p.query, p.form} {
		for k, vs := range src {
			key, ok := strings.CutPrefix(k, prefix)
			if !ok {
				if k == name {
					return nil, true, invalid
				}
				continue
			}
			key, ok = strings.CutSuffix(key, "]")
			if !ok || len(vs) != 1 {
				return nil, true, invalid
			}
			if out == nil {
				out = map[string]string{}
			}
			out[key] = vs[0]
		}
	}
	return out, out != nil, nil
}
