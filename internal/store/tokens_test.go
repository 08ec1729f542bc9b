package store_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/store"
)

func TestPersonalAccessTokens(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		alice := newUser(t, st, "alice")
		bob := newUser(t, st, "bob")

		expires := time.Date(2031, 7, 1, 0, 0, 0, 0, time.UTC)
		created := time.Date(2025, 1, 2, 3, 4, 5, 678901234, time.UTC)
		tok := &model.PersonalAccessToken{UserID: alice.ID, Name: "ci", Scopes: []string{model.ScopeAPI, model.ScopeReadAPI},
			ExpiresAt: &expires, CreatedAt: created}
		if err := st.CreatePAT(ctx, tok, "digest-1"); err != nil {
			t.Fatalf("CreatePAT: %v", err)
		}
		if tok.ID == 0 {
			t.Fatal("CreatePAT left ID 0")
		}

		got, err := st.PATByDigest(ctx, "digest-1")
		if err != nil {
			t.Fatalf("PATByDigest: %v", err)
		}
		want := &model.PersonalAccessToken{ID: tok.ID, UserID: alice.ID, Name: "ci", Scopes: []string{"api", "read_api"},
			ExpiresAt: &expires, CreatedAt: created.Truncate(time.Microsecond)}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("PATByDigest = %+v, want %+v", got, want)
		}
		if !got.Active(expires.Add(-time.Second)) || got.Active(expires) {
			t.Fatalf("expiry did not round-trip to the instant: %v", got.ExpiresAt)
		}

		_, err = st.PATByDigest(ctx, "digest-unknown")
		wantErr(t, "PATByDigest(unknown)", err, model.ErrNotFound)
		_, err = st.PATByDigest(ctx, "DIGEST-1")
		wantErr(t, "PATByDigest is exact", err, model.ErrNotFound)
		_, err = st.PAT(ctx, tok.ID+100)
		wantErr(t, "PAT(missing)", err, model.ErrNotFound)

		dup := &model.PersonalAccessToken{UserID: bob.ID, Name: "dup", Scopes: []string{"api"}}
		wantErr(t, "CreatePAT(duplicate digest)", st.CreatePAT(ctx, dup, "digest-1"), model.ErrConflict)
		orphan := &model.PersonalAccessToken{UserID: bob.ID + 100, Name: "orphan", Scopes: []string{"api"}}
		wantErr(t, "CreatePAT(missing user)", st.CreatePAT(ctx, orphan, "digest-orphan"), model.ErrNotFound)

		// No expiry and no scopes survive as nil, not as zero values.
		bare := &model.PersonalAccessToken{UserID: bob.ID, Name: "bare"}
		if err := st.CreatePAT(ctx, bare, "digest-2"); err != nil {
			t.Fatalf("CreatePAT(bare): %v", err)
		}
		third := &model.PersonalAccessToken{UserID: alice.ID, Name: "read", Scopes: []string{"read_api"}}
		if err := st.CreatePAT(ctx, third, "digest-3"); err != nil {
			t.Fatalf("CreatePAT(third): %v", err)
		}
		gotBare, err := st.PAT(ctx, bare.ID)
		if err != nil {
			t.Fatalf("PAT(bare): %v", err)
		}
		if gotBare.ExpiresAt != nil || gotBare.Scopes != nil || gotBare.LastUsedAt != nil || gotBare.Revoked {
			t.Fatalf("PAT(bare) = %+v, want no expiry, scopes or last use", gotBare)
		}
		if gotBare.CreatedAt.IsZero() || time.Since(gotBare.CreatedAt) > time.Minute {
			t.Fatalf("default CreatedAt = %v, want about now", gotBare.CreatedAt)
		}

		used := time.Date(2026, 2, 3, 4, 5, 6, 7000, time.UTC)
		if err := st.TouchPAT(ctx, bare.ID, used); err != nil {
			t.Fatalf("TouchPAT: %v", err)
		}
		if g, _ := st.PAT(ctx, bare.ID); g.LastUsedAt == nil || !g.LastUsedAt.Equal(used) {
			t.Fatalf("LastUsedAt = %v, want %v", g.LastUsedAt, used)
		}

		if err := st.RevokePAT(ctx, tok.ID); err != nil {
			t.Fatalf("RevokePAT: %v", err)
		}
		wantErr(t, "RevokePAT(missing)", st.RevokePAT(ctx, tok.ID+100), model.ErrNotFound)
		revoked, err := st.PATByDigest(ctx, "digest-1")
		if err != nil {
			t.Fatalf("revoked token must stay readable: %v", err)
		}
		if !revoked.Revoked || revoked.Active(time.Now()) {
			t.Fatalf("revoked token = %+v, want revoked", revoked)
		}
		if g, _ := st.PAT(ctx, third.ID); g.Revoked {
			t.Fatal("RevokePAT revoked another token")
		}

		ids := func(ts []*model.PersonalAccessToken) []int64 {
			out := []int64{}
			for _, t := range ts {
				out = append(out, t.ID)
			}
			return out
		}
		for _, c := range []struct {
			name  string
			user  int64
			page  store.Page
			want  []int64
			total int
		}{
			{"alice", alice.ID, allPage(), []int64{tok.ID, third.ID}, 2},
			{"bob", bob.ID, allPage(), []int64{bare.ID}, 1},
			{"nobody", bob.ID + 100, allPage(), []int64{}, 0},
			{"all", 0, allPage(), []int64{tok.ID, bare.ID, third.ID}, 3},
			{"all, page 2", 0, store.Page{Number: 2, PerPage: 2}, []int64{third.ID}, 3},
			{"alice, page 1", alice.ID, store.Page{Number: 1, PerPage: 1}, []int64{tok.ID}, 2},
		} {
			list, total, err := st.ListPATs(ctx, c.user, c.page)
			if err != nil {
				t.Fatalf("%s: ListPATs: %v", c.name, err)
			}
			if !reflect.DeepEqual(ids(list), c.want) || total != c.total {
				t.Fatalf("%s: ListPATs = %v (total %d), want %v (total %d)", c.name, ids(list), total, c.want, c.total)
			}
		}
		list, _, _ := st.ListPATs(ctx, alice.ID, allPage())
		if !list[0].Revoked || list[1].Revoked || !reflect.DeepEqual(list[1].Scopes, []string{"read_api"}) {
			t.Fatalf("listed tokens = %+v, %+v", list[0], list[1])
		}
	})
}
