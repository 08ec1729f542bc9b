package authz_test

import (
	"testing"

	"github.com/ciwarden/ciwarden/internal/auth"
)

var digestSink string

// BenchmarkTokenDigest is BenchmarkDecide's baseline in the same run: the
// SHA-256 digest of a personal access token, which authentication
// computes for every request before any decision is made. Run both with
//
//	go test ./internal/authz/ -run '^$' -bench 'Decide|TokenDigest'
func BenchmarkTokenDigest(b *testing.B) {
	tok := auth.NewSecret(auth.PATPrefix)
	b.ReportAllocs()
	for b.Loop() {
		digestSink = auth.Digest(tok)
	}
}
