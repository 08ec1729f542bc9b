package testserver

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// The 5xx check. Every request the server answers is one log line
// (internal/server's observe: msg=request with method, path and status),
// whatever route answered it: the REST API, the runner protocol, git,
// the operational endpoints. A status of 500 or more there fails the test
// unless the test declared it (ExpectServerError); so does a handler
// panic. Reading the log rather than the answers catches requests made
// from goroutines, by git or by the built-in runner, which no helper sees.
// A client that hung up is logged as 499, which is not a server error.

var (
	requestLine = regexp.MustCompile(`\bmsg=request\b`)
	attrRe      = regexp.MustCompile(`\b(method|path|status)=("(?:[^"\\]|\\.)*"|\S*)`)
)

// requestRecord is what a request log line says.
type requestRecord struct {
	Method, Path string
	Status       int
	Line         string
}

func parseRequestLine(line string) (requestRecord, bool) {
	if !requestLine.MatchString(line) {
		return requestRecord{}, false
	}
	r := requestRecord{Line: line}
	for _, m := range attrRe.FindAllStringSubmatch(line, -1) {
		v := m[2]
		if uq, err := strconv.Unquote(v); err == nil && strings.HasPrefix(v, `"`) {
			v = uq
		}
		switch m[1] {
		case "method":
			r.Method = v
		case "path":
			r.Path = v
		case "status":
			r.Status, _ = strconv.Atoi(v)
		}
	}
	return r, r.Status != 0
}

// expectedError is a server error a test provokes on purpose.
type expectedError struct {
	status       int
	method, path string // path is a prefix
	why          string
	seen         bool
}

func (e *expectedError) matches(r requestRecord) bool {
	return r.Status == e.status && (e.method == "" || e.method == r.Method) && strings.HasPrefix(r.Path, e.path)
}

// logCheck holds a test's declarations and checks a log against them.
type logCheck struct {
	mu       sync.Mutex
	expected []*expectedError
}

func (c *logCheck) expect(status int, method, pathPrefix, why string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expected = append(c.expected, &expectedError{status: status, method: method, path: pathPrefix, why: why})
}

// serverErrors returns every problem the log shows: undeclared 5xx
// answers and panics.
func (c *logCheck) serverErrors(log []byte) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, line := range strings.Split(string(log), "\n") {
		if strings.Contains(line, "handler panic") || strings.HasPrefix(line, "panic:") || strings.HasPrefix(line, "goroutine ") {
			out = append(out, "a panic: "+line)
			continue
		}
		r, ok := parseRequestLine(line)
		if !ok || r.Status < 500 {
			continue
		}
		declared := false
		for _, e := range c.expected {
			if e.matches(r) {
				e.seen, declared = true, true
			}
		}
		if !declared {
			out = append(out, fmt.Sprintf("%s %s answered %d: %s", r.Method, r.Path, r.Status, line))
		}
	}
	return out
}

// errorLines are the WARN and ERROR lines of a log, which say why a
// request failed.
func errorLines(log []byte) string {
	var out []string
	for _, l := range bytes.Split(log, []byte("\n")) {
		if bytes.Contains(l, []byte("level=ERROR")) || bytes.Contains(l, []byte("level=WARN")) {
			out = append(out, string(l))
		}
	}
	return strings.Join(out, "\n")
}
