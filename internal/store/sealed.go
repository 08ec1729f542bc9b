package store

import (
	"context"
)

// Sealed is one value sealed with the instance key, as key rotation sees
// it: its row, what it is bound to, and the sealed bytes.
type Sealed struct {
	ID     int64  // the row (jobs, ci_variables)
	Name   string // the row when keyed by text (builtin_runners); ci_variables: owner
	Key    string // ci_variables: the variable's key; terraform_state_versions: the blob key
	Sealed []byte
}

// SealedTraceStates is a batch of jobs' sealed trace states with job IDs
// above after.
func (q *Queries) SealedTraceStates(ctx context.Context, after int64, limit int) ([]Sealed, error) {
	return q.sealed(ctx, "SELECT id, '', '', trace_state FROM jobs WHERE trace_state IS NOT NULL AND id > ? ORDER BY id LIMIT ?", after, limit)
}

// SealedCIVariables is a batch of variables' sealed values with IDs above
// after.
func (q *Queries) SealedCIVariables(ctx context.Context, after int64, limit int) ([]Sealed, error) {
	return q.sealed(ctx, "SELECT id, owner, key, value_sealed FROM ci_variables WHERE id > ? ORDER BY id LIMIT ?", after, limit)
}

// SealedBuiltinTokens is every replica's sealed built-in runner token
// (one a replica: few).
func (q *Queries) SealedBuiltinTokens(ctx context.Context) ([]Sealed, error) {
	return q.sealed(ctx, "SELECT 0, replica_name, '', token_sealed FROM builtin_runners ORDER BY replica_name")
}

// SealedRegistryKeys is every container registry signing key (few).
func (q *Queries) SealedRegistryKeys(ctx context.Context) ([]Sealed, error) {
	return q.sealed(ctx, "SELECT 0, kid, '', key_sealed FROM registry_keys ORDER BY kid")
}

func (q *Queries) sealed(ctx context.Context, query string, args ...any) ([]Sealed, error) {
	rows, err := q.query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Sealed
	for rows.Next() {
		var s Sealed
		if err := rows.Scan(&s.ID, &s.Name, &s.Key, &s.Sealed); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// Reseal replaces a sealed value if it is still old, reporting whether it
// did: a write in between (a trace request, an update) wins, and holds a
// value sealed with the current key already. table is one of the three
// above.
func (q *Queries) Reseal(ctx context.Context, table string, s Sealed, sealed []byte) (bool, error) {
	var query string
	var key any = s.ID
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
