package store_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/store"
	"github.com/ciwarden/ciwarden/internal/testdb"
)

// artFixture is a project with pipelines and jobs to hang artifacts on.
type artFixture struct {
	t  *testing.T
	st *store.Store
	p  *model.Project
}

func newArtFixture(t *testing.T, st *store.Store) *artFixture {
	grp := newGroup(t, st, nil, "arts", model.Private)
	return &artFixture{t: t, st: st, p: newProject(t, st, grp.ID, "app", model.Private)}
}

// pipeline creates a pipeline on ref with status and one job per name,
// each with the pipeline's status.
func (f *artFixture) pipeline(ref, status string, names ...string) (*model.Pipeline, []*model.Job) {
	f.t.Helper()
	pl := &model.Pipeline{ProjectID: f.p.ID, Ref: ref, SHA: "0123456789012345678901234567890123456789", Source: "push", Status: status}
	var jobs []*model.Job
	err := f.st.Tx(ctx, func(q *store.Queries) error {
		if err := q.LockProject(ctx, f.p.ID); err != nil {
			return err
		}
		if err := q.CreatePipeline(ctx, pl); err != nil {
			return err
		}
		for _, n := range names {
			j := &model.Job{PipelineID: pl.ID, ProjectID: f.p.ID, Name: n, Stage: "build", Status: status, When: "on_success"}
			if err := q.CreateJob(ctx, j); err != nil {
				return err
			}
			jobs = append(jobs, j)
		}
		return nil
	})
	if err != nil {
		f.t.Fatalf("pipeline: %v", err)
	}
	return pl, jobs
}

func (f *artFixture) put(j *model.Job, typ, key string, expire *time.Time) string {
	f.t.Helper()
	replaced, err := f.st.PutArtifact(ctx, &model.Artifact{JobID: j.ID, ProjectID: j.ProjectID, FileType: typ, FileFormat: "zip",
		Filename: "artifacts.zip", Size: 10, SHA256: "abc", BlobKey: key, ExpireAt: expire}, nil)
	if err != nil {
		f.t.Fatalf("PutArtifact(%s, %s): %v", typ, key, err)
	}
	return replaced
}

func keysOf(arts []*model.Artifact) []string {
	var out []string
	for _, a := range arts {
		out = append(out, a.FileType+"="+a.BlobKey)
	}
	return out
}

func TestArtifactsReplaceListDelete(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		f := newArtFixture(t, st)
		_, jobs := f.pipeline("main", model.StatusSuccess, "build", "test")
		build, test := jobs[0], jobs[1]
		exp := time.Now().UTC().Add(time.Hour).Truncate(time.Microsecond)
		if r := f.put(build, "junit", "k-junit", nil); r != "" {
			t.Fatalf("first junit replaced %q", r)
		}
		if r := f.put(build, "archive", "k1", &exp); r != "" {
			t.Fatalf("first archive replaced %q", r)
		}
		// A second archive replaces the first and hands back its key.
		if r := f.put(build, "archive", "k2", &exp); r != "k1" {
			t.Fatalf("second archive replaced %q, want k1", r)
		}
		f.put(test, "archive", "k-test", nil)

		got, err := st.JobArtifacts(ctx, build.ID)
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"archive=k2", "junit=k-junit"}; !slices.Equal(keysOf(got), want) {
			t.Fatalf("JobArtifacts = %v, want %v (archive first)", keysOf(got), want)
		}
		if a := got[0]; a.ExpireAt == nil || !a.ExpireAt.Equal(exp) || a.Filename != "artifacts.zip" || a.Size != 10 || a.ProjectID != f.p.ID {
			t.Fatalf("stored archive %+v", a)
		}
		if got[1].ExpireAt != nil {
			t.Fatalf("junit without expiry came back with %v", got[1].ExpireAt)
		}
		m, err := st.ArtifactsOfJobs(ctx, []int64{build.ID, test.ID, 99999})
		if err != nil || len(m[build.ID]) != 2 || len(m[test.ID]) != 1 || len(m[99999]) != 0 {
			t.Fatalf("ArtifactsOfJobs = %v, %v", m, err)
		}
		if _, err := st.JobArtifact(ctx, test.ID, "junit"); !errors.Is(err, model.ErrNotFound) {
			t.Fatalf("JobArtifact(missing type) = %v, want ErrNotFound", err)
		}

		var keys []string
		err = st.Tx(ctx, func(q *store.Queries) error {
			keys, err = q.DeleteJobArtifacts(ctx, build.ID)
			return err
		})
		slices.Sort(keys)
		if err != nil || !slices.Equal(keys, []string{"k-junit", "k2"}) {
			t.Fatalf("DeleteJobArtifacts = %v, %v", keys, err)
		}
		if got, _ := st.JobArtifacts(ctx, build.ID); len(got) != 0 {
			t.Fatalf("after delete: %v", keysOf(got))
		}
		if got, _ := st.JobArtifacts(ctx, test.ID); len(got) != 1 {
			t.Fatalf("the other job's artifact went too: %v", keysOf(got))
		}
	})
}

func TestPutArtifactRefusesErasedJob(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		f := newArtFixture(t, st)
		_, jobs := f.pipeline("main", model.StatusSuccess, "build")
		j := *jobs[0]
		now := time.Now().UTC()
		j.ErasedAt = &now
		if ok, err := st.SetJobStatus(ctx, &j, j.Status); !ok || err != nil {
			t.Fatalf("erase: %v %v", ok, err)
		}
		_, err := st.PutArtifact(ctx, &model.Artifact{JobID: j.ID, ProjectID: j.ProjectID, FileType: "archive", FileFormat: "zip", BlobKey: "k"}, nil)
		if !errors.Is(err, store.ErrJobGone) {
			t.Fatalf("PutArtifact on an erased job: %v, want ErrJobGone", err)
		}
		_, err = st.PutArtifact(ctx, &model.Artifact{JobID: 424242, ProjectID: j.ProjectID, FileType: "archive", FileFormat: "zip", BlobKey: "k"}, nil)
		if !errors.Is(err, store.ErrJobGone) {
			t.Fatalf("PutArtifact on a missing job: %v, want ErrJobGone", err)
		}
		if got, _ := st.JobArtifacts(ctx, j.ID); len(got) != 0 {
			t.Fatalf("rows after refused puts: %v", keysOf(got))
		}
	})
}

// TestPutArtifactLocksOnlyItsJob: on PostgreSQL an upload waits for a
// change of its own job, and reads the job as that change left it, but not
// for another job's change holding their pipeline's lock (issue 20 item 7:
// a 100-job pipeline's uploads queued on that lock, each holding a pooled
// connection).
func TestPutArtifactLocksOnlyItsJob(t *testing.T) {
	st := openStore(t, testdb.URL(t, "postgres"))
	f := newArtFixture(t, st)
	_, jobs := f.pipeline("main", model.StatusRunning, "a", "b")
	running := func(q *store.Queries, j *model.Job) error {
		if j.Status != model.StatusRunning {
			return store.ErrJobGone
		}
		return nil
	}
	put := func(ctx context.Context, j *model.Job) error {
		_, err := st.PutArtifact(ctx, &model.Artifact{JobID: j.ID, ProjectID: j.ProjectID, FileType: "archive", FileFormat: "zip",
			Filename: "artifacts.zip", Size: 10, SHA256: "abc", BlobKey: fmt.Sprintf("k%d", j.ID)}, running)
		return err
	}

	// Another transaction holds the pipeline's lock (job b's update, or
	// processing) while job a uploads: the upload does not wait for it.
	other, err := st.DB().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Rollback()
	if _, err := other.ExecContext(ctx, "SELECT id FROM pipelines WHERE id = $1 FOR UPDATE", jobs[0].PipelineID); err != nil {
		t.Fatal(err)
	}
	bounded, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := put(bounded, jobs[0]); err != nil {
		t.Fatalf("upload while another transaction holds the pipeline's lock: %v, want it stored without waiting", err)
	}
	other.Rollback()

	// Job b's end is being written: its upload waits for it, then finds
	// the job ended and keeps nothing.
	end, err := st.DB().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer end.Rollback()
	if _, err := end.ExecContext(ctx, "UPDATE jobs SET status = 'success' WHERE id = $1", jobs[1].ID); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- put(ctx, jobs[1]) }()
	// Commit only once the upload waits on the job's row.
	for waiting := 0; waiting == 0; {
		select {
		case err := <-done:
			t.Fatalf("the upload returned (%v) while the job's end was not committed, want it to wait", err)
		case <-time.After(10 * time.Millisecond):
		}
		if err := st.DB().QueryRowContext(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
	}
	if err := end.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, store.ErrJobGone) {
		t.Fatalf("upload of a job that ended while it waited: %v, want ErrJobGone", err)
	}
	if got, _ := st.JobArtifacts(ctx, jobs[1].ID); len(got) != 0 {
		t.Fatalf("artifacts of the ended job: %v, want none", keysOf(got))
	}
}

func TestSweepArtifacts(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		f := newArtFixture(t, st)
		now := time.Now().UTC()
		past, future := now.Add(-time.Minute), now.Add(time.Hour)
		_, jobs := f.pipeline("main", model.StatusSuccess, "a", "b", "c")
		f.put(jobs[0], "archive", "expired-a", &past)
		f.put(jobs[0], "junit", "live-a", &future)
		f.put(jobs[1], "archive", "expired-b", &past)
		f.put(jobs[2], "archive", "forever-c", nil)

		keys, err := st.SweepExpiredArtifacts(ctx, now, 1)
		if err != nil || len(keys) != 1 {
			t.Fatalf("first batch of 1: %v, %v", keys, err)
		}
		more, err := st.SweepExpiredArtifacts(ctx, now, 10)
		if err != nil {
			t.Fatal(err)
		}
		all := append(keys, more...)
		slices.Sort(all)
		if !slices.Equal(all, []string{"expired-a", "expired-b"}) {
			t.Fatalf("swept %v, want the two expired", all)
		}
		if again, _ := st.SweepExpiredArtifacts(ctx, now, 10); len(again) != 0 {
			t.Fatalf("second sweep found %v", again)
		}

		// A deleted pipeline leaves its jobs' artifact rows behind; the
		// orphan scan finds them, a few rows at a time.
		pl2, jobs2 := f.pipeline("other", model.StatusSuccess, "x", "y")
		f.put(jobs2[0], "archive", "orphan-x", nil)
		f.put(jobs2[1], "archive", "orphan-y", &future)
		if err := st.DeletePipeline(ctx, pl2.ID); err != nil {
			t.Fatal(err)
		}
		var orphans []string
		cursor := int64(0)
		for i := 0; i < 10; i++ {
			k, next, err := st.SweepOrphanArtifacts(ctx, cursor, 2)
			if err != nil {
				t.Fatal(err)
			}
			orphans = append(orphans, k...)
			cursor = next
			if next == 0 {
				break
			}
		}
		slices.Sort(orphans)
		if !slices.Equal(orphans, []string{"orphan-x", "orphan-y"}) {
			t.Fatalf("orphans swept %v", orphans)
		}
		if got, _ := st.JobArtifacts(ctx, jobs[0].ID); !slices.Equal(keysOf(got), []string{"junit=live-a"}) {
			t.Fatalf("job a keeps %v, want its live junit", keysOf(got))
		}
		if got, _ := st.JobArtifacts(ctx, jobs[2].ID); len(got) != 1 {
			t.Fatalf("job c lost its never-expiring archive")
		}
	})
}

func TestLatestSuccessfulJob(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		f := newArtFixture(t, st)
		f.pipeline("main", model.StatusSuccess, "build")
		_, newer := f.pipeline("main", model.StatusSuccess, "build")
		f.pipeline("main", model.StatusFailed, "build")       // a later failed pipeline does not count
		f.pipeline("feature/x", model.StatusSuccess, "build") // another ref
		f.pipeline("main", model.StatusRunning, "build")      // nor does a running one
		j, err := st.LatestSuccessfulJob(ctx, f.p.ID, "main", "build")
		if err != nil || j.ID != newer[0].ID {
			t.Fatalf("LatestSuccessfulJob(main, build) = %v, %v; want job %d", j, err, newer[0].ID)
		}
		if _, err := st.LatestSuccessfulJob(ctx, f.p.ID, "main", "deploy"); !errors.Is(err, model.ErrNotFound) {
			t.Fatalf("a job name not in the pipeline: %v, want ErrNotFound", err)
		}
		if _, err := st.LatestSuccessfulJob(ctx, f.p.ID, "nope", "build"); !errors.Is(err, model.ErrNotFound) {
			t.Fatalf("a ref without pipelines: %v, want ErrNotFound", err)
		}
		fx, err := st.LatestSuccessfulJob(ctx, f.p.ID, "feature/x", "build")
		if err != nil || fx.Name != "build" {
			t.Fatalf("ref with a slash: %v, %v", fx, err)
		}
	})
}
