package api_test

// The generic package registry and the packages API, against the real
// server on SQLite and PostgreSQL, with filesystem blobs and with S3
// (versitygw). Every refusal is checked for what it leaves behind: no
// package rows, no file rows, no blobs.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/ciwarden/ciwarden/internal/blob"
	"github.com/ciwarden/ciwarden/internal/testserver"
)

// pkgEnv is a team's project with the helpers of the packages API.
type pkgEnv struct {
	*testserver.Team
	s *testserver.Server
}

func newPkgEnv(t *testing.T, s *testserver.Server, visibility string) *pkgEnv {
	t.Helper()
	return &pkgEnv{Team: s.NewTeam(t, visibility), s: s}
}

func (e *pkgEnv) genericPath(name, version, file string) string {
	return "/api/v4/projects/" + testserver.Itoa(e.Project.ID) + "/packages/generic/" + name + "/" + version + "/" + file
}

func (e *pkgEnv) apiPath(rest string) string {
	return "/api/v4/projects/" + testserver.Itoa(e.Project.ID) + "/packages" + rest
}

// upload PUTs body (chunked when chunked is set) to path; auth sets the
// credential.
func (e *pkgEnv) upload(t *testing.T, path string, body []byte, chunked bool, auth testserver.Cred) *testserver.Resp {
	t.Helper()
	var rd io.Reader = bytes.NewReader(body)
	if chunked {
		rd = io.MultiReader(rd) // no length: the client sends it chunked
	}
	req, err := http.NewRequest(http.MethodPut, e.s.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if chunked && req.ContentLength != 0 {
		t.Fatalf("request has a length: %d", req.ContentLength)
	}
	if auth != nil {
		auth(req)
	}
	return e.s.Send(t, req)
}

func pkgWant(t *testing.T, r *testserver.Resp, status int, body string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("%s: want %d", r, status)
	}
	if body != "" && strings.TrimSpace(string(r.Body)) != body {
		t.Fatalf("%s: body want %s", r, body)
	}
}

// stored counts the project's package rows, file rows and package blobs.
func (e *pkgEnv) stored(t *testing.T) (packages, files int, blobs []string) {
	t.Helper()
	db := e.s.Srv.Store().DB()
	if err := db.QueryRow("SELECT COUNT(*) FROM packages WHERE project_id = " + testserver.Itoa(e.Project.ID)).Scan(&packages); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow("SELECT COUNT(*) FROM package_files f JOIN packages p ON p.id = f.package_id WHERE p.project_id = " +
		testserver.Itoa(e.Project.ID)).Scan(&files); err != nil {
		t.Fatal(err)
	}
	for info, err := range e.s.Srv.Blobs().List(t.Context(), blob.ProjectPrefix(e.Project.ID)) {
		if err != nil {
			t.Fatal(err)
		}
		blobs = append(blobs, info.Key)
	}
	return packages, files, blobs
}

func (e *pkgEnv) wantNothingStored(t *testing.T, what string) {
	t.Helper()
	if p, f, b := e.stored(t); p != 0 || f != 0 || len(b) != 0 {
		t.Fatalf("%s left %d package rows, %d file rows and blobs %v", what, p, f, b)
	}
}

func sha256hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestGenericPackageRoundTrip(t *testing.T) {
	testserver.ForEachStorage(t, testserver.Options{}, func(t *testing.T, s *testserver.Server) {
		e := newPkgEnv(t, s, "private")
		path := e.genericPath("my_tool", "1.2.3-rc+1", "tool.tar.gz")
		v1 := bytes.Repeat([]byte("version one\n"), 1000)

		pkgWant(t, e.upload(t, path, v1, false, testserver.PrivateToken(e.Dev.Token)), http.StatusCreated, `{"message":"201 Created"}`)
		r := e.s.Call(t, "GET", path, testserver.PrivateToken(e.Reporter.Token), nil)
		pkgWant(t, r, http.StatusOK, "")
		if !bytes.Equal(r.Body, v1) {
			t.Fatalf("downloaded %d bytes, want the %d uploaded", len(r.Body), len(v1))
		}
		for k, want := range map[string]string{"Content-Type": "application/octet-stream", "Content-Length": testserver.Itoa(int64(len(v1))),
			"Content-Disposition": `attachment; filename="tool.tar.gz"`} {
			if got := r.Header.Get(k); got != want {
				t.Errorf("%s: %q, want %q", k, got, want)
			}
		}
		// Ranged reads work (resumed downloads).
		req, _ := http.NewRequest(http.MethodGet, s.URL+path, nil)
		req.Header.Set("PRIVATE-TOKEN", e.Reporter.Token)
		req.Header.Set("Range", "bytes=12-23")
		if rr := s.Send(t, req); rr.Status != http.StatusPartialContent || string(rr.Body) != "version one\n" {
			t.Fatalf("range: %s", rr)
		}

		// A duplicate file name, chunked and with select=package_file: a
		// new file; GET serves the newest.
		v2 := bytes.Repeat([]byte("second version\n"), 5000)
		r = e.upload(t, path+"?select=package_file", v2, true, testserver.PrivateToken(e.Maint.Token))
		pkgWant(t, r, http.StatusCreated, "")
		pf := r.Object(t)
		if pf["file_name"] != "tool.tar.gz" || testserver.Num(t, pf, "size") != int64(len(v2)) || pf["file_sha256"] != sha256hex(v2) ||
			pf["file_md5"] != nil || pf["file_sha1"] != nil || pf["created_at"] == nil || pf["updated_at"] == nil {
			t.Fatalf("select=package_file: %s", r.Body)
		}
		if r = e.s.Call(t, "GET", path, testserver.PrivateToken(e.Reporter.Token), nil); !bytes.Equal(r.Body, v2) {
			t.Fatalf("after a duplicate upload, GET served %d bytes, want the newest (%d)", len(r.Body), len(v2))
		}
		if p, f, b := e.stored(t); p != 1 || f != 2 || len(b) != 2 {
			t.Fatalf("stored %d packages, %d files, blobs %v; want 1, 2, 2", p, f, b)
		}

		// The packages API sees one package with two files.
		r = e.s.Call(t, "GET", e.apiPath(""), testserver.PrivateToken(e.Reporter.Token), nil)
		pkgWant(t, r, http.StatusOK, "")
		var list []map[string]any
		r.JSON(t, &list)
		if len(list) != 1 || list[0]["name"] != "my_tool" || list[0]["version"] != "1.2.3-rc+1" || list[0]["package_type"] != "generic" ||
			list[0]["status"] != "default" || r.Header.Get("X-Total") != "1" {
			t.Fatalf("GET /packages: %s", r.Body)
		}
		pkgID := testserver.Num(t, list[0], "id")
		if pf["package_id"].(float64) != float64(pkgID) {
			t.Fatalf("package_id %v, want %d", pf["package_id"], pkgID)
		}
		links, _ := list[0]["_links"].(map[string]any)
		if links["web_path"] != "/"+e.Project.Path+"/-/packages/"+testserver.Itoa(pkgID) {
			t.Fatalf("_links: %v", links)
		}
		if _, shown := links["delete_api_path"]; shown {
			t.Fatalf("a Reporter is shown delete_api_path: %v", links)
		}
		r = e.s.Call(t, "GET", e.apiPath("/"+testserver.Itoa(pkgID)), testserver.PrivateToken(e.Maint.Token), nil)
		pkgWant(t, r, http.StatusOK, "")
		if l := r.Object(t)["_links"].(map[string]any); l["delete_api_path"] != s.URL+"/api/v4/projects/"+testserver.Itoa(e.Project.ID)+"/packages/"+testserver.Itoa(pkgID) {
			t.Fatalf("a Maintainer's _links: %v", l)
		}

		r = e.s.Call(t, "GET", e.apiPath("/"+testserver.Itoa(pkgID)+"/package_files"), testserver.PrivateToken(e.Reporter.Token), nil)
		pkgWant(t, r, http.StatusOK, "")
		var files []map[string]any
		r.JSON(t, &files)
		if len(files) != 2 || files[0]["file_sha256"] != sha256hex(v1) || files[1]["file_sha256"] != sha256hex(v2) ||
			testserver.Num(t, files[0], "size") != int64(len(v1)) || testserver.Num(t, files[0], "package_id") != pkgID {
			t.Fatalf("package_files: %s", r.Body)
		}
		firstID := testserver.Num(t, files[0], "id")
		r = e.s.Call(t, "GET", e.apiPath("/"+testserver.Itoa(pkgID)+"/package_files/"+testserver.Itoa(firstID)+"/download"), testserver.PrivateToken(e.Reporter.Token), nil)
		if r.Status != http.StatusOK || !bytes.Equal(r.Body, v1) {
			t.Fatalf("download of the first file: %d, %d bytes", r.Status, len(r.Body))
		}

		// Deleting the newer file: GET falls back to the older one.
		secondID := testserver.Num(t, files[1], "id")
		pkgWant(t, e.s.Call(t, "DELETE", e.apiPath("/"+testserver.Itoa(pkgID)+"/package_files/"+testserver.Itoa(secondID)), testserver.PrivateToken(e.Maint.Token), nil), http.StatusNoContent, "")
		if r = e.s.Call(t, "GET", path, testserver.PrivateToken(e.Reporter.Token), nil); !bytes.Equal(r.Body, v1) {
			t.Fatalf("after deleting the newest file, GET served %d bytes", len(r.Body))
		}
		if _, f, b := e.stored(t); f != 1 || len(b) != 1 {
			t.Fatalf("after deleting a file: %d file rows, blobs %v", f, b)
		}
		pkgWant(t, e.s.Call(t, "DELETE", e.apiPath("/"+testserver.Itoa(pkgID)+"/package_files/"+testserver.Itoa(secondID)), testserver.PrivateToken(e.Maint.Token), nil),
			http.StatusNotFound, `{"message":"404 Not Found"}`)

		// Deleting the package removes its rows and its blobs.
		pkgWant(t, e.s.Call(t, "DELETE", e.apiPath("/"+testserver.Itoa(pkgID)), testserver.PrivateToken(e.Maint.Token), nil), http.StatusNoContent, "")
		e.wantNothingStored(t, "DELETE package")
		pkgWant(t, e.s.Call(t, "GET", path, testserver.PrivateToken(e.Reporter.Token), nil), http.StatusNotFound, `{"message":"404 Package Not Found"}`)
		pkgWant(t, e.s.Call(t, "GET", e.apiPath("/"+testserver.Itoa(pkgID)), testserver.PrivateToken(e.Reporter.Token), nil), http.StatusNotFound, `{"message":"404 Not found"}`)
		pkgWant(t, e.s.Call(t, "DELETE", e.apiPath("/"+testserver.Itoa(pkgID)), testserver.PrivateToken(e.Maint.Token), nil), http.StatusNotFound, `{"message":"404 Not found"}`)
	})
}

func TestGenericPackageJobToken(t *testing.T) {
	testserver.ForEachStorage(t, testserver.Options{}, func(t *testing.T, s *testserver.Server) {
		e := newPkgEnv(t, s, "private")
		_, rtok := s.CreateRunner(t, nil)
		s.PushCI(t, e.Project.Path, e.Dev, map[string]string{".gitlab-ci.yml": "publish:\n  script: [echo hi]\n"})
		j := s.NewRunnerClient(rtok).TakeJob(t)
		j.Start(t)
		pipelineID := j.Payload.JobInfo.PipelineID

		transports := []struct {
			name string
			auth testserver.Cred
		}{
			{"header", testserver.JobToken(j.Token)},
			{"param", testserver.JobTokenParam(j.Token)},
			{"basic", testserver.Basic("gitlab-ci-token", j.Token)},
		}
		for _, tr := range transports {
			body := []byte("built by the job, sent with the token in the " + tr.name)
			path := e.genericPath("ci-build", "1.0", tr.name+".bin")
			pkgWant(t, e.upload(t, path, body, false, tr.auth), http.StatusCreated, `{"message":"201 Created"}`)
			for _, down := range transports {
				if r := e.s.Call(t, "GET", path, down.auth, nil); r.Status != http.StatusOK || !bytes.Equal(r.Body, body) {
					t.Fatalf("upload by %s, download by %s: %s", tr.name, down.name, r)
				}
			}
		}
		// Basic with any user name and a personal access token.
		pkgWant(t, e.upload(t, e.genericPath("ci-build", "1.0", "pat.bin"), []byte("x"), false, testserver.Basic("anyone", e.Dev.Token)),
			http.StatusCreated, "")

		// The packages API takes the job token too, and shows the job's
		// pipeline on the package and on the files it published.
		r := e.s.Call(t, "GET", e.apiPath("?package_name=ci-build"), testserver.JobToken(j.Token), nil)
		pkgWant(t, r, http.StatusOK, "")
		var list []map[string]any
		r.JSON(t, &list)
		if len(list) != 1 {
			t.Fatalf("list: %s", r.Body)
		}
		pipes, _ := list[0]["pipelines"].([]any)
		if len(pipes) != 1 || testserver.Num(t, pipes[0].(map[string]any), "id") != pipelineID {
			t.Fatalf("pipelines of the package: %v, want [%d]", list[0]["pipelines"], pipelineID)
		}
		if u, _ := pipes[0].(map[string]any)["user"].(map[string]any); u == nil || u["username"] != "dev" {
			t.Fatalf("pipeline user: %v", pipes[0])
		}
		r = e.s.Call(t, "GET", e.apiPath("/"+testserver.Itoa(testserver.Num(t, list[0], "id"))+"/package_files"), testserver.JobTokenParam(j.Token), nil)
		var files []map[string]any
		r.JSON(t, &files)
		if len(files) != 4 {
			t.Fatalf("files: %s", r.Body)
		}
		if p, _ := files[0]["pipelines"].([]any); len(p) != 1 {
			t.Fatalf("a file published by the job lacks its pipeline: %v", files[0])
		}
		if _, has := files[3]["pipelines"]; has {
			t.Fatalf("a file published with a PAT has pipelines: %v", files[3])
		}
		// A job token does not delete: its user is a Developer.
		pkgWant(t, e.s.Call(t, "DELETE", e.apiPath("/"+testserver.Itoa(testserver.Num(t, list[0], "id"))), testserver.JobToken(j.Token), nil), http.StatusForbidden, `{"message":"403 Forbidden"}`)

		// Once the job has finished, its token is refused everywhere.
		j.FinishOK(t, "success")
		for _, tr := range transports {
			pkgWant(t, e.upload(t, e.genericPath("ci-build", "1.0", "late.bin"), []byte("x"), false, tr.auth), http.StatusUnauthorized, "")
			pkgWant(t, e.s.Call(t, "GET", e.genericPath("ci-build", "1.0", "header.bin"), tr.auth, nil), http.StatusUnauthorized, "")
		}
		pkgWant(t, e.s.Call(t, "GET", e.apiPath(""), testserver.JobToken(j.Token), nil), http.StatusUnauthorized, `{"message":"401 Unauthorized"}`)
		if _, f, _ := e.stored(t); f != 4 {
			t.Fatalf("%d files stored, want 4", f)
		}
	})
}

// TestPackageDeleteLinkFollowsTheDecision: a package shows its
// delete_api_path to whoever the decision lets delete it, a job token
// included, and not on the role alone: a token of another project whose
// user is a Maintainer here, admitted by an entry that grants
// read_packages only, could not delete and is not shown the link. Asking
// is not a use of the token: the authentication log counts the reads
// only.
func TestPackageDeleteLinkFollowsTheDecision(t *testing.T) {
	testserver.ForEachDialect(t, func(t *testing.T, dialect string) {
		s := testserver.New(t, testserver.Options{Dialect: dialect})
		e := newPkgEnv(t, s, "private")
		src := s.CreateProject(t, s.CreateGroup(t, "srcgrp", 0, "private"), "src", "private")
		s.AddMember(t, "projects", src.ID, e.Maint.ID, 30)
		pkgWant(t, e.upload(t, e.genericPath("tool", "1", "t.bin"), []byte("x"), false, testserver.PrivateToken(e.Maint.Token)), http.StatusCreated, "")
		_, rtok := s.CreateRunner(t, nil)
		s.PushCI(t, src.Path, e.Maint, map[string]string{".gitlab-ci.yml": "job:\n  script: [x]\n"})
		j := s.NewRunnerClient(rtok).TakeJob(t)
		j.Start(t)
		s.AllowJobTokens(t, e.Project.ID, src.ID)

		deleteLink := func(what string, want bool) {
			t.Helper()
			r := s.Call(t, "GET", e.apiPath(""), testserver.JobToken(j.Token), nil)
			pkgWant(t, r, http.StatusOK, "")
			var list []map[string]any
			r.JSON(t, &list)
			if len(list) != 1 {
				t.Fatalf("%s: %s", what, r.Body)
			}
			links, _ := list[0]["_links"].(map[string]any)
			if _, shown := links["delete_api_path"]; shown != want {
				t.Errorf("%s: delete_api_path shown %v, want %v: %v", what, shown, want, links)
			}
		}
		deleteLink("entry with the default permissions", true)
		s.Expect(t, "PUT", testserver.API+"/projects/"+testserver.Itoa(e.Project.ID)+"/job_token_scope/allowlist/"+testserver.Itoa(src.ID), s.RootToken,
			map[string]any{"job_token_policies": []string{"read_packages"}}, http.StatusOK)
		deleteLink("entry granting read_packages only", false)

		var rows []map[string]any
		s.Expect(t, "GET", testserver.API+"/projects/"+testserver.Itoa(e.Project.ID)+"/job_token_scope/authorizations", s.RootToken, nil, http.StatusOK).JSON(t, &rows)
		if len(rows) != 1 || testserver.Num(t, rows[0], "allowed_count") != 2 || testserver.Num(t, rows[0], "denied_count") != 0 || rows[0]["last_policy"] != "read_packages" {
			t.Errorf("authentication log %v, want two allowed read_packages uses", rows)
		}
	})
}

func TestPackageRoles(t *testing.T) {
	testserver.ForEachDialect(t, func(t *testing.T, dialect string) {
		s := testserver.New(t, testserver.Options{Dialect: dialect})
		e := newPkgEnv(t, s, "private")
		file := e.genericPath("pkg", "1", "f.bin")
		pkgWant(t, e.upload(t, file, []byte("seed"), false, testserver.PrivateToken(s.RootToken)), http.StatusCreated, "")
		var list []map[string]any
		e.s.Call(t, "GET", e.apiPath(""), testserver.PrivateToken(s.RootToken), nil).JSON(t, &list)
		pkgID := testserver.Itoa(testserver.Num(t, list[0], "id"))

		const (
			notFound     = `{"message":"404 Project Not Found"}`
			forbidden    = `{"message":"403 Forbidden"}`
			unauthorized = `{"message":"401 Unauthorized"}`
		)
		type want struct {
			status int
			body   string
		}
		for _, tc := range []struct {
			who                      string
			auth                     func(*http.Request)
			put, get, list, del, api want
		}{
			{"anonymous", nil, want{401, unauthorized}, want{404, notFound}, want{404, notFound}, want{401, unauthorized}, want{404, notFound}},
			{"non-member", testserver.PrivateToken(e.Outsider.Token), want{404, notFound}, want{404, notFound}, want{404, notFound}, want{404, notFound}, want{404, notFound}},
			{"guest", testserver.PrivateToken(e.Guest.Token), want{403, forbidden}, want{403, forbidden}, want{403, forbidden}, want{403, forbidden}, want{403, forbidden}},
			{"reporter", testserver.PrivateToken(e.Reporter.Token), want{403, forbidden}, want{200, ""}, want{200, ""}, want{403, forbidden}, want{200, ""}},
			{"developer", testserver.PrivateToken(e.Dev.Token), want{201, ""}, want{200, ""}, want{200, ""}, want{403, forbidden}, want{200, ""}},
			{"maintainer", testserver.Basic("maint", e.Maint.Token), want{201, ""}, want{200, ""}, want{200, ""}, want{204, ""}, want{404, `{"message":"404 Not found"}`}},
		} {
			t.Run(tc.who, func(t *testing.T) {
				pkgWant(t, e.upload(t, e.genericPath("pkg", "1", tc.who+".bin"), []byte("x"), false, tc.auth), tc.put.status, tc.put.body)
				pkgWant(t, e.s.Call(t, "GET", file, tc.auth, nil), tc.get.status, tc.get.body)
				// The packages API does not take Basic: the maintainer's
				// rows use the header there.
				auth := tc.auth
				if tc.who == "maintainer" {
					auth = testserver.PrivateToken(e.Maint.Token)
				}
				pkgWant(t, e.s.Call(t, "GET", e.apiPath(""), auth, nil), tc.list.status, tc.list.body)
				pkgWant(t, e.s.Call(t, "DELETE", e.apiPath("/"+pkgID), auth, nil), tc.del.status, tc.del.body)
				pkgWant(t, e.s.Call(t, "GET", e.apiPath("/"+pkgID), auth, nil), tc.api.status, tc.api.body)
			})
		}

		// Public projects: anyone reads; internal: any signed-in user.
		for _, vis := range []string{"public", "internal"} {
			g := s.CreateGroup(t, "g"+vis, 0, vis)
			p := s.CreateProject(t, g, "lib", vis)
			pe := &pkgEnv{s: s, Team: &testserver.Team{Project: p}}
			path := pe.genericPath("lib", "2", "lib.so")
			pkgWant(t, pe.upload(t, path, []byte("lib"), false, testserver.PrivateToken(s.RootToken)), http.StatusCreated, "")
			anon := pe.s.Call(t, "GET", path, nil, nil)
			outsider := pe.s.Call(t, "GET", path, testserver.PrivateToken(e.Outsider.Token), nil)
			if vis == "public" && (anon.Status != 200 || string(anon.Body) != "lib") {
				t.Fatalf("public, anonymous: %s", anon)
			}
			if vis == "internal" && anon.Status != 404 {
				t.Fatalf("internal, anonymous: %s, want 404", anon)
			}
			if outsider.Status != 200 {
				t.Fatalf("%s, signed-in non-member: %s", vis, outsider)
			}
			pkgWant(t, pe.upload(t, path, []byte("evil"), false, testserver.PrivateToken(e.Outsider.Token)), http.StatusForbidden, `{"message":"403 Forbidden"}`)
		}
	})
}

func TestGenericPackageStatusAndSelect(t *testing.T) {
	testserver.ForEachDialect(t, func(t *testing.T, dialect string) {
		s := testserver.New(t, testserver.Options{Dialect: dialect})
		e := newPkgEnv(t, s, "private")
		hidden := e.genericPath("secret", "1", "s.bin")
		pkgWant(t, e.upload(t, hidden+"?status=hidden", []byte("hush"), false, testserver.PrivateToken(e.Dev.Token)), http.StatusCreated, "")
		pkgWant(t, e.upload(t, e.genericPath("open", "1", "o.bin"), []byte("open"), false, testserver.PrivateToken(e.Dev.Token)), http.StatusCreated, "")

		list := func(query string) []string {
			t.Helper()
			r := e.s.Call(t, "GET", e.apiPath(query), testserver.PrivateToken(e.Reporter.Token), nil)
			pkgWant(t, r, http.StatusOK, "")
			var l []map[string]any
			r.JSON(t, &l)
			var out []string
			for _, p := range l {
				out = append(out, fmt.Sprint(p["name"], "/", p["status"]))
			}
			return out
		}
		if got := list(""); !slices.Equal(got, []string{"open/default"}) {
			t.Fatalf("hidden packages are listed: %v", got)
		}
		if got := list("?status=hidden"); !slices.Equal(got, []string{"secret/hidden"}) {
			t.Fatalf("status=hidden: %v", got)
		}
		// Hidden, but still downloadable by name.
		if r := e.s.Call(t, "GET", hidden, testserver.PrivateToken(e.Reporter.Token), nil); r.Status != 200 || string(r.Body) != "hush" {
			t.Fatalf("GET hidden: %s", r)
		}
		// Publishing again with status=default unhides it; without a
		// status the package keeps its own.
		pkgWant(t, e.upload(t, e.genericPath("open", "1", "o2.bin")+"?status=hidden", []byte("x"), false, testserver.PrivateToken(e.Dev.Token)), http.StatusCreated, "")
		pkgWant(t, e.upload(t, hidden+"?status=default", []byte("loud"), false, testserver.PrivateToken(e.Dev.Token)), http.StatusCreated, "")
		pkgWant(t, e.upload(t, e.genericPath("open", "1", "o3.bin"), []byte("x"), false, testserver.PrivateToken(e.Dev.Token)), http.StatusCreated, "")
		if got := list("?order_by=name"); !slices.Equal(got, []string{"secret/default"}) {
			t.Fatalf("after status changes: %v", got)
		}

		for _, q := range []string{"?status=public", "?select=package", "?status="} {
			name := strings.SplitN(q[1:], "=", 2)[0]
			pkgWant(t, e.upload(t, e.genericPath("other", "1", "x.bin")+q, []byte("x"), false, testserver.PrivateToken(e.Dev.Token)),
				http.StatusBadRequest, `{"error":"`+name+` does not have a valid value"}`)
		}
	})
}

// TestGenericPackageValidation: every malformed name, version or file name
// is refused before a byte of the body is read, and nothing is stored.
func TestGenericPackageValidation(t *testing.T) {
	testserver.ForEachStorage(t, testserver.Options{}, func(t *testing.T, s *testserver.Server) {
		e := newPkgEnv(t, s, "private")
		long := strings.Repeat("a", 256)
		const (
			badName    = `{"error":"package_name is invalid"}`
			badVersion = `{"error":"package_version is invalid"}`
			badFile    = `{"error":"file_name is invalid"}`
			malformed  = `{"message":"400 Bad Request - malformed string: null byte or invalid UTF-8"}`
			traversal  = `{"message":"400 Bad Request - Potential path traversal attempt detected"}`
		)
		for _, tc := range []struct {
			name, pkg, version, file string
			status                   int
			body                     string
		}{
			{"dot-dot inside the name", "a..b", "1.0", "f", 400, badName},
			{"dot-dot inside the version", "a", "1..0", "f", 400, badVersion},
			{"dot-dot inside the file name", "a", "1.0", "f..tar", 400, badFile},
			{"dot-dot file name, encoded", "a", "1.0", "..%2F..%2Fetc", 400, badFile},
			{"encoded slash in the name", "a%2Fb", "1.0", "f", 400, badName},
			{"encoded slash in the version", "a", "1%2F0", "f", 400, badVersion},
			{"absolute file name, encoded", "a", "1.0", "%2Fetc%2Fpasswd", 400, badFile},
			{"encoded backslash", "a", "1.0", "..%5Cwin.ini", 400, badFile},
			{"NUL in the file name", "a", "1.0", "f%00.txt", 400, malformed},
			{"NUL in the name", "a%00", "1.0", "f", 400, malformed},
			{"space", "my%20pkg", "1.0", "f", 400, badName},
			{"at sign in the version", "a", "1.0@x", "f", 400, badVersion},
			{"colon in the file name", "a", "1.0", "c:f", 400, badFile},
			{"tilde in the file name", "a", "1.0", "f~1", 400, badFile},
			{"non-ASCII name", "p%C3%A4ckage", "1.0", "f", 400, badName},
			{"dot name", "a", "1.0", ".", 400, traversal},
			{"dot-dot name, encoded dots", "a", "1.0", "%2e%2e", 400, traversal},
			{"name too long", long, "1.0", "f", 400, badName},
			{"version too long", "a", long, "f", 400, badVersion},
			{"file name too long", "a", "1.0", long, 400, badFile},
		} {
			t.Run(tc.name, func(t *testing.T) {
				body := []byte("must never be stored")
				r := e.upload(t, e.genericPath(tc.pkg, tc.version, tc.file), body, false, testserver.PrivateToken(e.Dev.Token))
				if tc.status == 0 {
					// Go's ServeMux redirects a path with dot segments to
					// its clean form before any handler runs.
					if !muxRedirect(r) {
						t.Fatalf("%s: want the mux's redirect", r)
					}
				} else {
					pkgWant(t, r, tc.status, tc.body)
				}
				e.wantNothingStored(t, tc.name)
				if g := e.s.Call(t, "GET", e.genericPath(tc.pkg, tc.version, tc.file), testserver.PrivateToken(e.Dev.Token), nil); g.Status == http.StatusOK {
					t.Fatalf("GET of a refused upload: %s", g)
				}
			})
		}
		// Raw dot segments are refused before routing (ServeMux would
		// redirect to the cleaned path, and a client following it would
		// upload under a name it never sent); a double slash is still the
		// mux's redirect. Nothing is stored under any name.
		for _, tc := range []struct {
			raw      string
			redirect bool
		}{{"/a/../1.0/f", false}, {"/a/1.0/../../etc", false}, {"/a/1.0/./f", false}, {"/a/1.0//etc", true}} {
			u := s.URL + "/api/v4/projects/" + testserver.Itoa(e.Project.ID) + "/packages/generic" + tc.raw
			req, _ := http.NewRequest(http.MethodPut, u, strings.NewReader("x"))
			req.URL.Opaque = "//" + req.URL.Host + req.URL.Path // keep the dots as sent
			req.Header.Set("PRIVATE-TOKEN", e.Dev.Token)
			r := s.Send(t, req)
			if tc.redirect {
				if !muxRedirect(r) {
					t.Fatalf("PUT %s: %s, want the mux's redirect", tc.raw, r)
				}
			} else {
				pkgWant(t, r, http.StatusBadRequest, traversal)
			}
			e.wantNothingStored(t, tc.raw)
		}
		// The longest allowed parts work.
		max := strings.Repeat("b", 255)
		pkgWant(t, e.upload(t, e.genericPath(max, max, max), []byte("ok"), false, testserver.PrivateToken(e.Dev.Token)), http.StatusCreated, "")
	})
}

// muxRedirect: Go's ServeMux answers a path with dot segments or double
// slashes with a redirect to its clean form (307 for methods other than
// GET and HEAD in current Go, 301 in older), before any handler runs.
func muxRedirect(r *testserver.Resp) bool {
	return (r.Status == http.StatusTemporaryRedirect || r.Status == http.StatusMovedPermanently) && r.Header.Get("Location") != ""
}

// TestGenericPackageTooLarge: above the maximum, 413 and nothing stored,
// whether the size is announced (refused before reading) or only found
// while streaming a chunked body.
func TestGenericPackageTooLarge(t *testing.T) {
	const limit = 64 << 10
	testserver.ForEachStorage(t, testserver.Options{MaxPackageFileSize: limit}, func(t *testing.T, s *testserver.Server) {
		e := newPkgEnv(t, s, "private")
		const tooLarge = `{"message":"413 Request Entity Too Large"}`
		big := bytes.Repeat([]byte{'z'}, limit+1)
		for _, chunked := range []bool{false, true} {
			r := e.upload(t, e.genericPath("big", "1", "f.bin"), big, chunked, testserver.PrivateToken(e.Dev.Token))
			pkgWant(t, r, http.StatusRequestEntityTooLarge, tooLarge)
			e.wantNothingStored(t, fmt.Sprintf("413 (chunked %v)", chunked))
		}
		// Far larger and chunked: the server stops reading at the limit.
		r := e.upload(t, e.genericPath("big", "1", "f.bin"), bytes.Repeat([]byte{'z'}, 8<<20), true, testserver.PrivateToken(e.Dev.Token))
		pkgWant(t, r, http.StatusRequestEntityTooLarge, tooLarge)
		e.wantNothingStored(t, "413 of 8 MiB chunked")
		// Exactly the limit is fine, either way.
		exact := big[:limit]
		pkgWant(t, e.upload(t, e.genericPath("big", "1", "a.bin"), exact, false, testserver.PrivateToken(e.Dev.Token)), http.StatusCreated, "")
		pkgWant(t, e.upload(t, e.genericPath("big", "1", "b.bin"), exact, true, testserver.PrivateToken(e.Dev.Token)), http.StatusCreated, "")
		if p, f, b := e.stored(t); p != 1 || f != 2 || len(b) != 2 {
			t.Fatalf("stored %d, %d, %v", p, f, b)
		}
	})
}

// TestPackagesAPIListing: filters, ordering, pagination headers and
// parameter errors of GET /projects/:id/packages.
func TestPackagesAPIListing(t *testing.T) {
	testserver.ForEachDialect(t, func(t *testing.T, dialect string) {
		s := testserver.New(t, testserver.Options{Dialect: dialect})
		e := newPkgEnv(t, s, "private")
		for _, p := range []struct{ name, version string }{{"zeta", "1.0"}, {"alpha", "2.0"}, {"alpha", "1.0"}, {"beta-lib", "0.9"}, {"Alphabet", "3"}} {
			pkgWant(t, e.upload(t, e.genericPath(p.name, p.version, "f"), []byte(p.name), false, testserver.PrivateToken(e.Dev.Token)), http.StatusCreated, "")
		}
		list := func(query string) ([]string, http.Header) {
			t.Helper()
			r := e.s.Call(t, "GET", e.apiPath(query), testserver.PrivateToken(e.Reporter.Token), nil)
			pkgWant(t, r, http.StatusOK, "")
			var l []map[string]any
			r.JSON(t, &l)
			var out []string
			for _, p := range l {
				out = append(out, fmt.Sprint(p["name"], "@", p["version"]))
			}
			return out, r.Header
		}
		for _, tc := range []struct {
			query string
			want  []string
		}{
			{"", []string{"zeta@1.0", "alpha@2.0", "alpha@1.0", "beta-lib@0.9", "Alphabet@3"}},
			{"?sort=desc", []string{"Alphabet@3", "beta-lib@0.9", "alpha@1.0", "alpha@2.0", "zeta@1.0"}},
			{"?order_by=name", []string{"Alphabet@3", "alpha@2.0", "alpha@1.0", "beta-lib@0.9", "zeta@1.0"}},
			{"?order_by=version&sort=desc", []string{"Alphabet@3", "alpha@2.0", "alpha@1.0", "zeta@1.0", "beta-lib@0.9"}},
			{"?package_name=alpha", []string{"alpha@2.0", "alpha@1.0", "Alphabet@3"}},
			{"?package_name=alpha&package_version=1.0", []string{"alpha@1.0"}},
			{"?package_type=generic&package_name=lib", []string{"beta-lib@0.9"}},
			{"?package_type=npm", nil},
			{"?status=default&order_by=type&per_page=1&page=3", []string{"alpha@1.0"}},
		} {
			if got, _ := list(tc.query); !slices.Equal(got, tc.want) {
				t.Errorf("GET /packages%s = %v, want %v", tc.query, got, tc.want)
			}
		}
		_, h := list("?per_page=2&page=2&private_token=" + url.QueryEscape(e.Reporter.Token))
		for k, want := range map[string]string{"X-Total": "5", "X-Total-Pages": "3", "X-Page": "2", "X-Per-Page": "2", "X-Next-Page": "3", "X-Prev-Page": "1"} {
			if got := h.Get(k); got != want {
				t.Errorf("%s = %q, want %q", k, got, want)
			}
		}
		if link := h.Get("Link"); !strings.Contains(link, `rel="next"`) || strings.Contains(link, "private_token") {
			t.Errorf("Link: %s", link)
		}
		for _, q := range []string{"order_by=size", "sort=up", "package_type=zip", "status=gone"} {
			name := strings.SplitN(q, "=", 2)[0]
			pkgWant(t, e.s.Call(t, "GET", e.apiPath("?"+q), testserver.PrivateToken(e.Reporter.Token), nil), http.StatusBadRequest, `{"error":"`+name+` does not have a valid value"}`)
		}
		pkgWant(t, e.s.Call(t, "GET", e.apiPath("/abc"), testserver.PrivateToken(e.Reporter.Token), nil), http.StatusBadRequest, `{"error":"package_id is invalid"}`)
		pkgWant(t, e.s.Call(t, "GET", e.apiPath("/999999/package_files"), testserver.PrivateToken(e.Reporter.Token), nil), http.StatusNotFound, `{"message":"404 Not found"}`)
	})
}
