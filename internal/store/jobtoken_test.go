package store_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/store"
)

// jtBool points at a copy of v, for SetJobTokenScope's optional toggles.
func jtBool(v bool) *bool { return &v }

// jtAt is a fixed instant with microseconds, the precision the store keeps.
func jtAt(minute int) time.Time {
	return time.Date(2024, 5, 1, 10, minute, 0, 123456000, time.UTC)
}

func jtAddProjectLink(t *testing.T, st *store.Store, l *model.ScopeLink) *model.ScopeLink {
	t.Helper()
	if err := st.AddProjectLink(ctx, l); err != nil {
		t.Fatalf("AddProjectLink(%d %s %d): %v", l.OwnerProjectID, l.Direction, l.ProjectID, err)
	}
	if l.ID == 0 {
		t.Fatalf("AddProjectLink(%d %s %d) left ID 0", l.OwnerProjectID, l.Direction, l.ProjectID)
	}
	return l
}

func jtAddGroupLink(t *testing.T, st *store.Store, l *model.ScopeLink) *model.ScopeLink {
	t.Helper()
	if err := st.AddGroupLink(ctx, l); err != nil {
		t.Fatalf("AddGroupLink(%d, group %d): %v", l.OwnerProjectID, l.GroupID, err)
	}
	if l.ID == 0 {
		t.Fatalf("AddGroupLink(%d, group %d) left ID 0", l.OwnerProjectID, l.GroupID)
	}
	return l
}

// jtSameLink compares the stored fields of two links; Project and Group
// are checked by the listing tests.
func jtSameLink(t *testing.T, what string, got, want *model.ScopeLink) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s = nil, want link %d", what, want.ID)
	}
	if got.ID != want.ID || got.OwnerProjectID != want.OwnerProjectID || got.Direction != want.Direction ||
		got.ProjectID != want.ProjectID || got.GroupID != want.GroupID || got.DefaultPermissions != want.DefaultPermissions ||
		got.AddedByID != want.AddedByID || !got.CreatedAt.Equal(want.CreatedAt.Truncate(time.Microsecond)) {
		t.Fatalf("%s = %+v, want %+v", what, got, want)
	}
	sameStrings(t, what+" policies", got.Policies, want.Policies)
}

func jtProjectLink(t *testing.T, st *store.Store, owner int64, direction string, allowed int64) *model.ScopeLink {
	t.Helper()
	l, err := st.ProjectLink(ctx, owner, direction, allowed)
	if err != nil {
		t.Fatalf("ProjectLink(%d, %s, %d): %v", owner, direction, allowed, err)
	}
	return l
}

func jtGroupLink(t *testing.T, st *store.Store, owner, group int64) *model.ScopeLink {
	t.Helper()
	l, err := st.GroupLink(ctx, owner, group)
	if err != nil {
		t.Fatalf("GroupLink(%d, %d): %v", owner, group, err)
	}
	return l
}

func jtCountProjectLinks(t *testing.T, st *store.Store, owner int64, direction string, want int) {
	t.Helper()
	n, err := st.CountProjectLinks(ctx, owner, direction)
	if err != nil {
		t.Fatalf("CountProjectLinks(%d, %s): %v", owner, direction, err)
	}
	if n != want {
		t.Fatalf("CountProjectLinks(%d, %s) = %d, want %d", owner, direction, n, want)
	}
}

func jtCountGroupLinks(t *testing.T, st *store.Store, owner int64, want int) {
	t.Helper()
	n, err := st.CountGroupLinks(ctx, owner)
	if err != nil {
		t.Fatalf("CountGroupLinks(%d): %v", owner, err)
	}
	if n != want {
		t.Fatalf("CountGroupLinks(%d) = %d, want %d", owner, n, want)
	}
}

func TestJobTokenScopeToggles(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		g := newGroup(t, st, nil, "g", model.Public)
		p := newProject(t, st, g.ID, "p", model.Private)
		other := newProject(t, st, g.ID, "other", model.Private)
		if !p.JobTokenInboundEnabled || p.JobTokenOutboundEnabled {
			t.Fatalf("CreateProject left inbound %v, outbound %v; want true, false", p.JobTokenInboundEnabled, p.JobTokenOutboundEnabled)
		}
		check := func(what string, id int64, inbound, outbound bool) {
			t.Helper()
			got := loadProject(t, st, id)
			if got.JobTokenInboundEnabled != inbound || got.JobTokenOutboundEnabled != outbound {
				t.Fatalf("%s: project %d inbound %v, outbound %v; want %v, %v", what, id,
					got.JobTokenInboundEnabled, got.JobTokenOutboundEnabled, inbound, outbound)
			}
		}
		check("new", p.ID, true, false)

		steps := []struct {
			name              string
			inbound, outbound *bool
			wantIn, wantOut   bool
		}{
			{"outbound on", nil, jtBool(true), true, true},
			{"inbound off", jtBool(false), nil, false, true},
			{"neither", nil, nil, false, true},
			{"both", jtBool(true), jtBool(false), true, false},
			{"both flipped", jtBool(false), jtBool(true), false, true},
		}
		for _, s := range steps {
			if err := st.SetJobTokenScope(ctx, p.ID, s.inbound, s.outbound); err != nil {
				t.Fatalf("%s: SetJobTokenScope: %v", s.name, err)
			}
			check(s.name, p.ID, s.wantIn, s.wantOut)
			check(s.name+" (other project)", other.ID, true, false)
		}

		missing := other.ID + 100
		wantErr(t, "SetJobTokenScope(missing, inbound)", st.SetJobTokenScope(ctx, missing, jtBool(false), nil), model.ErrNotFound)
		wantErr(t, "SetJobTokenScope(missing, outbound)", st.SetJobTokenScope(ctx, missing, nil, jtBool(true)), model.ErrNotFound)
		wantErr(t, "SetJobTokenScope(missing, both)", st.SetJobTokenScope(ctx, missing, jtBool(true), jtBool(true)), model.ErrNotFound)
	})
}

func TestJobTokenProjectLinks(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		u := newUser(t, st, "maintainer")
		g := newGroup(t, st, nil, "g", model.Public)
		owner := newProject(t, st, g.ID, "owner", model.Private)
		a := newProject(t, st, g.ID, "a", model.Private)
		b := newProject(t, st, g.ID, "b", model.Public)

		in := jtAddProjectLink(t, st, &model.ScopeLink{OwnerProjectID: owner.ID, Direction: model.Inbound, ProjectID: a.ID,
			Policies: []string{"read_packages", "admin_jobs", "read_deployments"}, AddedByID: u.ID, CreatedAt: jtAt(1)})
		// Same pair, other direction: the lists are independent.
		out := jtAddProjectLink(t, st, &model.ScopeLink{OwnerProjectID: owner.ID, Direction: model.Outbound, ProjectID: a.ID,
			DefaultPermissions: true, CreatedAt: jtAt(2)})
		// Reversed owner and allowed is another link too.
		rev := jtAddProjectLink(t, st, &model.ScopeLink{OwnerProjectID: a.ID, Direction: model.Inbound, ProjectID: owner.ID,
			DefaultPermissions: true, AddedByID: u.ID})
		if in.ID == out.ID || out.ID == rev.ID {
			t.Fatalf("link IDs %d, %d, %d not distinct", in.ID, out.ID, rev.ID)
		}
		if rev.CreatedAt.IsZero() || time.Since(rev.CreatedAt) > time.Hour {
			t.Fatalf("AddProjectLink without CreatedAt set it to %v, want now", rev.CreatedAt)
		}

		jtSameLink(t, "inbound link", jtProjectLink(t, st, owner.ID, model.Inbound, a.ID), in)
		jtSameLink(t, "outbound link", jtProjectLink(t, st, owner.ID, model.Outbound, a.ID), out)
		jtSameLink(t, "reversed link", jtProjectLink(t, st, a.ID, model.Inbound, owner.ID), rev)
		if got := jtProjectLink(t, st, owner.ID, model.Outbound, a.ID); len(got.Policies) != 0 || got.AddedByID != 0 {
			t.Fatalf("outbound link policies %q, added by %d; want none, 0", got.Policies, got.AddedByID)
		}

		for _, dup := range []*model.ScopeLink{
			{OwnerProjectID: owner.ID, Direction: model.Inbound, ProjectID: a.ID, DefaultPermissions: true},
			{OwnerProjectID: owner.ID, Direction: model.Outbound, ProjectID: a.ID, Policies: []string{"read_jobs"}},
		} {
			wantErr(t, "AddProjectLink(duplicate "+dup.Direction+")", st.AddProjectLink(ctx, dup), model.ErrConflict)
		}
		// The failed duplicate changed nothing.
		jtSameLink(t, "inbound link after duplicate", jtProjectLink(t, st, owner.ID, model.Inbound, a.ID), in)
		wantErr(t, "AddProjectLink(missing allowed project)", st.AddProjectLink(ctx,
			&model.ScopeLink{OwnerProjectID: owner.ID, Direction: model.Inbound, ProjectID: b.ID + 100}), model.ErrNotFound)

		for _, c := range []struct {
			name           string
			owner, allowed int64
			direction      string
		}{
			{"unlinked project", owner.ID, b.ID, model.Inbound},
			{"wrong direction", a.ID, owner.ID, model.Outbound},
			{"missing owner", b.ID + 100, a.ID, model.Inbound},
		} {
			_, err := st.ProjectLink(ctx, c.owner, c.direction, c.allowed)
			wantErr(t, "ProjectLink("+c.name+")", err, model.ErrNotFound)
		}

		jtCountProjectLinks(t, st, owner.ID, model.Inbound, 1)
		jtCountProjectLinks(t, st, owner.ID, model.Outbound, 1)
		jtCountProjectLinks(t, st, a.ID, model.Inbound, 1)
		jtCountProjectLinks(t, st, a.ID, model.Outbound, 0)
		jtCountProjectLinks(t, st, b.ID, model.Inbound, 0)
		jtAddProjectLink(t, st, &model.ScopeLink{OwnerProjectID: owner.ID, Direction: model.Inbound, ProjectID: b.ID, DefaultPermissions: true})
		jtCountProjectLinks(t, st, owner.ID, model.Inbound, 2)
		jtCountProjectLinks(t, st, owner.ID, model.Outbound, 1)

		// Fine-grained permissions replace the list, order kept; switching
		// back to the default clears it.
		in.DefaultPermissions, in.Policies = false, []string{"read_repositories", "read_jobs"}
		if err := st.SetLinkPermissions(ctx, in); err != nil {
			t.Fatalf("SetLinkPermissions: %v", err)
		}
		jtSameLink(t, "inbound link after SetLinkPermissions", jtProjectLink(t, st, owner.ID, model.Inbound, a.ID), in)
		jtSameLink(t, "outbound link after inbound's SetLinkPermissions", jtProjectLink(t, st, owner.ID, model.Outbound, a.ID), out)
		in.DefaultPermissions, in.Policies = true, nil
		if err := st.SetLinkPermissions(ctx, in); err != nil {
			t.Fatalf("SetLinkPermissions(default): %v", err)
		}
		jtSameLink(t, "inbound link back to default", jtProjectLink(t, st, owner.ID, model.Inbound, a.ID), in)
		wantErr(t, "SetLinkPermissions(missing)", st.SetLinkPermissions(ctx,
			&model.ScopeLink{ID: in.ID + 100, Policies: []string{"read_jobs"}}), model.ErrNotFound)

		// Deleting one direction keeps the other.
		if err := st.DeleteProjectLink(ctx, owner.ID, model.Inbound, a.ID); err != nil {
			t.Fatalf("DeleteProjectLink: %v", err)
		}
		_, err := st.ProjectLink(ctx, owner.ID, model.Inbound, a.ID)
		wantErr(t, "ProjectLink(deleted)", err, model.ErrNotFound)
		jtSameLink(t, "outbound link after deleting inbound", jtProjectLink(t, st, owner.ID, model.Outbound, a.ID), out)
		jtSameLink(t, "reversed link after deleting inbound", jtProjectLink(t, st, a.ID, model.Inbound, owner.ID), rev)
		jtCountProjectLinks(t, st, owner.ID, model.Inbound, 1)
		jtCountProjectLinks(t, st, owner.ID, model.Outbound, 1)
		wantErr(t, "DeleteProjectLink(again)", st.DeleteProjectLink(ctx, owner.ID, model.Inbound, a.ID), model.ErrNotFound)
		wantErr(t, "DeleteProjectLink(never linked)", st.DeleteProjectLink(ctx, b.ID, model.Outbound, a.ID), model.ErrNotFound)

		// A deleted link may be added again.
		again := jtAddProjectLink(t, st, &model.ScopeLink{OwnerProjectID: owner.ID, Direction: model.Inbound, ProjectID: a.ID, DefaultPermissions: true})
		jtSameLink(t, "re-added link", jtProjectLink(t, st, owner.ID, model.Inbound, a.ID), again)
	})
}

func TestJobTokenGroupLinks(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		u := newUser(t, st, "maintainer")
		g := newGroup(t, st, nil, "g", model.Private)
		sub := newGroup(t, st, g, "sub", model.Private)
		owner := newProject(t, st, g.ID, "owner", model.Private)
		other := newProject(t, st, g.ID, "other", model.Private)

		gl := jtAddGroupLink(t, st, &model.ScopeLink{OwnerProjectID: owner.ID, GroupID: g.ID,
			Policies: []string{"read_pipelines", "read_packages"}, AddedByID: u.ID, CreatedAt: jtAt(3)})
		sl := jtAddGroupLink(t, st, &model.ScopeLink{OwnerProjectID: owner.ID, GroupID: sub.ID, DefaultPermissions: true, CreatedAt: jtAt(4)})
		ol := jtAddGroupLink(t, st, &model.ScopeLink{OwnerProjectID: other.ID, GroupID: g.ID, DefaultPermissions: true, CreatedAt: jtAt(5)})

		// Group links are inbound whatever the caller left in Direction.
		gl.Direction, sl.Direction, ol.Direction = model.Inbound, model.Inbound, model.Inbound
		jtSameLink(t, "group link", jtGroupLink(t, st, owner.ID, g.ID), gl)
		jtSameLink(t, "subgroup link", jtGroupLink(t, st, owner.ID, sub.ID), sl)
		jtSameLink(t, "other owner's group link", jtGroupLink(t, st, other.ID, g.ID), ol)

		wantErr(t, "AddGroupLink(duplicate)", st.AddGroupLink(ctx,
			&model.ScopeLink{OwnerProjectID: owner.ID, GroupID: g.ID, DefaultPermissions: true}), model.ErrConflict)
		jtSameLink(t, "group link after duplicate", jtGroupLink(t, st, owner.ID, g.ID), gl)
		wantErr(t, "AddGroupLink(missing group)", st.AddGroupLink(ctx,
			&model.ScopeLink{OwnerProjectID: owner.ID, GroupID: sub.ID + 100}), model.ErrNotFound)
		_, err := st.GroupLink(ctx, other.ID, sub.ID)
		wantErr(t, "GroupLink(unlinked)", err, model.ErrNotFound)
		_, err = st.GroupLink(ctx, other.ID+100, g.ID)
		wantErr(t, "GroupLink(missing owner)", err, model.ErrNotFound)

		jtCountGroupLinks(t, st, owner.ID, 2)
		jtCountGroupLinks(t, st, other.ID, 1)
		// Group links are not project links.
		jtCountProjectLinks(t, st, owner.ID, model.Inbound, 0)

		// A project link with the group link's ID: SetLinkPermissions must
		// pick the table by GroupID and leave the other row alone.
		pl := jtAddProjectLink(t, st, &model.ScopeLink{OwnerProjectID: other.ID, Direction: model.Inbound, ProjectID: owner.ID, DefaultPermissions: true})
		gl.DefaultPermissions, gl.Policies = false, []string{"admin_packages"}
		if err := st.SetLinkPermissions(ctx, gl); err != nil {
			t.Fatalf("SetLinkPermissions(group): %v", err)
		}
		jtSameLink(t, "group link after SetLinkPermissions", jtGroupLink(t, st, owner.ID, g.ID), gl)
		jtSameLink(t, "subgroup link after SetLinkPermissions", jtGroupLink(t, st, owner.ID, sub.ID), sl)
		jtSameLink(t, "other owner's group link after SetLinkPermissions", jtGroupLink(t, st, other.ID, g.ID), ol)
		pl.DefaultPermissions, pl.Policies = false, []string{"read_jobs"}
		if err := st.SetLinkPermissions(ctx, pl); err != nil {
			t.Fatalf("SetLinkPermissions(project): %v", err)
		}
		jtSameLink(t, "project link after SetLinkPermissions", jtProjectLink(t, st, other.ID, model.Inbound, owner.ID), pl)
		for _, l := range []*model.ScopeLink{gl, sl, ol} {
			jtSameLink(t, "group link after the project link's SetLinkPermissions", jtGroupLink(t, st, l.OwnerProjectID, l.GroupID), l)
		}
		wantErr(t, "SetLinkPermissions(missing group link)", st.SetLinkPermissions(ctx,
			&model.ScopeLink{ID: ol.ID + 100, GroupID: g.ID, DefaultPermissions: true}), model.ErrNotFound)

		if err := st.DeleteGroupLink(ctx, owner.ID, g.ID); err != nil {
			t.Fatalf("DeleteGroupLink: %v", err)
		}
		_, err = st.GroupLink(ctx, owner.ID, g.ID)
		wantErr(t, "GroupLink(deleted)", err, model.ErrNotFound)
		jtSameLink(t, "subgroup link after delete", jtGroupLink(t, st, owner.ID, sub.ID), sl)
		jtSameLink(t, "other owner's link after delete", jtGroupLink(t, st, other.ID, g.ID), ol)
		jtCountGroupLinks(t, st, owner.ID, 1)
		jtCountGroupLinks(t, st, other.ID, 1)
		wantErr(t, "DeleteGroupLink(again)", st.DeleteGroupLink(ctx, owner.ID, g.ID), model.ErrNotFound)
		wantErr(t, "DeleteGroupLink(never linked)", st.DeleteGroupLink(ctx, other.ID, sub.ID), model.ErrNotFound)
	})
}

func TestJobTokenLinkListings(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		top := newGroup(t, st, nil, "top", model.Public)
		sub := newGroup(t, st, top, "sub", model.Private)
		deep := newGroup(t, st, sub, "deep", model.Private)
		owner := newProject(t, st, top.ID, "owner", model.Private)
		p1 := newProject(t, st, sub.ID, "one", model.Private)
		p2 := newProject(t, st, top.ID, "two", model.Public)
		p3 := newProject(t, st, deep.ID, "three", model.Internal)

		// Added out of project-ID order: the listing follows the links.
		order := []*model.Project{p3, p1, p2}
		policies := [][]string{{"read_jobs", "read_packages"}, nil, {"admin_pipelines"}}
		links := make([]*model.ScopeLink, len(order))
		for i, p := range order {
			links[i] = jtAddProjectLink(t, st, &model.ScopeLink{OwnerProjectID: owner.ID, Direction: model.Inbound, ProjectID: p.ID,
				DefaultPermissions: policies[i] == nil, Policies: policies[i], CreatedAt: jtAt(10 + i)})
		}
		outLink := jtAddProjectLink(t, st, &model.ScopeLink{OwnerProjectID: owner.ID, Direction: model.Outbound, ProjectID: p2.ID, DefaultPermissions: true})
		// Another owner's links never list.
		jtAddProjectLink(t, st, &model.ScopeLink{OwnerProjectID: p1.ID, Direction: model.Inbound, ProjectID: p2.ID, DefaultPermissions: true})

		paths := map[int64]string{p1.ID: "top/sub/one", p2.ID: "top/two", p3.ID: "top/sub/deep/three"}
		checkProjects := func(what string, page store.Page, direction string, want []*model.ScopeLink, total int) {
			t.Helper()
			got, n, err := st.ProjectLinks(ctx, owner.ID, direction, page)
			if err != nil {
				t.Fatalf("%s: ProjectLinks: %v", what, err)
			}
			if n != total || len(got) != len(want) {
				t.Fatalf("%s: %d links, total %d; want %d, total %d", what, len(got), n, len(want), total)
			}
			for i, w := range want {
				l := got[i]
				jtSameLink(t, fmt.Sprintf("%s: link %d", what, i), l, w)
				if l.Project == nil || l.Project.ID != w.ProjectID || l.Project.FullPath() != paths[w.ProjectID] ||
					l.Project.Namespace == nil || len(l.Project.Namespace.Traversal) == 0 {
					t.Fatalf("%s: link %d project = %+v, want %s", what, i, l.Project, paths[w.ProjectID])
				}
			}
		}
		checkProjects("all", allPage(), model.Inbound, links, 3)
		checkProjects("page 1", store.Page{Number: 1, PerPage: 2}, model.Inbound, links[:2], 3)
		checkProjects("page 2", store.Page{Number: 2, PerPage: 2}, model.Inbound, links[2:], 3)
		checkProjects("page 3", store.Page{Number: 3, PerPage: 2}, model.Inbound, nil, 3)
		checkProjects("outbound", allPage(), model.Outbound, []*model.ScopeLink{outLink}, 1)
		if got, n, err := st.ProjectLinks(ctx, p3.ID, model.Inbound, allPage()); err != nil || n != 0 || len(got) != 0 {
			t.Fatalf("ProjectLinks(no links) = %v, %d, %v; want none", got, n, err)
		}

		// Group links, deepest added first.
		groups := []*model.Namespace{deep, top, sub}
		glinks := make([]*model.ScopeLink, len(groups))
		gpolicies := [][]string{{"read_packages", "read_jobs"}, nil, {"read_releases"}}
		for i, g := range groups {
			glinks[i] = jtAddGroupLink(t, st, &model.ScopeLink{OwnerProjectID: owner.ID, GroupID: g.ID, Direction: model.Inbound,
				DefaultPermissions: gpolicies[i] == nil, Policies: gpolicies[i], CreatedAt: jtAt(20 + i)})
		}
		jtAddGroupLink(t, st, &model.ScopeLink{OwnerProjectID: p1.ID, GroupID: top.ID, DefaultPermissions: true})
		gpaths := map[int64]string{top.ID: "top", sub.ID: "top/sub", deep.ID: "top/sub/deep"}
		checkGroups := func(what string, page store.Page, want []*model.ScopeLink, total int) {
			t.Helper()
			got, n, err := st.GroupLinks(ctx, owner.ID, page)
			if err != nil {
				t.Fatalf("%s: GroupLinks: %v", what, err)
			}
			if n != total || len(got) != len(want) {
				t.Fatalf("%s: %d group links, total %d; want %d, total %d", what, len(got), n, len(want), total)
			}
			for i, w := range want {
				l := got[i]
				jtSameLink(t, fmt.Sprintf("%s: group link %d", what, i), l, w)
				if l.Group == nil || l.Group.ID != w.GroupID || l.Group.FullPath != gpaths[w.GroupID] || !l.Group.IsGroup() ||
					len(l.Group.Traversal) != strings.Count(gpaths[w.GroupID], "/")+1 {
					t.Fatalf("%s: group link %d group = %+v, want %s", what, i, l.Group, gpaths[w.GroupID])
				}
			}
		}
		checkGroups("all", allPage(), glinks, 3)
		checkGroups("page 1", store.Page{Number: 1, PerPage: 2}, glinks[:2], 3)
		checkGroups("page 2", store.Page{Number: 2, PerPage: 2}, glinks[2:], 3)
		checkGroups("page 3", store.Page{Number: 3, PerPage: 2}, nil, 3)
		if got, n, err := st.GroupLinks(ctx, p3.ID, allPage()); err != nil || n != 0 || len(got) != 0 {
			t.Fatalf("GroupLinks(no links) = %v, %d, %v; want none", got, n, err)
		}
	})
}

func TestJobTokenInboundEntry(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		root := newGroup(t, st, nil, "root", model.Private)
		a := newGroup(t, st, root, "a", model.Private)
		b := newGroup(t, st, a, "b", model.Private)
		c := newGroup(t, st, b, "c", model.Private)
		below := newGroup(t, st, c, "below", model.Private) // beneath the source's namespace
		sibling := newGroup(t, st, a, "x", model.Private)   // beside b
		elsewhere := newGroup(t, st, nil, "elsewhere", model.Private)
		src := newProject(t, st, c.ID, "src", model.Private)
		owner := newProject(t, st, elsewhere.ID, "owner", model.Private)
		otherOwner := newProject(t, st, elsewhere.ID, "other", model.Private)
		owner2 := newProject(t, st, elsewhere.ID, "owner2", model.Private)

		ancestors := loadProject(t, st, src.ID).Namespace.Traversal
		if want := []int64{root.ID, a.ID, b.ID, c.ID}; fmt.Sprint(ancestors) != fmt.Sprint(want) {
			t.Fatalf("source traversal = %v, want %v", ancestors, want)
		}
		entry := func(owner int64) *model.ScopeLink {
			t.Helper()
			l, err := st.InboundEntry(ctx, owner, src.ID, ancestors)
			if err != nil {
				t.Fatalf("InboundEntry(%d): %v", owner, err)
			}
			return l
		}
		wantNone := func(what string, owner int64) {
			t.Helper()
			if l := entry(owner); l != nil {
				t.Fatalf("%s: InboundEntry = %+v, want nil", what, l)
			}
		}
		// InboundEntry loads only what the decision needs.
		wantEntry := func(what string, owner int64, want *model.ScopeLink) {
			t.Helper()
			got := entry(owner)
			if got == nil {
				t.Fatalf("%s: InboundEntry = nil, want link %d", what, want.ID)
			}
			wantProject := int64(0)
			if want.GroupID == 0 {
				wantProject = src.ID
			}
			if got.ID != want.ID || got.GroupID != want.GroupID || got.ProjectID != wantProject || got.OwnerProjectID != owner ||
				got.Direction != model.Inbound || got.DefaultPermissions != want.DefaultPermissions {
				t.Fatalf("%s: InboundEntry = %+v, want %+v", what, got, want)
			}
			sameStrings(t, what+": policies", got.Policies, want.Policies)
		}

		wantNone("no entries", owner.ID)

		// Entries that do not admit src.
		jtAddProjectLink(t, st, &model.ScopeLink{OwnerProjectID: otherOwner.ID, Direction: model.Inbound, ProjectID: src.ID, DefaultPermissions: true})
		jtAddGroupLink(t, st, &model.ScopeLink{OwnerProjectID: otherOwner.ID, GroupID: root.ID, DefaultPermissions: true})
		wantNone("entries on another owner", owner.ID)
		jtAddGroupLink(t, st, &model.ScopeLink{OwnerProjectID: owner.ID, GroupID: sibling.ID, DefaultPermissions: true})
		wantNone("sibling group", owner.ID)
		jtAddGroupLink(t, st, &model.ScopeLink{OwnerProjectID: owner.ID, GroupID: elsewhere.ID, DefaultPermissions: true})
		wantNone("unrelated group", owner.ID)
		jtAddGroupLink(t, st, &model.ScopeLink{OwnerProjectID: owner.ID, GroupID: below.ID, DefaultPermissions: true})
		wantNone("group beneath the source", owner.ID)
		jtAddProjectLink(t, st, &model.ScopeLink{OwnerProjectID: owner.ID, Direction: model.Outbound, ProjectID: src.ID, DefaultPermissions: true})
		wantNone("outbound link", owner.ID)
		if l, err := st.InboundEntry(ctx, owner.ID, src.ID, nil); err != nil || l != nil {
			t.Fatalf("InboundEntry(no ancestors) = %+v, %v; want nil", l, err)
		}

		// Shallow first, then deeper, then the project itself.
		rootLink := jtAddGroupLink(t, st, &model.ScopeLink{OwnerProjectID: owner.ID, GroupID: root.ID, Policies: []string{"read_packages", "read_jobs"}})
		wantEntry("root link", owner.ID, rootLink)
		bLink := jtAddGroupLink(t, st, &model.ScopeLink{OwnerProjectID: owner.ID, GroupID: b.ID, DefaultPermissions: true})
		wantEntry("b link beats root", owner.ID, bLink)
		pLink := jtAddProjectLink(t, st, &model.ScopeLink{OwnerProjectID: owner.ID, Direction: model.Inbound, ProjectID: src.ID,
			Policies: []string{"admin_packages"}})
		wantEntry("project link beats groups", owner.ID, pLink)
		// Without ancestors only the project link can admit.
		if l, err := st.InboundEntry(ctx, owner.ID, src.ID, nil); err != nil || l == nil || l.ID != pLink.ID || l.GroupID != 0 {
			t.Fatalf("InboundEntry(no ancestors) = %+v, %v; want the project link %d", l, err, pLink.ID)
		}

		// Taking the nearest away falls back to the next.
		if err := st.DeleteProjectLink(ctx, owner.ID, model.Inbound, src.ID); err != nil {
			t.Fatal(err)
		}
		wantEntry("after deleting the project link", owner.ID, bLink)
		if err := st.DeleteGroupLink(ctx, owner.ID, b.ID); err != nil {
			t.Fatal(err)
		}
		wantEntry("after deleting b's link", owner.ID, rootLink)

		// Deep first, then shallow: insertion order does not matter.
		wantNone("second owner, empty", owner2.ID)
		pLink2 := jtAddProjectLink(t, st, &model.ScopeLink{OwnerProjectID: owner2.ID, Direction: model.Inbound, ProjectID: src.ID, DefaultPermissions: true})
		wantEntry("second owner, project link", owner2.ID, pLink2)
		cLink2 := jtAddGroupLink(t, st, &model.ScopeLink{OwnerProjectID: owner2.ID, GroupID: c.ID, Policies: []string{"read_jobs"}})
		aLink2 := jtAddGroupLink(t, st, &model.ScopeLink{OwnerProjectID: owner2.ID, GroupID: a.ID, DefaultPermissions: true})
		wantEntry("second owner, project link added first", owner2.ID, pLink2)
		if err := st.DeleteProjectLink(ctx, owner2.ID, model.Inbound, src.ID); err != nil {
			t.Fatal(err)
		}
		wantEntry("second owner, c added before a", owner2.ID, cLink2)
		if err := st.DeleteGroupLink(ctx, owner2.ID, c.ID); err != nil {
			t.Fatal(err)
		}
		wantEntry("second owner, a", owner2.ID, aLink2)
		// The first owner is untouched by the second's changes.
		wantEntry("first owner still root", owner.ID, rootLink)
	})
}

func TestJobTokenOutboundAllows(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		g := newGroup(t, st, nil, "g", model.Private)
		src := newProject(t, st, g.ID, "src", model.Private)
		target := newProject(t, st, g.ID, "target", model.Private)
		third := newProject(t, st, g.ID, "third", model.Private)
		allows := func(source, tgt int64) bool {
			t.Helper()
			ok, err := st.OutboundAllows(ctx, source, tgt)
			if err != nil {
				t.Fatalf("OutboundAllows(%d, %d): %v", source, tgt, err)
			}
			return ok
		}
		if allows(src.ID, target.ID) {
			t.Fatal("OutboundAllows with no links = true")
		}
		jtAddProjectLink(t, st, &model.ScopeLink{OwnerProjectID: src.ID, Direction: model.Outbound, ProjectID: target.ID, DefaultPermissions: true})
		// An inbound link with the same IDs as an outbound query is not one.
		jtAddProjectLink(t, st, &model.ScopeLink{OwnerProjectID: src.ID, Direction: model.Inbound, ProjectID: third.ID, DefaultPermissions: true})
		jtAddProjectLink(t, st, &model.ScopeLink{OwnerProjectID: third.ID, Direction: model.Inbound, ProjectID: src.ID, DefaultPermissions: true})
		for _, c := range []struct {
			source, target int64
			want           bool
		}{
			{src.ID, target.ID, true},
			{target.ID, src.ID, false},
			{src.ID, third.ID, false},
			{third.ID, src.ID, false},
			{src.ID, src.ID, false},
			{target.ID, third.ID, false},
		} {
			if got := allows(c.source, c.target); got != c.want {
				t.Fatalf("OutboundAllows(%d, %d) = %v, want %v", c.source, c.target, got, c.want)
			}
		}
		if err := st.DeleteProjectLink(ctx, src.ID, model.Outbound, target.ID); err != nil {
			t.Fatal(err)
		}
		if allows(src.ID, target.ID) {
			t.Fatal("OutboundAllows after deleting the link = true")
		}
	})
}

func TestJobTokenBoolSetting(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		get := func(name string, def bool) bool {
			t.Helper()
			v, err := st.BoolSetting(ctx, name, def)
			if err != nil {
				t.Fatalf("BoolSetting(%s): %v", name, err)
			}
			return v
		}
		set := func(name string, v bool) {
			t.Helper()
			if err := st.SetBoolSetting(ctx, name, v); err != nil {
				t.Fatalf("SetBoolSetting(%s, %v): %v", name, v, err)
			}
		}
		name := store.SettingEnforceInboundScope
		if name != "enforce_ci_inbound_job_token_scope_enabled" {
			t.Fatalf("SettingEnforceInboundScope = %q", name)
		}
		if !get(name, true) || get(name, false) {
			t.Fatal("unset setting does not return its default")
		}
		// A stored false must not read as the default true, and back.
		set(name, false)
		if get(name, true) || get(name, false) {
			t.Fatal("setting stored false does not read false")
		}
		set(name, true)
		if !get(name, false) || !get(name, true) {
			t.Fatal("setting overwritten to true does not read true")
		}
		set(name, true)
		if !get(name, false) {
			t.Fatal("setting written true twice does not read true")
		}
		set(name, false)
		if get(name, true) {
			t.Fatal("setting overwritten to false does not read false")
		}
		if n := count(t, st, "SELECT COUNT(*) FROM application_settings"); n != 1 {
			t.Fatalf("%d settings rows, want 1", n)
		}
		// Other settings are separate.
		if !get("some_other_setting", true) || get("some_other_setting", false) {
			t.Fatal("another setting does not return its default")
		}
	})
}

func TestJobTokenRecordAuthorizations(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		g := newGroup(t, st, nil, "g", model.Private)
		sub := newGroup(t, st, g, "sub", model.Private)
		accessed := newProject(t, st, g.ID, "accessed", model.Private)
		o1 := newProject(t, st, sub.ID, "o1", model.Private)
		o2 := newProject(t, st, g.ID, "o2", model.Private)
		elsewhere := newProject(t, st, g.ID, "elsewhere", model.Private)
		missing := elsewhere.ID + 100

		record := func(batch ...*model.JobTokenAuthorization) {
			t.Helper()
			if err := st.RecordAuthorizations(ctx, batch); err != nil {
				t.Fatalf("RecordAuthorizations: %v", err)
			}
		}
		paths := map[int64]string{o1.ID: "g/sub/o1", o2.ID: "g/o2", accessed.ID: "g/accessed"}
		check := func(what string, accessedID int64, page store.Page, want []model.JobTokenAuthorization, total int) {
			t.Helper()
			got, n, err := st.Authorizations(ctx, accessedID, page)
			if err != nil {
				t.Fatalf("%s: Authorizations: %v", what, err)
			}
			if n != total || len(got) != len(want) {
				t.Fatalf("%s: %d rows, total %d; want %d, total %d", what, len(got), n, len(want), total)
			}
			for i, w := range want {
				a := got[i]
				deniedOK := (a.LastDeniedAt == nil) == (w.LastDeniedAt == nil) &&
					(a.LastDeniedAt == nil || a.LastDeniedAt.Equal(*w.LastDeniedAt))
				if a.AccessedProjectID != w.AccessedProjectID || a.OriginProjectID != w.OriginProjectID || !a.LastUsedAt.Equal(w.LastUsedAt) ||
					a.AllowedCount != w.AllowedCount || a.DeniedCount != w.DeniedCount || a.LastPolicy != w.LastPolicy ||
					a.LastAllowed != w.LastAllowed || a.LastDenialReason != w.LastDenialReason || !deniedOK {
					t.Fatalf("%s: row %d = %+v (denied at %v), want %+v (denied at %v)", what, i, a, a.LastDeniedAt, w, w.LastDeniedAt)
				}
				if a.Origin == nil || a.Origin.ID != w.OriginProjectID || a.Origin.FullPath() != paths[w.OriginProjectID] {
					t.Fatalf("%s: row %d origin = %+v, want %s", what, i, a.Origin, paths[w.OriginProjectID])
				}
			}
		}

		t1, t2, t3, t4, t5 := jtAt(1), jtAt(2), jtAt(3), jtAt(4), jtAt(5)
		record(
			&model.JobTokenAuthorization{AccessedProjectID: accessed.ID, OriginProjectID: o1.ID, LastUsedAt: t2, AllowedCount: 2, DeniedCount: 1,
				LastPolicy: "read_packages", LastAllowed: false, LastDenialReason: "inbound: not on the allowlist", LastDeniedAt: &t2},
			&model.JobTokenAuthorization{AccessedProjectID: accessed.ID, OriginProjectID: o2.ID, LastUsedAt: t1, AllowedCount: 1,
				LastPolicy: "read_jobs", LastAllowed: true},
		)
		o1Row := model.JobTokenAuthorization{AccessedProjectID: accessed.ID, OriginProjectID: o1.ID, LastUsedAt: t2, AllowedCount: 2, DeniedCount: 1,
			LastPolicy: "read_packages", LastAllowed: false, LastDenialReason: "inbound: not on the allowlist", LastDeniedAt: &t2}
		o2Row := model.JobTokenAuthorization{AccessedProjectID: accessed.ID, OriginProjectID: o2.ID, LastUsedAt: t1, AllowedCount: 1,
			LastPolicy: "read_jobs", LastAllowed: true}
		check("first batch", accessed.ID, allPage(), []model.JobTokenAuthorization{o1Row, o2Row}, 2)

		// Only allowed uses: counts add, last fields follow, the previous
		// denial stays.
		record(&model.JobTokenAuthorization{AccessedProjectID: accessed.ID, OriginProjectID: o1.ID, LastUsedAt: t3, AllowedCount: 3,
			LastPolicy: "read_repositories", LastAllowed: true})
		o1Row.LastUsedAt, o1Row.AllowedCount, o1Row.LastPolicy, o1Row.LastAllowed = t3, 5, "read_repositories", true
		check("allowed-only batch", accessed.ID, allPage(), []model.JobTokenAuthorization{o1Row, o2Row}, 2)

		// A new denial replaces the reason and time; o2's newer use moves
		// it to the front. Rows for projects that do not exist are skipped.
		record(
			&model.JobTokenAuthorization{AccessedProjectID: accessed.ID, OriginProjectID: missing, LastUsedAt: t5, AllowedCount: 7, LastPolicy: "read_jobs", LastAllowed: true},
			&model.JobTokenAuthorization{AccessedProjectID: accessed.ID, OriginProjectID: o1.ID, LastUsedAt: t4, DeniedCount: 2,
				LastPolicy: "admin_packages", LastAllowed: false, LastDenialReason: "policy: admin_packages not granted", LastDeniedAt: &t4},
			&model.JobTokenAuthorization{AccessedProjectID: missing, OriginProjectID: o1.ID, LastUsedAt: t5, DeniedCount: 1,
				LastPolicy: "read_jobs", LastAllowed: false, LastDenialReason: "x", LastDeniedAt: &t5},
			&model.JobTokenAuthorization{AccessedProjectID: accessed.ID, OriginProjectID: o2.ID, LastUsedAt: t5, AllowedCount: 4,
				LastPolicy: "read_pipelines", LastAllowed: true},
			&model.JobTokenAuthorization{AccessedProjectID: elsewhere.ID, OriginProjectID: o1.ID, LastUsedAt: t5, AllowedCount: 1,
				LastPolicy: "read_jobs", LastAllowed: true},
		)
		o1Row.LastUsedAt, o1Row.DeniedCount, o1Row.LastPolicy, o1Row.LastAllowed = t4, 3, "admin_packages", false
		o1Row.LastDenialReason, o1Row.LastDeniedAt = "policy: admin_packages not granted", &t4
		o2Row.LastUsedAt, o2Row.AllowedCount, o2Row.LastPolicy = t5, 5, "read_pipelines"
		check("third batch", accessed.ID, allPage(), []model.JobTokenAuthorization{o2Row, o1Row}, 2)
		check("page 1", accessed.ID, store.Page{Number: 1, PerPage: 1}, []model.JobTokenAuthorization{o2Row}, 2)
		check("page 2", accessed.ID, store.Page{Number: 2, PerPage: 1}, []model.JobTokenAuthorization{o1Row}, 2)
		check("page 3", accessed.ID, store.Page{Number: 3, PerPage: 1}, nil, 2)
		check("elsewhere", elsewhere.ID, allPage(), []model.JobTokenAuthorization{{AccessedProjectID: elsewhere.ID, OriginProjectID: o1.ID,
			LastUsedAt: t5, AllowedCount: 1, LastPolicy: "read_jobs", LastAllowed: true}}, 1)
		check("missing accessed project", missing, allPage(), nil, 0)
		if n := count(t, st, "SELECT COUNT(*) FROM job_token_authorizations"); n != 3 {
			t.Fatalf("%d authorization rows, want 3", n)
		}
		// An empty batch is fine.
		record()
	})
}

func TestJobTokenCascadeOnProjectDelete(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		g := newGroup(t, st, nil, "g", model.Private)
		linked := newGroup(t, st, nil, "linked", model.Private)
		gone := newProject(t, st, g.ID, "gone", model.Private)
		q := newProject(t, st, g.ID, "q", model.Private)
		r := newProject(t, st, g.ID, "r", model.Private)

		// gone as owner and as allowed project, in both directions.
		for _, l := range []*model.ScopeLink{
			{OwnerProjectID: gone.ID, Direction: model.Inbound, ProjectID: q.ID},
			{OwnerProjectID: gone.ID, Direction: model.Outbound, ProjectID: r.ID},
			{OwnerProjectID: q.ID, Direction: model.Inbound, ProjectID: gone.ID},
			{OwnerProjectID: r.ID, Direction: model.Outbound, ProjectID: gone.ID},
		} {
			l.DefaultPermissions = true
			jtAddProjectLink(t, st, l)
		}
		kept := jtAddProjectLink(t, st, &model.ScopeLink{OwnerProjectID: q.ID, Direction: model.Outbound, ProjectID: r.ID, DefaultPermissions: true})
		jtAddGroupLink(t, st, &model.ScopeLink{OwnerProjectID: gone.ID, GroupID: linked.ID, DefaultPermissions: true})
		keptGroup := jtAddGroupLink(t, st, &model.ScopeLink{OwnerProjectID: q.ID, GroupID: linked.ID, DefaultPermissions: true})
		at := jtAt(30)
		var batch []*model.JobTokenAuthorization
		for _, pair := range [][2]int64{{gone.ID, q.ID}, {q.ID, gone.ID}, {q.ID, r.ID}} {
			batch = append(batch, &model.JobTokenAuthorization{AccessedProjectID: pair[0], OriginProjectID: pair[1], LastUsedAt: at,
				AllowedCount: 1, LastPolicy: "read_jobs", LastAllowed: true})
		}
		if err := st.RecordAuthorizations(ctx, batch); err != nil {
			t.Fatal(err)
		}
		if n := count(t, st, "SELECT COUNT(*) FROM job_token_project_links"); n != 5 {
			t.Fatalf("setup: %d project links, want 5", n)
		}

		if err := st.DeleteProjectRow(ctx, gone.ID); err != nil {
			t.Fatalf("DeleteProjectRow: %v", err)
		}
		for _, c := range []struct {
			owner, allowed int64
			direction      string
		}{
			{gone.ID, q.ID, model.Inbound},
			{gone.ID, r.ID, model.Outbound},
			{q.ID, gone.ID, model.Inbound},
			{r.ID, gone.ID, model.Outbound},
		} {
			_, err := st.ProjectLink(ctx, c.owner, c.direction, c.allowed)
			wantErr(t, fmt.Sprintf("ProjectLink(%d %s %d) after delete", c.owner, c.direction, c.allowed), err, model.ErrNotFound)
		}
		_, err := st.GroupLink(ctx, gone.ID, linked.ID)
		wantErr(t, "GroupLink(deleted owner)", err, model.ErrNotFound)
		jtSameLink(t, "kept project link", jtProjectLink(t, st, q.ID, model.Outbound, r.ID), kept)
		keptGroup.Direction = model.Inbound
		jtSameLink(t, "kept group link", jtGroupLink(t, st, q.ID, linked.ID), keptGroup)
		for table, want := range map[string]int{"job_token_project_links": 1, "job_token_group_links": 1, "job_token_authorizations": 1} {
			if n := count(t, st, "SELECT COUNT(*) FROM "+table); n != want {
				t.Fatalf("%d rows in %s after deleting the project, want %d", n, table, want)
			}
		}
		got, n, err := st.Authorizations(ctx, q.ID, allPage())
		if err != nil || n != 1 || len(got) != 1 || got[0].OriginProjectID != r.ID {
			t.Fatalf("Authorizations(q) after delete = %+v, %d, %v; want only r's row", got, n, err)
		}

		// Deleting the linked group removes the links to it.
		if err := st.DeleteNamespaceRow(ctx, linked.ID); err != nil {
			t.Fatalf("DeleteNamespaceRow: %v", err)
		}
		_, err = st.GroupLink(ctx, q.ID, linked.ID)
		wantErr(t, "GroupLink(deleted group)", err, model.ErrNotFound)
		jtCountGroupLinks(t, st, q.ID, 0)
	})
}

// TestJobTokenScopeVersion: every change to a project's links bumps its
// scope version, in the same transaction, and nothing else's: the
// version is how every replica knows its copy of the lists is stale.
func TestJobTokenScopeVersion(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		g := newGroup(t, st, nil, "v", model.Private)
		owner := newProject(t, st, g.ID, "owner", model.Private)
		other := newProject(t, st, g.ID, "other", model.Private)
		want := map[int64]int64{owner.ID: 0, other.ID: 0}
		check := func(step string) {
			t.Helper()
			for id, v := range want {
				if got := loadProject(t, st, id).JobTokenScopeVersion; got != v {
					t.Fatalf("%s: project %d scope version %d, want %d", step, id, got, v)
				}
			}
		}
		check("new projects")
		l := jtAddProjectLink(t, st, &model.ScopeLink{OwnerProjectID: owner.ID, Direction: model.Inbound, ProjectID: other.ID, DefaultPermissions: true})
		want[owner.ID]++
		check("project link added")
		if err := st.AddProjectLink(ctx, &model.ScopeLink{OwnerProjectID: owner.ID, Direction: model.Inbound, ProjectID: other.ID}); err == nil {
			t.Fatal("duplicate link accepted")
		}
		check("duplicate refused")
		gl := jtAddGroupLink(t, st, &model.ScopeLink{OwnerProjectID: owner.ID, GroupID: g.ID, DefaultPermissions: true})
		want[owner.ID]++
		check("group link added")
		l.DefaultPermissions, l.Policies = false, []string{"read_jobs"}
		if err := st.SetLinkPermissions(ctx, l); err != nil {
			t.Fatal(err)
		}
		want[owner.ID]++
		check("permissions changed")
		// A failed transaction leaves the version where it was.
		err := st.Tx(ctx, func(q *store.Queries) error {
			if err := q.DeleteGroupLink(ctx, owner.ID, gl.GroupID); err != nil {
				return err
			}
			return model.ErrConflict
		})
		if !errors.Is(err, model.ErrConflict) {
			t.Fatalf("rolled-back delete: %v", err)
		}
		check("rolled back")
		if err := st.DeleteGroupLink(ctx, owner.ID, gl.GroupID); err != nil {
			t.Fatal(err)
		}
		if err := st.DeleteProjectLink(ctx, owner.ID, model.Inbound, other.ID); err != nil {
			t.Fatal(err)
		}
		want[owner.ID] += 2
		check("links removed")
		if err := st.DeleteProjectLink(ctx, owner.ID, model.Inbound, other.ID); !errors.Is(err, model.ErrNotFound) {
			t.Fatalf("second delete: %v", err)
		}
		check("missing link")
	})
}
