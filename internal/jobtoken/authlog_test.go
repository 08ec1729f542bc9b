package jobtoken_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/ciwarden/ciwarden/internal/authz"
	"github.com/ciwarden/ciwarden/internal/jobtoken"
	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/store"
	"github.com/ciwarden/ciwarden/internal/testdb"
)

// TestAuthLogFinalFlush: uses recorded since the last flush are written
// when the log stops (the server stops it after its last request, before
// closing the store), not lost with the process.
func TestAuthLogFinalFlush(t *testing.T) {
	ctx := context.Background()
	st := testdb.Store(t, "sqlite")
	var a, b *model.Project
	if err := st.Tx(ctx, func(q *store.Queries) error {
		n := &model.Namespace{Kind: model.NamespaceGroup, Name: "g", Path: "g", FullPath: "g", FullName: "g", Visibility: model.Private}
		if err := q.CreateNamespace(ctx, n); err != nil {
			return err
		}
		a = &model.Project{Name: "a", Path: "a", NamespaceID: n.ID, Visibility: model.Private, DefaultBranch: "main"}
		b = &model.Project{Name: "b", Path: "b", NamespaceID: n.ID, Visibility: model.Private, DefaultBranch: "main"}
		if err := q.CreateProject(ctx, a); err != nil {
			return err
		}
		return q.CreateProject(ctx, b)
	}); err != nil {
		t.Fatal(err)
	}
	l := &jobtoken.AuthLog{Store: st, Log: slog.New(slog.DiscardHandler)}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); l.Run(runCtx, time.Hour) }()
	l.Record(b.ID, a.ID, authz.PolicyReadJobs, authz.Allow)
	l.Record(b.ID, a.ID, authz.PolicyReadPackages, authz.Decision{Status: 403, Message: "no", Check: authz.CheckInbound})
	stop()
	<-done
	rows, _, err := st.Authorizations(ctx, b.ID, store.Page{Number: 1, PerPage: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].AllowedCount != 1 || rows[0].DeniedCount != 1 || rows[0].LastPolicy != authz.PolicyReadPackages ||
		rows[0].LastAllowed || rows[0].LastDenialReason != "inbound_allowlist: no" {
		t.Fatalf("log after stop: %+v", rows)
	}
}

// BenchmarkAuthLogRecord is what recording a cross-project use costs the
// request: a map update under a lock, the database write being left to
// the next flush. Compare with BenchmarkScopeDecision's ns/op.
//
//	go test ./internal/jobtoken -run '^$' -bench AuthLogRecord
func BenchmarkAuthLogRecord(b *testing.B) {
	l := &jobtoken.AuthLog{}
	denied := authz.Decision{Status: 403, Message: "refused", Check: authz.CheckInbound}
	b.ReportAllocs()
	i := int64(0)
	for b.Loop() {
		d := authz.Allow
		if i%4 == 0 {
			d = denied
		}
		l.Record(1+i%64, 2, authz.PolicyReadPackages, d)
		i++
	}
}
