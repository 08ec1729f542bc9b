// Package e2e holds ciwarden's end-to-end tests. Every test starts its own
// server as a child process of the real binary (internal/testserver builds
// it once per test binary) on a free port with a fresh data directory and
// database (SQLite, and PostgreSQL when CIWARDEN_TEST_POSTGRES_URL is set),
// drives it over HTTP exactly as a GitLab client would, and stops it with
// SIGTERM, expecting a clean exit. The harness then fails the test on any
// server error it did not declare and on any secret in the server's log or
// data.
//
// Run them with:
//
//	go test ./e2e/ -count=1
//	CIWARDEN_TEST_POSTGRES_URL='postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable' go test ./e2e/ -count=1
package e2e
