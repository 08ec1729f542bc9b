package store

import "context"

// MigrateDownTo runs the down migrations to version: a test's way back to
// a database as an older release left it.
func (s *Store) MigrateDownTo(ctx context.Context, version int64) error {
	p, err := s.migrations()
	if err != nil {
		return err
	}
	_, err = p.DownTo(ctx, version)
	return err
}

// ShowSetting reads a PostgreSQL setting as the connection (or the
// transaction) sees it.
func (q *Queries) ShowSetting(ctx context.Context, name string, v *string) error {
	return q.queryRow(ctx, "SELECT current_setting(?)", name).Scan(v)
}
