package store_test

import (
	"testing"
	"time"

	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/store"
)

func TestMemberCRUD(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		alice := newUser(t, st, "alice")
		bob := newUser(t, st, "bob")
		g := newGroup(t, st, nil, "g", model.Private)
		p := newProject(t, st, g.ID, "p", model.Private)

		for _, src := range []struct {
			kind string
			id   int64
		}{{model.SourceProject, p.ID}, {model.SourceNamespace, g.ID}} {
			t.Run(src.kind, func(t *testing.T) {
				expires := time.Date(2032, 5, 6, 0, 0, 0, 0, time.UTC)
				created := time.Date(2024, 1, 1, 12, 0, 0, 999, time.UTC)
				m := &model.Member{SourceKind: src.kind, SourceID: src.id, UserID: bob.ID, AccessLevel: model.Developer,
					ExpiresAt: &expires, CreatedBy: alice.ID, CreatedAt: created}
				if err := st.AddMember(ctx, m); err != nil {
					t.Fatalf("AddMember: %v", err)
				}
				addMember(t, st, src.kind, src.id, alice.ID, model.Owner, nil)

				dup := &model.Member{SourceKind: src.kind, SourceID: src.id, UserID: bob.ID, AccessLevel: model.Guest}
				wantErr(t, "AddMember(duplicate)", st.AddMember(ctx, dup), model.ErrConflict)
				nouser := &model.Member{SourceKind: src.kind, SourceID: src.id, UserID: bob.ID + 100, AccessLevel: model.Guest}
				wantErr(t, "AddMember(missing user)", st.AddMember(ctx, nouser), model.ErrNotFound)
				nosource := &model.Member{SourceKind: src.kind, SourceID: src.id + 100, UserID: bob.ID, AccessLevel: model.Guest}
				wantErr(t, "AddMember(missing source)", st.AddMember(ctx, nosource), model.ErrNotFound)

				got, err := st.Member(ctx, src.kind, src.id, bob.ID)
				if err != nil {
					t.Fatalf("Member: %v", err)
				}
				if got.UserID != bob.ID || got.SourceKind != src.kind || got.SourceID != src.id || got.AccessLevel != model.Developer ||
					got.ExpiresAt == nil || !got.ExpiresAt.Equal(expires) || got.CreatedBy != alice.ID || !got.CreatedAt.Equal(created.Truncate(time.Microsecond)) {
					t.Fatalf("Member = %+v", got)
				}
				if got.User == nil || got.User.ID != bob.ID || got.User.Username != "bob" || got.User.Email != "bob@example.com" || got.User.NamespaceID != bob.NamespaceID {
					t.Fatalf("Member.User = %+v", got.User)
				}
				_, err = st.Member(ctx, src.kind, src.id, bob.ID+100)
				wantErr(t, "Member(missing)", err, model.ErrNotFound)

				list, err := st.Members(ctx, src.kind, src.id)
				if err != nil {
					t.Fatalf("Members: %v", err)
				}
				if len(list) != 2 || list[0].UserID != alice.ID || list[1].UserID != bob.ID ||
					list[0].AccessLevel != model.Owner || list[0].ExpiresAt != nil || list[1].User.Username != "bob" {
					t.Fatalf("Members = %+v", list)
				}

				m.AccessLevel, m.ExpiresAt = model.Maintainer, nil
				if err := st.UpdateMember(ctx, m); err != nil {
					t.Fatalf("UpdateMember: %v", err)
				}
				got, _ = st.Member(ctx, src.kind, src.id, bob.ID)
				if got.AccessLevel != model.Maintainer || got.ExpiresAt != nil || got.CreatedBy != alice.ID {
					t.Fatalf("after UpdateMember: %+v", got)
				}
				if a, _ := st.Member(ctx, src.kind, src.id, alice.ID); a.AccessLevel != model.Owner {
					t.Fatalf("UpdateMember touched another member: %+v", a)
				}
				missing := &model.Member{SourceKind: src.kind, SourceID: src.id, UserID: bob.ID + 100, AccessLevel: model.Guest}
				wantErr(t, "UpdateMember(missing)", st.UpdateMember(ctx, missing), model.ErrNotFound)

				if err := st.RemoveMember(ctx, src.kind, src.id, bob.ID); err != nil {
					t.Fatalf("RemoveMember: %v", err)
				}
				_, err = st.Member(ctx, src.kind, src.id, bob.ID)
				wantErr(t, "Member after RemoveMember", err, model.ErrNotFound)
				wantErr(t, "RemoveMember again", st.RemoveMember(ctx, src.kind, src.id, bob.ID), model.ErrNotFound)
				if list, _ := st.Members(ctx, src.kind, src.id); len(list) != 1 || list[0].UserID != alice.ID {
					t.Fatalf("Members after RemoveMember = %+v", list)
				}
				if list, err := st.Members(ctx, src.kind, src.id+100); err != nil || len(list) != 0 {
					t.Fatalf("Members(missing source) = %v, %v", list, err)
				}
			})
		}
		// The two kinds live apart: each source kept its own owner.
		for _, kind := range []string{model.SourceProject, model.SourceNamespace} {
			id := p.ID
			if kind == model.SourceNamespace {
				id = g.ID
			}
			if list, _ := st.Members(ctx, kind, id); len(list) != 1 || list[0].SourceKind != kind {
				t.Fatalf("%s members = %+v", kind, list)
			}
		}
	})
}

func TestMembershipKindsDoNotMix(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		u := newUser(t, st, "u")
		// Find a project and a group with the same ID.
		g := newGroup(t, st, nil, "g", model.Private)
		var p *model.Project
		for i := 0; ; i++ {
			p = newProject(t, st, g.ID, "p"+itoa(int64(i)), model.Private)
			if p.ID >= g.ID {
				break
			}
		}
		if p.ID != g.ID {
			t.Fatalf("premise: project ID %d, group ID %d", p.ID, g.ID)
		}
		addMember(t, st, model.SourceProject, p.ID, u.ID, model.Guest, nil)
		if _, err := st.Member(ctx, model.SourceNamespace, g.ID, u.ID); err == nil {
			t.Fatal("project membership shows as group membership")
		}
		addMember(t, st, model.SourceNamespace, g.ID, u.ID, model.Owner, nil)
		if m, _ := st.Member(ctx, model.SourceProject, p.ID, u.ID); m.AccessLevel != model.Guest {
			t.Fatalf("project membership level %d, want guest", m.AccessLevel)
		}
	})
}

func TestProjectAccessLevel(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		dev := newUser(t, st, "dev")
		maint := newUser(t, st, "maint")
		lapsed := newUser(t, st, "lapsed")
		lapsedProject := newUser(t, st, "lapsedproject")
		sibling := newUser(t, st, "sibling")
		owner := newUser(t, st, "owner")
		outsider := newUser(t, st, "outsider")

		grand := newGroup(t, st, nil, "grand", model.Private)
		parent := newGroup(t, st, grand, "parent", model.Private)
		other := newGroup(t, st, grand, "other", model.Private)
		p := newProject(t, st, parent.ID, "p", model.Private)
		mine := newProject(t, st, owner.NamespaceID, "mine", model.Private)

		// Group Developer on the grandparent beats direct Reporter.
		addMember(t, st, model.SourceNamespace, grand.ID, dev.ID, model.Developer, nil)
		addMember(t, st, model.SourceProject, p.ID, dev.ID, model.Reporter, nil)
		// Direct Maintainer beats group Guest on the parent.
		addMember(t, st, model.SourceNamespace, parent.ID, maint.ID, model.Guest, nil)
		addMember(t, st, model.SourceProject, p.ID, maint.ID, model.Maintainer, future())
		// An expired group Owner leaves the direct Reporter.
		addMember(t, st, model.SourceNamespace, grand.ID, lapsed.ID, model.Owner, past())
		addMember(t, st, model.SourceProject, p.ID, lapsed.ID, model.Reporter, nil)
		// An expired direct Maintainer leaves the group Guest.
		addMember(t, st, model.SourceProject, p.ID, lapsedProject.ID, model.Maintainer, past())
		addMember(t, st, model.SourceNamespace, parent.ID, lapsedProject.ID, model.Guest, nil)
		// A sibling group's membership gives nothing.
		addMember(t, st, model.SourceNamespace, other.ID, sibling.ID, model.Owner, nil)
		// Membership of someone else's personal project is not ownership.
		addMember(t, st, model.SourceProject, mine.ID, dev.ID, model.Developer, nil)

		loaded := loadProject(t, st, p.ID)
		loadedMine := loadProject(t, st, mine.ID)
		for _, c := range []struct {
			name string
			user int64
			p    *model.Project
			want model.AccessLevel
		}{
			{"inherited beats direct", dev.ID, loaded, model.Developer},
			{"direct beats inherited", maint.ID, loaded, model.Maintainer},
			{"expired group membership", lapsed.ID, loaded, model.Reporter},
			{"expired project membership", lapsedProject.ID, loaded, model.Guest},
			{"sibling group", sibling.ID, loaded, model.NoAccess},
			{"outsider", outsider.ID, loaded, model.NoAccess},
			{"anonymous", 0, loaded, model.NoAccess},
			{"personal namespace owner", owner.ID, loadedMine, model.Owner},
			{"member of a personal project", dev.ID, loadedMine, model.Developer},
			{"other user on a personal project", outsider.ID, loadedMine, model.NoAccess},
		} {
			got, err := st.ProjectAccessLevel(ctx, c.user, c.p)
			if err != nil {
				t.Fatalf("%s: ProjectAccessLevel: %v", c.name, err)
			}
			if got != c.want {
				t.Fatalf("%s: ProjectAccessLevel = %v, want %v", c.name, got, c.want)
			}
		}

		// Without its namespace loaded only the direct membership counts.
		bare := &model.Project{ID: p.ID, NamespaceID: parent.ID}
		if got, err := st.ProjectAccessLevel(ctx, dev.ID, bare); err != nil || got != model.Reporter {
			t.Fatalf("ProjectAccessLevel(no namespace) = %v, %v; want reporter", got, err)
		}
	})
}

func TestGroupAccessLevel(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		rootDev := newUser(t, st, "rootdev")
		midOwner := newUser(t, st, "midowner")
		leafGuest := newUser(t, st, "leafguest")
		projMember := newUser(t, st, "projmember")
		lapsed := newUser(t, st, "lapsed")
		outsider := newUser(t, st, "outsider")

		root := newGroup(t, st, nil, "root", model.Private)
		mid := newGroup(t, st, root, "mid", model.Private)
		leaf := newGroup(t, st, mid, "leaf", model.Private)
		side := newGroup(t, st, root, "side", model.Private)
		p := newProject(t, st, leaf.ID, "p", model.Private)

		addMember(t, st, model.SourceNamespace, root.ID, rootDev.ID, model.Developer, nil)
		addMember(t, st, model.SourceNamespace, root.ID, midOwner.ID, model.Developer, nil)
		addMember(t, st, model.SourceNamespace, mid.ID, midOwner.ID, model.Owner, nil)
		addMember(t, st, model.SourceNamespace, leaf.ID, leafGuest.ID, model.Guest, nil)
		addMember(t, st, model.SourceProject, p.ID, projMember.ID, model.Maintainer, nil)
		addMember(t, st, model.SourceNamespace, leaf.ID, lapsed.ID, model.Owner, past())
		addMember(t, st, model.SourceProject, p.ID, lapsed.ID, model.Owner, past())

		ns := map[string]*model.Namespace{}
		for _, n := range []*model.Namespace{root, mid, leaf, side} {
			ns[n.Path] = loadNamespace(t, st, n.ID)
		}
		for _, c := range []struct {
			user    int64
			group   string
			level   model.AccessLevel
			related bool
		}{
			{rootDev.ID, "root", model.Developer, true},
			{rootDev.ID, "mid", model.Developer, true},
			{rootDev.ID, "leaf", model.Developer, true},
			{rootDev.ID, "side", model.Developer, true},
			{midOwner.ID, "root", model.Developer, true},
			{midOwner.ID, "mid", model.Owner, true},
			{midOwner.ID, "leaf", model.Owner, true},
			{midOwner.ID, "side", model.Developer, true},
			// Members below see their ancestors but hold no level there.
			{leafGuest.ID, "leaf", model.Guest, true},
			{leafGuest.ID, "mid", model.NoAccess, true},
			{leafGuest.ID, "root", model.NoAccess, true},
			{leafGuest.ID, "side", model.NoAccess, false},
			{projMember.ID, "leaf", model.NoAccess, true},
			{projMember.ID, "root", model.NoAccess, true},
			{projMember.ID, "side", model.NoAccess, false},
			{lapsed.ID, "leaf", model.NoAccess, false},
			{lapsed.ID, "root", model.NoAccess, false},
			{outsider.ID, "root", model.NoAccess, false},
			{0, "root", model.NoAccess, false},
		} {
			level, related, err := st.GroupAccessLevel(ctx, c.user, ns[c.group])
			if err != nil {
				t.Fatalf("GroupAccessLevel(user %d, %s): %v", c.user, c.group, err)
			}
			if level != c.level || related != c.related {
				t.Fatalf("GroupAccessLevel(user %d, %s) = %v, %v; want %v, %v", c.user, c.group, level, related, c.level, c.related)
			}
		}
	})
}

func TestMembersAll(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		a := newUser(t, st, "a")
		b := newUser(t, st, "b")
		c := newUser(t, st, "c")
		d := newUser(t, st, "d")
		e := newUser(t, st, "e")
		root := newGroup(t, st, nil, "root", model.Private)
		sub := newGroup(t, st, root, "sub", model.Private)
		p := newProject(t, st, sub.ID, "p", model.Private)

		// a: direct Reporter, root Maintainer -> Maintainer from root.
		addMember(t, st, model.SourceProject, p.ID, a.ID, model.Reporter, nil)
		addMember(t, st, model.SourceNamespace, root.ID, a.ID, model.Maintainer, nil)
		// b: expired direct Owner, sub Guest -> Guest.
		addMember(t, st, model.SourceProject, p.ID, b.ID, model.Owner, past())
		addMember(t, st, model.SourceNamespace, sub.ID, b.ID, model.Guest, nil)
		// c: only expired memberships -> absent.
		addMember(t, st, model.SourceNamespace, root.ID, c.ID, model.Owner, past())
		// d: direct Developer with a future expiry, sub Reporter -> Developer.
		addMember(t, st, model.SourceProject, p.ID, d.ID, model.Developer, future())
		addMember(t, st, model.SourceNamespace, sub.ID, d.ID, model.Reporter, nil)
		// e: sub Owner only.
		addMember(t, st, model.SourceNamespace, sub.ID, e.ID, model.Owner, nil)

		type row struct {
			user   int64
			level  model.AccessLevel
			kind   string
			source int64
		}
		check := func(name string, got []*model.Member, want []row) {
			t.Helper()
			if len(got) != len(want) {
				t.Fatalf("%s: %d members, want %d: %+v", name, len(got), len(want), got)
			}
			for i, w := range want {
				m := got[i]
				if m.UserID != w.user || m.AccessLevel != w.level || m.SourceKind != w.kind || m.SourceID != w.source || m.User == nil || m.User.ID != w.user {
					t.Fatalf("%s: member %d = %+v, want %+v", name, i, m, w)
				}
			}
		}
		traversal := loadProject(t, st, p.ID).Namespace.Traversal
		got, err := st.MembersAll(ctx, p.ID, traversal)
		if err != nil {
			t.Fatalf("MembersAll: %v", err)
		}
		check("project", got, []row{
			{a.ID, model.Maintainer, model.SourceNamespace, root.ID},
			{b.ID, model.Guest, model.SourceNamespace, sub.ID},
			{d.ID, model.Developer, model.SourceProject, p.ID},
			{e.ID, model.Owner, model.SourceNamespace, sub.ID},
		})

		got, err = st.MembersAll(ctx, 0, loadNamespace(t, st, sub.ID).Traversal)
		if err != nil {
			t.Fatalf("MembersAll(group): %v", err)
		}
		check("group", got, []row{
			{a.ID, model.Maintainer, model.SourceNamespace, root.ID},
			{b.ID, model.Guest, model.SourceNamespace, sub.ID},
			{d.ID, model.Reporter, model.SourceNamespace, sub.ID},
			{e.ID, model.Owner, model.SourceNamespace, sub.ID},
		})

		got, err = st.MembersAll(ctx, 0, []int64{root.ID})
		if err != nil {
			t.Fatalf("MembersAll(root): %v", err)
		}
		check("root", got, []row{{a.ID, model.Maintainer, model.SourceNamespace, root.ID}})

		if got, err := st.MembersAll(ctx, 0, nil); err != nil || len(got) != 0 {
			t.Fatalf("MembersAll(nothing) = %v, %v", got, err)
		}
	})
}

func TestCountOwners(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		a := newUser(t, st, "a")
		b := newUser(t, st, "b")
		c := newUser(t, st, "c")
		g := newGroup(t, st, nil, "g", model.Private)
		sub := newGroup(t, st, g, "sub", model.Private)
		p := newProject(t, st, g.ID, "p", model.Private)
		countOwners := func(id int64) int {
			t.Helper()
			n, err := st.CountOwners(ctx, id)
			if err != nil {
				t.Fatalf("CountOwners: %v", err)
			}
			return n
		}
		if n := countOwners(g.ID); n != 0 {
			t.Fatalf("CountOwners(empty) = %d", n)
		}
		addMember(t, st, model.SourceNamespace, g.ID, a.ID, model.Owner, nil)
		addMember(t, st, model.SourceNamespace, g.ID, b.ID, model.Owner, nil)
		addMember(t, st, model.SourceNamespace, g.ID, c.ID, model.Maintainer, nil)
		// Owners elsewhere do not count for g.
		addMember(t, st, model.SourceNamespace, sub.ID, c.ID, model.Owner, nil)
		addMember(t, st, model.SourceProject, p.ID, c.ID, model.Owner, nil)
		if n := countOwners(g.ID); n != 2 {
			t.Fatalf("CountOwners = %d, want 2", n)
		}
		if n := countOwners(sub.ID); n != 1 {
			t.Fatalf("CountOwners(sub) = %d, want 1", n)
		}
		if err := st.UpdateMember(ctx, &model.Member{SourceKind: model.SourceNamespace, SourceID: g.ID, UserID: b.ID, AccessLevel: model.Developer}); err != nil {
			t.Fatal(err)
		}
		if n := countOwners(g.ID); n != 1 {
			t.Fatalf("CountOwners after demotion = %d, want 1", n)
		}
		if err := st.RemoveMember(ctx, model.SourceNamespace, g.ID, a.ID); err != nil {
			t.Fatal(err)
		}
		if n := countOwners(g.ID); n != 0 {
			t.Fatalf("CountOwners after removal = %d, want 0", n)
		}
	})
}
