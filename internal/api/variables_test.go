package api_test

import (
	"encoding/base64"
	"fmt"
	"github.com/ciwarden/ciwarden/internal/testserver"
	"strings"
	"testing"
)

// TestVariables drives the variables API of projects, groups and the
// instance: GitLab's shapes, the hidden value, duplicates per scope, the
// filter, and who may use it.
func TestVariables(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, e *env) {
		f := e.fixture(t)
		const secret = "s3cr3t-Value_1234"
		e.Remember(secret)
		for _, src := range []struct{ kind, base string }{
			{"project", f.projAPI + "/variables"},
			{"group", f.groupAPI + "/variables"},
		} {
			t.Run(src.kind, func(t *testing.T) {
				wantJSON(t, e.postJSON(t, src.base, e.RootToken, `{"key":"DEPLOY_KEY","value":"`+secret+`","masked":true,"protected":true,"description":"deploy"}`), 201,
					`{"variable_type":"env_var","key":"DEPLOY_KEY","value":"`+secret+`","hidden":false,"protected":true,"masked":true,"raw":false,"environment_scope":"*","description":"deploy"}`)
				wantJSON(t, e.postJSON(t, src.base, e.RootToken, `{"key":"DEPLOY_KEY","value":"other","environment_scope":"review/*","variable_type":"file","raw":true}`), 201,
					`{"variable_type":"file","key":"DEPLOY_KEY","value":"other","hidden":false,"protected":false,"masked":false,"raw":true,"environment_scope":"review/*","description":null}`)
				wantJSON(t, e.postJSON(t, src.base, e.RootToken, `{"key":"HIDDEN","value":"`+secret+`","masked_and_hidden":true}`), 201,
					`{"variable_type":"env_var","key":"HIDDEN","value":null,"hidden":true,"protected":false,"masked":true,"raw":false,"environment_scope":"*","description":null}`)
				wantField(t, e.call(t, "GET", src.base+"/HIDDEN", e.RootToken, "", ""), 200, "value", `null`)
				if rec := e.call(t, "GET", src.base, e.RootToken, "", ""); rec.Status != 200 || rec.Header.Get("X-Total") != "3" {
					t.Fatalf("list: %d X-Total %q %s", rec.Status, rec.Header.Get("X-Total"), rec.Body)
				}
				// Two DEPLOY_KEYs: the filter picks one.
				wantJSON(t, e.call(t, "GET", src.base+"/DEPLOY_KEY", e.RootToken, "", ""), 409,
					`{"message":"There are multiple variables with provided parameters. Please use 'filter[environment_scope]'"}`)
				wantField(t, e.call(t, "GET", src.base+"/DEPLOY_KEY?filter[environment_scope]=review/*", e.RootToken, "", ""), 200, "value", `"other"`)
				wantField(t, e.call(t, "PUT", src.base+"/DEPLOY_KEY", e.RootToken, jsonCT, `{"value":"changed","filter":{"environment_scope":"review/*"}}`), 200, "value", `"changed"`)
				wantField(t, e.call(t, "GET", src.base+"/DEPLOY_KEY?filter%5Benvironment_scope%5D=%2A", e.RootToken, "", ""), 200, "value", `"`+secret+`"`)
				// A hidden value is not shown even after an update, and stays masked.
				wantField(t, e.call(t, "PUT", src.base+"/HIDDEN", e.RootToken, jsonCT, `{"value":"an0ther-secret-value"}`), 200, "value", `null`)
				wantJSON(t, e.call(t, "PUT", src.base+"/HIDDEN", e.RootToken, jsonCT, `{"masked":false}`), 400,
					`{"message":{"masked":["cannot be changed for masked and hidden variables"]}}`)
				e.Remember("an0ther-secret-value")

				bad := []struct{ name, method, path, body, want string }{
					{"duplicate", "POST", src.base, `{"key":"DEPLOY_KEY","value":"x"}`, `{"message":{"key":["(DEPLOY_KEY) has already been taken"]}}`},
					{"duplicate scope by update", "PUT", src.base + "/DEPLOY_KEY?filter[environment_scope]=review/*", `{"environment_scope":"*"}`, `{"message":{"key":["(DEPLOY_KEY) has already been taken"]}}`},
					{"key missing", "POST", src.base, `{"value":"x"}`, `{"error":"key is missing"}`},
					{"value missing", "POST", src.base, `{"key":"K"}`, `{"error":"value is missing"}`},
					{"key characters", "POST", src.base, `{"key":"MY-KEY","value":"x"}`, `{"message":{"key":["can contain only letters, digits and '_'."]}}`},
					{"key too long", "POST", src.base, `{"key":"` + strings.Repeat("K", 256) + `","value":"x"}`, `{"message":{"key":["is too long (maximum is 255 characters)"]}}`},
					{"type", "POST", src.base, `{"key":"K","value":"x","variable_type":"dir"}`, `{"error":"variable_type does not have a valid value"}`},
					{"masked short", "POST", src.base, `{"key":"K","value":"short","masked":true}`, maskRule},
					{"masked two lines", "POST", src.base, `{"key":"K","value":"line-one\nline-two","masked":true}`, maskRule},
					{"masked character", "POST", src.base, `{"key":"K","value":"abcdefgh!","masked":true}`, maskRule},
					{"masked by update", "PUT", src.base + "/DEPLOY_KEY?filter[environment_scope]=review/*", `{"masked":true,"value":"a b c d e f"}`, maskRule},
					{"file too large", "POST", src.base, `{"key":"K","variable_type":"file","value":"` + strings.Repeat("x", 10001) + `"}`, `{"message":{"value":["is too long (maximum is 10000 characters)"]}}`},
					{"scope character", "POST", src.base, `{"key":"K","value":"x","environment_scope":"prod|staging"}`, scopeRule},
					{"scope by update", "PUT", src.base + "/DEPLOY_KEY?filter[environment_scope]=review/*", `{"environment_scope":"a?b"}`, scopeRule},
				}
				for _, c := range bad {
					t.Run(c.name, func(t *testing.T) {
						e.unchanged(t, src.base, func() {
							wantJSON(t, e.call(t, c.method, c.path, e.RootToken, jsonCT, c.body), 400, c.want)
						})
					})
				}
				wantField(t, e.call(t, "GET", src.base+"/DEPLOY_KEY?filter[environment_scope]=review/*", e.RootToken, "", ""), 200, "value", `"changed"`)
				wantJSON(t, e.call(t, "GET", src.base+"/NOPE", e.RootToken, "", ""), 404, `{"message":"404 Variable Not Found"}`)
				wantJSON(t, e.call(t, "DELETE", src.base+"/DEPLOY_KEY", e.RootToken, "", ""), 409,
					`{"message":"There are multiple variables with provided parameters. Please use 'filter[environment_scope]'"}`)
				if rec := e.call(t, "DELETE", src.base+"/DEPLOY_KEY?filter[environment_scope]=review/*", e.RootToken, "", ""); rec.Status != 204 {
					t.Fatalf("delete: %d %s", rec.Status, rec.Body)
				}
				wantField(t, e.call(t, "GET", src.base+"/DEPLOY_KEY", e.RootToken, "", ""), 200, "environment_scope", `"*"`)
			})
		}

		t.Run("instance", func(t *testing.T) {
			base := "/api/v4/admin/ci/variables"
			wantJSON(t, e.postJSON(t, base, e.RootToken, `{"key":"INSTANCE_KEY","value":"`+secret+`","masked":true}`), 201,
				`{"key":"INSTANCE_KEY","description":null,"variable_type":"env_var","value":"`+secret+`","protected":false,"masked":true,"raw":false}`)
			wantJSON(t, e.postJSON(t, base, e.RootToken, `{"key":"INSTANCE_KEY","value":"x"}`), 400, `{"message":{"key":["(INSTANCE_KEY) has already been taken"]}}`)
			wantField(t, e.call(t, "PUT", base+"/INSTANCE_KEY", e.RootToken, jsonCT, `{"protected":true}`), 200, "protected", `true`)
			wantField(t, e.call(t, "GET", base+"/INSTANCE_KEY", e.RootToken, "", ""), 200, "protected", `true`)
			wantJSON(t, e.call(t, "GET", base, f.alice.Token, "", ""), 403, `{"message":"403 Forbidden"}`)
			wantJSON(t, e.postJSON(t, base, f.alice.Token, `{"key":"X","value":"x"}`), 403, `{"message":"403 Forbidden"}`)
			if rec := e.call(t, "DELETE", base+"/INSTANCE_KEY", e.RootToken, "", ""); rec.Status != 204 {
				t.Fatalf("delete: %d %s", rec.Status, rec.Body)
			}
			wantJSON(t, e.call(t, "GET", base+"/INSTANCE_KEY", e.RootToken, "", ""), 404, `{"message":"404 Variable Not Found"}`)
		})

		t.Run("roles", func(t *testing.T) {
			// alice is a project Maintainer, carol a Developer of both,
			// bob nothing (the project is private).
			pv, gv := f.projAPI+"/variables", f.groupAPI+"/variables"
			wantStatus(t, e.call(t, "GET", pv, f.alice.Token, "", ""), 200)
			wantStatus(t, e.postJSON(t, pv, f.alice.Token, `{"key":"BY_ALICE","value":"x"}`), 201)
			wantJSON(t, e.call(t, "GET", pv, f.carol.Token, "", ""), 403, `{"message":"403 Forbidden"}`)
			wantJSON(t, e.postJSON(t, pv, f.carol.Token, `{"key":"BY_CAROL","value":"x"}`), 403, `{"message":"403 Forbidden"}`)
			wantJSON(t, e.call(t, "GET", pv, f.bob.Token, "", ""), 404, `{"message":"404 Project Not Found"}`)
			wantJSON(t, e.call(t, "GET", gv, f.carol.Token, "", ""), 403, `{"message":"403 Forbidden"}`)
			wantJSON(t, e.call(t, "DELETE", gv+"/DEPLOY_KEY", f.alice.Token, "", ""), 403, `{"message":"403 Forbidden"}`)
			_, readOnly := e.CreateToken(t, f.alice.ID, "read_api")
			wantStatus(t, e.call(t, "GET", pv, readOnly, "", ""), 200)
			wantJSON(t, e.postJSON(t, pv, readOnly, `{"key":"RO","value":"x"}`), 403,
				`{"error":"insufficient_scope","error_description":"The request requires higher privileges than provided by the access token.","scope":"api"}`)
			wantJSON(t, e.call(t, "GET", fmt.Sprintf("%s?per_page=1", pv), "", "", ""), 401, `{"message":"401 Unauthorized"}`)
		})
	})
}

const (
	maskRule  = `{"message":{"value":["cannot be masked: a masked value must be at least 8 characters on one line, of letters, digits and the characters + / = - _ @ : . ~ only"]}}`
	scopeRule = `{"message":{"environment_scope":["can contain only letters, digits, '-', '_', '/', '$', '{', '}', '.', '*' and spaces"]}}`
)

// TestVariablesInJobPayload: a job's payload carries the instance's, its
// groups' and its project's variables, the nearest owner winning, the
// scope matching its environment, masked ones masked and none public,
// file ones flagged; protected ones reach no job (no ref is protected).
func TestVariablesInJobPayload(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, e *env) {
		root := e.CreateGroup(t, "top", 0, "private")
		sub := e.CreateGroup(t, "sub", root, "private")
		p := e.CreateProject(t, sub, "app", "private")
		const masked = "Masked-Value-1234"
		e.Remember(masked)
		set := func(base, body string) {
			t.Helper()
			wantStatus(t, e.postJSON(t, base+"/variables", e.RootToken, body), 201)
		}
		set("/api/v4/admin/ci", `{"key":"FROM_INSTANCE","value":"instance"}`)
		set("/api/v4/admin/ci", `{"key":"LAYERED","value":"instance"}`)
		set(fmt.Sprintf("/api/v4/groups/%d", root), `{"key":"LAYERED","value":"top"}`)
		set(fmt.Sprintf("/api/v4/groups/%d", root), `{"key":"GROUP_ONLY","value":"top"}`)
		set(fmt.Sprintf("/api/v4/groups/%d", sub), `{"key":"GROUP_ONLY","value":"sub"}`)
		proj := fmt.Sprintf("/api/v4/projects/%d", p.ID)
		set(proj, `{"key":"LAYERED","value":"project"}`)
		set(proj, `{"key":"SECRET","value":"`+masked+`","masked":true}`)
		set(proj, `{"key":"CONFIG_FILE","value":"line one\nline two\n","variable_type":"file"}`)
		set(proj, `{"key":"DEPLOY","value":"any"}`)
		set(proj, `{"key":"DEPLOY","value":"production","environment_scope":"production"}`)
		set(proj, `{"key":"DEPLOY","value":"review","environment_scope":"review/*"}`)
		set(proj, `{"key":"PROTECTED_ONLY","value":"protected","protected":true}`)
		set(proj, `{"key":"FROM_YAML","value":"project"}`)

		_, tok := e.CreateRunner(t, map[string]any{"run_untagged": true})
		rc := e.NewRunnerClient(tok)
		e.PushCI(t, p.Path, testserver.User{Username: "root", Token: e.RootToken}, map[string]string{
			".gitlab-ci.yml": "variables:\n  FROM_YAML: yaml\n  YAML_ONLY: yaml\ndeploy:\n  environment: production\n  script: [\"true\"]\n",
		})
		job := rc.TakeJob(t)
		// A job token is no credential for the variables API (as in
		// GitLab): the request is anonymous.
		req := e.newReq("GET", proj+"/variables", nil)
		req.Header.Set("JOB-TOKEN", job.Token)
		wantJSON(t, e.Send(t, req), 401, `{"message":"401 Unauthorized"}`)
		got := map[string]testserver.JobVariable{}
		for _, v := range job.Payload.Variables {
			got[v.Key] = v // the last wins, as in the runner
		}
		for key, want := range map[string]string{
			"FROM_INSTANCE": "instance", "LAYERED": "project", "GROUP_ONLY": "sub", "SECRET": masked,
			"CONFIG_FILE": "line one\nline two\n", "DEPLOY": "production", "FROM_YAML": "project", "YAML_ONLY": "yaml",
		} {
			if got[key].Value != want {
				t.Errorf("%s = %q, want %q", key, got[key].Value, want)
			}
		}
		if v := got["SECRET"]; !v.Masked || v.Public {
			t.Errorf("SECRET: masked %v public %v, want masked and not public", v.Masked, v.Public)
		}
		if v := got["CONFIG_FILE"]; !v.File || v.Public {
			t.Errorf("CONFIG_FILE: file %v public %v, want a file, not public", v.File, v.Public)
		}
		if v := got["LAYERED"]; v.Public || v.Masked || v.File {
			t.Errorf("LAYERED: %+v, want neither public, masked nor a file", v)
		}
		if _, ok := got["PROTECTED_ONLY"]; ok {
			t.Error("a protected variable reached a job on an unprotected ref")
		}
		// The server masks the masked value in the log, plain and in
		// base64, as it does the job token.
		job.Start(t)
		b64 := base64.StdEncoding.EncodeToString([]byte(masked))
		job.AppendTrace(t, "plain "+masked+"\nbase64 "+b64+"\n")
		job.FinishOK(t, "success")
		trace := e.call(t, "GET", fmt.Sprintf("%s/jobs/%d/trace", proj, job.ID), e.RootToken, "", "")
		if trace.Status != 200 || strings.Contains(string(trace.Body), masked) || strings.Contains(string(trace.Body), b64) ||
			!strings.Contains(string(trace.Body), "plain [MASKED]") {
			t.Errorf("trace: %d %q", trace.Status, trace.Body)
		}
	})
}
