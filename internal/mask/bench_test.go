package mask

import (
	"bytes"
	"io"
	"math/rand"
	"testing"
)

// perCore runs f b.N times and reports, besides the wall-clock MB/s,
// MB per CPU-second of the whole process (GC included). It returns that
// figure (0 when the process's CPU time did not move).
func perCore(b *testing.B, n int, f func()) float64 {
	b.SetBytes(int64(n))
	b.ReportAllocs()
	start := cpuTime()
	for b.Loop() {
		f()
	}
	cpu := (cpuTime() - start).Seconds()
	if cpu <= 0 {
		return 0
	}
	mbps := float64(n) * float64(b.N) / cpu / 1e6
	b.ReportMetric(mbps, "MB/cpu-s")
	return mbps
}

// write feeds data to w in chunks of the given size, as a runner does.
func write(w *Writer, data []byte, chunk int) {
	for p := data; len(p) > 0; {
		n := min(chunk, len(p))
		w.Write(p[:n])
		p = p[n:]
	}
	w.Close()
}

// BenchmarkMask measures the performance target: 16 MiB of secret-free
// job log with the job token and its encodings, 20 masked variables, the
// token prefixes, URL credentials and query parameters, against a
// bytes.Index scan of the same data for one 40-byte needle.
func BenchmarkMask(b *testing.B) {
	rng := rand.New(rand.NewSource(1))
	m, err := Compile(fullRules(rng))
	if err != nil {
		b.Fatal(err)
	}
	data := logText(rng, 16<<20)
	if !bytes.Equal(m.Mask(data), data) {
		b.Fatal("the secret-free log changed")
	}
	// The same log with a secret, in one of its forms, every 4 KiB.
	var withSecrets []byte
	for p := data; len(p) > 0; {
		n := min(4<<10, len(p))
		withSecrets = append(withSecrets, p[:n]...)
		s, _ := embed(rng, propRules())
		withSecrets = append(withSecrets, s...)
		p = p[n:]
	}

	b.Run("bytes.Index", func(b *testing.B) {
		needle := []byte(jobToken[:40])
		perCore(b, len(data), func() {
			if bytes.Index(data, needle) >= 0 {
				b.Fatal("found")
			}
		})
	})
	// The target (the specification's performance table): masking a job
	// log at least 1 GB/s per core on text without secrets. Job logs go
	// through the streaming Writer (ci.Traces on the server, the built-in
	// runner), so the target is the Writer's, checked on its reported run
	// (the one with the largest b.N; each run starts with a one-iteration
	// probe). The one-shot Mask, which masks the server's own short log
	// lines, is reported beside it: it also allocates its 16 MiB result
	// on every call.
	perSecond := map[string]float64{}
	measure := func(name string, f func()) {
		b.Run(name, func(b *testing.B) {
			v := perCore(b, len(data), f)
			if b.N > 1 || perSecond[name] == 0 {
				perSecond[name] = v
			}
		})
	}
	measure("Writer", func() { write(m.NewWriter(io.Discard), data, 32<<10) })
	measure("Mask", func() { m.Mask(data) })
	if v := perSecond["Writer"]; v > 0 && v < 1000 {
		b.Errorf("target missed: the streaming Writer masks %.0f MB per CPU-second, want >= 1,000", v)
	}
	b.Run("Writer/secret-per-4KiB", func(b *testing.B) {
		perCore(b, len(withSecrets), func() { write(m.NewWriter(io.Discard), withSecrets, 32<<10) })
	})
}

// BenchmarkDense masks the property tests' logs, which are mostly
// secrets: the step-by-step path.
func BenchmarkDense(b *testing.B) {
	r := propRules()
	m, err := Compile(r)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewSource(1))
	var data []byte
	for len(data) < 1<<20 {
		in, _ := propCase(rng, r, 400)
		data = append(data, in...)
	}
	perCore(b, len(data), func() { m.Mask(data) })
}

// BenchmarkCompile builds the full rule set: the server compiles one per
// job (or per trace request if it does not cache).
func BenchmarkCompile(b *testing.B) {
	r := fullRules(rand.New(rand.NewSource(1)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCompileJob builds what the server compiles for each job's log:
// the job token with its encodings on the server's shared rules (token
// prefixes, URL passwords, query parameters), whose part is kept between
// compiles; AtOnce builds the same Masker from scratch, the baseline.
func BenchmarkCompileJob(b *testing.B) {
	r := Rules{Tokens: []string{jobToken}, Prefixes: append(DefaultPrefixes(), "cwjob-", "cwpat-", "glrt-"),
		URLCredentials: true, QueryParams: DefaultQueryParams()}
	b.Run("Compile", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Compile(r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("AtOnce", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			compileAtOnce(r)
		}
	})
}
