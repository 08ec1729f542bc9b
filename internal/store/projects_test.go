package store_test

import (
	"testing"
	"time"

	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/store"
)

func TestCreateProjectAndProjectByPath(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		grp := newGroup(t, st, nil, "Grp", model.Public)
		sub := newGroup(t, st, grp, "Sub", model.Public)
		u := newUser(t, st, "owner")
		before := time.Now().Add(-time.Second)
		p := &model.Project{Name: "My Proj", Path: "Proj", Description: "d", NamespaceID: sub.ID, Visibility: model.Internal,
			DefaultBranch: "trunk", CreatorID: u.ID, CIPushRepositoryForJobTokenAllowed: true}
		if err := st.CreateProject(ctx, p); err != nil {
			t.Fatalf("CreateProject: %v", err)
		}
		if p.ID == 0 || p.CreatedAt.Before(before) || !p.UpdatedAt.Equal(p.CreatedAt) {
			t.Fatalf("CreateProject left ID %d, CreatedAt %v, UpdatedAt %v", p.ID, p.CreatedAt, p.UpdatedAt)
		}

		for _, path := range []string{"Grp/Sub/Proj", "grp/sub/proj", "GRP/SUB/PROJ"} {
			got, err := st.ProjectByPath(ctx, path)
			if err != nil {
				t.Fatalf("ProjectByPath(%q): %v", path, err)
			}
			if got.ID != p.ID || got.Name != "My Proj" || got.Path != "Proj" || got.Description != "d" || got.NamespaceID != sub.ID ||
				got.Visibility != model.Internal || got.DefaultBranch != "trunk" || got.CreatorID != u.ID ||
				!got.CIPushRepositoryForJobTokenAllowed || got.PendingDelete {
				t.Fatalf("ProjectByPath(%q) = %+v", path, got)
			}
			if !got.CreatedAt.Equal(p.CreatedAt.Truncate(time.Microsecond)) {
				t.Fatalf("CreatedAt = %v, want %v", got.CreatedAt, p.CreatedAt)
			}
			if got.Namespace == nil || got.Namespace.ID != sub.ID || got.Namespace.FullPath != "Grp/Sub" ||
				len(got.Namespace.Traversal) != 2 || got.FullPath() != "Grp/Sub/Proj" || got.FullName() != "Grp / Sub / My Proj" {
				t.Fatalf("ProjectByPath(%q) namespace = %+v", path, got.Namespace)
			}
		}
		for _, path := range []string{"Proj", "proj", "", "/Proj", "Grp/Proj", "Grp/Sub", "Grp/Sub/Proj/x", "Grp/Sub/Pro%", "Grp/Sub/Pro_"} {
			_, err := st.ProjectByPath(ctx, path)
			wantErr(t, "ProjectByPath("+path+")", err, model.ErrNotFound)
		}

		dup := &model.Project{Name: "Other", Path: "proj", NamespaceID: sub.ID, Visibility: model.Public, DefaultBranch: "main"}
		wantErr(t, "CreateProject(duplicate path)", st.CreateProject(ctx, dup), model.ErrConflict)
		elsewhere := &model.Project{Name: "Other", Path: "proj", NamespaceID: grp.ID, Visibility: model.Public, DefaultBranch: "main"}
		if err := st.CreateProject(ctx, elsewhere); err != nil {
			t.Fatalf("same path in another namespace: %v", err)
		}
		if got, err := st.ProjectByPath(ctx, "grp/proj"); err != nil || got.ID != elsewhere.ID {
			t.Fatalf("ProjectByPath(grp/proj) = %v, %v; want project %d", got, err, elsewhere.ID)
		}
		nowhere := &model.Project{Name: "X", Path: "x", NamespaceID: sub.ID + 100, Visibility: model.Public, DefaultBranch: "main"}
		wantErr(t, "CreateProject(missing namespace)", st.CreateProject(ctx, nowhere), model.ErrNotFound)

		// A personal project resolves under the username.
		mine := newProject(t, st, u.NamespaceID, "mine", model.Private)
		if got, err := st.ProjectByPath(ctx, "Owner/Mine"); err != nil || got.ID != mine.ID || got.Namespace.OwnerID == nil || *got.Namespace.OwnerID != u.ID {
			t.Fatalf("ProjectByPath(Owner/Mine) = %+v, %v", got, err)
		}
		_, err := st.Project(ctx, mine.ID+100)
		wantErr(t, "Project(missing)", err, model.ErrNotFound)
	})
}

func TestUpdateProject(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		g := newGroup(t, st, nil, "g", model.Public)
		p := newProject(t, st, g.ID, "one", model.Private)
		other := newProject(t, st, g.ID, "two", model.Private)

		got := loadProject(t, st, p.ID)
		created := got.CreatedAt
		time.Sleep(2 * time.Millisecond)
		got.Name, got.Path, got.Description = "Renamed", "renamed", "new"
		got.Visibility, got.DefaultBranch, got.CIPushRepositoryForJobTokenAllowed = model.Public, "develop", true
		if err := st.UpdateProject(ctx, got); err != nil {
			t.Fatalf("UpdateProject: %v", err)
		}
		re, err := st.ProjectByPath(ctx, "g/renamed")
		if err != nil {
			t.Fatalf("ProjectByPath after update: %v", err)
		}
		if re.ID != p.ID || re.Name != "Renamed" || re.Description != "new" || re.Visibility != model.Public ||
			re.DefaultBranch != "develop" || !re.CIPushRepositoryForJobTokenAllowed {
			t.Fatalf("project after update = %+v", re)
		}
		if !re.CreatedAt.Equal(created) || !re.UpdatedAt.After(created) {
			t.Fatalf("after update CreatedAt %v, UpdatedAt %v; want CreatedAt %v kept and UpdatedAt later", re.CreatedAt, re.UpdatedAt, created)
		}
		if _, err := st.ProjectByPath(ctx, "g/one"); err == nil {
			t.Fatal("old path still resolves")
		}

		re.Path = "TWO"
		wantErr(t, "UpdateProject(taken path)", st.UpdateProject(ctx, re), model.ErrConflict)
		if got := loadProject(t, st, other.ID); got.Path != "two" {
			t.Fatalf("other project changed: %+v", got)
		}
		missing := &model.Project{ID: other.ID + 100, Name: "x", Path: "x", Visibility: model.Public}
		wantErr(t, "UpdateProject(missing)", st.UpdateProject(ctx, missing), model.ErrNotFound)
	})
}

func TestMarkProjectForDeletion(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		g := newGroup(t, st, nil, "g", model.Public)
		p := newProject(t, st, g.ID, "p", model.Public)
		q := newProject(t, st, g.ID, "q", model.Public)
		if err := st.MarkProjectForDeletion(ctx, p.ID); err != nil {
			t.Fatalf("MarkProjectForDeletion: %v", err)
		}
		if got := loadProject(t, st, p.ID); !got.PendingDelete {
			t.Fatal("project not pending deletion")
		}
		if got := loadProject(t, st, q.ID); got.PendingDelete {
			t.Fatal("sibling project marked too")
		}
		if got := loadNamespace(t, st, g.ID); got.PendingDelete {
			t.Fatal("namespace marked with its project")
		}
		// Lookups by path still find it: callers decide what pending means.
		if got, err := st.ProjectByPath(ctx, "g/p"); err != nil || !got.PendingDelete {
			t.Fatalf("ProjectByPath(pending) = %v, %v", got, err)
		}
		wantErr(t, "MarkProjectForDeletion(missing)", st.MarkProjectForDeletion(ctx, q.ID+100), model.ErrNotFound)
	})
}

// projectWorld is a fixed set of users, groups and projects for the
// listing tests.
type projectWorld struct {
	admin, member, outsider, lapsed *model.User
	g, sec, sub                     *model.Namespace
}

func buildProjectWorld(t *testing.T, st *store.Store) *projectWorld {
	t.Helper()
	w := &projectWorld{
		admin:    newUser(t, st, "admin"),
		member:   newUser(t, st, "member"),
		outsider: newUser(t, st, "outsider"),
		lapsed:   newUser(t, st, "lapsed"),
	}
	w.g = newGroup(t, st, nil, "g", model.Public)
	gPrivate := newProject(t, st, w.g.ID, "private", model.Private)
	newProject(t, st, w.g.ID, "internal", model.Internal)
	newProject(t, st, w.g.ID, "public", model.Public)
	w.sec = newGroup(t, st, nil, "sec", model.Private)
	w.sub = newGroup(t, st, w.sec, "sub", model.Private)
	newProject(t, st, w.sub.ID, "deep", model.Private)
	newProject(t, st, w.member.NamespaceID, "own", model.Private)
	newProject(t, st, w.outsider.NamespaceID, "theirs", model.Private)
	gone := newProject(t, st, w.g.ID, "gone", model.Public)
	if err := st.MarkProjectForDeletion(ctx, gone.ID); err != nil {
		t.Fatal(err)
	}
	// A whole pending group hides its projects too, member or not.
	doomed := newGroup(t, st, nil, "doomed", model.Public)
	doomedProject := newProject(t, st, doomed.ID, "p", model.Public)
	addMember(t, st, model.SourceProject, doomedProject.ID, w.member.ID, model.Owner, nil)
	if err := st.MarkNamespaceForDeletion(ctx, loadNamespace(t, st, doomed.ID)); err != nil {
		t.Fatal(err)
	}

	addMember(t, st, model.SourceProject, gPrivate.ID, w.member.ID, model.Reporter, nil)
	addMember(t, st, model.SourceNamespace, w.sec.ID, w.member.ID, model.Developer, nil)
	addMember(t, st, model.SourceProject, gPrivate.ID, w.lapsed.ID, model.Maintainer, past())
	addMember(t, st, model.SourceNamespace, w.sec.ID, w.lapsed.ID, model.Maintainer, past())
	return w
}

func TestListProjectsVisibility(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		w := buildProjectWorld(t, st)
		anon := store.Viewer{}
		member := store.Viewer{UserID: w.member.ID}
		outsider := store.Viewer{UserID: w.outsider.ID}
		lapsed := store.Viewer{UserID: w.lapsed.ID}
		admin := store.Viewer{UserID: w.admin.ID, Admin: true}
		cases := []struct {
			name string
			f    store.ProjectFilter
			want []string
		}{
			{"anonymous", store.ProjectFilter{Viewer: anon}, []string{"g/public"}},
			{"non-member", store.ProjectFilter{Viewer: outsider}, []string{"g/internal", "g/public", "outsider/theirs"}},
			{"expired memberships", store.ProjectFilter{Viewer: lapsed}, []string{"g/internal", "g/public"}},
			{"member", store.ProjectFilter{Viewer: member}, []string{"g/internal", "g/private", "g/public", "member/own", "sec/sub/deep"}},
			{"admin", store.ProjectFilter{Viewer: admin}, []string{"g/internal", "g/private", "g/public", "member/own", "outsider/theirs", "sec/sub/deep"}},

			{"member, membership", store.ProjectFilter{Viewer: member, Membership: true}, []string{"g/private", "member/own", "sec/sub/deep"}},
			{"non-member, membership", store.ProjectFilter{Viewer: outsider, Membership: true}, []string{"outsider/theirs"}},
			{"expired, membership", store.ProjectFilter{Viewer: lapsed, Membership: true}, []string{}},
			{"anonymous, membership", store.ProjectFilter{Viewer: anon, Membership: true}, []string{}},
			{"admin, membership", store.ProjectFilter{Viewer: admin, Membership: true}, []string{}},

			{"min reporter", store.ProjectFilter{Viewer: member, MinAccessLevel: model.Reporter}, []string{"g/private", "member/own", "sec/sub/deep"}},
			{"min developer", store.ProjectFilter{Viewer: member, MinAccessLevel: model.Developer}, []string{"member/own", "sec/sub/deep"}},
			{"min maintainer", store.ProjectFilter{Viewer: member, MinAccessLevel: model.Maintainer}, []string{"member/own"}},
			{"min owner", store.ProjectFilter{Viewer: member, MinAccessLevel: model.Owner}, []string{"member/own"}},
			{"min guest, expired", store.ProjectFilter{Viewer: lapsed, MinAccessLevel: model.Guest}, []string{}},

			{"owned", store.ProjectFilter{Viewer: member, Owned: true}, []string{"member/own"}},
			{"owned, admin", store.ProjectFilter{Viewer: admin, Owned: true}, []string{}},
			{"owned, anonymous", store.ProjectFilter{Viewer: anon, Owned: true}, []string{}},

			{"visibility private", store.ProjectFilter{Viewer: member, Visibility: model.Private}, []string{"g/private", "member/own", "sec/sub/deep"}},
			{"visibility internal", store.ProjectFilter{Viewer: member, Visibility: model.Internal}, []string{"g/internal"}},
			{"visibility public, admin", store.ProjectFilter{Viewer: admin, Visibility: model.Public}, []string{"g/public"}},
			{"visibility private, anonymous", store.ProjectFilter{Viewer: anon, Visibility: model.Private}, []string{}},

			{"search path", store.ProjectFilter{Viewer: admin, Search: "DEEP"}, []string{"sec/sub/deep"}},
			{"search full path", store.ProjectFilter{Viewer: admin, Search: "sec/sub"}, []string{"sec/sub/deep"}},
			{"search name", store.ProjectFilter{Viewer: admin, Search: "project pub"}, []string{"g/public"}},
			{"search hides invisible", store.ProjectFilter{Viewer: outsider, Search: "deep"}, []string{}},
			{"search pending", store.ProjectFilter{Viewer: admin, Search: "gone"}, []string{}},
			{"search wildcard", store.ProjectFilter{Viewer: admin, Search: "%"}, []string{}},

			{"namespace", store.ProjectFilter{Viewer: admin, NamespaceID: w.g.ID}, []string{"g/internal", "g/private", "g/public"}},
			{"namespace, anonymous", store.ProjectFilter{Viewer: anon, NamespaceID: w.g.ID}, []string{"g/public"}},
			{"namespace without subgroups", store.ProjectFilter{Viewer: member, NamespaceID: w.sec.ID}, []string{}},
			{"namespace with subgroups", store.ProjectFilter{Viewer: member, NamespaceID: w.sec.ID, WithSubgroups: true}, []string{"sec/sub/deep"}},
			{"namespace with subgroups, non-member", store.ProjectFilter{Viewer: outsider, NamespaceID: w.sec.ID, WithSubgroups: true}, []string{}},
			{"subgroup itself", store.ProjectFilter{Viewer: member, NamespaceID: w.sub.ID}, []string{"sec/sub/deep"}},
			{"personal namespace", store.ProjectFilter{Viewer: admin, NamespaceID: w.member.NamespaceID, WithSubgroups: true}, []string{"member/own"}},
		}
		for _, c := range cases {
			got, total, err := st.ListProjects(ctx, c.f, allPage())
			if err != nil {
				t.Fatalf("%s: ListProjects: %v", c.name, err)
			}
			sameStrings(t, c.name, sortedStrings(projectPaths(got)), c.want)
			if total != len(c.want) {
				t.Fatalf("%s: total = %d, want %d", c.name, total, len(c.want))
			}
		}
	})
}

func TestListProjectsSearchIsLiteral(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		g := newGroup(t, st, nil, "g", model.Public)
		newProject(t, st, g.ID, "a_b", model.Public)
		newProject(t, st, g.ID, "axb", model.Public)
		for search, want := range map[string][]string{"a_b": {"g/a_b"}, "A_": {"g/a_b"}, "a%b": {}, "xb": {"g/axb"}} {
			got, total, err := st.ListProjects(ctx, store.ProjectFilter{Search: search}, allPage())
			if err != nil {
				t.Fatal(err)
			}
			sameStrings(t, "search "+search, sortedStrings(projectPaths(got)), want)
			if total != len(want) {
				t.Fatalf("search %s: total %d, want %d", search, total, len(want))
			}
		}
	})
}

func TestListProjectsOrderAndPaging(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		g := newGroup(t, st, nil, "g", model.Public)
		mk := func(name, path string) {
			p := &model.Project{Name: name, Path: path, NamespaceID: g.ID, Visibility: model.Public, DefaultBranch: "main"}
			if err := st.CreateProject(ctx, p); err != nil {
				t.Fatal(err)
			}
			// Distinct timestamps keep created_at ordering unambiguous.
			time.Sleep(2 * time.Millisecond)
		}
		mk("Banana", "zeta")
		mk("apple", "yak")
		mk("Cherry", "xray")
		mk("date", "walrus")

		names := func(ps []*model.Project) []string {
			out := []string{}
			for _, p := range ps {
				out = append(out, p.Name)
			}
			return out
		}
		for _, c := range []struct {
			orderBy, sort string
			page          store.Page
			want          []string
		}{
			{"", "", allPage(), []string{"date", "Cherry", "apple", "Banana"}},
			{"created_at", "asc", allPage(), []string{"Banana", "apple", "Cherry", "date"}},
			{"id", "asc", allPage(), []string{"Banana", "apple", "Cherry", "date"}},
			{"id", "desc", allPage(), []string{"date", "Cherry", "apple", "Banana"}},
			{"name", "asc", allPage(), []string{"apple", "Banana", "Cherry", "date"}},
			{"name", "desc", allPage(), []string{"date", "Cherry", "Banana", "apple"}},
			{"path", "asc", allPage(), []string{"date", "Cherry", "apple", "Banana"}},
			{"bogus", "asc", allPage(), []string{"Banana", "apple", "Cherry", "date"}},
			{"name", "asc", store.Page{Number: 1, PerPage: 3}, []string{"apple", "Banana", "Cherry"}},
			{"name", "asc", store.Page{Number: 2, PerPage: 3}, []string{"date"}},
			{"name", "desc", store.Page{Number: 2, PerPage: 2}, []string{"Banana", "apple"}},
		} {
			got, total, err := st.ListProjects(ctx, store.ProjectFilter{OrderBy: c.orderBy, Sort: c.sort}, c.page)
			if err != nil {
				t.Fatal(err)
			}
			sameStrings(t, "order by "+c.orderBy+" "+c.sort, names(got), c.want)
			if total != 4 {
				t.Fatalf("order by %s %s: total %d, want 4", c.orderBy, c.sort, total)
			}
		}
		if !store.ValidProjectOrder("name") || store.ValidProjectOrder("bogus") {
			t.Fatal("ValidProjectOrder disagrees with the orders ListProjects accepts")
		}
	})
}
