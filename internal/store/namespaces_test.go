package store_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/store"
)

func TestCreateNamespaceTraversal(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		a := newGroup(t, st, nil, "a", model.Public)
		b := newGroup(t, st, a, "b", model.Internal)
		c := newGroup(t, st, b, "c", model.Private)
		want := [][]int64{{a.ID}, {a.ID, b.ID}, {a.ID, b.ID, c.ID}}
		for i, n := range []*model.Namespace{a, b, c} {
			if !reflect.DeepEqual(n.Traversal, want[i]) {
				t.Fatalf("%s: CreateNamespace set traversal %v, want %v", n.FullPath, n.Traversal, want[i])
			}
			got := loadNamespace(t, st, n.ID)
			if !reflect.DeepEqual(got.Traversal, want[i]) {
				t.Fatalf("%s: stored traversal %v, want %v", n.FullPath, got.Traversal, want[i])
			}
			var raw string
			if err := st.DB().QueryRowContext(ctx, "SELECT traversal FROM namespaces WHERE id = "+itoa(n.ID)).Scan(&raw); err != nil {
				t.Fatal(err)
			}
			if raw != model.TraversalString(want[i]) {
				t.Fatalf("%s: traversal column %q, want %q", n.FullPath, raw, model.TraversalString(want[i]))
			}
		}
		got := loadNamespace(t, st, c.ID)
		if got.FullPath != "a/b/c" || got.FullName != "A / B / C" || got.Kind != model.NamespaceGroup || !got.IsGroup() ||
			got.ParentID == nil || *got.ParentID != b.ID || got.OwnerID != nil || got.Visibility != model.Private || got.PendingDelete {
			t.Fatalf("Namespace(c) = %+v", got)
		}

		missing := c.ID + 100
		orphan := &model.Namespace{Kind: model.NamespaceGroup, Name: "O", Path: "o", FullPath: "x/o", FullName: "X / O", ParentID: &missing, Visibility: model.Public}
		wantErr(t, "CreateNamespace(missing parent)", st.CreateNamespace(ctx, orphan), model.ErrNotFound)
		dup := &model.Namespace{Kind: model.NamespaceGroup, Name: "B", Path: "B", FullPath: "A/B", FullName: "A / B", ParentID: &a.ID, Visibility: model.Public}
		wantErr(t, "CreateNamespace(duplicate full path)", st.CreateNamespace(ctx, dup), model.ErrConflict)
		_, err := st.Namespace(ctx, missing)
		wantErr(t, "Namespace(missing)", err, model.ErrNotFound)
	})
}

func TestNamespaceByPath(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		g := newGroup(t, st, nil, "MyGroup", model.Public)
		sub := newGroup(t, st, g, "Sub", model.Public)
		u := newUser(t, st, "someone")
		for path, id := range map[string]int64{"mygroup": g.ID, "MYGROUP": g.ID, "MyGroup/Sub": sub.ID, "mygroup/sub": sub.ID, "SOMEONE": u.NamespaceID} {
			got, err := st.NamespaceByPath(ctx, path)
			if err != nil {
				t.Fatalf("NamespaceByPath(%q): %v", path, err)
			}
			if got.ID != id {
				t.Fatalf("NamespaceByPath(%q) = namespace %d, want %d", path, got.ID, id)
			}
		}
		for _, path := range []string{"sub", "mygroup/", "mygroup/sub/x", "my%", "MyGrou_"} {
			_, err := st.NamespaceByPath(ctx, path)
			wantErr(t, "NamespaceByPath("+path+")", err, model.ErrNotFound)
		}
	})
}

func TestUpdateNamespaceRename(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		a := newGroupNamed(t, st, nil, "a", "Café", model.Public)
		b := newGroupNamed(t, st, a, "b", "Bé", model.Public)
		c := newGroupNamed(t, st, b, "c", "C", model.Public)
		a2 := newGroupNamed(t, st, a, "a", "Café", model.Public) // a/a: a child sharing the parent's path
		// Fill IDs until the next one starts with a's digits (a=1 -> 10), so
		// a prefix match on IDs rather than on whole traversal segments
		// would catch "ab".
		last := a2.ID
		for !strings.HasPrefix(itoa(last+1), itoa(a.ID)) {
			last = newGroup(t, st, nil, "filler"+itoa(last), model.Public).ID
		}
		ab := newGroupNamed(t, st, nil, "ab", "Café2", model.Public)
		if !strings.HasPrefix(itoa(ab.ID), itoa(a.ID)) {
			t.Fatalf("premise: group ab got ID %d, want one starting with %d", ab.ID, a.ID)
		}
		abx := newGroupNamed(t, st, ab, "x", "X", model.Public)
		other := newGroupNamed(t, st, nil, "zz", "Zz", model.Public)
		otherSub := newGroupNamed(t, st, other, "a", "Café", model.Public)
		proj := newProject(t, st, c.ID, "proj", model.Public)

		old := loadNamespace(t, st, a.ID)
		n := *old
		n.Path, n.Name, n.FullPath, n.FullName = "renamed", "Kaffee", "renamed", "Kaffee"
		n.Description = "new description"
		n.Visibility = model.Internal
		if err := st.Tx(ctx, func(q *store.Queries) error { return q.UpdateNamespace(ctx, old, &n) }); err != nil {
			t.Fatalf("UpdateNamespace: %v", err)
		}

		want := map[int64][2]string{
			a.ID:        {"renamed", "Kaffee"},
			b.ID:        {"renamed/b", "Kaffee / Bé"},
			c.ID:        {"renamed/b/c", "Kaffee / Bé / C"},
			a2.ID:       {"renamed/a", "Kaffee / Café"},
			ab.ID:       {"ab", "Café2"},
			abx.ID:      {"ab/x", "Café2 / X"},
			other.ID:    {"zz", "Zz"},
			otherSub.ID: {"zz/a", "Zz / Café"},
		}
		for id, w := range want {
			got := loadNamespace(t, st, id)
			if got.FullPath != w[0] || got.FullName != w[1] {
				t.Fatalf("namespace %d after rename: full path %q, full name %q; want %q, %q", id, got.FullPath, got.FullName, w[0], w[1])
			}
		}
		got := loadNamespace(t, st, a.ID)
		if got.Path != "renamed" || got.Name != "Kaffee" || got.Description != "new description" || got.Visibility != model.Internal {
			t.Fatalf("renamed group = %+v", got)
		}
		if got := loadNamespace(t, st, b.ID); got.Path != "b" || got.Name != "Bé" || got.Visibility != model.Public {
			t.Fatalf("child's own fields changed: %+v", got)
		}
		if _, err := st.NamespaceByPath(ctx, "a/b"); err == nil {
			t.Fatal("old path a/b still resolves")
		}
		p, err := st.ProjectByPath(ctx, "Renamed/B/C/proj")
		if err != nil || p.ID != proj.ID {
			t.Fatalf("ProjectByPath under the new path = %v, %v", p, err)
		}

		// Only the name changes: full paths stay, full names follow.
		old = loadNamespace(t, st, b.ID)
		n = *old
		n.Name, n.FullName = "Bee", "Kaffee / Bee"
		if err := st.UpdateNamespace(ctx, old, &n); err != nil {
			t.Fatalf("UpdateNamespace(name only): %v", err)
		}
		if got := loadNamespace(t, st, c.ID); got.FullPath != "renamed/b/c" || got.FullName != "Kaffee / Bee / C" {
			t.Fatalf("grandchild after renaming b: %q, %q", got.FullPath, got.FullName)
		}

		// Moving onto a taken path is a conflict and changes nothing.
		old = loadNamespace(t, st, ab.ID)
		n = *old
		n.Path, n.FullPath = "ZZ", "ZZ"
		err = st.Tx(ctx, func(q *store.Queries) error { return q.UpdateNamespace(ctx, old, &n) })
		wantErr(t, "UpdateNamespace(onto a taken path)", err, model.ErrConflict)
		if got := loadNamespace(t, st, abx.ID); got.FullPath != "ab/x" {
			t.Fatalf("child of failed rename: full path %q, want ab/x", got.FullPath)
		}
	})
}

func TestMarkNamespaceForDeletion(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		root := newGroup(t, st, nil, "root", model.Public)
		doomed := newGroup(t, st, root, "doomed", model.Public)
		deep := newGroup(t, st, doomed, "deep", model.Public)
		sibling := newGroup(t, st, root, "sibling", model.Public)
		// "doomed2" shares the doomed group's path prefix but not its subtree.
		lookalike := newGroup(t, st, root, "doomed2", model.Public)
		pRoot := newProject(t, st, root.ID, "p", model.Public)
		pDoomed := newProject(t, st, doomed.ID, "p", model.Public)
		pDeep := newProject(t, st, deep.ID, "p", model.Public)
		pSibling := newProject(t, st, sibling.ID, "p", model.Public)
		pLookalike := newProject(t, st, lookalike.ID, "p", model.Public)

		if err := st.MarkNamespaceForDeletion(ctx, loadNamespace(t, st, doomed.ID)); err != nil {
			t.Fatalf("MarkNamespaceForDeletion: %v", err)
		}
		for _, c := range []struct {
			n    *model.Namespace
			want bool
		}{{root, false}, {doomed, true}, {deep, true}, {sibling, false}, {lookalike, false}} {
			if got := loadNamespace(t, st, c.n.ID); got.PendingDelete != c.want {
				t.Fatalf("group %s pending deletion = %v, want %v", c.n.FullPath, got.PendingDelete, c.want)
			}
		}
		for _, c := range []struct {
			p    *model.Project
			want bool
		}{{pRoot, false}, {pDoomed, true}, {pDeep, true}, {pSibling, false}, {pLookalike, false}} {
			if got := loadProject(t, st, c.p.ID); got.PendingDelete != c.want {
				t.Fatalf("project %s pending deletion = %v, want %v", got.FullPath(), got.PendingDelete, c.want)
			}
		}
	})
}

func TestPendingDeletionAndCascade(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		u := newUser(t, st, "member")
		root := newGroup(t, st, nil, "root", model.Public)
		doomed := newGroup(t, st, root, "doomed", model.Public)
		deep := newGroup(t, st, doomed, "deep", model.Public)
		keep := newProject(t, st, root.ID, "keep", model.Public)
		p1 := newProject(t, st, doomed.ID, "p1", model.Public)
		p2 := newProject(t, st, deep.ID, "p2", model.Public)
		lone := newProject(t, st, root.ID, "lone", model.Public)
		addMember(t, st, model.SourceNamespace, root.ID, u.ID, model.Guest, nil)
		addMember(t, st, model.SourceNamespace, doomed.ID, u.ID, model.Developer, nil)
		addMember(t, st, model.SourceNamespace, deep.ID, u.ID, model.Developer, nil)
		addMember(t, st, model.SourceProject, keep.ID, u.ID, model.Developer, nil)
		addMember(t, st, model.SourceProject, p1.ID, u.ID, model.Developer, nil)
		addMember(t, st, model.SourceProject, p2.ID, u.ID, model.Developer, nil)

		projects, namespaces, err := st.PendingDeletion(ctx)
		if err != nil || len(projects) != 0 || len(namespaces) != 0 {
			t.Fatalf("PendingDeletion before marking = %v, %v, %v; want nothing", projects, namespaces, err)
		}
		if err := st.MarkNamespaceForDeletion(ctx, loadNamespace(t, st, doomed.ID)); err != nil {
			t.Fatal(err)
		}
		if err := st.MarkProjectForDeletion(ctx, lone.ID); err != nil {
			t.Fatal(err)
		}
		projects, namespaces, err = st.PendingDeletion(ctx)
		if err != nil {
			t.Fatalf("PendingDeletion: %v", err)
		}
		if !reflect.DeepEqual(projects, []int64{p1.ID, p2.ID, lone.ID}) || !reflect.DeepEqual(namespaces, []int64{doomed.ID, deep.ID}) {
			t.Fatalf("PendingDeletion = projects %v, namespaces %v; want %v, %v", projects, namespaces,
				[]int64{p1.ID, p2.ID, lone.ID}, []int64{doomed.ID, deep.ID})
		}

		if err := st.DeleteProjectRow(ctx, lone.ID); err != nil {
			t.Fatalf("DeleteProjectRow: %v", err)
		}
		if err := st.DeleteNamespaceRow(ctx, doomed.ID); err != nil {
			t.Fatalf("DeleteNamespaceRow: %v", err)
		}
		for _, id := range []int64{doomed.ID, deep.ID} {
			_, err := st.Namespace(ctx, id)
			wantErr(t, "Namespace after cascade", err, model.ErrNotFound)
		}
		for _, id := range []int64{p1.ID, p2.ID, lone.ID} {
			_, err := st.Project(ctx, id)
			wantErr(t, "Project after cascade", err, model.ErrNotFound)
		}
		if n := count(t, st, "SELECT COUNT(*) FROM group_members"); n != 1 {
			t.Fatalf("%d group memberships left, want 1 (root's)", n)
		}
		if n := count(t, st, "SELECT COUNT(*) FROM project_members"); n != 1 {
			t.Fatalf("%d project memberships left, want 1 (keep's)", n)
		}
		if _, err := st.Member(ctx, model.SourceNamespace, root.ID, u.ID); err != nil {
			t.Fatalf("root membership gone: %v", err)
		}
		if _, err := st.Member(ctx, model.SourceProject, keep.ID, u.ID); err != nil {
			t.Fatalf("keep membership gone: %v", err)
		}
		loadNamespace(t, st, root.ID)
		loadProject(t, st, keep.ID)
		if _, err := st.User(ctx, u.ID); err != nil {
			t.Fatalf("user gone: %v", err)
		}
		projects, namespaces, err = st.PendingDeletion(ctx)
		if err != nil || len(projects) != 0 || len(namespaces) != 0 {
			t.Fatalf("PendingDeletion after reaping = %v, %v, %v; want nothing", projects, namespaces, err)
		}
	})
}

func TestMaxChildVisibility(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		check := func(n *model.Namespace, want model.Visibility) {
			t.Helper()
			got, err := st.MaxChildVisibility(ctx, n.ID)
			if err != nil || got != want {
				t.Fatalf("MaxChildVisibility(%s) = %q, %v; want %q", n.FullPath, got, err, want)
			}
		}
		empty := newGroup(t, st, nil, "empty", model.Public)
		check(empty, model.Private)

		g := newGroup(t, st, nil, "g", model.Public)
		sub := newGroup(t, st, g, "sub", model.Private)
		newProject(t, st, g.ID, "priv", model.Private)
		check(g, model.Private)
		// Grandchildren do not count: only direct children bound g.
		newGroup(t, st, sub, "pub", model.Public)
		newProject(t, st, sub.ID, "pubproj", model.Public)
		check(g, model.Private)
		check(sub, model.Public)
		newProject(t, st, g.ID, "int", model.Internal)
		check(g, model.Internal)
		newGroup(t, st, g, "pubsub", model.Public)
		check(g, model.Public)

		h := newGroup(t, st, nil, "h", model.Public)
		newGroup(t, st, h, "i", model.Internal)
		check(h, model.Internal)
	})
}
