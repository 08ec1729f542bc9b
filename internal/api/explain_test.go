package api_test

import (
	"encoding/csv"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/ciwarden/ciwarden/internal/testserver"
)

// explainEnv is a job of project S (run by alice) asking about project T.
// tmaint maintains T and can see S (a Guest there); hidden maintains T
// and cannot see S.
type explainEnv struct {
	s                                 *testserver.Server
	src, tgt                          testserver.Project
	alice, tmaint, hidden, tdev, outs testserver.User
	job                               *testserver.RunningJob
}

func newExplainEnv(t *testing.T, s *testserver.Server) *explainEnv {
	e := &explainEnv{s: s}
	e.src = s.CreateProject(t, s.CreateGroup(t, "srcgrp", 0, "private"), "s", "private")
	e.tgt = s.CreateProject(t, s.CreateGroup(t, "tgtgrp", 0, "private"), "t", "private")
	e.alice, e.tmaint, e.tdev, e.outs = s.CreateUser(t, "alice"), s.CreateUser(t, "tmaint"), s.CreateUser(t, "tdev"), s.CreateUser(t, "outs")
	e.hidden = s.CreateUser(t, "hidden")
	s.AddMember(t, "projects", e.src.ID, e.alice.ID, 30)
	s.AddMember(t, "projects", e.src.ID, e.tmaint.ID, 10)
	s.AddMember(t, "projects", e.tgt.ID, e.alice.ID, 20)
	s.AddMember(t, "projects", e.tgt.ID, e.tmaint.ID, 40)
	s.AddMember(t, "projects", e.tgt.ID, e.hidden.ID, 40)
	s.AddMember(t, "projects", e.tgt.ID, e.tdev.ID, 30)
	s.PushCI(t, e.src.Path, e.alice, map[string]string{".gitlab-ci.yml": "job:\n  script: [x]\n"})
	_, tok := s.CreateRunner(t, nil)
	e.job = s.NewRunnerClient(tok).TakeJob(t)
	e.job.Start(t)
	return e
}

func (e *explainEnv) explain(t *testing.T, who testserver.User, query string, want int) map[string]any {
	t.Helper()
	r := e.s.Expect(t, "GET", testserver.API+"/projects/"+testserver.Itoa(e.tgt.ID)+"/job_token_scope/explain?"+query, who.Token, nil, want)
	return r.Object(t)
}

// checkResults compares the explained checks with want ("check=result").
func checkResults(t *testing.T, out map[string]any, want ...string) {
	t.Helper()
	var got []string
	list, _ := out["checks"].([]any)
	for _, c := range list {
		m, _ := c.(map[string]any)
		got = append(got, m["check"].(string)+"="+m["result"].(string))
	}
	if !slices.Equal(got, want) {
		t.Errorf("checks %v\nwant   %v", got, want)
	}
}

func TestExplainJobTokenDecision(t *testing.T) {
	testserver.ForEachDialect(t, func(t *testing.T, dialect string) {
		s := testserver.New(t, testserver.Options{Dialect: dialect})
		e := newExplainEnv(t, s)
		q := "job_id=" + testserver.Itoa(e.job.ID) + "&permission=read_packages"
		scopeMsg := "Authentication by CI/CD job token not allowed from srcgrp/s to tgtgrp/t."

		// Not on T's allowlist.
		out := e.explain(t, e.tmaint, q, http.StatusOK)
		if out["allowed"] != false || out["failed_check"] != "inbound_allowlist" || testserver.Num(t, out, "status") != 403 ||
			out["message"] != scopeMsg || out["source_project"] != "srcgrp/s" || out["target_project"] != "tgtgrp/t" {
			t.Errorf("maintainer's explain: %v", out)
		}
		checkResults(t, out, "liveness=pass", "visibility=pass", "own_project=not_applicable", "outbound_scope=not_applicable",
			"inbound_allowlist=fail", "entry_policy=not_applicable", "job_permissions=not_applicable", "role=pass",
			"feature_visibility=not_applicable")
		// The job's user may ask too.
		if out = e.explain(t, e.alice, q, http.StatusOK); out["failed_check"] != "inbound_allowlist" || out["message"] != scopeMsg {
			t.Errorf("job user's explain: %v", out)
		}
		// Anyone else, and a maintainer of T who cannot see S, learn
		// nothing: as if the job did not exist.
		for _, who := range []testserver.User{e.tdev, e.hidden} {
			if got := e.explain(t, who, q, http.StatusNotFound); got["message"] != "404 Job Not Found" {
				t.Errorf("%s's explain: %v", who.Username, got)
			}
		}
		if got := e.explain(t, e.tmaint, "job_id=999999&permission=read_packages", http.StatusNotFound); got["message"] != "404 Job Not Found" {
			t.Errorf("missing job: %v", got)
		}
		// A user who cannot see T at all gets T's 404.
		if got := e.explain(t, e.outs, q, http.StatusNotFound); got["message"] != "404 Project Not Found" {
			t.Errorf("outsider: %v", got)
		}
		e.explain(t, e.tmaint, "job_id="+testserver.Itoa(e.job.ID)+"&permission=read_everything", http.StatusBadRequest)
		// A policy no job-token endpoint uses cannot be explained.
		e.explain(t, e.tmaint, "job_id="+testserver.Itoa(e.job.ID)+"&permission=read_pipelines", http.StatusBadRequest)
		e.explain(t, e.tmaint, "permission=read_packages", http.StatusBadRequest)
		s.Expect(t, "GET", testserver.API+"/projects/"+testserver.Itoa(e.tgt.ID)+"/job_token_scope/explain?"+q, "", nil, http.StatusUnauthorized)

		// Listed with read_jobs only: the entry's policy refuses
		// read_packages, and the maintainer sees the entry.
		s.Expect(t, "POST", testserver.API+"/projects/"+testserver.Itoa(e.tgt.ID)+"/job_token_scope/allowlist", s.RootToken,
			map[string]any{"target_project_id": e.src.ID, "job_token_policies": []string{"read_jobs"}}, http.StatusCreated)
		out = e.explain(t, e.tmaint, q, http.StatusOK)
		if out["failed_check"] != "entry_policy" ||
			out["message"] != "Insufficient permissions to access this resource in project tgtgrp/t. The following token permission is required: read_packages." {
			t.Errorf("narrow entry: %v", out)
		}
		entry, _ := out["entry"].(map[string]any)
		if entry["kind"] != "project" || testserver.Num(t, entry, "id") != e.src.ID || entry["default_permissions"] != false {
			t.Errorf("entry: %v", out["entry"])
		}
		if _, shown := e.explain(t, e.alice, q, http.StatusOK)["entry"]; shown {
			t.Errorf("the job's user, not a maintainer of T, is shown T's allowlist entry")
		}
		out = e.explain(t, e.tmaint, "job_id="+testserver.Itoa(e.job.ID)+"&permission=read_jobs", http.StatusOK)
		if out["allowed"] != true || out["failed_check"] != nil || testserver.Num(t, out, "status") != 200 {
			t.Errorf("read_jobs through the entry: %v", out)
		}
		// alice is only a Reporter of T: publishing would fail on the
		// entry and on the role.
		out = e.explain(t, e.tmaint, "job_id="+testserver.Itoa(e.job.ID)+"&permission=admin_packages", http.StatusOK)
		if out["failed_check"] != "entry_policy" {
			t.Errorf("admin_packages: %v", out)
		}
		checkResults(t, out, "liveness=pass", "visibility=pass", "own_project=not_applicable", "outbound_scope=not_applicable",
			"inbound_allowlist=pass", "entry_policy=fail", "job_permissions=not_applicable", "role=fail",
			"feature_visibility=not_applicable")
		// A push to another project is never a job token's.
		out = e.explain(t, e.tmaint, "job_id="+testserver.Itoa(e.job.ID)+"&permission=admin_repositories", http.StatusOK)
		if out["failed_check"] != "own_project" || out["message"] != "A CI/CD job token may do this only in its own project." {
			t.Errorf("admin_repositories: %v", out)
		}

		// S limits its token and does not list T.
		s.Expect(t, "PATCH", testserver.API+"/projects/"+testserver.Itoa(e.src.ID)+"/job_token_scope", s.RootToken, map[string]any{"outbound_enabled": true}, http.StatusNoContent)
		out = e.explain(t, e.tmaint, "job_id="+testserver.Itoa(e.job.ID)+"&permission=read_jobs", http.StatusOK)
		if out["failed_check"] != "outbound_scope" || out["message"] != scopeMsg {
			t.Errorf("outbound: %v", out)
		}
		s.Expect(t, "PATCH", testserver.API+"/projects/"+testserver.Itoa(e.src.ID)+"/job_token_scope", s.RootToken, map[string]any{"outbound_enabled": false}, http.StatusNoContent)

		// Once the job ends its token is dead: liveness fails first.
		e.job.FinishOK(t, "success")
		out = e.explain(t, e.tmaint, q, http.StatusOK)
		if out["failed_check"] != "liveness" || testserver.Num(t, out, "status") != 401 || out["message"] != "401 Unauthorized" {
			t.Errorf("finished job: %v", out)
		}
	})
}

// TestAuthenticationLog: every cross-project use of a job token, allowed
// or denied, shows in the accessed project's log at once (a read flushes
// this server's batch), in JSON and CSV; uses in the job's own project do
// not.
func TestAuthenticationLog(t *testing.T) {
	testserver.ForEachDialect(t, func(t *testing.T, dialect string) {
		s := testserver.New(t, testserver.Options{Dialect: dialect})
		e := newExplainEnv(t, s)
		packages := func(p testserver.Project, want int) {
			t.Helper()
			req := s.NewRequest(t, "GET", "/api/v4/projects/"+testserver.Itoa(p.ID)+"/packages", "", nil)
			req.Header.Set("JOB-TOKEN", e.job.Token)
			if r := s.Send(t, req); r.Status != want {
				t.Fatalf("%s: want %d", r, want)
			}
		}
		packages(e.tgt, http.StatusForbidden)
		packages(e.src, http.StatusOK)
		s.AllowJobTokens(t, e.tgt.ID, e.src.ID)
		packages(e.tgt, http.StatusOK)
		packages(e.tgt, http.StatusOK)

		log := "/projects/" + testserver.Itoa(e.tgt.ID) + "/job_token_scope/authorizations"
		s.Expect(t, "GET", testserver.API+log, e.tdev.Token, nil, http.StatusForbidden)
		var rows []map[string]any
		s.Expect(t, "GET", testserver.API+log, e.tmaint.Token, nil, http.StatusOK).JSON(t, &rows)
		if len(rows) != 1 {
			t.Fatalf("log rows %v, want one for S", rows)
		}
		row := rows[0]
		if testserver.Num(t, row, "origin_project_id") != e.src.ID || row["origin_project_path"] != "srcgrp/s" ||
			testserver.Num(t, row, "allowed_count") != 2 || testserver.Num(t, row, "denied_count") != 1 || row["last_result"] != "allowed" ||
			row["last_policy"] != "read_packages" ||
			row["last_denial_reason"] != "inbound_allowlist: Authentication by CI/CD job token not allowed from srcgrp/s to tgtgrp/t." ||
			row["last_denied_at"] == nil {
			t.Errorf("log row %v", row)
		}
		// Nothing about S's own uses in S's log.
		var own []map[string]any
		if s.Expect(t, "GET", testserver.API+"/projects/"+testserver.Itoa(e.src.ID)+"/job_token_scope/authorizations", s.RootToken, nil, http.StatusOK).JSON(t, &own); len(own) != 0 {
			t.Errorf("own-project uses logged: %v", own)
		}

		r := s.Expect(t, "GET", testserver.API+log+"?format=csv", e.tmaint.Token, nil, http.StatusOK)
		if ct := r.Header.Get("Content-Type"); ct != "text/csv; charset=utf-8" {
			t.Errorf("CSV content type %q", ct)
		}
		recs, err := csv.NewReader(strings.NewReader(string(r.Body))).ReadAll()
		if err != nil || len(recs) != 2 {
			t.Fatalf("CSV %q: %v", r.Body, err)
		}
		if recs[1][0] != testserver.Itoa(e.src.ID) || recs[1][1] != "srcgrp/s" || recs[1][3] != "2" || recs[1][4] != "1" || recs[1][6] != "allowed" {
			t.Errorf("CSV row %v", recs[1])
		}
		s.Expect(t, "GET", testserver.API+log+"?format=xml", e.tmaint.Token, nil, http.StatusBadRequest)

		// T's other maintainer cannot see S: the row does not name it.
		var hidden []map[string]any
		s.Expect(t, "GET", testserver.API+log, e.hidden.Token, nil, http.StatusOK).JSON(t, &hidden)
		if len(hidden) != 1 || hidden[0]["origin_project_id"] != nil || hidden[0]["origin_project_path"] != "a project you cannot see" ||
			hidden[0]["origin_project"] != nil ||
			hidden[0]["last_denial_reason"] != "inbound_allowlist: Authentication by CI/CD job token not allowed from a project you cannot see to tgtgrp/t." {
			t.Errorf("log as a maintainer who cannot see S: %v", hidden)
		}
		r = s.Expect(t, "GET", testserver.API+log+"?format=csv", e.hidden.Token, nil, http.StatusOK)
		if strings.Contains(string(r.Body), "srcgrp") {
			t.Errorf("CSV names a project the reader cannot see: %s", r.Body)
		}

		// A project alice cannot see answers 404 and keeps no trace of S.
		far := s.CreateProject(t, s.CreateGroup(t, "fargrp", 0, "private"), "far", "private")
		packages(far, http.StatusNotFound)
		var farLog []map[string]any
		if s.Expect(t, "GET", testserver.API+"/projects/"+testserver.Itoa(far.ID)+"/job_token_scope/authorizations", s.RootToken, nil, http.StatusOK).JSON(t, &farLog); len(farLog) != 0 {
			t.Errorf("a use the target never saw is logged: %v", farLog)
		}
	})
}
