package testserver

// Tests of the harness itself (issue 21): an injected server error on a
// git, an API and a runner route, a secret in a log in clear, masked or
// in base64, and a secret at rest each fail the test that caused them.
// The failures are real (a closed database, a removed directory, a
// request whose logged path holds a token), observed through a
// testing.TB that records instead of failing.

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ciwarden/ciwarden/internal/auth"
)

func TestMain(m *testing.M) { Main(m) }

// recorder is a testing.TB whose Error and Errorf record instead of
// failing, for the checks that run at cleanup.
type recorder struct {
	testing.TB
	mu     sync.Mutex
	errors []string
}

func (r *recorder) Errorf(format string, args ...any) { r.record(fmt.Sprintf(format, args...)) }
func (r *recorder) Error(args ...any)                 { r.record(fmt.Sprint(args...)) }

func (r *recorder) record(msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errors = append(r.errors, msg)
}

func (r *recorder) Failed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.errors) > 0 || r.TB.Failed()
}

// checked runs fn as a subtest whose server reports to a recorder, and
// returns what the checks reported once the subtest (and its cleanup)
// ended.
func checked(t *testing.T, fn func(t *testing.T, rec *recorder)) []string {
	t.Helper()
	var rec *recorder
	t.Run("checked", func(t *testing.T) {
		rec = &recorder{TB: t}
		fn(t, rec)
	})
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return rec.errors
}

// wantReported fails unless one of the reports contains every part.
func wantReported(t *testing.T, reports []string, parts ...string) {
	t.Helper()
	for _, r := range reports {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(r, p)
		}
		if ok {
			return
		}
	}
	t.Errorf("no report contains %q; reports:\n%s", parts, strings.Join(reports, "\n"))
}

func wantClean(t *testing.T, reports []string) {
	t.Helper()
	if len(reports) > 0 {
		t.Errorf("the checks reported, want nothing:\n%s", strings.Join(reports, "\n"))
	}
}

// A project with a repository (pushed), a runner and one pending job.
func setupJob(t *testing.T, s *Server) (Project, *RunnerClient) {
	g := s.CreateGroup(t, "g", 0, "private")
	p := s.CreateProject(t, g, "p", "private")
	root := User{ID: 1, Username: "root", Token: s.RootToken}
	s.PushCI(t, p.Path, root, map[string]string{".gitlab-ci.yml": "job:\n  script: [x]\n"})
	_, tok := s.CreateRunner(t, nil)
	return p, s.NewRunnerClient(tok)
}

func TestServerErrorFailsTheTest(t *testing.T) {
	t.Run("api", func(t *testing.T) {
		reports := checked(t, func(t *testing.T, rec *recorder) {
			s := New(rec, Options{})
			s.Srv.Store().Close()
			if r := s.Do(t, "GET", API+"/projects", s.RootToken, nil); r.Status != http.StatusInternalServerError {
				t.Fatalf("with the database closed: %s, want 500", r)
			}
		})
		wantReported(t, reports, "server error the test did not expect", "GET /api/v4/projects answered 500")
	})
	t.Run("runner", func(t *testing.T) {
		reports := checked(t, func(t *testing.T, rec *recorder) {
			s := New(rec, Options{})
			_, rc := setupJob(t, s)
			s.Srv.Store().Close()
			// From a goroutine, as queue tests do: the log still sees it.
			done := make(chan *Resp)
			go func() {
				r, _ := s.Try(rc.BuildRequest(t, ""))
				done <- r
			}()
			if r := <-done; r == nil || r.Status != http.StatusInternalServerError {
				t.Fatalf("job request with the database closed: %v, want 500", r)
			}
		})
		wantReported(t, reports, "POST /api/v4/jobs/request answered 500")
	})
	t.Run("git", func(t *testing.T) {
		reports := checked(t, func(t *testing.T, rec *recorder) {
			s := New(rec, Options{})
			p, _ := setupJob(t, s)
			s.Srv.Store().Close()
			if r := s.GitInfoRefs(t, p.Path, "root", s.RootToken); r.Status != http.StatusInternalServerError {
				t.Fatalf("info/refs with the database closed: %s, want 500", r)
			}
		})
		wantReported(t, reports, "GET /g/p.git/info/refs answered 500")
	})
	t.Run("git in a child process", func(t *testing.T) {
		reports := checked(t, func(t *testing.T, rec *recorder) {
			s := New(rec, Options{Process: true})
			p, _ := setupJob(t, s)
			// A repository git cannot read: http-backend dies before it
			// answers.
			cfg := filepath.Join(s.DataDir, "repositories", Itoa(p.ID)+".git", "config")
			if err := os.WriteFile(cfg, []byte("[[[ not git's config\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if r := s.GitInfoRefs(t, p.Path, "root", s.RootToken); r.Status < 500 {
				t.Fatalf("info/refs of a broken repository: %s, want a 5xx", r)
			}
		})
		wantReported(t, reports, "GET /g/p.git/info/refs answered 5")
	})
	t.Run("declared", func(t *testing.T) {
		reports := checked(t, func(t *testing.T, rec *recorder) {
			s := New(rec, Options{})
			s.ExpectServerError(500, "GET", API+"/projects", "the database is closed on purpose")
			s.Srv.Store().Close()
			s.Do(t, "GET", API+"/projects", s.RootToken, nil)
		})
		wantClean(t, reports)
	})
}

// unrememberedJobToken takes the pending job without remembering its
// token, as the built-in runner's tokens are never remembered.
func unrememberedJobToken(t *testing.T, rc *RunnerClient) string {
	r := rc.Request(t)
	if r.Status != http.StatusCreated {
		t.Fatalf("POST /jobs/request: %s, want 201", r)
	}
	tok := Str(t, r.Object(t), "token")
	if !strings.HasPrefix(tok, auth.JobTokenPrefix) {
		t.Fatalf("job token %q… without the %s prefix", shortSecret(tok), auth.JobTokenPrefix)
	}
	return tok
}

func TestLoggedTokenFailsTheTest(t *testing.T) {
	for _, process := range []bool{false, true} {
		name := map[bool]string{false: "in process", true: "child process"}[process]
		t.Run(name+"/base64", func(t *testing.T) {
			for a := range 3 {
				reports := checked(t, func(t *testing.T, rec *recorder) {
					s := New(rec, Options{Process: process})
					_, rc := setupJob(t, s)
					tok := unrememberedJobToken(t, rc)
					// The request log line has the path: a token in it,
					// base64-encoded behind a bytes of other text, is a job
					// token written to the server log.
					enc := base64.RawURLEncoding.EncodeToString([]byte(strings.Repeat("x", a) + tok))
					s.Do(t, "GET", API+"/"+enc, "", nil)
				})
				wantReported(t, reports, "leak: a token "+auth.JobTokenPrefix+"… in base64", "log")
			}
		})
		t.Run(name+"/masked", func(t *testing.T) {
			reports := checked(t, func(t *testing.T, rec *recorder) {
				s := New(rec, Options{Process: process})
				_, rc := setupJob(t, s)
				s.Do(t, "GET", API+"/"+unrememberedJobToken(t, rc), "", nil)
			})
			if process {
				// The child's log is masked: the marker gives it away.
				wantReported(t, reports, "leak: [MASKED]", "the server's log")
			} else {
				// In process the raw log shows the token itself.
				wantReported(t, reports, "leak: a token "+auth.JobTokenPrefix, "the raw log (before masking)")
			}
		})
	}
	t.Run("remembered secret, percent-encoded", func(t *testing.T) {
		reports := checked(t, func(t *testing.T, rec *recorder) {
			s := New(rec, Options{})
			secret := "not/a+prefixed=secret"
			s.Remember(secret)
			s.Logger().Info("oops", "value", "x="+strings.NewReplacer("/", "%2F", "+", "%2B", "=", "%3D").Replace(secret))
		})
		wantReported(t, reports, "leak: the secret not/…, percent-encoded", "the raw log")
	})
	t.Run("clean", func(t *testing.T) {
		reports := checked(t, func(t *testing.T, rec *recorder) {
			s := New(rec, Options{})
			_, rc := setupJob(t, s)
			j := rc.TakeJob(t)
			j.Start(t)
			j.AppendTrace(t, "token "+j.Token+" masked\n")
			j.FinishOK(t, "success")
			s.WantDead(t, j.Token, "")
		})
		wantClean(t, reports)
	})
}

func TestSecretAtRestFailsTheTest(t *testing.T) {
	ForEachDialect(t, func(t *testing.T, dialect string) {
		for _, process := range []bool{false, true} {
			reports := checked(t, func(t *testing.T, rec *recorder) {
				s := New(rec, Options{Dialect: dialect, Process: process})
				// A personal access token the test never sees as such
				// (minted, not remembered), stored in base64 in a
				// description, and root's token in clear in another.
				u := s.Expect(t, "POST", API+"/users/1/personal_access_tokens", s.RootToken,
					map[string]any{"name": "x", "scopes": []string{"api"}}, http.StatusCreated).Object(t)
				pat := Str(t, u, "token")
				g := s.CreateGroup(t, "g", 0, "private")
				p := s.CreateProject(t, g, "p", "private")
				s.Expect(t, "PUT", API+"/projects/"+Itoa(p.ID), s.RootToken,
					map[string]any{"description": base64.StdEncoding.EncodeToString([]byte("z" + pat))}, http.StatusOK)
				s.Expect(t, "PUT", API+"/groups/"+Itoa(g), s.RootToken, map[string]any{"description": s.RootToken}, http.StatusOK)
			})
			where := "database: "
			if dialect == "postgres" {
				where = "projects.description"
			}
			wantReported(t, reports, "leak: a token "+auth.PATPrefix+"… in base64 (alignment 1)", where)
			if dialect == "postgres" {
				where = "namespaces.description"
			}
			wantReported(t, reports, "leak: the secret "+shortSecret(auth.PATPrefix+"test-root-"), where)
		}
	})
}

func TestDetector(t *testing.T) {
	secret := "s3cr3t-value-Zq8xVw2mK4"
	tok := auth.NewSecret(auth.JobTokenPrefix)
	d := newDetector([]string{secret})
	found := func(text string) []string {
		var out []string
		d.scan([]byte(text), func(_ int, n *needle) { out = append(out, n.what) })
		return out
	}
	for a := range 3 {
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding} {
			pad := strings.Repeat("\x00", a)
			if got := found("v=" + enc.EncodeToString([]byte(pad+secret+"tail"))); len(got) == 0 {
				t.Errorf("secret in base64 at alignment %d not found", a)
			}
			if got := found("v=" + enc.EncodeToString([]byte(pad+tok+"tail"))); len(got) == 0 {
				t.Errorf("job token in base64 at alignment %d not found", a)
			}
		}
	}
	for text, want := range map[string]bool{
		tok:                                      true,
		"x " + tok[:len(auth.JobTokenPrefix)+16]: true,  // enough of a token to be one
		"x " + tok[:len(auth.JobTokenPrefix)+15]: false, // a stub, as prose has
		"cwjob-[MASKED] and glrt-[MASKED]":       false,
		"the prefix cwjob- in a sentence":        false,
		"glrt-" + strings.Repeat("A", 16):        true,
		"s3cr3t%2Dvalue":                         false,
	} {
		if got := len(found(text)) > 0; got != want {
			t.Errorf("%q: found %v, want %v", text, got, want)
		}
	}
}

func TestRequestLineParse(t *testing.T) {
	for line, want := range map[string]int{
		`time=x level=INFO msg=request method=GET path=/api/v4/user status=500 duration=1ms remote=1.2.3.4:5`: 500,
		`time=x level=INFO msg=request method=GET path="/a b" status=499 duration=1ms`:                        499,
		`time=x level=ERROR msg="request failed" err="status=500"`:                                            0,
	} {
		r, ok := parseRequestLine(line)
		if ok != (want != 0) || r.Status != want {
			t.Errorf("%s: status %d (ok %v), want %d", line, r.Status, ok, want)
		}
	}
	var c logCheck
	if errs := c.serverErrors([]byte(`level=INFO msg=request method=PUT path=/x status=499` + "\n")); len(errs) != 0 {
		t.Errorf("a client hang-up (499) counted as a server error: %v", errs)
	}
}
