package store

import (
	"context"
)

// Sealed is one value sealed with the instance key, as key rotation sees
// it: its row, what it is bound to, and the sealed bytes.
type Sealed struct {
	ID     int64  // the row (jobs, ci_variables, pipelines; pipeline_schedule_variables: the schedule)
	Name   string // the row when keyed by text (builtin_runners); ci_variables: owner
	Key    string // ci_variables, pipeline_schedule_variables: the variable's key; terraform_state_versions: the blob key
	Sealed []byte // nil: a value written in clear before migration 00024, in Clear
	// The kinds the store seals itself (seal.go): what the value is bound
	// to, and the value kept in clear by an older version, to be sealed.
	Context []byte
	Clear   []byte
}

// SealedTraceStates is a batch of jobs' sealed trace states with job IDs
// above after.
func (q *Queries) SealedTraceStates(ctx context.Context, after int64, limit int) ([]Sealed, error) {
	return q.sealed(ctx, "SELECT id, '', '', '', trace_state FROM jobs WHERE trace_state IS NOT NULL AND id > ? ORDER BY id LIMIT ?", after, limit)
}

// SealedCIVariables is a batch of variables' sealed values with IDs above
// after.
func (q *Queries) SealedCIVariables(ctx context.Context, after int64, limit int) ([]Sealed, error) {
	return q.sealed(ctx, "SELECT id, owner, key, '', value_sealed FROM ci_variables WHERE id > ? ORDER BY id LIMIT ?", after, limit)
}

// SealedBuiltinTokens is every replica's sealed built-in runner token
// (one a replica: few).
func (q *Queries) SealedBuiltinTokens(ctx context.Context) ([]Sealed, error) {
	return q.sealed(ctx, "SELECT 0, replica_name, '', '', token_sealed FROM builtin_runners ORDER BY replica_name")
}

// SealedRegistryKeys is every container registry signing key (few).
func (q *Queries) SealedRegistryKeys(ctx context.Context) ([]Sealed, error) {
	return q.sealed(ctx, "SELECT 0, kid, '', '', key_sealed FROM registry_keys ORDER BY kid")
}

// SealedPipelineVariables is a batch of pipelines' variables, sealed or
// in clear from before migration 00024, with IDs above after.
func (q *Queries) SealedPipelineVariables(ctx context.Context, after int64, limit int) ([]Sealed, error) {
	return q.sealedRun(ctx, "SELECT id, project_id, iid, variables, variables_sealed FROM pipelines WHERE id > ? AND (variables_sealed IS NOT NULL OR variables <> '[]') ORDER BY id LIMIT ?",
		func(s *Sealed, a, b any) { s.Context = PipelineVariablesContext(*a.(*int64), *b.(*int64)) }, new(int64), new(int64), after, limit)
}

// SealedJobSpecs is a batch of jobs' specs, sealed or in clear from
// before migration 00024, with IDs above after.
func (q *Queries) SealedJobSpecs(ctx context.Context, after int64, limit int) ([]Sealed, error) {
	return q.sealedRun(ctx, "SELECT id, pipeline_id, name, spec, spec_sealed FROM jobs WHERE id > ? AND (spec_sealed IS NOT NULL OR spec <> '{}') ORDER BY id LIMIT ?",
		func(s *Sealed, a, b any) { s.Context = JobSpecContext(*a.(*int64), *b.(*string)) }, new(int64), new(string), after, limit)
}

// SealedScheduleVariables is a batch of schedule variables' values,
// sealed or in clear from before migration 00024, of schedules with IDs
// above after (a schedule's variables come in one batch).
func (q *Queries) SealedScheduleVariables(ctx context.Context, after int64, limit int) ([]Sealed, error) {
	return q.sealedRun(ctx, `SELECT schedule_id, schedule_id, key, value, value_sealed FROM pipeline_schedule_variables
		WHERE schedule_id IN (SELECT DISTINCT schedule_id FROM pipeline_schedule_variables WHERE schedule_id > ? ORDER BY schedule_id LIMIT ?) ORDER BY schedule_id, key`,
		func(s *Sealed, a, b any) {
			s.Key = *b.(*string)
			s.Context = ScheduleVariableContext(*a.(*int64), s.Key)
		}, new(int64), new(string), after, limit)
}

// sealedRun reads rows of (id, a, b, clear, sealed); bind sets what the
// value is bound to from a and b.
func (q *Queries) sealedRun(ctx context.Context, query string, bind func(s *Sealed, a, b any), a, b any, args ...any) ([]Sealed, error) {
	rows, err := q.query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Sealed
	for rows.Next() {
		var s Sealed
		var clear string
		if err := rows.Scan(&s.ID, a, b, &clear, &s.Sealed); err != nil {
			return nil, err
		}
		if s.Sealed == nil {
			s.Clear = []byte(clear)
		}
		bind(&s, a, b)
		out = append(out, s)
	}
	return out, rows.Err()
}

// sealed reads rows of (id, name, key, an empty clear value, sealed) of the kinds their
// services seal.
func (q *Queries) sealed(ctx context.Context, query string, args ...any) ([]Sealed, error) {
	return q.sealedRun(ctx, query, func(s *Sealed, a, b any) { s.Name, s.Key = *a.(*string), *b.(*string) }, new(string), new(string), args...)
}

// Reseal replaces a sealed value (or a value in clear, s.Sealed nil) if it
// is still the one read, reporting whether it did: a write in between (a
// trace request, an update) wins, and holds a value sealed with the
// current key already. table names the kind: a table (jobs: the trace
// state), or table.column for the kinds the store seals (seal.go).
func (q *Queries) Reseal(ctx context.Context, table string, s Sealed, sealed []byte) (bool, error) {
	var query string
	var key any = s.ID
	// The kinds the store seals: the clear column is emptied as the value
	// is sealed, in one statement.
	run := map[string][4]string{ // table, sealed column, clear column emptied, row
		"pipelines.variables":               {"pipelines", "variables_sealed", "variables = '[]'", "id = ?"},
		"jobs.spec":                         {"jobs", "spec_sealed", "spec = '{}'", "id = ?"},
		"pipeline_schedule_variables.value": {"pipeline_schedule_variables", "value_sealed", "value = ''", "schedule_id = ? AND key = ?"},
	}
	if r, ok := run[table]; ok {
		args := []any{sealed, s.ID}
		if r[0] == "pipeline_schedule_variables" {
			args = append(args, s.Key)
		}
		cond := r[1] + " = ?"
		if s.Sealed == nil {
			cond = r[1] + " IS NULL"
		} else {
			args = append(args, s.Sealed)
		}
		res, err := q.exec(ctx, "UPDATE "+r[0]+" SET "+r[1]+" = ?, "+r[2]+" WHERE "+r[3]+" AND "+cond, args...)
		if err != nil {
			return false, err
		}
		n, err := res.RowsAffected()
		return n == 1, err
	}
	switch table {
	case "jobs":
		query = "UPDATE jobs SET trace_state = ? WHERE id = ? AND trace_state = ?"
	case "ci_variables":
		query = "UPDATE ci_variables SET value_sealed = ? WHERE id = ? AND value_sealed = ?"
	case "builtin_runners":
		query, key = "UPDATE builtin_runners SET token_sealed = ? WHERE replica_name = ? AND token_sealed = ?", s.Name
	case "registry_keys":
		query, key = "UPDATE registry_keys SET key_sealed = ? WHERE kid = ? AND key_sealed = ?", s.Name
	default:
		panic("store.Reseal: unknown table " + table)
	}
	res, err := q.exec(ctx, query, sealed, key, s.Sealed)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}
