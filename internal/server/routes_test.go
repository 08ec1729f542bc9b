package server_test

// The route table is the only gate (docs/architecture.md): every endpoint,
// REST, runner protocol, git and the operator's, is a row, and every
// request passes authz.Decide before its handler can run.

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/ciwarden/ciwarden/internal/auth"
	"github.com/ciwarden/ciwarden/internal/authz"
	"github.com/ciwarden/ciwarden/internal/gate"
	"github.com/ciwarden/ciwarden/internal/server"
	"github.com/ciwarden/ciwarden/internal/testserver"
)

// routeKey names a row.
func routeKey(rt *gate.Route) string { return rt.Surface.String() + " " + rt.Method + " " + rt.Path }

// pathValues fill a route's wildcards: existing targets where the route
// has one, plausible values elsewhere (the decision comes before any
// handler looks them up).
var wildcard = regexp.MustCompile(`\{([a-z_]+)(\.\.\.)?\}`)

// TestEveryRoutePassesDecide sends one anonymous request to every row of
// the table and counts the decisions the gate makes for it: each request
// gets exactly one decision, for its own row, before any handler runs.
// A row whose requests reach a handler without a decision, or an endpoint
// served outside the table, fails here or in
// TestOnlyTheGateRegistersHandlers.
func TestEveryRoutePassesDecide(t *testing.T) {
	s := testserver.New(t, testserver.Options{})
	group := s.CreateGroup(t, "gated", 0, "private")
	p := s.CreateProject(t, group, "app", "private")

	var mu sync.Mutex
	var seen []string
	s.Srv.Gate().OnDecision = func(rt *gate.Route, d authz.Decision) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, routeKey(rt))
	}
	routes := s.Srv.Routes()
	if len(routes) < 90 {
		t.Fatalf("the route table has %d rows; the server serves more", len(routes))
	}
	surfaces := map[gate.Surface]int{}
	for i := range routes {
		rt := &routes[i]
		surfaces[rt.Surface]++
		path := wildcard.ReplaceAllStringFunc(rt.Path, func(w string) string {
			name := wildcard.FindStringSubmatch(w)[1]
			switch {
			case name == "id" && rt.Target == gate.GroupTarget:
				return testserver.Itoa(group)
			case name == "id" || name == "full_path":
				if rt.Surface == gate.Git {
					return p.Path
				}
				return testserver.Itoa(p.ID)
			case name == "ref_path":
				return "artifacts/main/download"
			case name == "artifact_path" || name == "file_path" || name == "file_name":
				return "a.txt"
			case name == "package_name" || name == "package_version" || name == "package_type" || name == "sha":
				return "x1"
			}
			return "1" // job, pipeline, user, token, package... IDs
		})
		if rt.Prefixed() {
			path = "/api/v4" + path
		}
		mu.Lock()
		seen = nil
		mu.Unlock()
		r := s.Send(t, s.NewRequest(t, rt.Method, path, "", nil))
		mu.Lock()
		got := seen
		mu.Unlock()
		if len(got) != 1 || got[0] != routeKey(rt) {
			t.Errorf("%s (%s %s, answered %d): decisions %q, want exactly one, for this row", routeKey(rt), rt.Method, path, r.Status, got)
		}
	}
	for _, sf := range []gate.Surface{gate.REST, gate.Runner, gate.Git, gate.Ops} {
		if surfaces[sf] == 0 {
			t.Errorf("no %s routes in the table", sf)
		}
	}
}

// TestOnlyTheGateRegistersHandlers: no code but the gate builds a
// ServeMux or registers on the default one, so an endpoint cannot be
// served without being a row of the table.
func TestOnlyTheGateRegistersHandlers(t *testing.T) {
	root := filepath.Join("..", "..")
	fset := token.NewFileSet()
	allowed := filepath.Join("internal", "gate", "gate.go")
	for _, dir := range []string{"internal", "cmd"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			rel, _ := filepath.Rel(root, path)
			src, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			f, err := parser.ParseFile(fset, path, src, 0)
			if err != nil {
				return err
			}
			ast.Inspect(f, func(n ast.Node) bool {
				sel, ok := n.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				pkg, ok := sel.X.(*ast.Ident)
				if !ok || pkg.Name != "http" {
					return true
				}
				switch sel.Sel.Name {
				case "NewServeMux":
					if rel != allowed {
						t.Errorf("%s: http.NewServeMux outside the gate: make the endpoint a row of the route table", fset.Position(sel.Pos()))
					}
				case "Handle", "HandleFunc", "DefaultServeMux":
					t.Errorf("%s: http.%s: make the endpoint a row of the route table", fset.Position(sel.Pos()), sel.Sel.Name)
				}
				return true
			})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestDependencyDownloadTakesTheHeaderOnly: the route table says the
// runner's dependency download takes the job token in JOB-TOKEN only
// (runner-protocol.md §10.2), and `ciwarden routes` prints it so; the
// refusal of every other transport is in TestArtifacts.
func TestDependencyDownloadTakesTheHeaderOnly(t *testing.T) {
	var row *gate.Route
	routes := server.RouteTable()
	for i := range routes {
		if routes[i].Method == http.MethodGet && routes[i].Path == "/jobs/{job_id}/artifacts" {
			row = &routes[i]
		}
	}
	if row == nil {
		t.Fatal("no row for GET /jobs/{job_id}/artifacts")
	}
	if row.Accepts.JobToken != auth.Header || row.Accepts.PAT != 0 || row.Surface != gate.Runner {
		t.Errorf("GET /jobs/{job_id}/artifacts accepts PAT %v, job token %v on %v; want the JOB-TOKEN header only, runner protocol",
			row.Accepts.PAT, row.Accepts.JobToken, row.Surface)
	}
	var out bytes.Buffer
	gate.Print(&out, "/api/v4", routes)
	for _, line := range strings.Split(out.String(), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[1] == "GET" && f[2] == "/api/v4/jobs/{job_id}/artifacts" {
			if f[3] != "-" || f[4] != "header" {
				t.Errorf("ciwarden routes prints %q; want PAT - and job token header", line)
			}
			return
		}
	}
	t.Errorf("ciwarden routes does not print the dependency download:\n%s", out.String())
}
