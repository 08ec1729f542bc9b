package store_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/rekey"
	"github.com/ciwarden/ciwarden/internal/secretbox"
	"github.com/ciwarden/ciwarden/internal/store"
	"github.com/ciwarden/ciwarden/internal/testdb"
)

// runFixture makes a pipeline with variables and one job per spec.
func runFixture(tb testing.TB, st *store.Store, vars []model.Variable, specs ...[]byte) (*model.Pipeline, []*model.Job) {
	tb.Helper()
	ns := &model.Namespace{Kind: model.NamespaceGroup, Name: "Run", Path: "run", FullPath: "run", FullName: "Run", Visibility: model.Private}
	if err := st.CreateNamespace(ctx, ns); err != nil {
		tb.Fatal(err)
	}
	p := &model.Project{Name: "app", Path: "app", NamespaceID: ns.ID, Visibility: model.Private, DefaultBranch: "main"}
	if err := st.CreateProject(ctx, p); err != nil {
		tb.Fatal(err)
	}
	pl := &model.Pipeline{ProjectID: p.ID, Ref: "main", SHA: strings.Repeat("0", 40), Source: "api", Status: model.StatusPending, Variables: vars}
	var jobs []*model.Job
	err := st.Tx(ctx, func(q *store.Queries) error {
		if err := q.CreatePipeline(ctx, pl); err != nil {
			return err
		}
		for i, spec := range specs {
			j := &model.Job{PipelineID: pl.ID, ProjectID: p.ID, Name: "job" + string(rune('a'+i)), Stage: "test", Status: model.StatusPending, When: "on_success", Spec: spec}
			if err := q.CreateJob(ctx, j); err != nil {
				return err
			}
			jobs = append(jobs, j)
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return pl, jobs
}

// TestRunValuesSealed (issue 16, "Encrypted at rest"): a pipeline's
// variables, a job's spec and a schedule variable's value are stored
// sealed, none in its clear column, and read back; a row written in clear
// before migration 00024 reads as it is; a sealed value copied to another
// row does not open there.
func TestRunValuesSealed(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		const secret = "run-Secret-value-1"
		spec := []byte(`{"script":["deploy"],"variables":[{"key":"YAML","value":"` + secret + `"}]}`)
		pl, jobs := runFixture(t, st, []model.Variable{{Key: "API", Value: secret}}, spec, spec)
		u := newUser(t, st, "owner")
		sc := &model.Schedule{ProjectID: pl.ProjectID, OwnerID: u.ID, Ref: "main", Cron: "0 4 * * *", CronTimezone: "UTC", Active: true,
			NextRunAt: time.Now(), CreatedAt: time.Now(), UpdatedAt: time.Now()}
		if err := st.CreateSchedule(ctx, sc); err != nil {
			t.Fatal(err)
		}
		if err := st.SetScheduleVariable(ctx, sc.ID, &model.ScheduleVariable{Key: "SCHED", Value: secret, VariableType: "env_var"}, true); err != nil {
			t.Fatal(err)
		}

		db := st.DB()
		rebind := func(q string) string {
			if st.Dialect() == "postgres" {
				return strings.Replace(q, "?", "$1", 1)
			}
			return q
		}
		for _, c := range []struct{ what, query string }{
			{"pipelines", "SELECT variables, variables_sealed FROM pipelines WHERE id = ?"},
			{"jobs", "SELECT spec, spec_sealed FROM jobs WHERE id = ?"},
			{"pipeline_schedule_variables", "SELECT value, value_sealed FROM pipeline_schedule_variables WHERE schedule_id = ?"},
		} {
			id := map[string]int64{"pipelines": pl.ID, "jobs": jobs[0].ID, "pipeline_schedule_variables": sc.ID}[c.what]
			var clear string
			var sealed []byte
			if err := db.QueryRow(rebind(c.query), id).Scan(&clear, &sealed); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(clear, secret) || len(sealed) == 0 || bytes.Contains(sealed, []byte(secret)) {
				t.Errorf("%s: clear %q, sealed %d bytes (holding the value: %v)", c.what, clear, len(sealed), bytes.Contains(sealed, []byte(secret)))
			}
		}
		gotPl, err := st.Pipeline(ctx, pl.ID)
		if err != nil || len(gotPl.Variables) != 1 || gotPl.Variables[0].Value != secret {
			t.Errorf("pipeline read back: %+v, %v", gotPl, err)
		}
		if j, err := st.Job(ctx, jobs[0].ID); err != nil || !bytes.Equal(j.Spec, spec) {
			t.Errorf("job read back: %v", err)
		}
		if vs, err := st.ScheduleVariables(ctx, sc.ID); err != nil || len(vs) != 1 || vs[0].Value != secret {
			t.Errorf("schedule variables read back: %+v, %v", vs, err)
		}

		toClear(t, st, pl.ID, jobs[1].ID, sc.ID, "SCHED")
		readBackClear(t, st, "legacy", pl.ID, jobs[1].ID, sc.ID)

		// Job a's sealed spec copied into job b's row does not open there.
		q := "UPDATE jobs SET spec_sealed = (SELECT spec_sealed FROM jobs WHERE id = ?) WHERE id = ?"
		if st.Dialect() == "postgres" {
			q = "UPDATE jobs SET spec_sealed = (SELECT spec_sealed FROM jobs WHERE id = $1) WHERE id = $2"
		}
		if _, err := db.Exec(q, jobs[0].ID, jobs[1].ID); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Job(ctx, jobs[1].ID); err == nil {
			t.Error("a spec copied from another job opened")
		}
	})
}

// BenchmarkJobRead: the cost of sealing a job's spec on its reads (every
// job token's authentication reads the job): a read of a job whose spec
// is sealed against the baseline of one kept in clear (as before
// migration 00024), in the same run, on SQLite.
func BenchmarkJobRead(b *testing.B) {
	st := testdb.Store(b, "sqlite")
	var spec bytes.Buffer
	spec.WriteString(`{"script":[`)
	for i := range 40 {
		if i > 0 {
			spec.WriteString(",")
		}
		spec.WriteString(`"echo a typical script line of a deploy job, number ` + strings.Repeat("x", i%7) + `"`)
	}
	spec.WriteString(`],"variables":[{"key":"DEPLOY_TARGET","value":"production-eu-west"}]}`)
	_, jobs := runFixture(b, st, nil, spec.Bytes(), spec.Bytes())
	if _, err := st.DB().Exec("UPDATE jobs SET spec_sealed = NULL, spec = ? WHERE id = ?", spec.String(), jobs[1].ID); err != nil {
		b.Fatal(err)
	}
	b.Logf("spec: %d bytes", spec.Len())
	for _, c := range []struct {
		name string
		id   int64
	}{{"clear", jobs[1].ID}, {"sealed", jobs[0].ID}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := st.Job(ctx, c.id); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestRotateSealsClearRows: `ciwarden admin rotate-key` (rekey.Rotate)
// seals the run values an older version kept in clear and empties their
// clear columns, leaves those sealed with the current key, and finds
// nothing to do the second time; the values read back.
func TestRotateSealsClearRows(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		box, err := secretbox.New(secretbox.NewKey())
		if err != nil {
			t.Fatal(err)
		}
		st.SetBox(box)
		pl, jobs := runFixture(t, st, []model.Variable{{Key: "A", Value: "a"}}, []byte(`{"script":["new"]}`), []byte(`{"script":["new"]}`))
		u := newUser(t, st, "owner")
		sc := &model.Schedule{ProjectID: pl.ProjectID, OwnerID: u.ID, Ref: "main", Cron: "0 4 * * *", CronTimezone: "UTC", Active: true,
			NextRunAt: time.Now(), CreatedAt: time.Now(), UpdatedAt: time.Now()}
		if err := st.CreateSchedule(ctx, sc); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"NEW", "OLD"} {
			if err := st.SetScheduleVariable(ctx, sc.ID, &model.ScheduleVariable{Key: k, Value: "v-" + k, VariableType: "env_var"}, true); err != nil {
				t.Fatal(err)
			}
		}
		toClear(t, st, pl.ID, jobs[1].ID, sc.ID, "OLD")
		r, err := rekey.Rotate(ctx, st, box, nil) // no Terraform state here: no blob is read
		if err != nil || r.Cleared != 3 || r.Resealed != 0 || r.Current != 2 {
			t.Fatalf("Rotate: %+v, %v; want 3 sealed from clear, 2 current (a job's spec, a schedule variable)", r, err)
		}
		var clearRows int
		if err := st.DB().QueryRow(`SELECT (SELECT COUNT(*) FROM pipelines WHERE variables <> '[]' OR variables_sealed IS NULL) +
			(SELECT COUNT(*) FROM jobs WHERE spec <> '{}' OR spec_sealed IS NULL) +
			(SELECT COUNT(*) FROM pipeline_schedule_variables WHERE value <> '' OR value_sealed IS NULL)`).Scan(&clearRows); err != nil || clearRows != 0 {
			t.Errorf("rows in clear after Rotate: %d, %v", clearRows, err)
		}
		readBackClear(t, st, "after Rotate", pl.ID, jobs[1].ID, sc.ID)
		if r, err := rekey.Rotate(ctx, st, box, nil); err != nil || r.Cleared+r.Resealed != 0 {
			t.Errorf("second Rotate: %+v, %v", r, err)
		}
	})
}

// toClear rewrites a pipeline's variables, a job's spec and a schedule's
// variable key as a version before migration 00024 wrote them: in clear.
func toClear(t *testing.T, st *store.Store, pipelineID, jobID, scheduleID int64, key string) {
	t.Helper()
	clearVars, _ := json.Marshal([]model.Variable{{Key: "OLD", Value: "old-clear"}})
	for _, q := range []struct {
		query string
		args  []any
	}{
		{"UPDATE pipelines SET variables_sealed = NULL, variables = '" + string(clearVars) + "' WHERE id = $1", []any{pipelineID}},
		{`UPDATE jobs SET spec_sealed = NULL, spec = '{"script":["old"]}' WHERE id = $1`, []any{jobID}},
		{"UPDATE pipeline_schedule_variables SET value_sealed = NULL, value = 'old-clear' WHERE schedule_id = $1 AND key = $2", []any{scheduleID, key}},
	} {
		query := q.query
		if st.Dialect() != "postgres" {
			query = strings.NewReplacer("$1", "?", "$2", "?").Replace(query)
		}
		if _, err := st.DB().Exec(query, q.args...); err != nil {
			t.Fatal(err)
		}
	}
}

// readBackClear checks that what toClear wrote reads back.
func readBackClear(t *testing.T, st *store.Store, when string, pipelineID, jobID, scheduleID int64) {
	t.Helper()
	if p, err := st.Pipeline(ctx, pipelineID); err != nil || len(p.Variables) != 1 || p.Variables[0].Value != "old-clear" {
		t.Errorf("%s: pipeline %+v, %v", when, p, err)
	}
	if j, err := st.Job(ctx, jobID); err != nil || string(j.Spec) != `{"script":["old"]}` {
		t.Errorf("%s: job %v", when, err)
	}
	vs, err := st.ScheduleVariables(ctx, scheduleID)
	found := false
	for _, v := range vs {
		found = found || v.Value == "old-clear"
	}
	if err != nil || !found {
		t.Errorf("%s: schedule variables %+v, %v", when, vs, err)
	}
}
