package e2e

import (
	"encoding/csv"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ciwarden/ciwarden/internal/testdb"
	"github.com/ciwarden/ciwarden/internal/testserver"
)

// TestJobTokenScope is issue 7's acceptance with the built-in runner, on
// both databases. Project team/a's job reaches the artifacts, package and
// repository of the private team/b only once team/b allowlists team/a,
// and, with team/a's outbound limit on, only once team/a lists team/b; a
// job declaring `job_token: permissions: [read_packages]` reads but cannot
// publish in its own project; removing an entry denies the very next
// request of a live token; the authentication log shows allowed and
// denied uses; explain names the failed check. The internal shared/c,
// where the job's user is no member, is readable by the job with and
// without an entry (GitLab-#333444 must not exist here) but never
// writable.
func TestJobTokenScope(t *testing.T) {
	for _, d := range testdb.Dialects {
		t.Run(d, func(t *testing.T) {
			s := start(t, testserver.Options{Dialect: d, Args: []string{"--runners", "2", "--runner-long-poll", "2s"}})
			testJobTokenScope(t, s)
		})
	}
}

// jtsProducerCI is team/b's and shared/c's pipeline: artifacts, and a
// generic package published by the project's own job with its token.
const jtsProducerCI = `build:
  script:
    - mkdir -p out && echo "artifact of $CI_PROJECT_PATH" > out/result.txt
    - echo "package of $CI_PROJECT_PATH" > pkg.bin
    - 'code=$(curl -s -o put.out -w "%{http_code}" --header "JOB-TOKEN: $CI_JOB_TOKEN" --upload-file pkg.bin "$CI_API_V4_URL/projects/$CI_PROJECT_ID/packages/generic/mypkg/1.0.0/pkg.bin"); echo "own upload $code"; test "$code" = 201'
  artifacts:
    paths: [out/]
`

// jtsCI is team/a's pipeline: only API pipelines run, and MODE picks the
// job. probe tries other projects; hold keeps a live token for the test
// (it writes it to TOKEN_FILE and waits for STOP_FILE); narrow declares
// per-job permissions.
const jtsCI = `workflow:
  rules:
    - if: $CI_PIPELINE_SOURCE == "api"
probe:
  rules:
    - if: $MODE == "probe"
  script:
    - bash probe.sh
hold:
  rules:
    - if: $MODE == "hold"
  script:
    - printf '%s' "$CI_JOB_TOKEN" > "$TOKEN_FILE.tmp" && mv "$TOKEN_FILE.tmp" "$TOKEN_FILE"
    - while [ ! -e "$STOP_FILE" ]; do sleep 0.1; done
narrow:
  rules:
    - if: $MODE == "narrow"
  job_token:
    permissions: [read_packages]
  script:
    - bash narrow.sh
`

// jtsProbeScript tries, for each "id:path" of $TARGETS, the target's
// artifacts (job_token parameter), package (JOB-TOKEN header), repository
// (git clone as gitlab-ci-token) and a package upload, and prints a
// RESULT line of status codes plus each body or content. It never fails
// the job: the test judges.
const jtsProbeScript = `for target in $TARGETS; do
  id=${target%%:*}
  path=${target#*:}
  api="$CI_API_V4_URL/projects/$id"
  art=$(curl -sL -o art.out -w '%{http_code}' "$api/jobs/artifacts/main/download?job=build&job_token=$CI_JOB_TOKEN")
  if [ "$art" = 200 ]; then
    echo "CONTENT $path artifacts $(unzip -p art.out out/result.txt)"
  else
    echo "BODY $path artifacts $(cat art.out)"
  fi
  pkg=$(curl -s -o pkg.out -w '%{http_code}' -H "JOB-TOKEN: $CI_JOB_TOKEN" "$api/packages/generic/mypkg/1.0.0/pkg.bin")
  if [ "$pkg" = 200 ]; then kind=CONTENT; else kind=BODY; fi
  echo "$kind $path package $(cat pkg.out)"
  dir=$(mktemp -d)
  if git clone -q "${CI_SERVER_URL/:\/\//://gitlab-ci-token:$CI_JOB_TOKEN@}/$path.git" "$dir/repo" 2> clone.err; then
    clone=ok
    echo "CONTENT $path clone $(cat "$dir/repo/data.txt")"
  else
    clone=fail
    echo "BODY $path clone $(grep '^remote: ' clone.err) / $(grep -o 'The requested URL returned error: [0-9]*' clone.err)"
  fi
  rm -rf "$dir"
  echo "upload from $CI_PROJECT_PATH" > put.bin
  put=$(curl -s -o put.out -w '%{http_code}' -H "JOB-TOKEN: $CI_JOB_TOKEN" --upload-file put.bin "$api/packages/generic/probe/$CI_JOB_ID/put.bin")
  echo "BODY $path put $(cat put.out)"
  echo "RESULT $path artifacts=$art package=$pkg clone=$clone put=$put"
done
`

// jtsNarrowScript runs under job_token: permissions: [read_packages]: it
// reads and uploads a package in its own project, reads team/b's package
// and lists both repositories, printing a NARROW line for each.
const jtsNarrowScript = `own="$CI_API_V4_URL/projects/$CI_PROJECT_ID"
code=$(curl -s -o out -w '%{http_code}' -H "JOB-TOKEN: $CI_JOB_TOKEN" "$own/packages/generic/own/1.0.0/own.bin")
echo "NARROW own-get $code $(cat out)"
echo new > new.bin
code=$(curl -s -o out -w '%{http_code}' -H "JOB-TOKEN: $CI_JOB_TOKEN" --upload-file new.bin "$own/packages/generic/own/2.0.0/new.bin")
echo "NARROW own-put $code $(cat out)"
code=$(curl -s -o out -w '%{http_code}' -H "JOB-TOKEN: $CI_JOB_TOKEN" "$CI_API_V4_URL/projects/$B_ID/packages/generic/mypkg/1.0.0/pkg.bin")
echo "NARROW b-get $code $(cat out)"
for repo in own:$CI_PROJECT_PATH b:$B_PATH; do
  if git ls-remote "${CI_SERVER_URL/:\/\//://gitlab-ci-token:$CI_JOB_TOKEN@}/${repo#*:}.git" refs/heads/main > lsr.out 2> lsr.err; then
    echo "NARROW ${repo%%:*}-ls-remote ok $(cut -f1 lsr.out)"
  else
    echo "NARROW ${repo%%:*}-ls-remote fail $(grep '^remote: ' lsr.err)"
  fi
done
`

func testJobTokenScope(t *testing.T, s *testserver.Server) {
	alice := s.CreateUser(t, "alice") // runs team/a's pipelines
	bob := s.CreateUser(t, "bob")     // Developer of team/b only
	carol := s.CreateUser(t, "carol") // Maintainer of shared, sees nothing of team
	team := s.CreateGroup(t, "team", 0, "private")
	s.AddMember(t, "groups", team, alice.ID, 30)
	bID, bPath := s.CreateProject(t, team, "b", "private").IDPath()
	aID, aPath := s.CreateProject(t, team, "a", "private").IDPath()
	s.AddMember(t, "projects", bID, bob.ID, 30)
	shared := s.CreateGroup(t, "shared", 0, "internal")
	s.AddMember(t, "groups", shared, carol.ID, 40)
	cID, cPath := s.CreateProject(t, shared, "c", "internal").IDPath()
	// shared/d: internal too, and alice is a Developer there.
	dID := s.CreateProject(t, shared, "d", "internal").ID
	s.AddMember(t, "projects", dID, alice.ID, 30)
	if aPath != "team/a" || bPath != "team/b" || cPath != "shared/c" {
		t.Fatalf("project paths %s, %s, %s", aPath, bPath, cPath)
	}

	// team/b and shared/c publish artifacts and a package from their own
	// jobs: a job token needs nothing to publish in its own project.
	g := testserver.NewGit(t)
	push := func(user testserver.User, path string, files map[string]string) string {
		dir := g.Init(t, s.GitURL(user.Username, user.Token, path))
		sha := g.Commit(t, dir, "ci", files)
		g.Run(t, dir, "push", "--quiet", "origin", "HEAD:main")
		return sha
	}
	for _, p := range []struct {
		id   int64
		path string
		who  testserver.User
	}{{bID, bPath, alice}, {cID, cPath, carol}} {
		push(p.who, p.path, map[string]string{".gitlab-ci.yml": jtsProducerCI, "data.txt": "repository of " + p.path + "\n"})
		pl := waitPipeline(t, s, p.id, p.who.Token, 0)
		if st := pipelineStatus(t, s, p.id, pl, p.who.Token); st != "success" {
			j := pipelineJob(t, s, p.id, pl, "build", p.who.Token)
			t.Fatalf("%s's own pipeline: %s; log:\n%s", p.path, st, jobLog(t, s, p.id, j, p.who.Token))
		}
	}
	aHead := push(alice, aPath, map[string]string{".gitlab-ci.yml": jtsCI, "probe.sh": jtsProbeScript, "narrow.sh": jtsNarrowScript})
	// team/a's own package, for the narrowed job to read.
	checkJSON(t, s.Expect(t, "PUT", api+"/projects/"+testserver.Itoa(aID)+"/packages/generic/own/1.0.0/own.bin", s.RootToken,
		"own package of team/a\n", http.StatusCreated), `{"message":"201 Created"}`)

	scopeB := "Authentication by CI/CD job token not allowed from team/a to team/b."
	targets := testserver.Itoa(bID) + ":" + bPath + " " + testserver.Itoa(cID) + ":" + cPath
	probe := func(step string) (int64, map[string]*jtsResult) {
		t.Helper()
		job, log := jtsRun(t, s, aID, alice.Token, "probe", map[string]string{"MODE": "probe", "TARGETS": targets})
		return job, jtsParseProbe(t, step, log, bPath, cPath)
	}

	// 1. Nothing allowlisted. alice sees team/b (she is a Developer in
	// team), so each refusal is the scope's 403, not a 404. shared/c is
	// internal: an unlisted caller keeps what any signed-in user may read,
	// and nothing that needs a role.
	firstProbe, r := probe("before any entry")
	jtsDenied(t, "before any entry", r[bPath], scopeB)
	jtsReadable(t, "before any entry", r[cPath], cPath)
	// alice holds no role on shared/c: the role check refuses the upload
	// before the feature check could (see shared/d in jtsHold for that).
	jtsPut(t, "before any entry", r[cPath], http.StatusForbidden, "403 Forbidden")

	// 2. team/b and shared/c allowlist team/a. team/b: everything alice's
	// role allows, her upload included. shared/c: reads, but alice holds
	// no role there to upload with.
	s.AllowJobTokens(t, bID, aID)
	s.AllowJobTokens(t, cID, aID)
	_, r = probe("after the inbound entries")
	jtsReadable(t, "after the inbound entries", r[bPath], bPath)
	jtsPut(t, "after the inbound entries", r[bPath], http.StatusCreated, "201 Created")
	jtsReadable(t, "after the inbound entries", r[cPath], cPath)
	jtsPut(t, "after the inbound entries", r[cPath], http.StatusForbidden, "403 Forbidden")

	// 3. team/a limits its token's reach: private team/b is refused until
	// team/a lists it; internal shared/c is exempt.
	s.Expect(t, "PATCH", api+"/projects/"+testserver.Itoa(aID)+"/job_token_scope", s.RootToken, map[string]any{"outbound_enabled": true}, http.StatusNoContent)
	checkJSON(t, s.Expect(t, "GET", api+"/projects/"+testserver.Itoa(aID)+"/job_token_scope", s.RootToken, nil, http.StatusOK),
		`{"inbound_enabled":true,"outbound_enabled":true}`)
	_, r = probe("outbound limit on, team/b unlisted")
	jtsDenied(t, "outbound limit on, team/b unlisted", r[bPath], scopeB)
	jtsReadable(t, "outbound limit on, team/b unlisted", r[cPath], cPath)
	jtsPut(t, "outbound limit on, team/b unlisted", r[cPath], http.StatusForbidden, "403 Forbidden")

	checkJSON(t, s.Expect(t, "POST", api+"/projects/"+testserver.Itoa(aID)+"/job_token_scope/outbound_allowlist", s.RootToken,
		map[string]any{"target_project_id": bID}, http.StatusCreated), `{"source_project_id":`+testserver.Itoa(aID)+`,"target_project_id":`+testserver.Itoa(bID)+`}`)
	_, r = probe("outbound limit on, team/b listed")
	jtsReadable(t, "outbound limit on, team/b listed", r[bPath], bPath)
	jtsPut(t, "outbound limit on, team/b listed", r[bPath], http.StatusCreated, "201 Created")
	jtsReadable(t, "outbound limit on, team/b listed", r[cPath], cPath)

	// A finished job's token is dead: explain says so first.
	e := jtsExplain(t, s, s.RootToken, bID, firstProbe, "read_packages", http.StatusOK)
	jtsCheckExplain(t, "finished probe job", e, false, "liveness", http.StatusUnauthorized, "401 Unauthorized")

	// 4. A live token: removing an entry refuses its very next request,
	// in either direction, and adding it back lets the next one in.
	jtsHold(t, s, aID, bID, cID, dID, alice, bob, carol, scopeB)

	// 5. job_token: permissions: [read_packages] reads packages (its own
	// project's and team/b's) and nothing else, except that its own
	// repository stays readable (the runner checked it out).
	_, log := jtsRun(t, s, aID, alice.Token, "narrow", map[string]string{"MODE": "narrow", "B_ID": testserver.Itoa(bID), "B_PATH": bPath})
	narrow := jtsLines(log, "NARROW ")
	want := map[string]string{
		"own-get":       "200 own package of team/a",
		"own-put":       `403 {"message":"Insufficient permissions to access this resource in project team/a. The following token permission is required: admin_packages."}`,
		"b-get":         "200 package of team/b",
		"own-ls-remote": "ok " + aHead,
		"b-ls-remote":   "fail remote: Insufficient permissions to access this resource in project team/b. The following token permission is required: read_repositories.",
	}
	for k, w := range want {
		if got, ok := narrow[k]; !ok || got != w {
			t.Errorf("narrowed job, %s: %q, want %q; log:\n%s", k, got, w, log)
		}
	}
	s.Expect(t, "GET", api+"/projects/"+testserver.Itoa(aID)+"/packages/generic/own/2.0.0/new.bin", s.RootToken, nil, http.StatusNotFound)

	// An unknown permission fails the pipeline at creation, at its line.
	bad := "bad:\n  job_token:\n    permissions:\n      - read_packages\n      - read_everything\n  script: echo\n"
	work := g.Init(t, s.GitURL(alice.Username, alice.Token, aPath))
	g.Commit(t, work, "bad permission", map[string]string{".gitlab-ci.yml": bad})
	g.Run(t, work, "push", "--quiet", "origin", "HEAD:bad")
	pushed := s.Expect(t, "GET", api+"/projects/"+testserver.Itoa(aID)+"/pipelines?ref=bad", alice.Token, nil, http.StatusOK).List(t)
	if len(pushed) != 1 {
		t.Fatalf("the push of branch bad created %d pipelines, want 1", len(pushed))
	}
	p := s.Expect(t, "GET", api+"/projects/"+testserver.Itoa(aID)+"/pipelines/"+testserver.Itoa(testserver.Num(t, pushed[0], "id")), alice.Token, nil, http.StatusOK).Object(t)
	if p["status"] != "failed" || p["yaml_errors"] != `line 5: job_token:permissions: unknown permission "read_everything"` {
		t.Errorf("pipeline with an unknown job_token permission: status %v, yaml_errors %v; want failed at line 5", p["status"], p["yaml_errors"])
	}
	if jobs := s.Expect(t, "GET", api+"/projects/"+testserver.Itoa(aID)+"/pipelines/"+testserver.Itoa(testserver.Num(t, p, "id"))+"/jobs", alice.Token, nil, http.StatusOK).List(t); len(jobs) != 0 {
		t.Errorf("the failed pipeline has %d jobs, want none", len(jobs))
	}
	// The API refuses the same file and saves nothing.
	refused := s.Expect(t, "POST", api+"/projects/"+testserver.Itoa(aID)+"/pipeline", alice.Token, map[string]any{"ref": "bad"}, http.StatusBadRequest)
	checkJSON(t, refused, `{"message":{"base":["line 5: job_token:permissions: unknown permission \"read_everything\""]}}`)
	if after := s.Expect(t, "GET", api+"/projects/"+testserver.Itoa(aID)+"/pipelines?ref=bad", alice.Token, nil, http.StatusOK).List(t); len(after) != 1 {
		t.Errorf("the refused POST /pipeline saved a pipeline: %d on branch bad, want 1", len(after))
	}

	// 6. The authentication log of each target shows team/a's allowed and
	// denied uses: last on team/b came the narrowed job's refused
	// ls-remote, last on shared/c the probe's upload, which alice's role
	// (none) refused.
	row := jtsAuthRow(t, s, bID, aID)
	jtsCheckRow(t, "team/b", row, aPath, "denied", "read_repositories",
		"job_permissions: Insufficient permissions to access this resource in project team/b. The following token permission is required: read_repositories.")
	row = jtsAuthRow(t, s, cID, aID)
	jtsCheckRow(t, "shared/c", row, aPath, "denied", "admin_packages", "role: 403 Forbidden")
	jtsCheckCSV(t, s, bID, aID, aPath)
	// Only Maintainers read the log.
	checkStatus(t, s.Do(t, "GET", api+"/projects/"+testserver.Itoa(bID)+"/job_token_scope/authorizations", bob.Token, nil), http.StatusForbidden, "")
}

// jtsHold runs team/a's hold job, takes its token and drives team/b's
// scope around it: the request after each removal is refused, explain
// names the check, and the authentication log counts exactly these uses.
func jtsHold(t *testing.T, s *testserver.Server, aID, bID, cID, dID int64, alice, bob, carol testserver.User, scopeB string) {
	t.Helper()
	dir := t.TempDir()
	tokenFile, stopFile := filepath.Join(dir, "token"), filepath.Join(dir, "stop")
	// However the test ends, let the job finish before the server stops.
	t.Cleanup(func() { os.WriteFile(stopFile, nil, 0o644) })
	pl := testserver.Num(t, s.Expect(t, "POST", api+"/projects/"+testserver.Itoa(aID)+"/pipeline", alice.Token, map[string]any{
		"ref": "main", "variables": jtsVars(map[string]string{"MODE": "hold", "TOKEN_FILE": tokenFile, "STOP_FILE": stopFile}),
	}, http.StatusCreated).Object(t), "id")
	job := pipelineJob(t, s, aID, pl, "hold", alice.Token)
	token := jtsWaitToken(t, s, aID, pl, job, alice.Token, tokenFile)

	pkg := api + "/projects/" + testserver.Itoa(bID) + "/packages/generic/mypkg/1.0.0/pkg.bin"
	get := func(step string, want int, body string) {
		t.Helper()
		req := s.NewRequest(t, "GET", pkg, "", nil)
		req.Header.Set("JOB-TOKEN", token)
		r := s.Send(t, req)
		if r.Status != want {
			t.Fatalf("%s: GET team/b's package with the live token: %d, want %d; body %s", step, r.Status, want, r.Body)
		}
		if want == http.StatusOK {
			if string(r.Body) != body {
				t.Errorf("%s: package %q, want %q", step, r.Body, body)
			}
			return
		}
		checkJSON(t, r, jtsJSONMessage(body))
	}
	explain := func(step string, allowed bool, check string, status int, msg string) map[string]any {
		t.Helper()
		e := jtsExplain(t, s, s.RootToken, bID, job, "read_packages", http.StatusOK)
		jtsCheckExplain(t, step, e, allowed, check, status, msg)
		return e
	}
	inbound := api + "/projects/" + testserver.Itoa(bID) + "/job_token_scope/allowlist"
	outbound := api + "/projects/" + testserver.Itoa(aID) + "/job_token_scope/outbound_allowlist"
	before := jtsAuthRow(t, s, bID, aID)
	allowed0, denied0 := testserver.Num(t, before, "allowed_count"), testserver.Num(t, before, "denied_count")

	get("listed both ways", http.StatusOK, "package of team/b\n")
	e := explain("listed both ways", true, "", http.StatusOK, "")
	if got, want := jtsJSON(t, e["entry"]), jtsJSON(t, map[string]any{"kind": "project", "id": aID, "default_permissions": true, "job_token_policies": []string{}}); got != want {
		t.Errorf("explain's entry %s, want %s", got, want)
	}

	// Inbound: team/b drops team/a.
	s.Expect(t, "DELETE", inbound+"/"+testserver.Itoa(aID), s.RootToken, nil, http.StatusNoContent)
	get("inbound entry removed", http.StatusForbidden, scopeB)
	checkGitAnswer(t, s.GitHTTP(t, "GET", "/team/b.git/info/refs?service=git-upload-pack", "gitlab-ci-token", token), http.StatusForbidden, scopeB)
	e = explain("inbound entry removed", false, "inbound_allowlist", http.StatusForbidden, scopeB)
	wantChecks := `[{"check":"liveness","result":"pass"},{"check":"visibility","result":"pass"},{"check":"own_project","result":"not_applicable"},{"check":"outbound_scope","result":"pass"},` +
		`{"check":"inbound_allowlist","result":"fail","status":403,"message":"` + scopeB + `"},{"check":"entry_policy","result":"not_applicable"},` +
		`{"check":"job_permissions","result":"not_applicable"},{"check":"role","result":"pass"},{"check":"feature_visibility","result":"not_applicable"}]`
	if got := jtsJSON(t, e["checks"]); got != jtsJSON(t, json.RawMessage(wantChecks)) {
		t.Errorf("explain's checks:\n%s\nwant\n%s", got, wantChecks)
	}
	if e["source_project"] != "team/a" || e["target_project"] != "team/b" || e["permission"] != "read_packages" || testserver.Num(t, e, "job_id") != job {
		t.Errorf("explain names source %v, target %v, permission %v, job %v", e["source_project"], e["target_project"], e["permission"], e["job_id"])
	}
	if _, ok := e["entry"]; ok {
		t.Errorf("explain shows an entry although team/a has none: %v", e["entry"])
	}
	// The job's user may ask too; a Developer of team/b who is not the
	// job's user may not, nor may someone who cannot see team/b.
	jtsCheckExplain(t, "asked by the job's user", jtsExplain(t, s, alice.Token, bID, job, "read_packages", http.StatusOK),
		false, "inbound_allowlist", http.StatusForbidden, scopeB)
	checkJSON(t, s.Do(t, "GET", jtsExplainPath(bID, job, "read_packages"), bob.Token, nil), `{"message":"404 Job Not Found"}`)
	checkStatus(t, s.Do(t, "GET", jtsExplainPath(bID, job, "read_packages"), carol.Token, nil), http.StatusNotFound, "Project")

	row := jtsAuthRow(t, s, bID, aID)
	if a, d := testserver.Num(t, row, "allowed_count"), testserver.Num(t, row, "denied_count"); a != allowed0+1 || d != denied0+2 {
		t.Errorf("after one allowed and two refused uses: allowed %d, denied %d; want %d, %d", a, d, allowed0+1, denied0+2)
	}
	jtsCheckRow(t, "team/b after the inbound removal", row, "team/a", "denied", "read_repositories", "inbound_allowlist: "+scopeB)

	s.Expect(t, "POST", inbound, s.RootToken, map[string]any{"target_project_id": aID}, http.StatusCreated)
	get("inbound entry back", http.StatusOK, "package of team/b\n")
	explain("inbound entry back", true, "", http.StatusOK, "")

	// Outbound: team/a drops team/b from the places its token may go.
	s.Expect(t, "DELETE", outbound+"/"+testserver.Itoa(bID), s.RootToken, nil, http.StatusNoContent)
	get("outbound entry removed", http.StatusForbidden, scopeB)
	explain("outbound entry removed", false, "outbound_scope", http.StatusForbidden, scopeB)
	s.Expect(t, "POST", outbound, s.RootToken, map[string]any{"target_project_id": bID}, http.StatusCreated)
	get("outbound entry back", http.StatusOK, "package of team/b\n")

	row = jtsAuthRow(t, s, bID, aID)
	if a, d := testserver.Num(t, row, "allowed_count"), testserver.Num(t, row, "denied_count"); a != allowed0+3 || d != denied0+3 {
		t.Errorf("after three allowed and three refused uses: allowed %d, denied %d; want %d, %d", a, d, allowed0+3, denied0+3)
	}
	jtsCheckRow(t, "team/b after the outbound removal", row, "team/a", "allowed", "read_packages", "outbound_scope: "+scopeB)

	// Unlisted on the internal shared/d, where alice is a Developer, the
	// token keeps only what the public gets: the upload her role would
	// allow is the scope's 403. On shared/c, listed but where alice has no
	// role, the role refuses it.
	put := s.NewRequest(t, "PUT", api+"/projects/"+testserver.Itoa(dID)+"/packages/generic/probe/1.0.0/put.bin", "", "upload")
	put.Header.Set("JOB-TOKEN", token)
	checkJSON(t, s.MakeRequest(t, put, http.StatusForbidden), jtsJSONMessage("Authentication by CI/CD job token not allowed from team/a to shared/d."))
	jtsCheckExplain(t, "upload to shared/d", jtsExplain(t, s, s.RootToken, dID, job, "admin_packages", http.StatusOK),
		false, "feature_visibility", http.StatusForbidden, "Authentication by CI/CD job token not allowed from team/a to shared/d.")
	jtsCheckExplain(t, "read of shared/d", jtsExplain(t, s, s.RootToken, dID, job, "read_packages", http.StatusOK), true, "", http.StatusOK, "")
	jtsCheckExplain(t, "upload to shared/c", jtsExplain(t, s, s.RootToken, cID, job, "admin_packages", http.StatusOK),
		false, "role", http.StatusForbidden, "403 Forbidden")

	// The job ends; its token with it.
	if err := os.WriteFile(stopFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	waitPipeline(t, s, aID, alice.Token, pl)
	if st := jobStatus(t, s, aID, job, alice.Token); st != "success" {
		t.Fatalf("hold job: %s; log:\n%s", st, jobLog(t, s, aID, job, alice.Token))
	}
	get("job finished", http.StatusUnauthorized, "401 Unauthorized")
	explain("job finished", false, "liveness", http.StatusUnauthorized, "401 Unauthorized")
}

// jtsResult is what probe.sh printed for one target.
type jtsResult struct {
	Artifacts, Package, Put int
	Clone                   string
	Body, Content           map[string]string
}

var jtsResultLine = regexp.MustCompile(`^RESULT (\S+) artifacts=(\d+) package=(\d+) clone=(ok|fail) put=(\d+)$`)

// jtsParseProbe reads probe.sh's lines for each of paths from a job log.
func jtsParseProbe(t *testing.T, step, log string, paths ...string) map[string]*jtsResult {
	t.Helper()
	out := map[string]*jtsResult{}
	for _, p := range paths {
		out[p] = &jtsResult{Body: map[string]string{}, Content: map[string]string{}}
	}
	seen := map[string]bool{}
	for _, line := range strings.Split(log, "\n") {
		line = strings.TrimRight(line, "\r")
		if m := jtsResultLine.FindStringSubmatch(line); m != nil && out[m[1]] != nil {
			r := out[m[1]]
			r.Artifacts, _ = strconv.Atoi(m[2])
			r.Package, _ = strconv.Atoi(m[3])
			r.Clone = m[4]
			r.Put, _ = strconv.Atoi(m[5])
			seen[m[1]] = true
			continue
		}
		kind, rest, _ := strings.Cut(line, " ")
		if kind != "BODY" && kind != "CONTENT" {
			continue
		}
		f := strings.SplitN(rest, " ", 3)
		if len(f) < 2 || out[f[0]] == nil {
			continue
		}
		val := ""
		if len(f) == 3 {
			val = f[2]
		}
		if kind == "BODY" {
			out[f[0]].Body[f[1]] = val
		} else {
			out[f[0]].Content[f[1]] = val
		}
	}
	for _, p := range paths {
		if !seen[p] {
			t.Fatalf("%s: the probe printed no result for %s; log:\n%s", step, p, log)
		}
	}
	return out
}

// jtsDenied: every way into the target was refused with the scope's 403.
func jtsDenied(t *testing.T, step string, r *jtsResult, msg string) {
	t.Helper()
	if r.Artifacts != 403 || r.Package != 403 || r.Clone != "fail" || r.Put != 403 {
		t.Errorf("%s: artifacts %d, package %d, clone %s, upload %d; want 403, 403, fail, 403", step, r.Artifacts, r.Package, r.Clone, r.Put)
	}
	for _, what := range []string{"artifacts", "package", "put"} {
		if got := jtsMessage(r.Body[what]); got != msg {
			t.Errorf("%s: %s refused with %q, want %q", step, what, r.Body[what], msg)
		}
	}
	if want := "remote: " + msg + " / The requested URL returned error: 403"; r.Body["clone"] != want {
		t.Errorf("%s: git clone said %q, want %q", step, r.Body["clone"], want)
	}
}

// jtsReadable: the target's artifacts, package and repository came
// through, with the target's own content.
func jtsReadable(t *testing.T, step string, r *jtsResult, path string) {
	t.Helper()
	if r.Artifacts != 200 || r.Package != 200 || r.Clone != "ok" {
		t.Errorf("%s: %s's artifacts %d, package %d, clone %s; want 200, 200, ok (bodies %v)", step, path, r.Artifacts, r.Package, r.Clone, r.Body)
		return
	}
	want := map[string]string{"artifacts": "artifact of " + path, "package": "package of " + path, "clone": "repository of " + path}
	if !reflect.DeepEqual(r.Content, want) {
		t.Errorf("%s: %s's contents %v, want %v", step, path, r.Content, want)
	}
}

// jtsPut checks the probe's package upload: its status and message.
func jtsPut(t *testing.T, step string, r *jtsResult, status int, msg string) {
	t.Helper()
	if r.Put != status || jtsMessage(r.Body["put"]) != msg {
		t.Errorf("%s: upload %d %s, want %d with %q", step, r.Put, r.Body["put"], status, msg)
	}
}

// jtsMessage is the message of a GitLab {"message": "..."} body, or the
// body itself when it is not one.
func jtsMessage(body string) string {
	var m struct {
		Message *string `json:"message"`
	}
	if json.Unmarshal([]byte(body), &m) != nil || m.Message == nil {
		return body
	}
	return *m.Message
}

func jtsJSONMessage(msg string) string {
	b, _ := json.Marshal(map[string]string{"message": msg})
	return string(b)
}

// jtsVars is a pipeline's variables parameter, in a stable order.
func jtsVars(vars map[string]string) []map[string]string {
	keys := make([]string, 0, len(vars))
	for k := range vars {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]map[string]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, map[string]string{"key": k, "value": vars[k]})
	}
	return out
}

// jtsRun creates an API pipeline with vars, waits for it, and returns
// its job called name, which must have succeeded, and the job's log.
func jtsRun(t *testing.T, s *testserver.Server, projectID int64, token, name string, vars map[string]string) (int64, string) {
	t.Helper()
	pl := testserver.Num(t, s.Expect(t, "POST", api+"/projects/"+testserver.Itoa(projectID)+"/pipeline", token,
		map[string]any{"ref": "main", "variables": jtsVars(vars)}, http.StatusCreated).Object(t), "id")
	waitPipeline(t, s, projectID, token, pl)
	job := pipelineJob(t, s, projectID, pl, name, token)
	log := jobLog(t, s, projectID, job, token)
	if st := jobStatus(t, s, projectID, job, token); st != "success" {
		t.Fatalf("job %s: %s; log:\n%s", name, st, log)
	}
	return job, log
}

// jtsLines collects the lines "<prefix><key> <value>" of a log.
func jtsLines(log, prefix string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(log, "\n") {
		rest, ok := strings.CutPrefix(strings.TrimRight(line, "\r"), prefix)
		if !ok {
			continue
		}
		k, v, _ := strings.Cut(rest, " ")
		out[k] = v
	}
	return out
}

// jtsWaitToken waits for the hold job to leave its token in file, and
// remembers it so that the harness checks it never reaches the log.
func jtsWaitToken(t *testing.T, s *testserver.Server, projectID, pipelineID, jobID int64, token, file string) string {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if b, err := os.ReadFile(file); err == nil && len(b) > 0 {
			s.Remember(string(b))
			return string(b)
		}
		switch st := pipelineStatus(t, s, projectID, pipelineID, token); st {
		case "success", "failed", "canceled", "skipped":
			t.Fatalf("the hold pipeline ended (%s) without leaving its token; log:\n%s", st, jobLog(t, s, projectID, jobID, token))
		}
		if time.Now().After(deadline) {
			t.Fatalf("the hold job left no token within 60s; log:\n%s", jobLog(t, s, projectID, jobID, token))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func jtsExplainPath(target, job int64, permission string) string {
	return api + "/projects/" + testserver.Itoa(target) + "/job_token_scope/explain?job_id=" + testserver.Itoa(job) + "&permission=" + permission
}

func jtsExplain(t *testing.T, s *testserver.Server, token string, target, job int64, permission string, want int) map[string]any {
	t.Helper()
	return s.Expect(t, "GET", jtsExplainPath(target, job, permission), token, nil, want).Object(t)
}

// jtsCheckExplain checks explain's verdict: allowed, or the failed check
// with its status and message.
func jtsCheckExplain(t *testing.T, step string, e map[string]any, allowed bool, check string, status int, msg string) {
	t.Helper()
	var wantCheck, wantMsg any
	if !allowed {
		wantCheck, wantMsg = check, msg
	}
	if e["allowed"] != allowed || e["failed_check"] != wantCheck || testserver.Num(t, e, "status") != int64(status) || e["message"] != wantMsg {
		t.Errorf("%s: explain says allowed %v, failed_check %v, status %v, message %v; want %v, %v, %d, %v",
			step, e["allowed"], e["failed_check"], e["status"], e["message"], allowed, wantCheck, status, wantMsg)
	}
}

// jtsAuthRow is the authentication log row of target for origin, read as
// root; a missing row is one with no uses yet.
func jtsAuthRow(t *testing.T, s *testserver.Server, target, origin int64) map[string]any {
	t.Helper()
	for _, row := range s.Expect(t, "GET", api+"/projects/"+testserver.Itoa(target)+"/job_token_scope/authorizations?per_page=100", s.RootToken, nil, http.StatusOK).List(t) {
		if testserver.Num(t, row, "origin_project_id") == origin {
			return row
		}
	}
	return map[string]any{"origin_project_id": float64(origin), "allowed_count": float64(0), "denied_count": float64(0)}
}

// jtsCheckRow checks a log row: both kinds of use counted, and the last
// use as described.
func jtsCheckRow(t *testing.T, what string, row map[string]any, origin, result, policy, reason string) {
	t.Helper()
	if testserver.Num(t, row, "allowed_count") == 0 || testserver.Num(t, row, "denied_count") == 0 {
		t.Errorf("%s's log for %s: allowed %v, denied %v; want both above 0", what, origin, row["allowed_count"], row["denied_count"])
	}
	if row["origin_project_path"] != origin || row["last_result"] != result || row["last_policy"] != policy || row["last_denial_reason"] != reason {
		t.Errorf("%s's log row: path %v, last result %v, policy %v, denial %v; want %s, %s, %s, %q",
			what, row["origin_project_path"], row["last_result"], row["last_policy"], row["last_denial_reason"], origin, result, policy, reason)
	}
	if row["last_denied_at"] == nil || row["last_used_at"] == nil {
		t.Errorf("%s's log row lacks a time: last used %v, last denied %v", what, row["last_used_at"], row["last_denied_at"])
	}
}

// jtsCheckCSV checks the CSV export of target's log: the header and
// origin's row, agreeing with the JSON.
func jtsCheckCSV(t *testing.T, s *testserver.Server, target, origin int64, originPath string) {
	t.Helper()
	r := s.Expect(t, "GET", api+"/projects/"+testserver.Itoa(target)+"/job_token_scope/authorizations?format=csv", s.RootToken, nil, http.StatusOK)
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
		t.Errorf("CSV export: Content-Type %q", ct)
	}
	recs, err := csv.NewReader(strings.NewReader(string(r.Body))).ReadAll()
	if err != nil || len(recs) < 2 {
		t.Fatalf("CSV export: %v; body:\n%s", err, r.Body)
	}
	header := []string{"origin_project_id", "origin_project_path", "last_used_at", "allowed_count", "denied_count",
		"last_policy", "last_result", "last_denial_reason", "last_denied_at"}
	if !slices.Equal(recs[0], header) {
		t.Errorf("CSV header %v, want %v", recs[0], header)
	}
	row := jtsAuthRow(t, s, target, origin)
	for _, rec := range recs[1:] {
		if len(rec) == len(header) && rec[0] == testserver.Itoa(origin) {
			want := []string{testserver.Itoa(origin), originPath, testserver.Str(t, row, "last_used_at"), testserver.Itoa(testserver.Num(t, row, "allowed_count")), testserver.Itoa(testserver.Num(t, row, "denied_count")),
				testserver.Str(t, row, "last_policy"), testserver.Str(t, row, "last_result"), testserver.Str(t, row, "last_denial_reason"), testserver.Str(t, row, "last_denied_at")}
			if !slices.Equal(rec, want) {
				t.Errorf("CSV row %v, want %v", rec, want)
			}
			return
		}
	}
	t.Errorf("CSV export has no row for %s:\n%s", originPath, r.Body)
}

// jtsJSON is v's JSON after a round trip through any, for comparisons
// that ignore key order.
func jtsJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var x any
	if err := json.Unmarshal(b, &x); err != nil {
		t.Fatal(err)
	}
	b, _ = json.Marshal(x)
	return string(b)
}
