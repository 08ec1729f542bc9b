package blob

import (
	"io"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkPut streams 256 MiB through FS.Put (SHA-256, fsync, rename)
// and, as the baseline, through a plain io.Copy into an *os.File in the
// same directory, with and without an fsync. Compare the MB/s columns:
//
//	go test ./internal/blob/ -run '^$' -bench Put -benchtime 5x
func BenchmarkPut(b *testing.B) {
	const size = 256 * MiB
	block := randomBytes(MiB+1, 8)
	src := func() io.Reader { return &repeatReader{block: block, n: size} }
	dir := b.TempDir()

	b.Run("baseline-io.Copy", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			f, err := os.Create(filepath.Join(dir, "baseline"))
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.Copy(f, src()); err != nil {
				b.Fatal(err)
			}
			if err := f.Close(); err != nil {
				b.Fatal(err)
			}
		}
		os.Remove(filepath.Join(dir, "baseline"))
	})
	b.Run("baseline-io.Copy+fsync", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			f, err := os.Create(filepath.Join(dir, "baseline"))
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.Copy(f, src()); err != nil {
				b.Fatal(err)
			}
			if err := f.Sync(); err != nil {
				b.Fatal(err)
			}
			if err := f.Close(); err != nil {
				b.Fatal(err)
			}
		}
		os.Remove(filepath.Join(dir, "baseline"))
	})
	b.Run("FS.Put", func(b *testing.B) {
		s, err := NewFS(filepath.Join(dir, "store"))
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		b.SetBytes(size)
		for b.Loop() {
			if _, err := s.Put(b.Context(), "bench/blob", src(), -1); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("S3.Put-versitygw", func(b *testing.B) {
		g := startGateway(b)
		s := g.store(b, "bench", 0)
		b.SetBytes(size)
		for b.Loop() {
			if _, err := s.Put(b.Context(), "bench/blob", src(), -1); err != nil {
				b.Fatal(err)
			}
		}
	})
}
