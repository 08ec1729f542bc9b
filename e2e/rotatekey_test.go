package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ciwarden/ciwarden/internal/testserver"
)

func newKeyText(t *testing.T) string {
	t.Helper()
	b := make([]byte, 32)
	rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// rotateKeyCLI runs `ciwarden admin rotate-key` with env added to a clean
// environment.
func rotateKeyCLI(t *testing.T, env []string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, testserver.Binary(t), append([]string{"admin", "rotate-key"}, args...)...)
	cmd.Env = append(testserver.CleanEnv(), env...)
	cmd.Dir = t.TempDir()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if exit, ok := err.(*exec.ExitError); ok {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

func stop(t *testing.T, s *testserver.Server) {
	t.Helper()
	s.Client().CloseIdleConnections()
	s.Terminate(t)
	s.Wait(t)
}

func projectVar(t *testing.T, s *testserver.Server, project int64, key string) string {
	t.Helper()
	m := s.Expect(t, "GET", testserver.API+"/projects/"+testserver.Itoa(project)+"/variables/"+key, s.RootToken, nil, http.StatusOK).Object(t)
	return testserver.Str(t, m, "value")
}

func addProjectVar(t *testing.T, s *testserver.Server, project int64, key, value string) {
	t.Helper()
	s.Remember(value)
	s.Expect(t, "POST", testserver.API+"/projects/"+testserver.Itoa(project)+"/variables", s.RootToken,
		map[string]any{"key": key, "value": value, "masked": true}, http.StatusCreated)
}

// TestRotateKeyReplicas: the replicas' rotation with keys in the
// environment. A server with the new key and the old one (in
// CIWARDEN_INSTANCE_KEY_OLD) reads values of either; `admin rotate-key`
// re-seals the old ones; then the new key alone reads everything.
func TestRotateKeyReplicas(t *testing.T) {
	testserver.ForEachDialect(t, func(t *testing.T, dialect string) {
		k1, k2 := newKeyText(t), newKeyText(t)
		s1 := start(t, testserver.Options{Dialect: dialect, InstanceKey: k1})
		s1.Remember(k2)
		p := s1.CreateProject(t, 0, "app", "private")
		addProjectVar(t, s1, p.ID, "BEFORE", "before-Rotation-value")
		// A Terraform state version: a sealed blob, re-sealed too.
		state := testserver.API + "/projects/" + testserver.Itoa(p.ID) + "/terraform/state/prod"
		const stateBody = `{"serial":1,"outputs":{"o":{"value":"state-before-Rotation"}}}`
		s1.Expect(t, "POST", state, s1.RootToken, []byte(stateBody), http.StatusOK)
		run := sealRunValues(t, s1, p)
		stop(t, s1)
		// A schedule variable as a version before migration 00024 wrote
		// it: in clear, read as it is, sealed by rotate-key.
		conn, rebind := s1.OpenDB(t)
		if _, err := conn.Exec(rebind("INSERT INTO pipeline_schedule_variables (schedule_id, key, value, variable_type) VALUES (?, 'LEGACY', 'legacy-clear', 'env_var')"), run.schedule); err != nil {
			t.Fatal(err)
		}
		conn.Close()

		opts := testserver.Options{Dialect: dialect, DatabaseURL: s1.DBURL, DataDir: s1.DataDir, RootToken: s1.RootToken}
		both := opts
		both.InstanceKey, both.Env = k2, []string{"CIWARDEN_INSTANCE_KEY_OLD=" + k1}
		s2 := start(t, both)
		s2.Remember(k1)
		if got := projectVar(t, s2, p.ID, "BEFORE"); got != "before-Rotation-value" {
			t.Fatalf("with both keys: %q", got)
		}
		// The mixed phase: a replica with the new key reads the run values
		// sealed with the old one.
		run.check(t, s2, "with both keys", map[string]string{"LEGACY": "legacy-clear"})
		addProjectVar(t, s2, p.ID, "AFTER", "after-Rotation-value")
		stop(t, s2)

		db := []string{"--data-dir", s1.DataDir}
		if s1.DBURL != "" {
			db = append(db, "--database-url", s1.DBURL)
		}
		out, errOut, code := rotateKeyCLI(t, []string{"CIWARDEN_INSTANCE_KEY=" + k2, "CIWARDEN_INSTANCE_KEY_OLD=" + k1}, db...)
		if code != 0 || !strings.Contains(out, "re-sealed ") || !strings.Contains(out, "drop CIWARDEN_INSTANCE_KEY_OLD") ||
			!strings.Contains(out, "sealed 1 values that an older version kept in clear") {
			t.Fatalf("rotate-key: exit %d, stdout %q, stderr %q", code, out, errOut)
		}
		if strings.Contains(out+errOut, k1) || strings.Contains(out+errOut, k2) {
			t.Fatal("rotate-key printed a key")
		}
		// Without the new key's companion, the old key is not needed.
		only := opts
		only.InstanceKey = k2
		s3 := start(t, only)
		s3.Remember(k1)
		for key, want := range map[string]string{"BEFORE": "before-Rotation-value", "AFTER": "after-Rotation-value"} {
			if got := projectVar(t, s3, p.ID, key); got != want {
				t.Errorf("%s with the new key alone: %q, want %q", key, got, want)
			}
		}
		if got := string(s3.Expect(t, "GET", state, s3.RootToken, nil, http.StatusOK).Body); got != stateBody {
			t.Errorf("the Terraform state with the new key alone: %q", got)
		}
		// The container registry's signing keys were re-sealed too.
		if r := s3.Call(t, "GET", "/jwt/auth?service=container_registry", testserver.Basic("root", s3.RootToken), nil); r.Status != http.StatusOK {
			t.Errorf("the registry's token service with the new key alone: %s", r)
		}
		run.check(t, s3, "with the new key alone", map[string]string{"LEGACY": "legacy-clear"})
		conn, rebind = s3.OpenDB(t)
		var clear string
		var sealed []byte
		if err := conn.QueryRow(rebind("SELECT value, value_sealed FROM pipeline_schedule_variables WHERE key = 'LEGACY'")).Scan(&clear, &sealed); err != nil || clear != "" || len(sealed) == 0 {
			t.Errorf("the legacy value after rotate-key: clear %q, sealed %d bytes, %v", clear, len(sealed), err)
		}
		conn.Close()
		stop(t, s3)
		// A second run finds nothing to do.
		out, _, code = rotateKeyCLI(t, []string{"CIWARDEN_INSTANCE_KEY=" + k2}, db...)
		if code != 0 || !strings.HasPrefix(out, "re-sealed 0 values") {
			t.Errorf("second rotate-key: exit %d, %q", code, out)
		}
		// The old key alone no longer opens them: refused, naming the row.
		_, errOut, code = rotateKeyCLI(t, []string{"CIWARDEN_INSTANCE_KEY=" + k1}, db...)
		if code == 0 || !strings.Contains(errOut, "CIWARDEN_INSTANCE_KEY_OLD") || strings.Contains(errOut, "Rotation-value") {
			t.Errorf("rotate-key with a wrong key: exit %d, stderr %q", code, errOut)
		}
	})
}

// TestRotateKeyFile: a single node's rotation of its key file: stopped,
// `admin rotate-key --new` makes a new key, re-seals every value and
// leaves the new key alone in the file.
func TestRotateKeyFile(t *testing.T) {
	s := start(t, testserver.Options{Dialect: "sqlite", DefaultDB: true})
	p := s.CreateProject(t, 0, "app", "private")
	addProjectVar(t, s, p.ID, "KEPT", "kept-across-Rotation")
	stop(t, s)
	keyPath := filepath.Join(s.DataDir, "instance.key")
	before, err := os.ReadFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	s.Remember(strings.TrimSpace(string(before)))
	out, errOut, code := rotateKeyCLI(t, nil, "--new", "--data-dir", s.DataDir)
	if code != 0 || !strings.Contains(out, "re-sealed ") || !strings.Contains(out, "the key file keeps the current key only") {
		t.Fatalf("rotate-key --new: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	after, _ := os.ReadFile(keyPath)
	if bytes.Equal(after, before) || len(strings.Fields(string(after))) != 1 {
		t.Fatalf("the key file after rotation: %d keys, changed %v", len(strings.Fields(string(after))), !bytes.Equal(after, before))
	}
	if st, _ := os.Stat(keyPath); st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v", st.Mode().Perm())
	}
	s2 := s.Restart(t)
	if got := projectVar(t, s2, p.ID, "KEPT"); got != "kept-across-Rotation" {
		t.Errorf("after rotation: %q", got)
	}
	// --new is for key files only.
	_, errOut, code = rotateKeyCLI(t, []string{"CIWARDEN_INSTANCE_KEY=" + newKeyText(t)}, "--new", "--data-dir", t.TempDir())
	if code == 0 || !strings.Contains(errOut, "--new is for a key file") {
		t.Errorf("--new with CIWARDEN_INSTANCE_KEY: exit %d, %q", code, errOut)
	}
}

// runValues are values the store seals (store/seal.go), made by
// sealRunValues: a pipeline's API variable, a YAML variable in its jobs'
// specs, and a schedule's variable.
type runValues struct {
	project  testserver.Project
	schedule int64
	runner   string
	taken    int
}

func sealRunValues(t *testing.T, s *testserver.Server, p testserver.Project) *runValues {
	t.Helper()
	for _, v := range []string{"api-Rotation-value", "yaml-Rotation-value", "sched-Rotation-value"} {
		s.Remember(v)
	}
	root := testserver.User{Username: "root", Token: s.RootToken}
	s.PushCI(t, p.Path, root, map[string]string{".gitlab-ci.yml": "variables:\n  YAML_VAR: yaml-Rotation-value\nbuild:\n  script: [echo build]\n"})
	s.CreatePipeline(t, p.ID, s.RootToken, map[string]string{"API_VAR": "api-Rotation-value"})
	base := testserver.API + "/projects/" + testserver.Itoa(p.ID) + "/pipeline_schedules"
	sc := testserver.Num(t, s.Expect(t, "POST", base, s.RootToken,
		map[string]any{"description": "nightly", "ref": "main", "cron": "0 4 * * *"}, http.StatusCreated).Object(t), "id")
	s.Expect(t, "POST", base+"/"+testserver.Itoa(sc)+"/variables", s.RootToken,
		map[string]any{"key": "SCHED_VAR", "value": "sched-Rotation-value"}, http.StatusCreated)
	_, tok := s.CreateRunner(t, nil)
	return &runValues{project: p, schedule: sc, runner: tok}
}

// check reads every value back through s: the schedule's variables (with
// more, such as one written in clear), and one job's payload (its spec
// and its pipeline's variables). Each call takes the next of the two
// jobs: the pushed pipeline's, then the API one's.
func (r *runValues) check(t *testing.T, s *testserver.Server, when string, more map[string]string) {
	t.Helper()
	want := map[string]string{"SCHED_VAR": "sched-Rotation-value"}
	for k, v := range more {
		want[k] = v
	}
	sc := s.Expect(t, "GET", testserver.API+"/projects/"+testserver.Itoa(r.project.ID)+"/pipeline_schedules/"+testserver.Itoa(r.schedule),
		s.RootToken, nil, http.StatusOK).Object(t)
	vars, _ := sc["variables"].([]any)
	for _, v := range vars {
		m, _ := v.(map[string]any)
		if k, _ := m["key"].(string); m["value"] == want[k] {
			delete(want, k)
		}
	}
	if len(want) > 0 {
		t.Errorf("%s: the schedule's variables %v lack %v", when, vars, want)
	}
	rc := s.NewRunnerClient(r.runner)
	j := rc.TakeJob(t)
	got := map[string]string{}
	for _, v := range j.Payload.Variables {
		got[v.Key] = v.Value
	}
	if got["YAML_VAR"] != "yaml-Rotation-value" {
		t.Errorf("%s: job %d's YAML_VAR = %q", when, j.ID, got["YAML_VAR"])
	}
	// Jobs go out oldest first: the API pipeline's is the second.
	r.taken++
	if want := map[bool]string{true: "api-Rotation-value"}[r.taken == 2]; got["API_VAR"] != want {
		t.Errorf("%s: job %d's API_VAR = %q, want %q", when, j.ID, got["API_VAR"], want)
	}
}

// TestRotateKeyMixedReplicas: the middle of a rolling restart (README,
// "Encryption at rest", step 2): one replica still seals with the old key
// and opens the new one's values, the other seals with the new key and
// opens the old one's, at the same time on one database. Each reads what
// the other sealed: CI/CD variables, a pipeline's variables, a job's spec.
func TestRotateKeyMixedReplicas(t *testing.T) {
	testserver.ForEachDialect(t, func(t *testing.T, dialect string) {
		k1, k2 := newKeyText(t), newKeyText(t)
		a := start(t, testserver.Options{Dialect: dialect, ReplicaName: "old-key", InstanceKey: k1,
			Env: []string{"CIWARDEN_INSTANCE_KEY_OLD=" + k2}})
		b := start(t, testserver.Options{Dialect: dialect, DatabaseURL: a.DBURL, DataDir: a.DataDir, RootToken: a.RootToken,
			ReplicaName: "new-key", InstanceKey: k2, Env: []string{"CIWARDEN_INSTANCE_KEY_OLD=" + k1}})
		for _, s := range []*testserver.Server{a, b} {
			s.Remember(k1)
			s.Remember(k2)
			s.Remember("api-Mixed-value")
			s.Remember("yaml-Mixed-value")
		}
		p := a.CreateProject(t, 0, "app", "private")
		addProjectVar(t, a, p.ID, "FROM_A", "sealed-by-Old-key")
		addProjectVar(t, b, p.ID, "FROM_B", "sealed-by-New-key")
		b.Remember("sealed-by-Old-key")
		a.Remember("sealed-by-New-key")
		if got := projectVar(t, b, p.ID, "FROM_A"); got != "sealed-by-Old-key" {
			t.Errorf("the new-key replica reads %q", got)
		}
		if got := projectVar(t, a, p.ID, "FROM_B"); got != "sealed-by-New-key" {
			t.Errorf("the old-key replica reads %q", got)
		}
		// A pipeline (its variables, its job's spec) made by the new-key
		// replica, its job given out by the old-key one.
		root := testserver.User{Username: "root", Token: a.RootToken}
		b.PushCI(t, p.Path, root, map[string]string{".gitlab-ci.yml": "variables:\n  YAML_VAR: yaml-Mixed-value\nbuild:\n  script: [echo build]\n"})
		b.CreatePipeline(t, p.ID, b.RootToken, map[string]string{"API_VAR": "api-Mixed-value"})
		_, tok := a.CreateRunner(t, nil)
		rc := a.NewRunnerClient(tok)
		rc.TakeJob(t) // the pushed pipeline's
		j := rc.TakeJob(t)
		got := map[string]string{}
		for _, v := range j.Payload.Variables {
			got[v.Key] = v.Value
		}
		for k, want := range map[string]string{"API_VAR": "api-Mixed-value", "YAML_VAR": "yaml-Mixed-value", "FROM_A": "sealed-by-Old-key", "FROM_B": "sealed-by-New-key"} {
			if got[k] != want {
				t.Errorf("the job given out by the old-key replica: %s = %q, want %q", k, got[k], want)
			}
		}
	})
}
