package accounts_test

import (
	"errors"
	"testing"
	"time"

	"github.com/ciwarden/ciwarden/internal/accounts"
	"github.com/ciwarden/ciwarden/internal/auth"
	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/testdb"
)

// alice is a user with password on a fresh database, and the accounts
// service and authenticator that read the clock *now.
func alice(t *testing.T, dialect string, now *time.Time, password string) (*accounts.Service, *auth.Authenticator, *model.User) {
	t.Helper()
	st := testdb.Store(t, dialect)
	clock := func() time.Time { return *now }
	acc := &accounts.Service{Store: st, Now: clock}
	u, err := acc.CreateUser(t.Context(), accounts.NewUser{Username: "alice", Name: "Alice", Email: "alice@example.com", Password: password})
	if err != nil {
		t.Fatal(err)
	}
	return acc, &auth.Authenticator{Store: st, Now: clock, TouchEvery: time.Minute}, u
}

// TestSessionExpiresByTime: a session lasts SessionLifetime from its
// sign-in and not a microsecond more, by the services' clock (injected
// here), on a real database; the next sign-in then trims it from the
// table (issue 19: sessions expire).
func TestSessionExpiresByTime(t *testing.T) {
	t.Parallel()
	testdb.ForEachDialect(t, func(t *testing.T, dialect string) {
		now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		acc, authn, u := alice(t, dialect, &now, "alice's password")
		_, secret, err := acc.SignIn(t.Context(), "alice", "alice's password")
		if err != nil {
			t.Fatal(err)
		}
		signedIn := func() bool {
			t.Helper()
			p, err := authn.Authenticate(t.Context(), auth.Credentials{Session: secret})
			if err != nil {
				t.Fatal(err)
			}
			return p.User != nil && p.User.ID == u.ID
		}
		if !signedIn() {
			t.Fatal("a fresh session is not signed in")
		}
		now = now.Add(accounts.SessionLifetime - time.Second)
		if !signedIn() {
			t.Fatal("the session ended before its lifetime")
		}
		now = now.Add(time.Second)
		if signedIn() {
			t.Fatal("the session outlived its lifetime")
		}
		// The next sign-in deletes it: gone even if the clock went back.
		if _, _, err := acc.SignIn(t.Context(), "alice", "alice's password"); err != nil {
			t.Fatal(err)
		}
		now = now.Add(-time.Hour)
		if signedIn() {
			t.Fatal("an expired session was not deleted at the next sign-in")
		}
	})
}

// TestChangePassword: the current password must match (a wrong one counts
// toward the sign-in throttle), the new one given twice and valid; every
// session of the user ends but the one returned.
func TestChangePassword(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	acc, authn, u := alice(t, "sqlite", &now, "old password")
	_, other, err := acc.SignIn(t.Context(), "alice", "old password")
	if err != nil {
		t.Fatal(err)
	}
	refused := func(err error, msg string) {
		t.Helper()
		var r *model.Refusal
		if !errors.As(err, &r) || r.Message != msg {
			t.Fatalf("got %v, want the refusal %q", err, msg)
		}
	}
	_, err = acc.ChangePassword(t.Context(), u, "wrong", "new password", "new password")
	refused(err, accounts.MsgWrongCurrentPassword)
	_, err = acc.ChangePassword(t.Context(), u, "old password", "new password", "new passwort")
	refused(err, accounts.MsgConfirmationMismatch)
	if _, err := acc.ChangePassword(t.Context(), u, "old password", "short", "short"); !errors.Is(err, model.ErrInvalid) {
		t.Fatalf("a short password: %v", err)
	}
	kept, err := acc.ChangePassword(t.Context(), u, "old password", "new password", "new password")
	if err != nil {
		t.Fatal(err)
	}
	for secret, want := range map[string]bool{other: false, kept: true} {
		p, err := authn.Authenticate(t.Context(), auth.Credentials{Session: secret})
		if err != nil {
			t.Fatal(err)
		}
		if got := p.User != nil; got != want {
			t.Errorf("session signed in %v, want %v", got, want)
		}
	}
	if _, _, err := acc.SignIn(t.Context(), "alice", "old password"); err == nil {
		t.Error("the old password still signs in")
	}
	// Wrong current passwords are sign-in failures: ten lock the login.
	for range 9 {
		acc.ChangePassword(t.Context(), u, "guess", "x password", "x password")
	}
	_, err = acc.ChangePassword(t.Context(), u, "new password", "x password", "x password")
	refused(err, accounts.MsgThrottled)
}
