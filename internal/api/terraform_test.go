package api_test

// The Terraform state backend (OpenTofu's HTTP backend) against the real
// server on SQLite and PostgreSQL, with filesystem blobs and with S3
// (versitygw): the backend's protocol, its rights (job tokens included,
// across projects), and bad input, which leaves nothing stored.

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/ciwarden/ciwarden/internal/blob"
	"github.com/ciwarden/ciwarden/internal/testserver"
)

type tfEnv struct {
	*testserver.Team
	s *testserver.Server
}

func (e *tfEnv) path(rest string) string {
	return "/api/v4/projects/" + testserver.Itoa(e.Project.ID) + "/terraform/state" + rest
}

// stateDoc is a state as OpenTofu writes it, with a marker that must
// never be stored in clear.
func stateDoc(serial int, marker string) string {
	return fmt.Sprintf(`{"version":4,"terraform_version":"1.12.6","serial":%d,"lineage":"3f1c","outputs":{"secret":{"value":%q,"type":"string"}},"resources":[]}`, serial, marker)
}

func lockDoc(id string) string {
	return `{"ID":"` + id + `","Operation":"OperationTypeApply","Info":"","Who":"ci@runner","Version":"1.12.6","Created":"2026-01-02T03:04:05Z","Path":""}`
}

// tfBlobs lists the project's Terraform blobs.
func (e *tfEnv) tfBlobs(t *testing.T) []string {
	t.Helper()
	var out []string
	for info, err := range e.s.Srv.Blobs().List(t.Context(), blob.ProjectPrefix(e.Project.ID)+"terraform/") {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, info.Key)
	}
	return out
}

func (e *tfEnv) versionRows(t *testing.T) int {
	t.Helper()
	var n int
	if err := e.s.Srv.Store().DB().QueryRow("SELECT COUNT(*) FROM terraform_state_versions v JOIN terraform_states s ON s.id = v.state_id WHERE s.project_id = " +
		testserver.Itoa(e.Project.ID)).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestTerraformStateBackend(t *testing.T) {
	testserver.ForEachStorage(t, testserver.Options{}, func(t *testing.T, s *testserver.Server) {
		e := &tfEnv{Team: s.NewTeam(t, "private"), s: s}
		maint := testserver.Basic("maint", e.Maint.Token)
		state := e.path("/production")

		// No state yet: 204, as OpenTofu expects.
		pkgWant(t, s.Call(t, "GET", state, maint, nil), http.StatusNoContent, "")

		// Lock; a second lock is refused with the holder's information.
		pkgWant(t, s.Call(t, "POST", state+"/lock", maint, lockDoc("lock-1")), http.StatusOK, "")
		pkgWant(t, s.Call(t, "POST", state+"/lock", maint, lockDoc("lock-2")), http.StatusConflict, lockDoc("lock-1"))
		pkgWant(t, s.Call(t, "LOCK", state, maint, lockDoc("lock-2")), http.StatusConflict, lockDoc("lock-1"))
		// Locking made the state, which still has no version.
		pkgWant(t, s.Call(t, "GET", state, maint, nil), http.StatusNoContent, "")

		// Writes: only the holder's.
		v1 := stateDoc(1, "first-secret-output")
		pkgWant(t, s.Call(t, "POST", state, maint, []byte(v1)), http.StatusConflict, lockDoc("lock-1"))
		pkgWant(t, s.Call(t, "POST", state+"?ID=lock-2", maint, []byte(v1)), http.StatusConflict, lockDoc("lock-1"))
		if n := e.versionRows(t); n != 0 {
			t.Fatalf("%d versions after refused writes", n)
		}
		req := s.NewRequest(t, "POST", state+"?ID=lock-1", "", []byte(v1))
		sum := md5.Sum([]byte(v1))
		req.Header.Set("Content-MD5", base64.StdEncoding.EncodeToString(sum[:]))
		maint(req)
		pkgWant(t, s.Send(t, req), http.StatusOK, "")
		r := s.Call(t, "GET", state, maint, nil)
		pkgWant(t, r, http.StatusOK, v1)
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type %q", ct)
		}
		v2 := stateDoc(2, "second-secret-output")
		pkgWant(t, s.Call(t, "POST", state+"?ID=lock-1", maint, []byte(v2)), http.StatusOK, "")
		pkgWant(t, s.Call(t, "GET", state, maint, nil), http.StatusOK, v2)
		pkgWant(t, s.Call(t, "GET", state+"/versions/1", maint, nil), http.StatusOK, v1)
		pkgWant(t, s.Call(t, "GET", state+"/versions/2", maint, nil), http.StatusOK, v2)
		pkgWant(t, s.Call(t, "GET", state+"/versions/3", maint, nil), http.StatusNotFound, `{"message":"404 Version Not Found"}`)

		// Sealed at rest: no blob holds the state in clear.
		for _, key := range e.tfBlobs(t) {
			obj, err := s.Srv.Blobs().Open(t.Context(), key)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(obj)
			obj.Close()
			if bytes.Contains(b, []byte("secret-output")) || bytes.Contains(b, []byte("lineage")) {
				t.Fatalf("blob %s holds the state in clear", key)
			}
		}
		if keys := e.tfBlobs(t); len(keys) != 2 {
			t.Fatalf("blobs %v, want one per version", keys)
		}

		// The same serial again replaces that version (and its blob).
		v2b := stateDoc(2, "second-again")
		pkgWant(t, s.Call(t, "POST", state+"?ID=lock-1", maint, []byte(v2b)), http.StatusOK, "")
		pkgWant(t, s.Call(t, "GET", state, maint, nil), http.StatusOK, v2b)
		if keys := e.tfBlobs(t); len(keys) != 2 {
			t.Fatalf("blobs %v after replacing serial 2, want 2", keys)
		}

		// Listings (REST additions).
		var versions []map[string]any
		s.Call(t, "GET", state+"/versions", maint, nil).JSON(t, &versions)
		if len(versions) != 2 || testserver.Num(t, versions[0], "serial") != 2 || testserver.Num(t, versions[1], "serial") != 1 ||
			testserver.Str(t, versions[1], "download_path") != state+"/versions/1" {
			t.Fatalf("versions %v", versions)
		}
		var states []map[string]any
		r = s.Call(t, "GET", e.path(""), maint, nil)
		r.JSON(t, &states)
		if len(states) != 1 || states[0]["name"] != "production" || states[0]["locked_at"] == nil ||
			testserver.Num(t, states[0]["latest_version"].(map[string]any), "serial") != 2 || r.Header.Get("X-Total") != "1" {
			t.Fatalf("states %s", r.Body)
		}

		// Unlock: the wrong ID is refused with the holder; the right one
		// (UNLOCK method, as OpenTofu's default) releases it.
		pkgWant(t, s.Call(t, "DELETE", state+"/lock", maint, lockDoc("lock-2")), http.StatusConflict, lockDoc("lock-1"))
		pkgWant(t, s.Call(t, "UNLOCK", state, maint, lockDoc("lock-1")), http.StatusOK, "")
		// Unlocked, a write without an ID is taken; one naming a lock is not.
		v3 := stateDoc(3, "third")
		pkgWant(t, s.Call(t, "POST", state+"?ID=lock-1", maint, []byte(v3)), http.StatusConflict, "")
		pkgWant(t, s.Call(t, "POST", state, maint, []byte(v3)), http.StatusOK, "")
		// A Maintainer releases a stuck lock with no body.
		pkgWant(t, s.Call(t, "LOCK", state+"/lock", maint, lockDoc("stuck")), http.StatusOK, "")
		pkgWant(t, s.Call(t, "DELETE", state+"/lock", maint, nil), http.StatusOK, "")
		pkgWant(t, s.Call(t, "DELETE", state+"/lock", maint, nil), http.StatusOK, "")

		// Deleting a version, then the state.
		pkgWant(t, s.Call(t, "DELETE", state+"/versions/1", maint, nil), http.StatusNoContent, "")
		pkgWant(t, s.Call(t, "GET", state+"/versions/1", maint, nil), http.StatusNotFound, "")
		pkgWant(t, s.Call(t, "GET", state, maint, nil), http.StatusOK, v3)
		pkgWant(t, s.Call(t, "LOCK", state, maint, lockDoc("lock-9")), http.StatusOK, "")
		pkgWant(t, s.Call(t, "DELETE", state, maint, nil), http.StatusConflict, lockDoc("lock-9"))
		pkgWant(t, s.Call(t, "DELETE", state+"?ID=lock-9", maint, nil), http.StatusOK, "")
		pkgWant(t, s.Call(t, "GET", state, maint, nil), http.StatusNoContent, "")
		pkgWant(t, s.Call(t, "DELETE", state, maint, nil), http.StatusNotFound, `{"message":"404 State Not Found"}`)
		if keys, n := e.tfBlobs(t), e.versionRows(t); len(keys) != 0 || n != 0 {
			t.Fatalf("after the delete: blobs %v, %d version rows", keys, n)
		}
	})
}

// TestTerraformStateBadInput: every refusal is a clear 4xx that leaves
// the previous version current and nothing new stored.
func TestTerraformStateBadInput(t *testing.T) {
	testserver.ForEachDialect(t, func(t *testing.T, dialect string) {
		s := testserver.New(t, testserver.Options{Dialect: dialect})
		e := &tfEnv{Team: s.NewTeam(t, "private"), s: s}
		maint := testserver.Basic("maint", e.Maint.Token)
		state := e.path("/prod")
		v1 := stateDoc(1, "kept")
		pkgWant(t, s.Call(t, "POST", state, maint, []byte(v1)), http.StatusOK, "")

		bad := []struct {
			what, method, path string
			body               any
			status             int
			msg                string
		}{
			{"not JSON", "POST", state, []byte("serial = 2"), 400, `{"message":"400 Bad request - the state is not a JSON object"}`},
			{"a JSON array", "POST", state, []byte(`[{"serial":2}]`), 400, ""},
			{"two documents", "POST", state, []byte(`{"serial":2} {}`), 400, ""},
			{"no serial", "POST", state, []byte(`{"version":4}`), 400, `{"message":"400 Bad request - the state has no serial (a non-negative integer)"}`},
			{"negative serial", "POST", state, []byte(`{"serial":-1}`), 400, ""},
			{"fractional serial", "POST", state, []byte(`{"serial":1.5}`), 400, ""},
			{"empty body", "POST", state, []byte{}, 400, ""},
			{"name with a control character", "POST", e.path("/a%01b"), []byte(stateDoc(2, "x")), 400, `{"message":"400 Bad request - name is invalid"}`},
			{"name ..", "GET", e.path("/%2E%2E"), nil, 400, ""},
			{"name too long", "POST", e.path("/" + strings.Repeat("n", 256)), []byte(stateDoc(2, "x")), 400, ""},
			{"serial not a number", "GET", state + "/versions/abc", nil, 400, ""},
			{"lock body not JSON", "POST", state + "/lock", []byte("lock please"), 400, ""},
			{"lock without ID", "POST", state + "/lock", []byte(`{"Operation":"x"}`), 400, ""},
			{"lock with an empty ID", "LOCK", state, []byte(`{"ID":""}`), 400, ""},
			{"lock with a numeric ID", "LOCK", state, []byte(`{"ID":5}`), 400, ""},
			{"lock body over 64 KiB", "LOCK", state, []byte(`{"ID":"x","Info":"` + strings.Repeat("i", 70<<10) + `"}`), 413, ""},
			{"job token as a parameter", "GET", state + "?job_token=glcbt-nothing", nil, 401, ""},
		}
		for _, c := range bad {
			var cred testserver.Cred = maint
			if strings.Contains(c.path, "job_token=") {
				cred = nil
			}
			r := s.Call(t, c.method, c.path, cred, c.body)
			if r.Status != c.status || (c.msg != "" && strings.TrimSpace(string(r.Body)) != c.msg) {
				t.Errorf("%s: %s, want %d %s", c.what, r, c.status, c.msg)
			}
		}
		// A Content-MD5 that does not match.
		req := s.NewRequest(t, "POST", state, "", []byte(stateDoc(2, "x")))
		req.Header.Set("Content-MD5", base64.StdEncoding.EncodeToString(make([]byte, 16)))
		maint(req)
		pkgWant(t, s.Send(t, req), http.StatusBadRequest, `{"message":"400 Bad request - the state does not match its Content-MD5"}`)

		// Over the limit (32 MiB), announced or streamed: 413.
		big := io.MultiReader(strings.NewReader(`{"serial":9,"pad":"`), io.LimitReader(repeatReader('x'), 32<<20), strings.NewReader(`"}`))
		req = s.NewRequest(t, "POST", state, "", nil)
		req.Body, req.ContentLength = io.NopCloser(big), -1
		maint(req)
		pkgWant(t, s.Send(t, req), http.StatusRequestEntityTooLarge, "")

		// A write naming a lock of a state that does not exist makes none.
		pkgWant(t, s.Call(t, "POST", e.path("/fresh?ID=l"), maint, []byte(stateDoc(1, "x"))), http.StatusConflict, `{"message":"409 Conflict"}`)
		if list := s.Call(t, "GET", e.path(""), maint, nil).List(t); len(list) != 1 {
			t.Errorf("states after refused writes: %v", list)
		}

		pkgWant(t, s.Call(t, "GET", state, maint, nil), http.StatusOK, v1)
		if keys, n := e.tfBlobs(t), e.versionRows(t); len(keys) != 1 || n != 1 {
			t.Fatalf("after refused writes: blobs %v, %d version rows, want the first alone", keys, n)
		}
	})
}

type repeatReader byte

func (r repeatReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r)
	}
	return len(p), nil
}

// TestTerraformStateRights: Developers read, Maintainers write, lock and
// delete; a job token acts as its user, in Basic or the JOB-TOKEN header;
// a job token of another project writes only with an allowlist entry
// that names admin_terraform_state.
func TestTerraformStateRights(t *testing.T) {
	testserver.ForEachDialect(t, func(t *testing.T, dialect string) {
		s := testserver.New(t, testserver.Options{Dialect: dialect})
		e := &tfEnv{Team: s.NewTeam(t, "private"), s: s}
		state := e.path("/prod")
		pkgWant(t, s.Call(t, "POST", state, testserver.PrivateToken(e.Maint.Token), []byte(stateDoc(1, "x"))), http.StatusOK, "")

		for _, c := range []struct {
			who         string
			cred        testserver.Cred
			read, write int
		}{
			{"anonymous", nil, 401, 401},
			{"outsider", testserver.PrivateToken(e.Outsider.Token), 404, 404},
			{"guest", testserver.PrivateToken(e.Guest.Token), 403, 403},
			{"reporter", testserver.PrivateToken(e.Reporter.Token), 403, 403},
			{"developer", testserver.Basic("dev", e.Dev.Token), 200, 403},
			{"maintainer", testserver.Basic("anything", e.Maint.Token), 200, 200},
			{"maintainer, bearer", testserver.Bearer(e.Maint.Token), 200, 200},
		} {
			if r := s.Call(t, "GET", state, c.cred, nil); r.Status != c.read {
				t.Errorf("%s reads: %s, want %d", c.who, r, c.read)
			}
			if r := s.Call(t, "LOCK", state, c.cred, lockDoc("l-"+c.who)); r.Status != c.write {
				t.Errorf("%s locks: %s, want %d", c.who, r, c.write)
			} else if r.Status == 200 {
				pkgWant(t, s.Call(t, "UNLOCK", state, c.cred, lockDoc("l-"+c.who)), http.StatusOK, "")
			}
		}
		// A public project's state is no more public.
		pub := &tfEnv{Team: &testserver.Team{Project: s.CreateProject(t, 0, "pub", "public"), Outsider: e.Outsider}, s: s}
		pkgWant(t, s.Call(t, "GET", pub.path("/prod"), testserver.PrivateToken(e.Outsider.Token), nil), http.StatusForbidden, "")

		// Job tokens of the project: a Maintainer's job writes, a
		// Developer's reads.
		_, rtok := s.CreateRunner(t, nil)
		rc := s.NewRunnerClient(rtok)
		s.PushCI(t, e.Project.Path, e.Maint, map[string]string{".gitlab-ci.yml": "plan:\n  script: [tofu plan]\n"})
		mj := rc.TakeJob(t)
		mj.Start(t)
		pkgWant(t, s.Call(t, "POST", state, testserver.Basic("gitlab-ci-token", mj.Token), []byte(stateDoc(2, "by-job"))), http.StatusOK, "")
		pkgWant(t, s.Call(t, "GET", state, testserver.JobToken(mj.Token), nil), http.StatusOK, stateDoc(2, "by-job"))
		var versions []map[string]any
		s.Call(t, "GET", state+"/versions", testserver.JobToken(mj.Token), nil).JSON(t, &versions)
		if testserver.Num(t, versions[0], "job_id") != mj.ID {
			t.Errorf("the job's version: %v", versions[0])
		}
		// A job token never counts as a personal access token.
		pkgWant(t, s.Call(t, "GET", state, testserver.PrivateToken(mj.Token), nil), http.StatusUnauthorized, "")
		s.CreatePipeline(t, e.Project.ID, e.Dev.Token, nil)
		dj := rc.TakeJob(t)
		dj.Start(t)
		pkgWant(t, s.Call(t, "GET", state, testserver.Basic("gitlab-ci-token", dj.Token), nil), http.StatusOK, "")
		pkgWant(t, s.Call(t, "POST", state, testserver.Basic("gitlab-ci-token", dj.Token), []byte(stateDoc(3, "dev"))), http.StatusForbidden, `{"message":"403 Forbidden"}`)

		// Another project's job, whose user is a Maintainer here too.
		src := s.CreateProject(t, s.CreateGroup(t, "ops", 0, "private"), "infra", "private")
		s.AddMember(t, "projects", src.ID, e.Maint.ID, 40)
		s.PushCI(t, src.Path, e.Maint, map[string]string{".gitlab-ci.yml": "apply:\n  script: [tofu apply]\n"})
		xj := rc.TakeJob(t)
		xj.Start(t)
		xcred := testserver.Basic("gitlab-ci-token", xj.Token)
		scopeMsg := `{"message":"Authentication by CI/CD job token not allowed from ops/infra to grp/app."}`
		policyMsg := `{"message":"Insufficient permissions to access this resource in project grp/app. The following token permission is required: admin_terraform_state."}`
		write := func() *testserver.Resp { return s.Call(t, "POST", state, xcred, []byte(stateDoc(4, "poison"))) }
		pkgWant(t, write(), http.StatusForbidden, scopeMsg)
		// An entry with the default permissions lets it read, not write.
		s.AllowJobTokens(t, e.Project.ID, src.ID)
		pkgWant(t, s.Call(t, "GET", state, xcred, nil), http.StatusOK, stateDoc(2, "by-job"))
		pkgWant(t, write(), http.StatusForbidden, policyMsg)
		pkgWant(t, s.Call(t, "LOCK", state, xcred, lockDoc("x")), http.StatusForbidden, policyMsg)
		entry := testserver.API + "/projects/" + testserver.Itoa(e.Project.ID) + "/job_token_scope/allowlist/" + testserver.Itoa(src.ID)
		s.Expect(t, "PUT", entry, s.RootToken, map[string]any{"job_token_policies": []string{"read_terraform_state"}}, http.StatusOK)
		pkgWant(t, write(), http.StatusForbidden, policyMsg)
		// Naming the policy lets it write.
		s.Expect(t, "PUT", entry, s.RootToken, map[string]any{"job_token_policies": []string{"read_terraform_state", "admin_terraform_state"}}, http.StatusOK)
		pkgWant(t, write(), http.StatusOK, "")
		// With the allowlist off, an entry is still needed to write.
		s.Expect(t, "DELETE", entry, s.RootToken, nil, http.StatusNoContent)
		s.Expect(t, "PATCH", testserver.API+"/projects/"+testserver.Itoa(e.Project.ID)+"/job_token_scope", s.RootToken, map[string]any{"enabled": false}, http.StatusNoContent)
		pkgWant(t, s.Call(t, "GET", state, xcred, nil), http.StatusOK, "")
		pkgWant(t, write(), http.StatusForbidden, scopeMsg)

		// explain names the check.
		r := s.Expect(t, "GET", testserver.API+"/projects/"+testserver.Itoa(e.Project.ID)+"/job_token_scope/explain?job_id="+testserver.Itoa(xj.ID)+
			"&permission=admin_terraform_state", s.RootToken, nil, http.StatusOK)
		if !strings.Contains(string(r.Body), `"explicit_entry_policy"`) {
			t.Errorf("explain: %s", r.Body)
		}
	})
}
