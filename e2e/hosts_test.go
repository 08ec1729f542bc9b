package e2e

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ciwarden/ciwarden/internal/auth"
	"github.com/ciwarden/ciwarden/internal/testblob"
	"github.com/ciwarden/ciwarden/internal/testdb"
	"github.com/ciwarden/ciwarden/internal/testserver"
)

// Several hosts (issue 20, items 2 and 3; docs/scaling.md): replicas of
// one PostgreSQL database share the repositories directory and the blob
// store; each has a name, a built-in runner and a builds directory of its
// own; a replica whose storage is not the instance's refuses to start.

// replicaSet is what the replicas of one instance share: one
// database, one instance key, one root token.
type replicaSet struct {
	db, key, root string
	repos         string // the shared repositories directory
	s3            *testblob.S3
}

func newReplicaSet(t *testing.T) *replicaSet {
	t.Helper()
	testdb.RequirePostgres(t)
	var k [32]byte
	rand.Read(k[:])
	return &replicaSet{db: testdb.Postgres(t), key: base64.StdEncoding.EncodeToString(k[:]),
		root: auth.PATPrefix + "test-root-" + testserver.RandHex(12), repos: testdb.TempDir(t)}
}

func (rs *replicaSet) options(name, dataDir string, args ...string) testserver.Options {
	return testserver.Options{Process: true, Dialect: "postgres", DatabaseURL: rs.db, InstanceKey: rs.key, RootToken: rs.root,
		DataDir: dataDir, RepositoriesDir: rs.repos, ReplicaName: name, S3: rs.s3,
		Args: append([]string{"--runner-long-poll", "2s"}, args...)}
}

// sharedBlobs makes dataDir's blob directory the one in blobsOf, as a
// shared mount would, when the replicas keep blobs on the filesystem.
func sharedBlobs(t *testing.T, blobsOf, dataDir string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(blobsOf, "blobs"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(blobsOf, "blobs"), filepath.Join(dataDir, "blobs")); err != nil {
		t.Fatal(err)
	}
}

// pipelineEnd waits for a pipeline to finish and returns its status.
func pipelineEnd(t *testing.T, s *testserver.Server, projectID, id int64) string {
	t.Helper()
	waitPipeline(t, s, projectID, s.RootToken, id)
	return pipelineStatus(t, s, projectID, id, s.RootToken)
}

// checkJobsSucceeded fails unless every job of the pipeline succeeded,
// printing the logs of those that did not.
func checkJobsSucceeded(t *testing.T, s *testserver.Server, projectID, pipelineID int64, want int) {
	t.Helper()
	jobs := s.Expect(t, "GET", api+"/projects/"+testserver.Itoa(projectID)+"/pipelines/"+testserver.Itoa(pipelineID)+"/jobs?per_page=100",
		s.RootToken, nil, http.StatusOK).List(t)
	if len(jobs) != want {
		t.Errorf("%d jobs, want %d", len(jobs), want)
	}
	for _, j := range jobs {
		if st := testserver.Str(t, j, "status"); st != "success" {
			trace := s.Expect(t, "GET", api+"/projects/"+testserver.Itoa(projectID)+"/jobs/"+testserver.Itoa(testserver.Num(t, j, "id"))+"/trace",
				s.RootToken, nil, http.StatusOK).Body
			t.Errorf("job %s: %s, want success; log:\n%s", testserver.Str(t, j, "name"), st, trace)
		}
	}
}

// builtinRunners are the descriptions of the instance's built-in runners,
// as the admin API lists them.
func builtinRunners(t *testing.T, s *testserver.Server) []string {
	t.Helper()
	var out []string
	for _, r := range s.Expect(t, "GET", api+"/runners/all?per_page=100", s.RootToken, nil, http.StatusOK).List(t) {
		if d := testserver.Str(t, r, "description"); strings.HasPrefix(d, "built-in runner") {
			out = append(out, d)
		}
	}
	return out
}

// TestReplicasShareRepositories (issue 20, item 2): two replicas with data
// directories of their own on one PostgreSQL database, one shared
// --repositories-dir and one blob store (S3 when versitygw is installed,
// else one blob directory both mount). A project created and pushed
// through replica A is cloned, listed and built through replica B, whose
// built-in runner checks it out; B restarted on a fresh data directory
// keeps its built-in runner; a project deleted through B leaves nothing
// in the shared directory. Before --repositories-dir, B answered 404 to
// the clone and 500 to the branches and the pipeline.
func TestReplicasShareRepositories(t *testing.T) {
	rs := newReplicaSet(t)
	if testblob.Available() {
		rs.s3 = testblob.Start(t)
	}
	aDir, bDir := testdb.TempDir(t), testdb.TempDir(t)
	if rs.s3 == nil {
		sharedBlobs(t, aDir, bDir)
	}
	a := testserver.New(t, rs.options("replica-a", aDir))
	b := testserver.New(t, rs.options("replica-b", bDir, "--runners", "1"))

	p := a.CreateProject(t, 0, "app", "private")
	root := testserver.User{Username: "root", Token: rs.root}
	ci := "build:\n  script:\n    - test -f README.md\n    - echo built $CI_COMMIT_SHA\ntest:\n  script:\n    - cat README.md\n"
	_, sha := a.PushCI(t, p.Path, root, map[string]string{".gitlab-ci.yml": ci, "README.md": "hello\n"})

	g := testserver.NewGit(t)
	clone := g.Clone(t, b.GitURL("root", rs.root, p.Path))
	if got := g.Run(t, clone, "rev-parse", "HEAD"); got != sha {
		t.Fatalf("clone through B: HEAD %s, want %s", got, sha)
	}
	branches := b.Expect(t, "GET", api+"/projects/"+testserver.Itoa(p.ID)+"/repository/branches", rs.root, nil, http.StatusOK).List(t)
	if len(branches) != 1 || testserver.Str(t, branches[0], "name") != "main" {
		t.Fatalf("branches through B: %v, want main", branches)
	}
	// B's built-in runner runs the pipeline the push made (created by A)
	// and one created through B.
	pushed := a.Expect(t, "GET", api+"/projects/"+testserver.Itoa(p.ID)+"/pipelines", rs.root, nil, http.StatusOK).List(t)
	if len(pushed) != 1 {
		t.Fatalf("%d pipelines after the push, want 1", len(pushed))
	}
	viaB := b.CreatePipeline(t, p.ID, rs.root, nil)
	for _, id := range []int64{testserver.Num(t, pushed[0], "id"), viaB} {
		if st := pipelineEnd(t, b, p.ID, id); st != "success" {
			checkJobsSucceeded(t, b, p.ID, id, 2)
			t.Fatalf("pipeline %d: %s, want success", id, st)
		}
	}
	// A push through B is seen through A.
	g.Commit(t, clone, "second", map[string]string{"README.md": "second\n"})
	g.Run(t, clone, "push", "--quiet", "origin", "HEAD:main")
	head := a.Expect(t, "GET", api+"/projects/"+testserver.Itoa(p.ID)+"/repository/commits/main", rs.root, nil, http.StatusOK).Object(t)
	if got, want := testserver.Str(t, head, "id"), g.Run(t, clone, "rev-parse", "HEAD"); got != want {
		t.Errorf("main through A after a push through B: %s, want %s", got, want)
	}

	if got := builtinRunners(t, a); len(got) != 1 || got[0] != "built-in runner (replica-b)" {
		t.Fatalf("built-in runners %q, want B's alone", got)
	}
	// B comes back on a fresh data directory (a new host): the same
	// built-in runner, which still runs jobs.
	b.Client().CloseIdleConnections()
	b.Terminate(t)
	b.Wait(t)
	b2Dir := testdb.TempDir(t)
	if rs.s3 == nil {
		sharedBlobs(t, aDir, b2Dir)
	}
	b2 := testserver.New(t, rs.options("replica-b", b2Dir, "--runners", "1"))
	if got := builtinRunners(t, b2); len(got) != 1 {
		t.Fatalf("built-in runners after B's restart on a fresh data directory: %q, want the one it had", got)
	}
	again := b2.CreatePipeline(t, p.ID, rs.root, nil)
	if st := pipelineEnd(t, a, p.ID, again); st != "success" {
		checkJobsSucceeded(t, a, p.ID, again, 2)
	}

	// Deleting the project through one replica removes its repository
	// from the shared directory (the reaper of any replica).
	b2.Expect(t, "DELETE", api+"/projects/"+testserver.Itoa(p.ID), rs.root, nil, http.StatusAccepted)
	repo := filepath.Join(rs.repos, fmt.Sprintf("%d.git", p.ID))
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if _, err := os.Stat(repo); os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still there 30 s after the project's deletion", repo)
		}
	}
}

// TestReplicasShareDataDir (issue 20, item 3): two replicas on one data
// directory (and one PostgreSQL database), each with --runners 2 and a
// name of its own, run a pipeline of several jobs that all succeed: their
// built-in runners are two, with builds directories of their own (before,
// both used builds/0 and removed each other's checkouts: "chdir ...: no
// such file"). A replica restarted keeps its runner: still two rows.
func TestReplicasShareDataDir(t *testing.T) {
	rs := newReplicaSet(t)
	dir := testdb.TempDir(t)
	rs.repos = filepath.Join(dir, "repositories")
	a := testserver.New(t, rs.options("a", dir, "--runners", "2"))
	b := testserver.New(t, rs.options("b", dir, "--runners", "2"))

	p := a.CreateProject(t, 0, "many", "private")
	var ci strings.Builder
	for i := range 8 {
		fmt.Fprintf(&ci, "job%d:\n  script:\n    - test -f README.md\n    - sleep 1\n    - cat README.md\n    - test -f README.md\n", i)
	}
	a.PushCI(t, p.Path, testserver.User{Username: "root", Token: rs.root},
		map[string]string{".gitlab-ci.yml": ci.String(), "README.md": "hello\n"})
	run := func(s *testserver.Server) {
		t.Helper()
		id := s.CreatePipeline(t, p.ID, rs.root, nil)
		st := pipelineEnd(t, s, p.ID, id)
		checkJobsSucceeded(t, s, p.ID, id, 8)
		if st != "success" {
			t.Fatalf("pipeline %s, want success", st)
		}
	}
	run(b)
	for _, name := range []string{"a", "b"} {
		if _, err := os.Stat(filepath.Join(dir, "builds", name)); err != nil {
			t.Errorf("builds directory of replica %s: %v", name, err)
		}
	}
	if got := builtinRunners(t, a); len(got) != 2 {
		t.Fatalf("built-in runners %q, want one per replica", got)
	}
	a.Client().CloseIdleConnections()
	a.Terminate(t)
	a.Wait(t)
	a = a.Restart(t)
	if got := builtinRunners(t, b); len(got) != 2 {
		t.Fatalf("built-in runners after a restart %q, want the same two", got)
	}
	run(a)
}

// TestReplicaOwnStorageRefused (issue 20, item 2): a replica started on
// the database of a running instance with a fresh data directory of its
// own holds none of its repositories or blobs: it stops at once with one
// line saying what to set, and exit status 1, rather than serve 404s and
// 500s.
func TestReplicaOwnStorageRefused(t *testing.T) {
	rs := newReplicaSet(t)
	aDir := testdb.TempDir(t)
	rs.repos = filepath.Join(aDir, "repositories")
	a := testserver.New(t, rs.options("a", aDir))
	a.CreateProject(t, 0, "app", "private")

	for _, c := range []struct {
		name string
		args []string
		want []string
	}{
		{"own data directory", nil, []string{"repositories directory", "holds no repositories of this instance", "it has no storage id",
			"set --repositories-dir to the shared file system every replica mounts"}},
		{"shared repositories, own blob directory", []string{"--repositories-dir", rs.repos},
			[]string{"blob directory", "holds no artifacts or packages of this instance", "set --s3-endpoint and --s3-bucket, or share the data directory"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := testdb.TempDir(t)
			args := append([]string{"serve", "--listen", testserver.FreeAddr(t), "--database-url", rs.db, "--data-dir", dir,
				"--replica-name", "b"}, c.args...)
			code, stdout, stderr := runCiwardenCLI(t, args...)
			if code != 1 {
				t.Errorf("exit status %d, want 1", code)
			}
			msg := strings.TrimRight(stderr, "\n")
			if strings.Count(msg, "\n") != 0 || !strings.HasPrefix(msg, "ciwarden: ") || stdout != "" {
				t.Errorf("want one line on stderr, nothing on stdout; got stderr:\n%s\nstdout:\n%s", stderr, stdout)
			}
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q lacks %q", msg, w)
				}
			}
		})
	}
	// A marker of other storage is refused as well.
	other := testdb.TempDir(t)
	if err := os.WriteFile(filepath.Join(other, ".ciwarden-storage-id"), []byte(strings.Repeat("ab", 16)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCiwardenCLI(t, "serve", "--listen", testserver.FreeAddr(t), "--database-url", rs.db,
		"--data-dir", testdb.TempDir(t), "--repositories-dir", other, "--replica-name", "c")
	if want := "its storage id is " + strings.Repeat("ab", 16); code != 1 || !strings.Contains(stderr, want) {
		t.Errorf("exit %d, stderr %q; want 1 and %q", code, stderr, want)
	}
	// The running replica is untouched.
	a.Expect(t, "GET", "/-/readiness", "", nil, http.StatusOK)
}

// TestConcurrentFirstStart (issue 20, item 1, at the process level: the
// twin of store.TestConcurrentFirstMigrate): three `serve` processes
// started at once on one empty PostgreSQL database, sharing a data
// directory, all come up, and agree on one root and one storage identity.
func TestConcurrentFirstStart(t *testing.T) {
	rs := newReplicaSet(t)
	dir := testdb.TempDir(t)
	rs.repos = filepath.Join(dir, "repositories")
	servers := testserver.NewAll(t, rs.options("r1", dir), rs.options("r2", dir), rs.options("r3", dir))
	for _, s := range servers {
		me := s.Expect(t, "GET", api+"/user", rs.root, nil, http.StatusOK).Object(t)
		if testserver.Str(t, me, "username") != "root" {
			t.Errorf("GET /user: %v", me)
		}
	}
	users := servers[0].Expect(t, "GET", api+"/users?username=root", rs.root, nil, http.StatusOK).List(t)
	if len(users) != 1 {
		t.Errorf("%d users named root, want 1", len(users))
	}
}
