// Package testserver is the one harness every suite starts servers with:
// internal/runnerapi's runner-protocol tests, internal/api's REST tests,
// internal/server's tests of the server as a whole, the end-to-end tests
// in e2e and the benchmarks in bench. It is a normal package that only
// tests import.
//
// New starts a ciwarden on SQLite or PostgreSQL (internal/testdb),
// optionally with S3 blobs (internal/testblob), either in this process
// (server.New behind a loopback listener) or, with Options.Process, as a
// child process of the ciwarden binary, which Binary builds once per test
// binary (the package's TestMain calls Main). Either way the test drives
// it over real HTTP: REST calls with a personal access token (Do, Expect,
// Call with a Cred for each way a token travels), runner-protocol calls
// as gitlab-runner makes them (RunnerClient, RunningJob), the git CLI
// with a private HOME (Git, PushCI), and fixtures (users, groups,
// projects, members, pipelines, a Team with one member of each role).
// ForEachDialect and ForEachStorage run a test on every database and
// blob store.
//
// When the test ends the server is stopped and checked, and the test
// fails on:
//
//   - a status of 500 or more in the server's request log (every request
//     is one line with status=, whatever route answered it, git
//     included) that the test did not declare with ExpectServerError, and
//     a handler panic;
//   - a secret in the server's log: every secret the test remembered, and
//     every token the server minted (found by its prefix), in clear,
//     base64 at the three alignments and percent-encoded. In process the
//     raw log is read, from before the masking logger (which operators
//     see); a child's log cannot be had raw, so any [MASKED] or
//     [REDACTED] in it is a leak (the server's own log never needs
//     masking). The one exception is the notice of a first start without
//     CIWARDEN_INITIAL_ROOT_TOKEN, which prints root's new token once on
//     purpose: that printing is skipped, and the token is remembered;
//   - the same secrets at rest: every file of the data directory (the
//     SQLite database and its WAL included) and of the S3 gateway, and on
//     PostgreSQL every text and binary column of the test database. The
//     instance key is one of the secrets, whether the test gave it
//     (Options.InstanceKey) or the server keeps it in its data directory.
//     KnownLeaks lists the places where today's code is known to leak, to
//     be removed as fixes land.
//
// The package's own tests inject real failures (a closed database, a
// broken repository, a token logged in base64 or stored at rest) and
// check that each one fails its test.
package testserver
