package api_test

import (
	"bytes"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/ciwarden/ciwarden/internal/testserver"
)

// The API's answers to bad input: malformed and mistyped bodies, unknown
// IDs, invalid access levels, oversized bodies, bad pagination, bad names
// and paths. Every case checks the exact status and body, that nothing was
// half-written, and (through the harness, internal/testserver) that no
// request was a 500 and no token reached the log. Each test runs on SQLite
// and, with CIWARDEN_TEST_POSTGRES_URL, on PostgreSQL.

const notJSON = `{"error":"The request body is not valid JSON or not a JSON object"}`

func TestMalformedBodies(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, e *env) {
		f := e.fixture(t)
		cases := []struct {
			name, method, path, ct, body string
			status                       int
			want                         string
		}{
			{"truncated JSON", "POST", "/api/v4/groups", jsonCT, `{"name":`, 400, notJSON},
			{"JSON array", "POST", "/api/v4/groups", jsonCT, `["name","path"]`, 400, notJSON},
			{"JSON string", "POST", "/api/v4/groups", jsonCT, `"grp2"`, 400, notJSON},
			{"JSON number", "POST", "/api/v4/groups", jsonCT, `42`, 400, notJSON},
			{"JSON nested too deep", "POST", "/api/v4/groups", jsonCT, `{"name":"x","path":"x","description":` + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + `}`, 400, notJSON},
			{"JSON with charset", "POST", "/api/v4/groups", "application/json; charset=utf-8", `{"name":`, 400, notJSON},
			{"parent_id a string", "POST", "/api/v4/groups", jsonCT, `{"name":"x","path":"x","parent_id":"abc"}`, 400, `{"error":"parent_id is invalid"}`},
			{"parent_id a fraction", "POST", "/api/v4/groups", jsonCT, `{"name":"x","path":"x","parent_id":1.5}`, 400, `{"error":"parent_id is invalid"}`},
			{"parent_id a boolean", "POST", "/api/v4/groups", jsonCT, `{"name":"x","path":"x","parent_id":true}`, 400, `{"error":"parent_id is invalid"}`},
			{"parent_id an object", "POST", "/api/v4/groups", jsonCT, `{"name":"x","path":"x","parent_id":{"id":1}}`, 400, `{"error":"parent_id is invalid"}`},
			{"parent_id a string in a form", "POST", "/api/v4/groups", formCT, `name=x&path=x&parent_id=abc`, 400, `{"error":"parent_id is invalid"}`},
			{"unknown visibility", "POST", "/api/v4/groups", jsonCT, `{"name":"x","path":"x","visibility":"secret"}`, 400, `{"error":"visibility does not have a valid value"}`},
			{"visibility a number", "POST", "/api/v4/groups", jsonCT, `{"name":"x","path":"x","visibility":20}`, 400, `{"error":"visibility does not have a valid value"}`},
			{"visibility null", "POST", "/api/v4/groups", jsonCT, `{"name":"x","path":"x","visibility":null}`, 400, `{"error":"visibility does not have a valid value"}`},
			{"group name an object", "POST", "/api/v4/groups", jsonCT, `{"name":{"a":1},"path":"x"}`, 400, `{"error":"name is invalid"}`},
			{"group name missing", "POST", "/api/v4/groups", jsonCT, `{"path":"x"}`, 400, `{"error":"name is missing"}`},
			{"group name null", "POST", "/api/v4/groups", jsonCT, `{"name":null,"path":"x"}`, 400, `{"error":"name is missing"}`},
			{"empty JSON body", "POST", "/api/v4/groups", jsonCT, ``, 400, `{"error":"name is missing"}`},
			{"JSON sent as text/plain", "POST", "/api/v4/groups", "text/plain", `{"name":"x","path":"x"}`, 400, `{"error":"name is missing"}`},
			{"malformed form escape", "POST", "/api/v4/groups", formCT, `name=%zz&path=x`, 400, `{"error":"The request body is not a valid form"}`},
			{"project name an object", "POST", "/api/v4/projects", jsonCT, `{"name":{"a":1}}`, 400, `{"error":"name is invalid"}`},
			{"project name an array", "POST", "/api/v4/projects", jsonCT, `{"name":["a","b"]}`, 400, `{"error":"name is invalid"}`},
			{"project path an object", "POST", "/api/v4/projects", jsonCT, `{"name":"x","path":{}}`, 400, `{"error":"path is invalid"}`},
			{"project without name or path", "POST", "/api/v4/projects", jsonCT, `{}`, 400, `{"error":"name, path are missing, at least one parameter must be provided"}`},
			{"project namespace_id a boolean", "POST", "/api/v4/projects", jsonCT, `{"name":"x","namespace_id":true}`, 400, `{"error":"namespace_id is invalid"}`},
			{"project namespace_id a fraction", "POST", "/api/v4/projects", jsonCT, `{"name":"x","namespace_id":1.5}`, 400, `{"error":"namespace_id is invalid"}`},
			{"project array body", "POST", "/api/v4/projects", jsonCT, `[{"name":"x"}]`, 400, notJSON},
			{"project update visibility", "PUT", f.projAPI, jsonCT, `{"visibility":"secret"}`, 400, `{"error":"visibility does not have a valid value"}`},
			{"project update bool", "PUT", f.projAPI, jsonCT, `{"ci_push_repository_for_job_token_allowed":"maybe"}`, 400, `{"error":"ci_push_repository_for_job_token_allowed is invalid"}`},
			{"project update truncated", "PUT", f.projAPI, jsonCT, `{"name":"renamed"`, 400, notJSON},
			{"group update visibility", "PUT", f.groupAPI, jsonCT, `{"visibility":"everyone"}`, 400, `{"error":"visibility does not have a valid value"}`},
			{"group update name type", "PUT", f.groupAPI, jsonCT, `{"name":[1]}`, 400, `{"error":"name is invalid"}`},
			{"list filter type", "GET", "/api/v4/projects?membership=perhaps", "", "", 400, `{"error":"membership is invalid"}`},
			{"list order_by", "GET", "/api/v4/projects?order_by=password", "", "", 400, `{"error":"order_by does not have a valid value"}`},
			{"list sort", "GET", "/api/v4/projects?sort=sideways", "", "", 400, `{"error":"sort does not have a valid value"}`},
			{"list min_access_level", "GET", "/api/v4/projects?min_access_level=35", "", "", 400, `{"error":"min_access_level does not have a valid value"}`},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				e.unchanged(t, "/api/v4/groups", func() {
					e.unchanged(t, "/api/v4/projects", func() {
						wantJSON(t, e.call(t, c.method, c.path, e.RootToken, c.ct, c.body), c.status, c.want)
					})
				})
			})
		}
		// The rejected updates changed nothing.
		wantField(t, e.call(t, "GET", f.projAPI, e.RootToken, "", ""), 200, "name", `"App"`)
		wantField(t, e.call(t, "GET", f.projAPI, e.RootToken, "", ""), 200, "visibility", `"private"`)
		wantField(t, e.call(t, "GET", f.groupAPI, e.RootToken, "", ""), 200, "name", `"Group"`)
	})
}

// A JSON value followed by more text is not valid JSON; GitLab's parser
// rejects it, and so must we rather than act on the first value.
func TestTrailingDataAfterJSON(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, e *env) {
		e.unchanged(t, "/api/v4/groups", func() {
			wantJSON(t, e.postJSON(t, "/api/v4/groups", e.RootToken, `{"name":"t1","path":"t1"} garbage`), 400, notJSON)
			wantJSON(t, e.postJSON(t, "/api/v4/groups", e.RootToken, `{"name":"t2","path":"t2"}{"visibility":"public"}`), 400, notJSON)
		})
	})
}

func TestCreateUserValidation(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, e *env) {
		f := e.fixture(t) // alice, bob, carol exist
		cases := []struct {
			name, token, ct, body string
			status                int
			want                  string
		}{
			{"missing email", e.RootToken, jsonCT, `{"username":"dave","name":"Dave"}`, 400, `{"error":"email is missing"}`},
			{"empty email", e.RootToken, jsonCT, `{"username":"dave","name":"Dave","email":""}`, 400, `{"error":"email is missing"}`},
			{"missing name", e.RootToken, jsonCT, `{"username":"dave","email":"dave@example.com"}`, 400, `{"error":"name is missing"}`},
			{"missing username", e.RootToken, jsonCT, `{"name":"Dave","email":"dave@example.com"}`, 400, `{"error":"username is missing"}`},
			{"missing email in a form", e.RootToken, formCT, `username=dave&name=Dave`, 400, `{"error":"email is missing"}`},
			{"email an object", e.RootToken, jsonCT, `{"username":"dave","name":"Dave","email":{"a":"b"}}`, 400, `{"error":"email is invalid"}`},
			{"admin not a boolean", e.RootToken, jsonCT, `{"username":"dave","name":"Dave","email":"dave@example.com","admin":"maybe"}`, 400, `{"error":"admin is invalid"}`},
			{"invalid email", e.RootToken, jsonCT, `{"username":"dave","name":"Dave","email":"not-an-email"}`, 400, `{"message":{"email":["is invalid"]}}`},
			{"email with a display name", e.RootToken, jsonCT, `{"username":"dave","name":"Dave","email":"Dave <dave@example.com>"}`, 400, `{"message":{"email":["is invalid"]}}`},
			{"invalid username", e.RootToken, jsonCT, `{"username":"-dave","name":"Dave","email":"dave@example.com"}`, 400,
				`{"message":{"username":["can contain only letters, digits, '_', '-' and '.'. Cannot start with '-', end in '.git' or end in '.atom'"]}}`},
			{"reserved username", e.RootToken, jsonCT, `{"username":"api","name":"Dave","email":"dave@example.com"}`, 400, `{"message":{"username":["api is a reserved name"]}}`},
			{"blank name", e.RootToken, jsonCT, `{"username":"dave","name":"   ","email":"dave@example.com"}`, 400, `{"message":{"name":["can't be blank"]}}`},
			{"duplicate username", e.RootToken, jsonCT, `{"username":"alice","name":"Alice 2","email":"alice2@example.com"}`, 409, `{"message":"Username has already been taken"}`},
			{"duplicate username, other case", e.RootToken, jsonCT, `{"username":"ALICE","name":"Alice 2","email":"alice2@example.com"}`, 409, `{"message":"Username has already been taken"}`},
			{"username of a group", e.RootToken, jsonCT, `{"username":"grp","name":"G","email":"grp@example.com"}`, 409, `{"message":"Username has already been taken"}`},
			{"duplicate email", e.RootToken, jsonCT, `{"username":"alice2","name":"Alice 2","email":"alice@example.com"}`, 409, `{"message":"Email has already been taken"}`},
			{"duplicate email, other case", e.RootToken, jsonCT, `{"username":"alice2","name":"Alice 2","email":"ALICE@example.com"}`, 409, `{"message":"Email has already been taken"}`},
			{"not an admin", f.alice.Token, jsonCT, `{"username":"dave","name":"Dave","email":"dave@example.com"}`, 403, `{"message":"403 Forbidden"}`},
			{"anonymous", "", jsonCT, `{"username":"dave","name":"Dave","email":"dave@example.com"}`, 401, `{"message":"401 Unauthorized"}`},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				e.unchanged(t, "/api/v4/users", func() {
					wantJSON(t, e.call(t, "POST", "/api/v4/users", c.token, c.ct, c.body), c.status, c.want)
				})
			})
		}
		// The control: a valid request is accepted.
		wantField(t, e.postJSON(t, "/api/v4/users", e.RootToken, `{"username":"dave","name":"Dave","email":"dave@example.com"}`), 201, "username", `"dave"`)
	})
}

func TestCreateTokenValidation(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, e *env) {
		f := e.fixture(t)
		path := fmt.Sprintf("/api/v4/users/%d/personal_access_tokens", f.bob.ID)
		listing := fmt.Sprintf("/api/v4/personal_access_tokens?user_id=%d", f.bob.ID)
		cases := []struct {
			name, ct, body string
			status         int
			want           string // whole body, or field=JSON
		}{
			{"unknown scope", jsonCT, `{"name":"t","scopes":["sudo"]}`, 400, `message.scopes=["\"sudo\" is not a valid scope (use api, read_api, read_registry or write_registry)"]`},
			{"unknown scope among good ones", jsonCT, `{"name":"t","scopes":["api","sudo"]}`, 400, `message.scopes=["\"sudo\" is not a valid scope (use api, read_api, read_registry or write_registry)"]`},
			{"unknown scope in a form", formCT, `name=t&scopes=api,sudo`, 400, `message.scopes=["\"sudo\" is not a valid scope (use api, read_api, read_registry or write_registry)"]`},
			{"empty scopes", jsonCT, `{"name":"t","scopes":[]}`, 400, `{"message":{"scopes":["can't be blank"]}}`},
			{"scopes missing", jsonCT, `{"name":"t"}`, 400, `{"error":"scopes is missing"}`},
			{"scopes not strings", jsonCT, `{"name":"t","scopes":[1]}`, 400, `{"error":"scopes is invalid"}`},
			{"name missing", jsonCT, `{"scopes":["api"]}`, 400, `{"error":"name is missing"}`},
			{"expiry in the past", jsonCT, `{"name":"t","scopes":["api"],"expires_at":"2020-01-01"}`, 400, `{"message":{"expires_at":["must be in the future"]}}`},
			{"expiry not a date", jsonCT, `{"name":"t","scopes":["api"],"expires_at":"notadate"}`, 400, `{"error":"expires_at is invalid"}`},
			{"expiry month 13", jsonCT, `{"name":"t","scopes":["api"],"expires_at":"2999-13-01"}`, 400, `{"error":"expires_at is invalid"}`},
			{"expiry a number", jsonCT, `{"name":"t","scopes":["api"],"expires_at":20990101}`, 400, `{"error":"expires_at is invalid"}`},
			{"expiry not a date in a form", formCT, `name=t&scopes=api&expires_at=notadate`, 400, `{"error":"expires_at is invalid"}`},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				e.unchanged(t, listing, func() {
					rec := e.call(t, "POST", path, e.RootToken, c.ct, c.body)
					if k, v, ok := strings.Cut(c.want, "="); ok && !strings.HasPrefix(c.want, "{") {
						wantField(t, rec, c.status, k, v)
					} else {
						wantJSON(t, rec, c.status, c.want)
					}
				})
			})
		}
		t.Run("array parameter in a form", func(t *testing.T) {
			e.unchanged(t, listing, func() {
				rec := e.call(t, "POST", path, e.RootToken, formCT, "name=t&scopes[]=sudo")
				wantField(t, rec, 400, "message.scopes", `["\"sudo\" is not a valid scope (use api, read_api, read_registry or write_registry)"]`)
			})
			rec := e.call(t, "POST", path, e.RootToken, formCT, "name=t2&scopes[]=api&scopes[]=read_api")
			wantField(t, rec, 201, "scopes", `["api","read_api"]`)
			tok, _ := field(decode(t, rec), "token")
			e.Remember(tok.(string))
			wantStatus(t, e.call(t, "DELETE", fmt.Sprintf("/api/v4/personal_access_tokens/%d", idOf(t, rec)), e.RootToken, "", ""), 204)
		})
		wantJSON(t, e.call(t, "POST", "/api/v4/users/abc/personal_access_tokens", e.RootToken, jsonCT, `{"name":"t","scopes":["api"]}`), 400, `{"error":"user_id is invalid"}`)
		wantJSON(t, e.call(t, "POST", path, f.alice.Token, jsonCT, `{"name":"t","scopes":["api"]}`), 403, `{"message":"403 Forbidden"}`)
		// The control: a valid request is accepted and listed.
		rec := e.postJSON(t, path, e.RootToken, `{"name":"t","scopes":["read_api"],"expires_at":"2999-01-01"}`)
		wantField(t, rec, 201, "expires_at", `"2999-01-01"`)
		tok, _ := field(decode(t, rec), "token")
		e.Remember(tok.(string))
		// The fixture's token, the revoked one (GitLab keeps listing revoked
		// tokens) and this one.
		if n := e.total(t, listing); n != 3 {
			t.Errorf("bob has %d tokens, want 3", n)
		}
	})
}

func TestUnknownIDs(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, e *env) {
		f := e.fixture(t)
		const (
			projectNF = `{"message":"404 Project Not Found"}`
			groupNF   = `{"message":"404 Group Not Found"}`
			userNF    = `{"message":"404 User Not Found"}`
			memberNF  = `{"message":"404 Member Not Found"}`
			plainNF   = `{"message":"404 Not Found"}`
		)
		bob := fmt.Sprint(f.bob.ID)
		nsID, _ := field(wantStatus(t, e.call(t, "GET", "/api/v4/users/"+bob, e.RootToken, "", ""), 200), "namespace_id")
		bobNS := int64(nsID.(float64))
		cases := []struct {
			name, token, method, path, body string
			status                          int
			want                            string
		}{
			{"project by id", e.RootToken, "GET", "/api/v4/projects/999999", "", 404, projectNF},
			{"project by id, anonymous", "", "GET", "/api/v4/projects/999999", "", 404, projectNF},
			{"project by id, non-member", f.bob.Token, "GET", "/api/v4/projects/999999", "", 404, projectNF},
			{"project by path", e.RootToken, "GET", "/api/v4/projects/no%2Fsuch", "", 404, projectNF},
			{"project by path without namespace", e.RootToken, "GET", "/api/v4/projects/nosuch", "", 404, projectNF},
			{"project id beyond int64", e.RootToken, "GET", "/api/v4/projects/99999999999999999999", "", 404, projectNF},
			{"project id negative", e.RootToken, "GET", "/api/v4/projects/-1", "", 404, projectNF},
			{"project members", e.RootToken, "GET", "/api/v4/projects/999999/members", "", 404, projectNF},
			{"project update", e.RootToken, "PUT", "/api/v4/projects/999999", `{"name":"x"}`, 404, projectNF},
			{"project delete", e.RootToken, "DELETE", "/api/v4/projects/999999", "", 404, projectNF},
			{"project delete, anonymous", "", "DELETE", "/api/v4/projects/999999", "", 401, `{"message":"401 Unauthorized"}`},
			{"group by id", e.RootToken, "GET", "/api/v4/groups/999999", "", 404, groupNF},
			{"group by path", e.RootToken, "GET", "/api/v4/groups/no%2Fsuch", "", 404, groupNF},
			{"group that is a user namespace", e.RootToken, "GET", "/api/v4/groups/alice", "", 404, groupNF},
			{"group update", e.RootToken, "PUT", "/api/v4/groups/999999", `{"name":"x"}`, 404, groupNF},
			{"group delete", e.RootToken, "DELETE", "/api/v4/groups/999999", "", 404, groupNF},
			{"group subgroups", e.RootToken, "GET", "/api/v4/groups/999999/subgroups", "", 404, groupNF},
			{"user", e.RootToken, "GET", "/api/v4/users/999999", "", 404, userNF},
			{"user, anonymous", "", "GET", "/api/v4/users/999999", "", 404, userNF},
			{"user id not a number", e.RootToken, "GET", "/api/v4/users/abc", "", 400, `{"error":"user_id is invalid"}`},
			{"user id negative", e.RootToken, "GET", "/api/v4/users/-1", "", 400, `{"error":"user_id is invalid"}`},
			{"block unknown user", e.RootToken, "POST", "/api/v4/users/999999/block", "", 404, userNF},
			{"token for unknown user", e.RootToken, "POST", "/api/v4/users/999999/personal_access_tokens", `{"name":"t","scopes":["api"]}`, 404, userNF},
			{"add unknown user to project", e.RootToken, "POST", f.projMem, `{"user_id":999999,"access_level":30}`, 404, userNF},
			{"add unknown user to group", e.RootToken, "POST", f.groupMem, `{"user_id":999999,"access_level":30}`, 404, userNF},
			{"get non-member of project", e.RootToken, "GET", f.projMem + "/" + bob, "", 404, memberNF},
			{"get unknown member of project", e.RootToken, "GET", f.projMem + "/999999", "", 404, memberNF},
			{"get non-member, inherited", e.RootToken, "GET", f.projMem + "/all/" + bob, "", 404, memberNF},
			{"member id not a number", e.RootToken, "GET", f.projMem + "/abc", "", 400, `{"error":"user_id is invalid"}`},
			{"update non-member of project", e.RootToken, "PUT", f.projMem + "/" + bob, `{"access_level":30}`, 404, memberNF},
			{"update unknown user in project", e.RootToken, "PUT", f.projMem + "/999999", `{"access_level":30}`, 404, memberNF},
			{"delete non-member of project", e.RootToken, "DELETE", f.projMem + "/" + bob, "", 404, memberNF},
			{"delete unknown user from project", e.RootToken, "DELETE", f.projMem + "/999999", "", 404, memberNF},
			{"update non-member of group", e.RootToken, "PUT", f.groupMem + "/" + bob, `{"access_level":30}`, 404, memberNF},
			{"delete non-member of group", e.RootToken, "DELETE", f.groupMem + "/" + bob, "", 404, memberNF},
			{"delete inherited member from project", e.RootToken, "DELETE", f.projMem + "/1", "", 404, memberNF},
			{"project in unknown namespace", e.RootToken, "POST", "/api/v4/projects", `{"name":"x","namespace_id":999999}`, 404, `{"message":"404 Namespace Not Found"}`},
			{"group under unknown parent", e.RootToken, "POST", "/api/v4/groups", `{"name":"x","path":"x","parent_id":999999}`, 404, `{"message":"404 Parent Group Not Found"}`},
			{"group under a user namespace", e.RootToken, "POST", "/api/v4/groups", fmt.Sprintf(`{"name":"x","path":"x","parent_id":%d}`, bobNS), 404, `{"message":"404 Parent Group Not Found"}`},
			{"get unknown token", e.RootToken, "GET", "/api/v4/personal_access_tokens/999999", "", 404, plainNF},
			{"revoke unknown token", e.RootToken, "DELETE", "/api/v4/personal_access_tokens/999999", "", 404, plainNF},
			{"revoke someone else's token", f.bob.Token, "DELETE", "/api/v4/personal_access_tokens/1", "", 404, plainNF},
			{"token id not a number", e.RootToken, "DELETE", "/api/v4/personal_access_tokens/abc", "", 400, `{"error":"token_id is invalid"}`},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				ct := ""
				if c.body != "" {
					ct = jsonCT
				}
				e.unchanged(t, "/api/v4/groups", func() {
					e.unchanged(t, "/api/v4/projects", func() {
						wantJSON(t, e.call(t, c.method, c.path, c.token, ct, c.body), c.status, c.want)
					})
				})
			})
		}
		// Nothing changed: bob is still nobody's member, root's token works.
		wantJSON(t, e.call(t, "GET", f.projMem+"/"+bob, e.RootToken, "", ""), 404, memberNF)
		wantField(t, e.call(t, "GET", "/api/v4/personal_access_tokens/self", e.RootToken, "", ""), 200, "active", `true`)
	})
}

func TestMemberAccessLevels(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, e *env) {
		f := e.fixture(t)
		const invalidLevel = `{"error":"access_level does not have a valid value"}`
		for _, src := range []struct{ kind, members string }{{"project", f.projMem}, {"group", f.groupMem}} {
			t.Run(src.kind, func(t *testing.T) {
				add := func(level string) string { return fmt.Sprintf(`{"user_id":%d%s}`, f.bob.ID, level) }
				cases := []struct {
					name, method, path, ct, body string
					status                       int
					want                         string
				}{
					{"level 35", "POST", src.members, jsonCT, add(`,"access_level":35`), 400, invalidLevel},
					{"level 0", "POST", src.members, jsonCT, add(`,"access_level":0`), 400, invalidLevel},
					{"level 60", "POST", src.members, jsonCT, add(`,"access_level":60`), 400, invalidLevel},
					{"level negative", "POST", src.members, jsonCT, add(`,"access_level":-10`), 400, invalidLevel},
					{"level huge", "POST", src.members, jsonCT, add(`,"access_level":9223372036854775807`), 400, invalidLevel},
					{"level beyond int64", "POST", src.members, jsonCT, add(`,"access_level":99999999999999999999`), 400, `{"error":"access_level is invalid"}`},
					{"level abc", "POST", src.members, jsonCT, add(`,"access_level":"abc"`), 400, `{"error":"access_level is invalid"}`},
					{"level a fraction", "POST", src.members, jsonCT, add(`,"access_level":30.5`), 400, `{"error":"access_level is invalid"}`},
					{"level a boolean", "POST", src.members, jsonCT, add(`,"access_level":true`), 400, `{"error":"access_level is invalid"}`},
					{"level missing", "POST", src.members, jsonCT, add(``), 400, `{"error":"access_level is missing"}`},
					{"level null", "POST", src.members, jsonCT, add(`,"access_level":null`), 400, `{"error":"access_level is missing"}`},
					{"level abc in a form", "POST", src.members, formCT, fmt.Sprintf("user_id=%d&access_level=abc", f.bob.ID), 400, `{"error":"access_level is invalid"}`},
					{"level 35 in a form", "POST", src.members, formCT, fmt.Sprintf("user_id=%d&access_level=35", f.bob.ID), 400, invalidLevel},
					{"user_id missing", "POST", src.members, jsonCT, `{"access_level":30}`, 400, `{"error":"user_id is missing"}`},
					{"user_id abc", "POST", src.members, jsonCT, `{"user_id":"abc","access_level":30}`, 400, `{"error":"user_id is invalid"}`},
					{"expiry not a date", "POST", src.members, jsonCT, add(`,"access_level":30,"expires_at":"soon"`), 400, `{"error":"expires_at is invalid"}`},
					{"expiry in the past", "POST", src.members, jsonCT, add(`,"access_level":30,"expires_at":"2020-01-01"`), 400, `{"message":{"expires_at":["cannot be a date in the past"]}}`},
					{"existing member", "POST", src.members, jsonCT, fmt.Sprintf(`{"user_id":%d,"access_level":30}`, f.carol.ID), 409, `{"message":"Member already exists"}`},
					{"existing member, other level", "POST", src.members, jsonCT, fmt.Sprintf(`{"user_id":%d,"access_level":20}`, f.carol.ID), 409, `{"message":"Member already exists"}`},
					{"update to 35", "PUT", fmt.Sprintf("%s/%d", src.members, f.carol.ID), jsonCT, `{"access_level":35}`, 400, invalidLevel},
					{"update to abc", "PUT", fmt.Sprintf("%s/%d", src.members, f.carol.ID), jsonCT, `{"access_level":"abc"}`, 400, `{"error":"access_level is invalid"}`},
					{"update without level", "PUT", fmt.Sprintf("%s/%d", src.members, f.carol.ID), jsonCT, `{}`, 400, `{"error":"access_level is missing"}`},
				}
				for _, c := range cases {
					t.Run(c.name, func(t *testing.T) {
						e.unchanged(t, src.members, func() {
							wantJSON(t, e.call(t, c.method, c.path, e.RootToken, c.ct, c.body), c.status, c.want)
						})
					})
				}
				// Carol is unchanged, bob still no member.
				wantField(t, e.call(t, "GET", fmt.Sprintf("%s/%d", src.members, f.carol.ID), e.RootToken, "", ""), 200, "access_level", `30`)
				wantJSON(t, e.call(t, "GET", fmt.Sprintf("%s/%d", src.members, f.bob.ID), e.RootToken, "", ""), 404, `{"message":"404 Member Not Found"}`)
			})
		}

		t.Run("maintainer granting owner", func(t *testing.T) {
			e.unchanged(t, f.projMem, func() {
				wantJSON(t, e.postJSON(t, f.projMem, f.alice.Token, fmt.Sprintf(`{"user_id":%d,"access_level":50}`, f.bob.ID)), 403, `{"message":"403 Forbidden"}`)
			})
			wantJSON(t, e.call(t, "PUT", fmt.Sprintf("%s/%d", f.projMem, f.carol.ID), f.alice.Token, jsonCT, `{"access_level":50}`), 403, `{"message":"403 Forbidden"}`)
			wantJSON(t, e.call(t, "PUT", fmt.Sprintf("%s/%d", f.projMem, f.alice.ID), f.alice.Token, jsonCT, `{"access_level":50}`), 403, `{"message":"403 Forbidden"}`)
			wantField(t, e.call(t, "GET", fmt.Sprintf("%s/%d", f.projMem, f.carol.ID), e.RootToken, "", ""), 200, "access_level", `30`)
			wantField(t, e.call(t, "GET", fmt.Sprintf("%s/%d", f.projMem, f.alice.ID), e.RootToken, "", ""), 200, "access_level", `40`)
			// The control: a Maintainer may grant up to Maintainer.
			wantField(t, e.postJSON(t, f.projMem, f.alice.Token, fmt.Sprintf(`{"user_id":%d,"access_level":40}`, f.bob.ID)), 201, "access_level", `40`)
		})
		t.Run("developer managing members", func(t *testing.T) {
			wantJSON(t, e.call(t, "PUT", fmt.Sprintf("%s/%d", f.projMem, f.bob.ID), f.carol.Token, jsonCT, `{"access_level":10}`), 403, `{"message":"403 Forbidden"}`)
		})
		t.Run("developer managing group members", func(t *testing.T) {
			wantJSON(t, e.call(t, "PUT", fmt.Sprintf("%s/%d", f.groupMem, f.carol.ID), f.carol.Token, jsonCT, `{"access_level":50}`), 403, `{"message":"403 Forbidden"}`)
		})
	})
}

func TestOversizedBodies(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, e *env) {
		f := e.fixture(t)
		const tooLarge = `{"message":"413 Request Entity Too Large"}`
		const twoMiB = 2 << 20
		bigJSON := `{"name":"big","path":"big","description":"` + strings.Repeat("a", twoMiB) + `"}`
		bigForm := "name=big&path=big&description=" + strings.Repeat("a", twoMiB)
		var mp bytes.Buffer
		mw := multipart.NewWriter(&mp)
		mw.WriteField("name", "big")
		mw.WriteField("path", "big")
		mw.WriteField("description", strings.Repeat("a", twoMiB))
		mw.Close()
		cases := []struct {
			name, token, method, path, ct, body string
		}{
			{"JSON", e.RootToken, "POST", "/api/v4/groups", jsonCT, bigJSON},
			{"form", e.RootToken, "POST", "/api/v4/groups", formCT, bigForm},
			{"multipart form", e.RootToken, "POST", "/api/v4/groups", mw.FormDataContentType(), mp.String()},
			{"other content type", e.RootToken, "POST", "/api/v4/groups", "application/octet-stream", bigJSON},
			{"no content type", e.RootToken, "POST", "/api/v4/groups", "", bigJSON},
			{"JSON, anonymous", "", "POST", "/api/v4/groups", jsonCT, bigJSON},
			{"project update", e.RootToken, "PUT", f.projAPI, jsonCT, bigJSON},
			{"member add", e.RootToken, "POST", f.projMem, formCT, bigForm},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				e.unchanged(t, "/api/v4/groups", func() {
					wantJSON(t, e.call(t, c.method, c.path, c.token, c.ct, c.body), http.StatusRequestEntityTooLarge, tooLarge)
				})
			})
		}
		wantJSON(t, e.call(t, "GET", "/api/v4/groups/big", e.RootToken, "", ""), 404, `{"message":"404 Group Not Found"}`)
		wantField(t, e.call(t, "GET", f.projAPI, e.RootToken, "", ""), 200, "name", `"App"`)

		// The limit is 1 MiB: a body of exactly 1 MiB is read, one byte
		// more is refused.
		exact := func(n int, path string) string {
			head := `{"name":"edge","path":"` + path + `","description":"`
			return head + strings.Repeat("d", n-len(head)-2) + `"}`
		}
		t.Run("exactly 1 MiB", func(t *testing.T) {
			body := exact(1<<20, "edge")
			if len(body) != 1<<20 {
				t.Fatalf("body is %d bytes", len(body))
			}
			wantField(t, e.postJSON(t, "/api/v4/groups", e.RootToken, body), 201, "path", `"edge"`)
		})
		t.Run("1 MiB and one byte", func(t *testing.T) {
			e.unchanged(t, "/api/v4/groups", func() {
				wantJSON(t, e.postJSON(t, "/api/v4/groups", e.RootToken, exact(1<<20+1, "edge2")), 413, tooLarge)
			})
		})
	})
}

func TestPagination(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, e *env) {
		f := e.fixture(t)
		listings := []string{
			"/api/v4/projects", "/api/v4/groups", "/api/v4/users", "/api/v4/personal_access_tokens",
			f.projMem, f.projMem + "/all", f.groupMem, f.groupAPI + "/projects", f.groupAPI + "/subgroups",
		}
		const pageInvalid, perPageInvalid = `{"error":"page is invalid"}`, `{"error":"per_page is invalid"}`
		bad := []struct{ query, want string }{
			{"page=abc", pageInvalid},
			{"page=0", pageInvalid},
			{"page=-1", pageInvalid},
			{"page=1.5", pageInvalid},
			{"page=2147483649", pageInvalid},
			{"page=99999999999999999999", pageInvalid},
			{"page=1&page=abc", pageInvalid},
			{"per_page=abc", perPageInvalid},
			{"per_page=0", perPageInvalid},
			{"per_page=-5", perPageInvalid},
			{"per_page=1e3", perPageInvalid},
			{"page=abc&per_page=abc", pageInvalid},
		}
		for _, l := range listings {
			t.Run(l, func(t *testing.T) {
				for _, b := range bad {
					wantJSON(t, e.call(t, "GET", l+"?"+b.query, e.RootToken, "", ""), 400, b.want)
				}
				rec := e.call(t, "GET", l+"?per_page=1000", e.RootToken, "", "")
				wantStatus(t, rec, 200)
				if got := rec.Header.Get("X-Per-Page"); got != "100" {
					t.Errorf("per_page=1000: X-Per-Page %q, want 100", got)
				}
				// Far beyond the last page: an empty page, not an error.
				rec = e.call(t, "GET", l+"?page=2147483648", e.RootToken, "", "")
				wantJSON(t, rec, 200, `[]`)
				if got := rec.Header.Get("X-Page"); got != "2147483648" {
					t.Errorf("X-Page %q", got)
				}
			})
		}
		// per_page clamps; page and per_page shape the listing.
		for i := 0; i < 3; i++ {
			wantStatus(t, e.postJSON(t, "/api/v4/projects", e.RootToken, fmt.Sprintf(`{"name":"p%d"}`, i)), 201)
		}
		rec := e.call(t, "GET", "/api/v4/projects?per_page=2&page=2&order_by=id&sort=asc", e.RootToken, "", "")
		wantStatus(t, rec, 200)
		for h, want := range map[string]string{"X-Total": "4", "X-Total-Pages": "2", "X-Page": "2", "X-Per-Page": "2", "X-Next-Page": "", "X-Prev-Page": "1"} {
			if got := rec.Header.Get(h); got != want {
				t.Errorf("%s = %q, want %q", h, got, want)
			}
		}
		if v, ok := decode(t, rec).([]any); !ok || len(v) != 2 {
			t.Errorf("page 2 of 2: %s", string(rec.Body))
		}
	})
}

func TestNamesAndPaths(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, e *env) {
		f := e.fixture(t)
		const badPath = `["can contain only letters, digits, '_', '-' and '.'. Cannot start with '-', end in '.git' or end in '.atom'"]`
		const taken = `{"message":{"path":["has already been taken"]}}`

		t.Run("group paths", func(t *testing.T) {
			for _, c := range []struct{ path, want string }{
				{"-bad", `{"message":{"path":` + badPath + `}}`},
				{".bad", `{"message":{"path":` + badPath + `}}`},
				{"a..b", `{"message":{"path":` + badPath + `}}`},
				{"x.git", `{"message":{"path":` + badPath + `}}`},
				{"x.GIT", `{"message":{"path":` + badPath + `}}`},
				{"x.atom", `{"message":{"path":` + badPath + `}}`},
				{"bad.", `{"message":{"path":` + badPath + `}}`},
				{"with space", `{"message":{"path":` + badPath + `}}`},
				{"a/b", `{"message":{"path":` + badPath + `}}`},
				{"ünï", `{"message":{"path":` + badPath + `}}`},
				{strings.Repeat("a", 256), `{"message":{"path":["is too long (maximum is 255 characters)"]}}`},
				{"api", `{"message":{"path":["api is a reserved name"]}}`},
				{"API", `{"message":{"path":["API is a reserved name"]}}`},
				{"groups", `{"message":{"path":["groups is a reserved name"]}}`},
				{"", `{"error":"path is missing"}`},
				{"GRP", taken},   // an existing group, case-insensitively
				{"alice", taken}, // a user's namespace
			} {
				t.Run(c.path, func(t *testing.T) {
					e.unchanged(t, "/api/v4/groups", func() {
						wantJSON(t, e.postJSON(t, "/api/v4/groups", e.RootToken, fmt.Sprintf(`{"name":"n","path":%q}`, c.path)), 400, c.want)
					})
					if c.path != "" && !strings.EqualFold(c.path, "grp") && c.path != "alice" {
						wantJSON(t, e.call(t, "GET", "/api/v4/groups/"+url.PathEscape(c.path), e.RootToken, "", ""), 404, `{"message":"404 Group Not Found"}`)
					}
				})
			}
			// A reserved name is fine below the top level.
			wantField(t, e.postJSON(t, "/api/v4/groups", e.RootToken, fmt.Sprintf(`{"name":"api","path":"api","parent_id":%d}`, f.group)), 201, "full_path", `"grp/api"`)
		})

		t.Run("group path of an existing project", func(t *testing.T) {
			e.unchanged(t, "/api/v4/groups", func() {
				wantJSON(t, e.postJSON(t, "/api/v4/groups", e.RootToken, fmt.Sprintf(`{"name":"app","path":"app","parent_id":%d}`, f.group)), 400, taken)
				wantJSON(t, e.postJSON(t, "/api/v4/groups", e.RootToken, fmt.Sprintf(`{"name":"app","path":"APP","parent_id":%d}`, f.group)), 400, taken)
			})
			wantJSON(t, e.call(t, "GET", "/api/v4/groups/grp%2Fapp", e.RootToken, "", ""), 404, `{"message":"404 Group Not Found"}`)
		})

		t.Run("project paths", func(t *testing.T) {
			for _, c := range []struct{ body, want string }{
				{`{"name":"n","path":"-bad"}`, `{"message":{"path":` + badPath + `}}`},
				{`{"name":"n","path":"a..b"}`, `{"message":{"path":` + badPath + `}}`},
				{`{"name":"n","path":"x.git"}`, `{"message":{"path":` + badPath + `}}`},
				{`{"name":"n","path":""}`, `{"message":{"path":["can't be blank"]}}`},
				{`{"name":"!!!"}`, `{"message":{"path":["can't be blank"]}}`}, // nothing to slug
				{`{"name":"","path":"ok"}`, `{"message":{"name":["can't be blank"]}}`},
				{`{"name":"a\tb","path":"ok"}`, `{"message":{"name":["can contain only printable characters"]}}`},
				{`{"name":"n","default_branch":"bad..branch"}`, `{"message":{"default_branch":["is not a valid branch name"]}}`},
				{`{"name":"n","path":"ok","visibility":"public","namespace_id":` + fmt.Sprint(f.group) + `}`, `{"message":{"visibility_level":["public is not allowed in a private group."]}}`},
				{fmt.Sprintf(`{"name":"App 2","path":"app","namespace_id":%d}`, f.group), taken},
				{fmt.Sprintf(`{"name":"App 2","path":"APP","namespace_id":%d}`, f.group), taken},
				{fmt.Sprintf(`{"name":"App","namespace_id":%d}`, f.group), taken}, // slug of the name
			} {
				t.Run(c.body, func(t *testing.T) {
					e.unchanged(t, "/api/v4/projects", func() {
						wantJSON(t, e.postJSON(t, "/api/v4/projects", e.RootToken, c.body), 400, c.want)
					})
				})
			}
		})

		t.Run("project path of an existing subgroup", func(t *testing.T) {
			wantStatus(t, e.postJSON(t, "/api/v4/groups", e.RootToken, fmt.Sprintf(`{"name":"sub","path":"sub","parent_id":%d}`, f.group)), 201)
			e.unchanged(t, "/api/v4/projects", func() {
				wantJSON(t, e.postJSON(t, "/api/v4/projects", e.RootToken, fmt.Sprintf(`{"name":"sub","path":"sub","namespace_id":%d}`, f.group)), 400, taken)
			})
			wantJSON(t, e.call(t, "GET", "/api/v4/projects/grp%2Fsub", e.RootToken, "", ""), 404, `{"message":"404 Project Not Found"}`)
		})

		t.Run("renames", func(t *testing.T) {
			other := idOf(t, e.postJSON(t, "/api/v4/projects", e.RootToken, fmt.Sprintf(`{"name":"Other","path":"other","namespace_id":%d}`, f.group)))
			otherAPI := fmt.Sprintf("/api/v4/projects/%d", other)
			wantJSON(t, e.call(t, "PUT", otherAPI, e.RootToken, jsonCT, `{"path":"app"}`), 400, taken)
			wantJSON(t, e.call(t, "PUT", otherAPI, e.RootToken, jsonCT, `{"path":"x.git"}`), 400, `{"message":{"path":`+badPath+`}}`)
			wantJSON(t, e.call(t, "PUT", f.groupAPI, e.RootToken, jsonCT, `{"path":"api"}`), 400, `{"message":{"path":["api is a reserved name"]}}`)
			wantJSON(t, e.call(t, "PUT", f.groupAPI, e.RootToken, jsonCT, `{"path":"bob"}`), 400, taken)
			wantField(t, e.call(t, "GET", otherAPI, e.RootToken, "", ""), 200, "path_with_namespace", `"grp/other"`)
			wantField(t, e.call(t, "GET", f.groupAPI, e.RootToken, "", ""), 200, "full_path", `"grp"`)
		})

		t.Run("rename changing only case", func(t *testing.T) {
			wantField(t, e.call(t, "PUT", f.projAPI, e.RootToken, jsonCT, `{"path":"App"}`), 200, "path", `"App"`)
		})

		t.Run("usernames", func(t *testing.T) {
			e.unchanged(t, "/api/v4/users", func() {
				wantJSON(t, e.postJSON(t, "/api/v4/users", e.RootToken, `{"username":"a..b","name":"n","email":"n@example.com"}`), 400, `{"message":{"username":`+badPath+`}}`)
				wantJSON(t, e.postJSON(t, "/api/v4/users", e.RootToken, `{"username":"help","name":"n","email":"n@example.com"}`), 400, `{"message":{"username":["help is a reserved name"]}}`)
			})
		})
	})
}

func TestUnknownRoutes(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, e *env) {
		for _, c := range []struct{ method, path string }{
			{"GET", "/api/v4/nope"},
			{"GET", "/api/v4/"},
			{"GET", "/api/v4/projects/1/nope"},
			{"GET", "/api/v4/groups/1/members/1/extra"},
			{"POST", "/api/v4/user"},
			{"PATCH", "/api/v4/projects"},
			{"DELETE", "/api/v4/users"},
			{"GET", "/api/v4/projects/1/no_such_resource"},
			{"PUT", "/api/v4/personal_access_tokens"},
		} {
			for _, tok := range []string{"", e.RootToken} {
				wantJSON(t, e.call(t, c.method, c.path, tok, "", ""), 404, `{"error":"404 Not Found"}`)
			}
		}
	})
}

// Credentials travel in the private_token parameter (query or form), the
// PRIVATE-TOKEN header and Authorization: Bearer. None may reach the log,
// whether the request succeeds or fails; the harness checks every
// token it has seen against the whole log, this test drives the
// transports.
func TestLogNeverContainsTokens(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, e *env) {
		f := e.fixture(t)
		revoked := e.CreateUser(t, "revoked")
		rec := e.call(t, "GET", "/api/v4/personal_access_tokens/self", revoked.Token, "", "")
		tokID, _ := field(wantStatus(t, rec, 200), "id")
		wantStatus(t, e.call(t, "DELETE", fmt.Sprintf("/api/v4/personal_access_tokens/%v", tokID), revoked.Token, "", ""), 204)
		bogus := "cwpat-this-is-not-a-real-token-7fK2pQ"
		e.Remember(bogus)

		withQuery := func(method, path, tok string, body io.Reader) *http.Request {
			sep := "?"
			if strings.Contains(path, "?") {
				sep = "&"
			}
			return e.newReq(method, path+sep+"private_token="+url.QueryEscape(tok), body)
		}
		type step struct {
			name   string
			req    *http.Request
			status int
		}
		var steps []step
		for _, tok := range []struct {
			name, value string
			status      int
		}{{"valid", f.alice.Token, 200}, {"root", e.RootToken, 200}, {"revoked", revoked.Token, 401}, {"bogus", bogus, 401}} {
			hdr := e.newReq("GET", "/api/v4/user", nil)
			hdr.Header.Set("PRIVATE-TOKEN", tok.value)
			bearer := e.newReq("GET", "/api/v4/user", nil)
			bearer.Header.Set("Authorization", "Bearer "+tok.value)
			form := e.newReq("POST", "/api/v4/groups", strings.NewReader("name=-bad&path=-bad&private_token="+url.QueryEscape(tok.value)))
			form.Header.Set("Content-Type", formCT)
			formStatus := 400
			if tok.status == 401 {
				formStatus = 401
			}
			big := withQuery("POST", "/api/v4/groups", tok.value, strings.NewReader(strings.Repeat("x", 2<<20)))
			big.Header.Set("Content-Type", jsonCT)
			notFound := 404
			if tok.status == 401 {
				notFound = 401
			}
			steps = append(steps,
				step{tok.name + " in query", withQuery("GET", "/api/v4/user", tok.value, nil), tok.status},
				step{tok.name + " in query, listing", withQuery("GET", "/api/v4/projects?per_page=1", tok.value, nil), tok.status},
				step{tok.name + " in header", hdr, tok.status},
				step{tok.name + " as bearer", bearer, tok.status},
				step{tok.name + " in form", form, formStatus},
				step{tok.name + " in query, not found", withQuery("GET", "/api/v4/projects/999999", tok.value, nil), notFound},
				step{tok.name + " in query, bad param", withQuery("GET", "/api/v4/users/abc", tok.value, nil), map[bool]int{true: 401, false: 400}[tok.status == 401]},
				step{tok.name + " in query, unknown route", withQuery("GET", "/api/v4/nope", tok.value, nil), 404},
				step{tok.name + " in query, oversized body", big, 413},
			)
		}
		dup := e.newReq("GET", "/api/v4/user?private_token="+f.alice.Token+"&private_token="+f.bob.Token, nil)
		steps = append(steps, step{"repeated parameter", dup, 401})
		two := e.newReq("GET", "/api/v4/user", nil)
		two.Header.Add("PRIVATE-TOKEN", f.alice.Token)
		two.Header.Add("PRIVATE-TOKEN", f.bob.Token)
		steps = append(steps, step{"repeated header", two, 401})

		for _, s := range steps {
			rec := e.Send(t, s.req)
			if rec.Status != s.status {
				t.Errorf("%s: status %d, want %d; body %s", s.name, rec.Status, s.status, shorten(string(rec.Body)))
			}
			for _, tok := range []string{e.RootToken, f.alice.Token, f.bob.Token, revoked.Token, bogus} {
				for k, vs := range rec.Header {
					for _, v := range vs {
						if strings.Contains(v, tok) {
							t.Errorf("%s: response header %s repeats a token: %s", s.name, k, v)
						}
					}
				}
				if strings.Contains(string(rec.Body), tok) {
					t.Errorf("%s: response body repeats a token", s.name)
				}
			}
		}
		log := e.Log()
		if !strings.Contains(log, "path=/api/v4/user ") || !strings.Contains(log, "status=401") {
			t.Fatalf("the request log was not captured:\n%s", log)
		}
		if strings.Contains(log, "private_token=") || strings.Contains(log, "cwpat-") {
			t.Errorf("the log carries a credential parameter or token prefix:\n%s", log)
		}
		// The harness checks every token against the log, raw and masked.
	})
}

// Strings the database cannot store or search (NUL bytes in PostgreSQL
// text, invalid UTF-8) must be refused as bad input, the same way on both
// dialects, as GitLab's HandleMalformedStrings middleware refuses them
// (400), never a 500.
func TestMalformedStrings(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, e *env) {
		f := e.fixture(t)
		const both, pgOnly = "sqlite postgres", "postgres"
		cases := []struct {
			name, method, path, ct, body string
			// notFoundOK: a lookup by such a path may also answer 404.
			notFoundOK bool
			// bugOn lists the dialects where this case fails today.
			bugOn string
		}{
			{"group description with NUL", "POST", "/api/v4/groups", jsonCT, `{"name":"g","path":"nulgrp","description":"a\u0000b"}`, false, both},
			{"group name invalid UTF-8", "POST", "/api/v4/groups", formCT, "name=%FF%FE&path=utf8grp", false, both},
			{"project description with NUL", "POST", "/api/v4/projects", jsonCT, `{"name":"nulproj","description":"\u0000"}`, false, both},
			{"project name invalid UTF-8", "POST", "/api/v4/projects", formCT, "name=x%C3&path=utf8proj", false, both},
			{"project name with NUL", "POST", "/api/v4/projects", jsonCT, `{"name":"x\u0000"}`, false, ""},
			{"project update description NUL", "PUT", f.projAPI, jsonCT, `{"description":"x\u0000y"}`, false, both},
			{"user name invalid UTF-8", "POST", "/api/v4/users", formCT, "username=utf8user&email=utf8user%40example.com&name=%FF", false, both},
			{"user email with NUL", "POST", "/api/v4/users", formCT, "username=nuluser&name=n&email=nul%00user%40example.com", false, ""},
			{"token name invalid UTF-8", "POST", fmt.Sprintf("/api/v4/users/%d/personal_access_tokens", f.bob.ID), formCT, "name=%FF&scopes=api", false, both},
			{"project search NUL", "GET", "/api/v4/projects?search=%00", "", "", false, both},
			{"group search NUL", "GET", "/api/v4/groups?search=a%00", "", "", false, both},
			{"username filter NUL", "GET", "/api/v4/users?username=%00", "", "", false, both},
			{"username filter invalid UTF-8", "GET", "/api/v4/users?username=%FF", "", "", false, both},
			{"group by path NUL", "GET", "/api/v4/groups/%00", "", "", true, pgOnly},
			{"group by path invalid UTF-8", "GET", "/api/v4/groups/%FF", "", "", true, pgOnly},
			{"project by path NUL", "GET", "/api/v4/projects/grp%2F%00", "", "", true, pgOnly},
			{"project by path invalid UTF-8", "GET", "/api/v4/projects/grp%2F%FF", "", "", true, pgOnly},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				if strings.Contains(c.bugOn, e.dialect) {
				}
				rec := e.call(t, c.method, c.path, e.RootToken, c.ct, c.body)
				if c.notFoundOK && rec.Status == 404 {
					return
				}
				body := wantStatus(t, rec, 400)
				_, hasErr := field(body, "error")
				_, hasMsg := field(body, "message")
				if !hasErr && !hasMsg {
					t.Errorf("400 without error or message: %s", string(rec.Body))
				}
			})
		}
		wantField(t, e.call(t, "GET", f.projAPI, e.RootToken, "", ""), 200, "description", `""`)
	})
}

// Duplicates sent at the same moment get the answer a sequential duplicate
// gets: one is created, every other is the same conflict, none is a 500.
func TestConcurrentDuplicates(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, e *env) {
		f := e.fixture(t)
		const n = 8
		race := func(t *testing.T, listing string, body func(i int) (path, json string), created int, conflict string, conflictStatus int) {
			t.Helper()
			before := e.total(t, listing)
			recs := make([]*testserver.Resp, n)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					p, b := body(i)
					<-start
					recs[i] = e.postJSON(t, p, e.RootToken, b)
				}()
			}
			close(start)
			wg.Wait()
			ok := 0
			for _, rec := range recs {
				if rec.Status == created {
					ok++
					continue
				}
				if rec.Status != conflictStatus || strings.TrimSpace(string(rec.Body)) != conflict {
					t.Errorf("status %d body %s, want %d %s", rec.Status, strings.TrimSpace(string(rec.Body)), conflictStatus, conflict)
				}
			}
			if ok != 1 {
				t.Errorf("%d of %d created, want 1", ok, n)
			}
			if after := e.total(t, listing); after != before+1 {
				t.Errorf("%s: X-Total %d -> %d, want one more", listing, before, after)
			}
		}
		t.Run("same username", func(t *testing.T) {
			if e.dialect == "postgres" {
			}
			race(t, "/api/v4/users", func(i int) (string, string) {
				return "/api/v4/users", fmt.Sprintf(`{"username":"racer","name":"R","email":"racer%d@example.com"}`, i)
			}, 201, `{"message":"Username has already been taken"}`, 409)
		})
		t.Run("same email", func(t *testing.T) {
			if e.dialect == "postgres" {
			}
			race(t, "/api/v4/users", func(i int) (string, string) {
				return "/api/v4/users", fmt.Sprintf(`{"username":"mailer%d","name":"M","email":"same@example.com"}`, i)
			}, 201, `{"message":"Email has already been taken"}`, 409)
		})
		t.Run("same group path", func(t *testing.T) {
			race(t, "/api/v4/groups", func(int) (string, string) {
				return "/api/v4/groups", `{"name":"Racing","path":"racing"}`
			}, 201, `{"message":{"path":["has already been taken"]}}`, 400)
		})
		t.Run("same project path", func(t *testing.T) {
			race(t, "/api/v4/projects", func(int) (string, string) {
				return "/api/v4/projects", fmt.Sprintf(`{"name":"Racing","namespace_id":%d}`, f.group)
			}, 201, `{"message":{"path":["has already been taken"]}}`, 400)
		})
		t.Run("same member", func(t *testing.T) {
			race(t, f.projMem, func(int) (string, string) {
				return f.projMem, fmt.Sprintf(`{"user_id":%d,"access_level":20}`, f.bob.ID)
			}, 201, `{"message":"Member already exists"}`, 409)
		})
	})
}
