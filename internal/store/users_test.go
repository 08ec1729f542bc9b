package store_test

import (
	"testing"
	"time"

	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/store"
)

func TestCreateUser(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		created := time.Date(2024, 3, 4, 5, 6, 7, 123456789, time.FixedZone("X", 3600))
		u := &model.User{Username: "Alice", Name: "Alice A", Email: "Alice@Example.com", Admin: true, CreatedAt: created}
		if err := st.Tx(ctx, func(q *store.Queries) error { return q.CreateUser(ctx, u) }); err != nil {
			t.Fatalf("CreateUser: %v", err)
		}
		if u.ID == 0 || u.NamespaceID == 0 {
			t.Fatalf("CreateUser left ID %d, NamespaceID %d", u.ID, u.NamespaceID)
		}

		got, err := st.User(ctx, u.ID)
		if err != nil {
			t.Fatalf("User: %v", err)
		}
		want := model.User{ID: u.ID, Username: "Alice", Name: "Alice A", Email: "Alice@Example.com", Admin: true,
			NamespaceID: u.NamespaceID, CreatedAt: created.Truncate(time.Microsecond).UTC()}
		if *got != want {
			t.Fatalf("User = %+v, want %+v", *got, want)
		}

		ns, err := st.Namespace(ctx, u.NamespaceID)
		if err != nil {
			t.Fatalf("personal namespace: %v", err)
		}
		if ns.Kind != model.NamespaceUser || ns.Path != "Alice" || ns.FullPath != "Alice" || ns.Name != "Alice A" ||
			ns.OwnerID == nil || *ns.OwnerID != u.ID || ns.ParentID != nil || ns.IsGroup() {
			t.Fatalf("personal namespace = %+v", ns)
		}
		if len(ns.Traversal) != 1 || ns.Traversal[0] != ns.ID {
			t.Fatalf("personal namespace traversal = %v, want [%d]", ns.Traversal, ns.ID)
		}

		byEmail, err := st.UserByEmail(ctx, "alice@EXAMPLE.COM")
		if err != nil || byEmail.ID != u.ID {
			t.Fatalf("UserByEmail = %v, %v; want user %d", byEmail, err, u.ID)
		}
		if n, err := st.CountUsers(ctx); err != nil || n != 1 {
			t.Fatalf("CountUsers = %d, %v; want 1", n, err)
		}
		_, err = st.User(ctx, u.ID+100)
		wantErr(t, "User(missing)", err, model.ErrNotFound)
		_, err = st.UserByEmail(ctx, "nobody@example.com")
		wantErr(t, "UserByEmail(missing)", err, model.ErrNotFound)
	})
}

func TestCreateUserUniqueness(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		newUser(t, st, "bob")
		create := func(username, email string) error {
			return st.Tx(ctx, func(q *store.Queries) error {
				return q.CreateUser(ctx, &model.User{Username: username, Name: "X", Email: email})
			})
		}
		wantErr(t, "same username, other case", create("BOB", "other@example.com"), model.ErrConflict)
		wantErr(t, "same email, other case", create("robert", "BOB@EXAMPLE.COM"), model.ErrConflict)
		// A group holding the path takes the personal namespace's place.
		newGroup(t, st, nil, "taken", model.Public)
		wantErr(t, "username of an existing group", create("Taken", "taken@example.com"), model.ErrConflict)

		// The failed transactions left nothing behind.
		if n, err := st.CountUsers(ctx); err != nil || n != 1 {
			t.Fatalf("CountUsers = %d, %v; want 1", n, err)
		}
		if err := create("robert", "robert@example.com"); err != nil {
			t.Fatalf("distinct user: %v", err)
		}
	})
}

func TestUserByUsername(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		u := newUser(t, st, "CamelCase")
		newUser(t, st, "other")
		for _, name := range []string{"CamelCase", "camelcase", "CAMELCASE"} {
			got, err := st.UserByUsername(ctx, name)
			if err != nil {
				t.Fatalf("UserByUsername(%q): %v", name, err)
			}
			if got.ID != u.ID || got.Username != "CamelCase" {
				t.Fatalf("UserByUsername(%q) = %+v, want user %d", name, got, u.ID)
			}
		}
		for _, name := range []string{"camel", "CamelCase2", "%", "Camel_ase"} {
			_, err := st.UserByUsername(ctx, name)
			wantErr(t, "UserByUsername("+name+")", err, model.ErrNotFound)
		}
	})
}

func TestListUsers(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		mk := func(username, name, email string) *model.User {
			u := &model.User{Username: username, Name: name, Email: email}
			if err := st.Tx(ctx, func(q *store.Queries) error { return q.CreateUser(ctx, u) }); err != nil {
				t.Fatalf("CreateUser(%s): %v", username, err)
			}
			return u
		}
		mk("a_b", "Plain", "ab@example.com")
		b := mk("axb", "Percent 100% sure", "axb@example.com")
		mk("carol", "Back\\slash", "carol@Example.org")
		d := mk("dave", "Dave", "dave@example.com")
		mk("erin", "Erin", "erin@example.com")
		for _, u := range []*model.User{b, d} {
			if err := st.SetUserBlocked(ctx, u.ID, true); err != nil {
				t.Fatalf("SetUserBlocked: %v", err)
			}
		}

		names := func(us []*model.User) []string {
			out := make([]string, len(us))
			for i, u := range us {
				out[i] = u.Username
			}
			return out
		}
		cases := []struct {
			name  string
			f     store.UserFilter
			page  store.Page
			want  []string
			total int
		}{
			{"all", store.UserFilter{}, allPage(), []string{"a_b", "axb", "carol", "dave", "erin"}, 5},
			{"page 1", store.UserFilter{}, store.Page{Number: 1, PerPage: 2}, []string{"a_b", "axb"}, 5},
			{"page 2", store.UserFilter{}, store.Page{Number: 2, PerPage: 2}, []string{"carol", "dave"}, 5},
			{"page 3", store.UserFilter{}, store.Page{Number: 3, PerPage: 2}, []string{"erin"}, 5},
			{"past the end", store.UserFilter{}, store.Page{Number: 4, PerPage: 2}, []string{}, 5},
			{"username exact", store.UserFilter{Username: "CAROL"}, allPage(), []string{"carol"}, 1},
			{"username is not a substring", store.UserFilter{Username: "car"}, allPage(), []string{}, 0},
			{"username underscore is literal", store.UserFilter{Username: "a_b"}, allPage(), []string{"a_b"}, 1},
			{"search underscore is literal", store.UserFilter{Search: "a_b"}, allPage(), []string{"a_b"}, 1},
			{"search percent is literal", store.UserFilter{Search: "%"}, allPage(), []string{"axb"}, 1},
			{"search percent inside", store.UserFilter{Search: "0% s"}, allPage(), []string{"axb"}, 1},
			{"search backslash is literal", store.UserFilter{Search: "k\\s"}, allPage(), []string{"carol"}, 1},
			{"search name, case-insensitive", store.UserFilter{Search: "PLAIN"}, allPage(), []string{"a_b"}, 1},
			{"search email", store.UserFilter{Search: "example.ORG"}, allPage(), []string{"carol"}, 1},
			{"search many", store.UserFilter{Search: "example.com"}, allPage(), []string{"a_b", "axb", "dave", "erin"}, 4},
			{"search paged", store.UserFilter{Search: "example.com"}, store.Page{Number: 2, PerPage: 3}, []string{"erin"}, 4},
			{"active", store.UserFilter{Active: true}, allPage(), []string{"a_b", "carol", "erin"}, 3},
			{"blocked", store.UserFilter{Blocked: true}, allPage(), []string{"axb", "dave"}, 2},
			{"blocked and search", store.UserFilter{Blocked: true, Search: "dav"}, allPage(), []string{"dave"}, 1},
			{"active and blocked", store.UserFilter{Active: true, Blocked: true}, allPage(), []string{}, 0},
		}
		for _, c := range cases {
			got, total, err := st.ListUsers(ctx, c.f, c.page)
			if err != nil {
				t.Fatalf("%s: ListUsers: %v", c.name, err)
			}
			sameStrings(t, c.name, names(got), c.want)
			if total != c.total {
				t.Fatalf("%s: total = %d, want %d", c.name, total, c.total)
			}
		}

		got, _, err := st.ListUsers(ctx, store.UserFilter{Username: "axb"}, allPage())
		if err != nil || len(got) != 1 || !got[0].Blocked || got[0].State() != "blocked" || got[0].NamespaceID != b.NamespaceID {
			t.Fatalf("blocked user listed as %+v, %v", got, err)
		}
	})
}

func TestSetUserBlocked(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		u := newUser(t, st, "frank")
		if err := st.SetUserBlocked(ctx, u.ID, true); err != nil {
			t.Fatalf("block: %v", err)
		}
		if got, _ := st.User(ctx, u.ID); !got.Blocked {
			t.Fatalf("user not blocked after SetUserBlocked(true)")
		}
		if err := st.SetUserBlocked(ctx, u.ID, false); err != nil {
			t.Fatalf("unblock: %v", err)
		}
		if got, _ := st.User(ctx, u.ID); got.Blocked {
			t.Fatalf("user still blocked after SetUserBlocked(false)")
		}
		wantErr(t, "SetUserBlocked(missing)", st.SetUserBlocked(ctx, u.ID+100, true), model.ErrNotFound)
	})
}
