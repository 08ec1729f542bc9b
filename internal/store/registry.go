package store

import (
	"context"
	"time"
)

// RegistryKey is one of the container registry's token signing keys,
// sealed with the instance key.
type RegistryKey struct {
	KID       string
	Sealed    []byte
	CreatedAt time.Time
}

// RegistryKeys is every signing key, newest first (the newest signs).
func (q *Queries) RegistryKeys(ctx context.Context) ([]RegistryKey, error) {
	rows, err := q.query(ctx, "SELECT kid, key_sealed, created_at FROM registry_keys ORDER BY created_at DESC, kid")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []RegistryKey
	for rows.Next() {
		var k RegistryKey
		var created int64
		if err := rows.Scan(&k.KID, &k.Sealed, &created); err != nil {
			return nil, err
		}
		k.CreatedAt = fromMicros(created)
		out = append(out, k)
	}
	return out, rows.Err()
}

// AddRegistryKey keeps a new signing key. Replicas starting at once may
// each add one: every key is trusted, the newest signs, so they agree.
func (q *Queries) AddRegistryKey(ctx context.Context, k RegistryKey) error {
	_, err := q.exec(ctx, "INSERT INTO registry_keys (kid, key_sealed, created_at) VALUES (?, ?, ?) ON CONFLICT (kid) DO NOTHING",
		k.KID, k.Sealed, micros(k.CreatedAt))
	return q.d.mapErr(err)
}
