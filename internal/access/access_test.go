package access_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/ciwarden/ciwarden/internal/access"
	"github.com/ciwarden/ciwarden/internal/auth"
	"github.com/ciwarden/ciwarden/internal/authz"
	"github.com/ciwarden/ciwarden/internal/jobtoken"
	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/store"
	"github.com/ciwarden/ciwarden/internal/testdb"
)

// TestScopeCacheFollowsEveryChange runs one story of allowlist changes
// against two authorizers on one store, one caching the lists and one
// reading them on every call. After each change (made while the cache is
// warm) both must reach the expected decision: a cached list that
// outlives a change would show up as a difference.
func TestScopeCacheFollowsEveryChange(t *testing.T) {
	for _, d := range testdb.Dialects {
		t.Run(d, func(t *testing.T) { testScopeCache(t, d) })
	}
}

func testScopeCache(t *testing.T, dialect string) {
	ctx := context.Background()
	st := testdb.Store(t, dialect)
	var user *model.User
	var root, mid, leaf, other *model.Namespace
	var source, target *model.Project
	tx := func(fn func(q *store.Queries) error) {
		t.Helper()
		if err := st.Tx(ctx, fn); err != nil {
			t.Fatal(err)
		}
	}
	tx(func(q *store.Queries) error {
		user = &model.User{Username: "dev", Name: "Dev", Email: "dev@example.com"}
		if err := q.CreateUser(ctx, user); err != nil {
			return err
		}
		group := func(parent *model.Namespace, path string) *model.Namespace {
			n := &model.Namespace{Kind: model.NamespaceGroup, Name: path, Path: path, FullPath: path, FullName: path, Visibility: model.Private}
			if parent != nil {
				n.ParentID = &parent.ID
				n.FullPath, n.FullName = parent.FullPath+"/"+path, parent.FullName+" / "+path
			}
			if err := q.CreateNamespace(ctx, n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		root, other = group(nil, "root"), group(nil, "other")
		mid = group(root, "mid")
		leaf = group(mid, "leaf")
		source = &model.Project{Name: "src", Path: "src", NamespaceID: leaf.ID, Visibility: model.Private, DefaultBranch: "main"}
		target = &model.Project{Name: "tgt", Path: "tgt", NamespaceID: other.ID, Visibility: model.Private, DefaultBranch: "main"}
		for _, p := range []*model.Project{source, target} {
			if err := q.CreateProject(ctx, p); err != nil {
				return err
			}
		}
		return q.AddMember(ctx, &model.Member{UserID: user.ID, SourceKind: model.SourceProject, SourceID: target.ID, AccessLevel: model.Developer})
	})

	cached := &access.Authorizer{Store: st}
	cached.CacheScopes(100)
	fresh := &access.Authorizer{Store: st}
	actions := []authz.Action{authz.ReadPackage, authz.CreatePackage}

	// decide asks both authorizers as authentication would build the
	// caller, the projects re-read.
	decide := func(act authz.Action) (authz.Decision, authz.Decision) {
		t.Helper()
		src, err := st.Project(ctx, source.ID)
		if err != nil {
			t.Fatal(err)
		}
		tgt, err := st.Project(ctx, target.ID)
		if err != nil {
			t.Fatal(err)
		}
		who := auth.JobPrincipal(&model.Job{ID: 1, ProjectID: src.ID, Status: model.StatusRunning}, src, nil, user)
		c, err := cached.Project(ctx, who, tgt, act)
		if err != nil {
			t.Fatal(err)
		}
		f, err := fresh.Project(ctx, who, tgt, act)
		if err != nil {
			t.Fatal(err)
		}
		return c, f
	}
	link := func(dir string, project int64, policies ...string) *model.ScopeLink {
		return &model.ScopeLink{OwnerProjectID: target.ID, Direction: dir, ProjectID: project, DefaultPermissions: policies == nil, Policies: policies}
	}
	groupLink := func(g *model.Namespace, policies ...string) *model.ScopeLink {
		return &model.ScopeLink{OwnerProjectID: target.ID, Direction: model.Inbound, GroupID: g.ID, DefaultPermissions: policies == nil, Policies: policies}
	}
	yes, no := true, false

	// want is the failed check per action ("" = allowed).
	steps := []struct {
		name   string
		change func(q *store.Queries) error
		want   [2]string
	}{
		{"nothing listed", nil, [2]string{authz.CheckInbound, authz.CheckInbound}},
		{"project link added", func(q *store.Queries) error { return q.AddProjectLink(ctx, link(model.Inbound, source.ID)) }, [2]string{"", ""}},
		{"project link narrowed to read_packages", func(q *store.Queries) error {
			l, err := q.ProjectLink(ctx, target.ID, model.Inbound, source.ID)
			if err != nil {
				return err
			}
			l.DefaultPermissions, l.Policies = false, []string{authz.PolicyReadPackages}
			return q.SetLinkPermissions(ctx, l)
		}, [2]string{"", authz.CheckEntryPolicy}},
		{"project link removed", func(q *store.Queries) error { return q.DeleteProjectLink(ctx, target.ID, model.Inbound, source.ID) },
			[2]string{authz.CheckInbound, authz.CheckInbound}},
		{"root group added", func(q *store.Queries) error { return q.AddGroupLink(ctx, groupLink(root)) }, [2]string{"", ""}},
		{"nearer leaf group with read_jobs only", func(q *store.Queries) error { return q.AddGroupLink(ctx, groupLink(leaf, authz.PolicyReadJobs)) },
			[2]string{authz.CheckEntryPolicy, authz.CheckEntryPolicy}},
		{"leaf widened to read_packages", func(q *store.Queries) error {
			l, err := q.GroupLink(ctx, target.ID, leaf.ID)
			if err != nil {
				return err
			}
			l.Policies = []string{authz.PolicyReadPackages}
			return q.SetLinkPermissions(ctx, l)
		}, [2]string{"", authz.CheckEntryPolicy}},
		{"leaf removed, root governs again", func(q *store.Queries) error { return q.DeleteGroupLink(ctx, target.ID, leaf.ID) }, [2]string{"", ""}},
		{"root removed", func(q *store.Queries) error { return q.DeleteGroupLink(ctx, target.ID, root.ID) },
			[2]string{authz.CheckInbound, authz.CheckInbound}},
		{"inbound turned off", func(q *store.Queries) error { return q.SetJobTokenScope(ctx, target.ID, &no, nil) }, [2]string{"", ""}},
		{"instance enforces inbound", func(q *store.Queries) error {
			return q.SetBoolSetting(ctx, store.SettingEnforceInboundScope, true)
		}, [2]string{authz.CheckInbound, authz.CheckInbound}},
		{"mid listed", func(q *store.Queries) error { return q.AddGroupLink(ctx, groupLink(mid)) }, [2]string{"", ""}},
		{"source limits its token", func(q *store.Queries) error { return q.SetJobTokenScope(ctx, source.ID, nil, &yes) },
			[2]string{authz.CheckOutbound, authz.CheckOutbound}},
		{"source lists the target", func(q *store.Queries) error {
			return q.AddProjectLink(ctx, &model.ScopeLink{OwnerProjectID: source.ID, Direction: model.Outbound, ProjectID: target.ID, DefaultPermissions: true})
		}, [2]string{"", ""}},
		{"source unlists the target", func(q *store.Queries) error { return q.DeleteProjectLink(ctx, source.ID, model.Outbound, target.ID) },
			[2]string{authz.CheckOutbound, authz.CheckOutbound}},
	}
	for _, s := range steps {
		// Warm the cache with the state before the change.
		for _, act := range actions {
			decide(act)
		}
		if s.change != nil {
			tx(s.change)
		}
		for i, act := range actions {
			c, f := decide(act)
			if c != f {
				t.Fatalf("%s, %s: cached %+v, uncached %+v", s.name, act.Name, c, f)
			}
			got := ""
			if !c.Allowed {
				got = c.Check
			}
			if got != s.want[i] {
				t.Fatalf("%s, %s: decision %+v, want failed check %q", s.name, act.Name, c, s.want[i])
			}
		}
	}
}

// TestConcurrentDecisions: decisions through the cache, recorded in the
// authentication log, while the allowlist changes and the log flushes
// underneath. Every use is counted once (run with -race to check the
// locking too).
func TestConcurrentDecisions(t *testing.T) {
	ctx := context.Background()
	st := testdb.Store(t, "sqlite")
	var user *model.User
	var src, tgt *model.Project
	if err := st.Tx(ctx, func(q *store.Queries) error {
		user = &model.User{Username: "u", Name: "U", Email: "u@example.com"}
		if err := q.CreateUser(ctx, user); err != nil {
			return err
		}
		n := &model.Namespace{Kind: model.NamespaceGroup, Name: "g", Path: "g", FullPath: "g", FullName: "g", Visibility: model.Private}
		if err := q.CreateNamespace(ctx, n); err != nil {
			return err
		}
		src = &model.Project{Name: "s", Path: "s", NamespaceID: n.ID, Visibility: model.Private, DefaultBranch: "main"}
		tgt = &model.Project{Name: "t", Path: "t", NamespaceID: n.ID, Visibility: model.Private, DefaultBranch: "main"}
		for _, p := range []*model.Project{src, tgt} {
			if err := q.CreateProject(ctx, p); err != nil {
				return err
			}
		}
		return q.AddMember(ctx, &model.Member{UserID: user.ID, SourceKind: model.SourceProject, SourceID: tgt.ID, AccessLevel: model.Reporter})
	}); err != nil {
		t.Fatal(err)
	}
	l := &jobtoken.AuthLog{Store: st, Log: slog.New(slog.DiscardHandler)}
	az := &access.Authorizer{Store: st, Log: l}
	az.CacheScopes(10)

	const workers, each = 4, 50
	errs := make(chan error, workers)
	for range workers {
		go func() {
			for range each {
				s, err := st.Project(ctx, src.ID)
				if err == nil {
					var p *model.Project
					if p, err = st.Project(ctx, tgt.ID); err == nil {
						who := auth.JobPrincipal(&model.Job{ID: 1, ProjectID: s.ID, Status: model.StatusRunning}, s, nil, user)
						_, err = az.Project(ctx, who, p, authz.ReadPackage)
					}
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for i := range 20 {
		err := st.Tx(ctx, func(q *store.Queries) error {
			if i%2 == 0 {
				return q.AddProjectLink(ctx, &model.ScopeLink{OwnerProjectID: tgt.ID, Direction: model.Inbound, ProjectID: src.ID, DefaultPermissions: true})
			}
			return q.DeleteProjectLink(ctx, tgt.ID, model.Inbound, src.ID)
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for range workers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	rows, _, err := st.Authorizations(ctx, tgt.ID, store.Page{Number: 1, PerPage: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].AllowedCount+rows[0].DeniedCount != workers*each {
		t.Fatalf("log %+v, want %d uses in all", rows, workers*each)
	}
}
