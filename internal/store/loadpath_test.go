package store_test

import (
	"database/sql"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/store"
	"github.com/ciwarden/ciwarden/internal/testdb"
)

// TestJobFactsByTokenDigest: the one-statement read of a job token's job,
// project, pipeline and user gives what the four point reads give, and
// nothing when the token is unknown or one of the rows is gone.
func TestJobFactsByTokenDigest(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		u := newUser(t, st, "alice")
		grp := newGroup(t, st, nil, "grp", model.Private)
		p := newProject(t, st, grp.ID, "app", model.Private)
		pl := &model.Pipeline{ProjectID: p.ID, Ref: "main", SHA: "0123456789012345678901234567890123456789", Source: "push",
			Status: model.StatusRunning, UserID: u.ID}
		var withUser, without *model.Job
		err := st.Tx(ctx, func(q *store.Queries) error {
			if err := q.CreatePipeline(ctx, pl); err != nil {
				return err
			}
			withUser = &model.Job{PipelineID: pl.ID, ProjectID: p.ID, Name: "a", Stage: "test", Status: model.StatusPending, When: "on_success", UserID: u.ID}
			without = &model.Job{PipelineID: pl.ID, ProjectID: p.ID, Name: "b", Stage: "test", Status: model.StatusPending, When: "on_success"}
			for _, j := range []*model.Job{withUser, without} {
				if err := q.CreateJob(ctx, j); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC()
		for digest, j := range map[string]*model.Job{"digest-a": withUser, "digest-b": without} {
			if ok, err := st.AssignJob(ctx, j.ID, 1, digest, now); !ok || err != nil {
				t.Fatalf("AssignJob: %v %v", ok, err)
			}
		}

		f, err := st.JobFactsByTokenDigest(ctx, "digest-a")
		if err != nil {
			t.Fatalf("JobFactsByTokenDigest: %v", err)
		}
		j, _ := st.JobByTokenDigest(ctx, "digest-a")
		proj, _ := st.Project(ctx, p.ID)
		pipe, _ := st.Pipeline(ctx, pl.ID)
		user, _ := st.User(ctx, u.ID)
		for _, c := range []struct {
			what      string
			got, want any
		}{{"job", f.Job, j}, {"project", f.Project, proj}, {"pipeline", f.Pipeline, pipe}, {"user", f.User, user}} {
			if !reflect.DeepEqual(c.got, c.want) {
				t.Errorf("%s: joined read %+v, point read %+v", c.what, c.got, c.want)
			}
		}
		if f.Job.Status != model.StatusRunning || f.Project.Namespace == nil || f.Project.Namespace.FullPath != "grp" {
			t.Errorf("joined read: job %s, project namespace %+v", f.Job.Status, f.Project.Namespace)
		}

		// No such token; a job whose user is gone (the point reads tell
		// the caller which).
		for _, digest := range []string{"digest-none", "digest-b"} {
			if _, err := st.JobFactsByTokenDigest(ctx, digest); !errors.Is(err, model.ErrNotFound) {
				t.Errorf("JobFactsByTokenDigest(%s): %v, want ErrNotFound", digest, err)
			}
		}
	})
}

// TestAppendTraceCommitsLazily: on PostgreSQL a log chunk's transaction
// commits without waiting for the disk (synchronous_commit off), and only
// that transaction: the pooled connection's next one waits again.
func TestAppendTraceCommitsLazily(t *testing.T) {
	st := openStore(t, testdb.URL(t, "postgres"))
	st.DB().SetMaxOpenConns(1) // the next transaction reuses the connection
	f := newArtFixture(t, st)
	_, jobs := f.pipeline("main", model.StatusRunning, "a")
	var inTx string
	err := st.Tx(ctx, func(q *store.Queries) error {
		ok, err := q.AppendTrace(ctx, jobs[0].ID, store.TraceMark{}, store.TraceMark{Size: 5}, []byte("hello"))
		if err != nil || !ok {
			t.Fatalf("AppendTrace: %v %v", ok, err)
		}
		return q.ShowSetting(ctx, "synchronous_commit", &inTx)
	})
	if err != nil {
		t.Fatal(err)
	}
	var after string
	if err := st.ShowSetting(ctx, "synchronous_commit", &after); err != nil {
		t.Fatal(err)
	}
	if inTx != "off" || after != "on" {
		t.Errorf("synchronous_commit: %q in the chunk's transaction, %q after it; want off, then on", inTx, after)
	}
	if data, _ := st.Trace(ctx, jobs[0].ID); string(data) != "hello" {
		t.Errorf("stored log %q, want hello", data)
	}
}

// TestPostgresPoolKeepsItsConnections: a burst that used every pooled
// connection leaves them all open for the next one, instead of closing
// the ones above an idle bound and opening them again (issue 20 item 7:
// five new PostgreSQL sessions a second under 100 running jobs).
func TestPostgresPoolKeepsItsConnections(t *testing.T) {
	st := openStore(t, testdb.URL(t, "postgres"))
	max := st.DB().Stats().MaxOpenConnections
	if max == 0 {
		t.Fatal("the pool has no bound on open connections")
	}
	var conns []*sql.Conn
	for range max {
		c, err := st.DB().Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.PingContext(ctx); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	for _, c := range conns {
		c.Close()
	}
	if s := st.DB().Stats(); s.Idle != max || s.MaxIdleClosed != 0 {
		t.Errorf("after a burst of %d: %d connections idle, %d closed for the idle bound; want all %d kept", max, s.Idle, s.MaxIdleClosed, max)
	}
}
