package store_test

import (
	"testing"

	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/store"
)

func TestListGroups(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		subMember := newUser(t, st, "submember")
		projMember := newUser(t, st, "projmember")
		rootMember := newUser(t, st, "rootmember")
		outsider := newUser(t, st, "outsider")
		lapsed := newUser(t, st, "lapsed")

		pub := newGroup(t, st, nil, "pub", model.Public)
		newGroup(t, st, pub, "child", model.Public)
		newGroup(t, st, nil, "int", model.Internal)
		priv := newGroup(t, st, nil, "priv", model.Private)
		privSub := newGroup(t, st, priv, "sub", model.Private)
		newGroup(t, st, privSub, "deep", model.Private)
		priv2 := newGroup(t, st, nil, "priv2", model.Private)
		priv2Proj := newProject(t, st, priv2.ID, "proj", model.Private)
		priv3 := newGroup(t, st, nil, "priv3", model.Private)
		gone := newGroup(t, st, nil, "gone", model.Public)
		newGroup(t, st, gone, "under", model.Public)
		// Personal namespaces are not groups and never list.
		newProject(t, st, outsider.NamespaceID, "mine", model.Public)

		addMember(t, st, model.SourceNamespace, privSub.ID, subMember.ID, model.Developer, nil)
		addMember(t, st, model.SourceProject, priv2Proj.ID, projMember.ID, model.Reporter, nil)
		addMember(t, st, model.SourceNamespace, priv.ID, rootMember.ID, model.Owner, nil)
		addMember(t, st, model.SourceNamespace, priv3.ID, lapsed.ID, model.Owner, past())
		addMember(t, st, model.SourceNamespace, pub.ID, lapsed.ID, model.Owner, past())
		addMember(t, st, model.SourceProject, priv2Proj.ID, lapsed.ID, model.Owner, past())
		addMember(t, st, model.SourceNamespace, gone.ID, subMember.ID, model.Owner, nil)
		if err := st.MarkNamespaceForDeletion(ctx, loadNamespace(t, st, gone.ID)); err != nil {
			t.Fatal(err)
		}

		anon := store.Viewer{}
		admin := store.Viewer{UserID: outsider.ID, Admin: true}
		out := store.Viewer{UserID: outsider.ID}
		sub := store.Viewer{UserID: subMember.ID}
		proj := store.Viewer{UserID: projMember.ID}
		root := store.Viewer{UserID: rootMember.ID}
		lap := store.Viewer{UserID: lapsed.ID}
		cases := []struct {
			name string
			f    store.GroupFilter
			want []string
		}{
			{"anonymous", store.GroupFilter{Viewer: anon, AllAvailable: true}, []string{"pub", "pub/child"}},
			{"anonymous, not all available", store.GroupFilter{Viewer: anon}, []string{"pub", "pub/child"}},
			{"non-member", store.GroupFilter{Viewer: out, AllAvailable: true}, []string{"int", "pub", "pub/child"}},
			{"non-member, memberships", store.GroupFilter{Viewer: out}, []string{}},
			{"admin", store.GroupFilter{Viewer: admin, AllAvailable: true},
				[]string{"int", "priv", "priv/sub", "priv/sub/deep", "priv2", "priv3", "pub", "pub/child"}},
			{"admin, not all available", store.GroupFilter{Viewer: admin},
				[]string{"int", "priv", "priv/sub", "priv/sub/deep", "priv2", "priv3", "pub", "pub/child"}},
			// A subgroup's member sees the private parent and the subgroup's
			// own descendants.
			{"subgroup member", store.GroupFilter{Viewer: sub, AllAvailable: true},
				[]string{"int", "priv", "priv/sub", "priv/sub/deep", "pub", "pub/child"}},
			{"subgroup member, memberships", store.GroupFilter{Viewer: sub}, []string{"priv", "priv/sub", "priv/sub/deep"}},
			{"project member", store.GroupFilter{Viewer: proj, AllAvailable: true}, []string{"int", "priv2", "pub", "pub/child"}},
			{"project member, memberships", store.GroupFilter{Viewer: proj}, []string{"priv2"}},
			{"root member", store.GroupFilter{Viewer: root}, []string{"priv", "priv/sub", "priv/sub/deep"}},
			{"expired", store.GroupFilter{Viewer: lap, AllAvailable: true}, []string{"int", "pub", "pub/child"}},
			{"expired, memberships", store.GroupFilter{Viewer: lap}, []string{}},

			{"top level, admin", store.GroupFilter{Viewer: admin, TopLevelOnly: true}, []string{"int", "priv", "priv2", "priv3", "pub"}},
			{"top level, subgroup member", store.GroupFilter{Viewer: sub, AllAvailable: true, TopLevelOnly: true}, []string{"int", "priv", "pub"}},
			{"parent pub, anonymous", store.GroupFilter{Viewer: anon, ParentID: &pub.ID}, []string{"pub/child"}},
			{"parent priv, non-member", store.GroupFilter{Viewer: out, ParentID: &priv.ID}, []string{}},
			{"parent priv, subgroup member", store.GroupFilter{Viewer: sub, ParentID: &priv.ID}, []string{"priv/sub"}},
			{"parent sub, root member", store.GroupFilter{Viewer: root, ParentID: &privSub.ID}, []string{"priv/sub/deep"}},
			{"parent pending", store.GroupFilter{Viewer: admin, ParentID: &gone.ID}, []string{}},

			{"search", store.GroupFilter{Viewer: admin, Search: "CHI"}, []string{"pub/child"}},
			{"search name", store.GroupFilter{Viewer: admin, Search: "Deep"}, []string{"priv/sub/deep"}},
			{"search prefix", store.GroupFilter{Viewer: admin, Search: "priv"}, []string{"priv", "priv2", "priv3"}},
			{"search hides invisible", store.GroupFilter{Viewer: out, AllAvailable: true, Search: "priv"}, []string{}},
			{"search wildcard", store.GroupFilter{Viewer: admin, Search: "_"}, []string{}},

			{"owned, root member", store.GroupFilter{Viewer: root, Owned: true}, []string{"priv"}},
			{"owned, subgroup member", store.GroupFilter{Viewer: sub, Owned: true}, []string{}},
			{"owned, expired", store.GroupFilter{Viewer: lap, AllAvailable: true, Owned: true}, []string{}},
			{"owned, anonymous", store.GroupFilter{Viewer: anon, Owned: true}, []string{}},
		}
		for _, c := range cases {
			got, total, err := st.ListGroups(ctx, c.f, allPage())
			if err != nil {
				t.Fatalf("%s: ListGroups: %v", c.name, err)
			}
			sameStrings(t, c.name, sortedStrings(fullPaths(got)), c.want)
			if total != len(c.want) {
				t.Fatalf("%s: total = %d, want %d", c.name, total, len(c.want))
			}
			for _, n := range got {
				if !n.IsGroup() || n.PendingDelete {
					t.Fatalf("%s: listed %+v", c.name, n)
				}
			}
		}
	})
}

func TestListGroupsOrderAndPaging(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		// Letters only: collations that skip punctuation agree on these.
		for _, path := range []string{"delta", "Alpha", "charlie", "Bravo"} {
			newGroup(t, st, nil, path, model.Public)
		}
		for _, c := range []struct {
			page store.Page
			want []string
		}{
			{allPage(), []string{"Alpha", "Bravo", "charlie", "delta"}},
			{store.Page{Number: 1, PerPage: 3}, []string{"Alpha", "Bravo", "charlie"}},
			{store.Page{Number: 2, PerPage: 3}, []string{"delta"}},
			{store.Page{Number: 3, PerPage: 3}, []string{}},
		} {
			got, total, err := st.ListGroups(ctx, store.GroupFilter{}, c.page)
			if err != nil {
				t.Fatal(err)
			}
			sameStrings(t, "groups", fullPaths(got), c.want)
			if total != 4 {
				t.Fatalf("total = %d, want 4", total)
			}
		}
	})
}
