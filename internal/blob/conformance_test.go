package blob

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"testing"

	"github.com/ciwarden/ciwarden/internal/model"
)

// backend is one Store implementation under the conformance suite.
type backend struct {
	// open returns a fresh, empty store, released at the end of the test.
	// partSize 0 means the implementation's default.
	open func(t *testing.T, partSize int64) Store
	// temporaries counts what interrupted Puts left behind.
	temporaries func(t *testing.T, s Store) int
}

// testPartSize is S3's smallest part, so that a few MiB already take the
// multipart path; FS ignores it.
const testPartSize = minPartSize

const (
	KiB = 1 << 10
	MiB = 1 << 20
)

type conformanceCase struct {
	name string
	run  func(t *testing.T, s Store, b backend)
}

// runConformance runs every behaviour a Store promises against b.
func runConformance(t *testing.T, b backend) {
	t.Run("parallel", func(t *testing.T) {
		for _, c := range conformanceCases {
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				c.run(t, b.open(t, testPartSize), b)
			})
		}
	})
	// Alone, after the others, so that nothing else moves the heap.
	t.Run("MemoryBounded", func(t *testing.T) { testMemoryBounded(t, b.open(t, 0), b) })
}

var conformanceCases = []conformanceCase{
	{"RoundTrip", testRoundTrip},
	{"SeekAndReadAt", testSeekAndReadAt},
	{"Missing", testMissing},
	{"DeleteIdempotent", testDeleteIdempotent},
	{"ListByPrefix", testListByPrefix},
	{"Overwrite", testOverwrite},
	{"BadKeys", testBadKeys},
	{"ReaderFailsMidway", testReaderFails},
	{"CanceledContext", testCanceled},
	{"SizeMismatch", testSizeMismatch},
	{"ConcurrentPuts", testConcurrentPuts},
}

// randomBytes returns n reproducible pseudo-random bytes.
func randomBytes(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16)})
	r.Read(b)
	return b
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// onlyReader hides every interface but io.Reader (WriterTo, Seeker, Len),
// as a request body does, so no implementation can take a shortcut.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

var errBoom = errors.New("boom: the client went away")

// failingReader yields n bytes of data and then errBoom.
type failingReader struct {
	data []byte
	n    int
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n == 0 {
		return 0, errBoom
	}
	m := copy(p[:min(len(p), f.n)], f.data)
	f.data = f.data[m:]
	f.n -= m
	return m, nil
}

// repeatReader yields n bytes by repeating block, without holding them.
type repeatReader struct {
	block []byte
	n     int64
	off   int64
	// onRead, if set, runs after each read with the bytes read so far.
	onRead func(read int64)
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.off >= r.n {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), r.n-r.off)]
	n := 0
	for n < len(p) {
		n += copy(p[n:], r.block[(r.off+int64(n))%int64(len(r.block)):])
	}
	r.off += int64(n)
	if r.onRead != nil {
		r.onRead(r.off)
	}
	return n, nil
}

func mustPut(t *testing.T, s Store, key string, data []byte) Info {
	t.Helper()
	info, err := s.Put(t.Context(), key, onlyReader{bytes.NewReader(data)}, int64(len(data)))
	if err != nil {
		t.Fatalf("Put(%s): %v", key, err)
	}
	return info
}

func readAll(t *testing.T, s Store, key string) []byte {
	t.Helper()
	o, err := s.Open(t.Context(), key)
	if err != nil {
		t.Fatalf("Open(%s): %v", key, err)
	}
	defer o.Close()
	b, err := io.ReadAll(o)
	if err != nil {
		t.Fatalf("reading %s: %v", key, err)
	}
	if int64(len(b)) != o.Size() {
		t.Fatalf("%s: read %d bytes, Size() = %d", key, len(b), o.Size())
	}
	return b
}

func assertAbsent(t *testing.T, s Store, b backend, key string) {
	t.Helper()
	if _, err := s.Stat(t.Context(), key); !errors.Is(err, ErrNotFound) {
		t.Errorf("Stat(%s) after a failed Put = %v, want ErrNotFound", key, err)
	}
	if n := b.temporaries(t, s); n != 0 {
		t.Errorf("%d temporaries left behind", n)
	}
}

func listKeys(t *testing.T, s Store, prefix string) []string {
	t.Helper()
	var keys []string
	for info, err := range s.List(t.Context(), prefix) {
		if err != nil {
			t.Fatalf("List(%q): %v", prefix, err)
		}
		keys = append(keys, info.Key)
	}
	slices.Sort(keys)
	return keys
}

func testRoundTrip(t *testing.T, s Store, _ backend) {
	for i, n := range []int{0, 1, 13, 64 * KiB, testPartSize, testPartSize + 3, 12*MiB + 7} {
		data := randomBytes(n, uint64(i))
		for _, known := range []bool{true, false} {
			key := fmt.Sprintf("rt/%d-%t", n, known)
			size := int64(-1)
			if known {
				size = int64(n)
			}
			info, err := s.Put(t.Context(), key, onlyReader{bytes.NewReader(data)}, size)
			if err != nil {
				t.Fatalf("Put(%s): %v", key, err)
			}
			if info.Key != key || info.Size != int64(n) || info.SHA256 != sha256Hex(data) || info.ModTime.IsZero() {
				t.Fatalf("Put(%s) = %+v, want size %d sha256 %s", key, info, n, sha256Hex(data))
			}
			if got := readAll(t, s, key); !bytes.Equal(got, data) {
				t.Fatalf("%s: content differs (%d bytes read, %d written)", key, len(got), n)
			}
			st, err := s.Stat(t.Context(), key)
			if err != nil || st.Key != key || st.Size != int64(n) || st.ModTime.IsZero() {
				t.Fatalf("Stat(%s) = %+v, %v", key, st, err)
			}
		}
	}
}

func testSeekAndReadAt(t *testing.T, s Store, _ backend) {
	data := randomBytes(MiB+17, 7)
	size := int64(len(data))
	mustPut(t, s, "zip/a.zip", data)
	o, err := s.Open(t.Context(), "zip/a.zip")
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if o.Size() != size {
		t.Fatalf("Size() = %d, want %d", o.Size(), size)
	}

	for _, tc := range []struct {
		off     int64
		len     int
		wantN   int
		wantEOF bool // io.EOF required; otherwise nil or io.EOF
	}{
		{0, 10, 10, false},
		{1000, 4096, 4096, false},
		{size - 10, 10, 10, false},
		{size - 10, 20, 10, true},
		{size - 1, 1, 1, false},
		{size, 1, 0, true},
		{size + 5, 1, 0, true},
		{0, int(size), int(size), false},
		{0, int(size) + 1, int(size), true},
	} {
		p := make([]byte, tc.len)
		n, err := o.ReadAt(p, tc.off)
		if n != tc.wantN || (tc.wantEOF && err != io.EOF) || (!tc.wantEOF && err != nil && err != io.EOF) {
			t.Fatalf("ReadAt(len %d, off %d) = %d, %v; want %d (EOF %t)", tc.len, tc.off, n, err, tc.wantN, tc.wantEOF)
		}
		if n > 0 && !bytes.Equal(p[:n], data[tc.off:tc.off+int64(n)]) {
			t.Fatalf("ReadAt(len %d, off %d): wrong bytes", tc.len, tc.off)
		}
	}

	// Zip readers look for the end of central directory record this way.
	if pos, err := o.Seek(-22, io.SeekEnd); err != nil || pos != size-22 {
		t.Fatalf("Seek(-22, End) = %d, %v", pos, err)
	}
	tail, err := io.ReadAll(o)
	if err != nil || !bytes.Equal(tail, data[size-22:]) {
		t.Fatalf("tail = %d bytes, %v", len(tail), err)
	}
	if n, err := o.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("Read at the end = %d, %v; want 0, EOF", n, err)
	}
	if pos, err := o.Seek(0, io.SeekStart); err != nil || pos != 0 {
		t.Fatalf("Seek(0, Start) = %d, %v", pos, err)
	}
	head := make([]byte, 100)
	if _, err := io.ReadFull(o, head); err != nil || !bytes.Equal(head, data[:100]) {
		t.Fatalf("head: %v", err)
	}
	if pos, err := o.Seek(50, io.SeekCurrent); err != nil || pos != 150 {
		t.Fatalf("Seek(50, Current) = %d, %v", pos, err)
	}
	// A ReadAt in between must not move the Read offset.
	if _, err := o.ReadAt(make([]byte, 5), 9999); err != nil {
		t.Fatal(err)
	}
	mid := make([]byte, 10)
	if _, err := io.ReadFull(o, mid); err != nil || !bytes.Equal(mid, data[150:160]) {
		t.Fatalf("read after Seek(50, Current): %v", err)
	}
	if _, err := o.Seek(size+100, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	if n, err := o.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("Read past the end = %d, %v; want 0, EOF", n, err)
	}
	if _, err := o.Seek(-1, io.SeekStart); err == nil {
		t.Fatal("Seek to a negative position succeeded")
	}

	// ReaderAt promises parallel use.
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 1))
			for range 4 {
				off := r.Int64N(size)
				p := make([]byte, r.IntN(64*KiB)+1)
				n, err := o.ReadAt(p, off)
				if err != nil && !(err == io.EOF && off+int64(len(p)) > size) {
					errs <- err
					return
				}
				if !bytes.Equal(p[:n], data[off:off+int64(n)]) {
					errs <- fmt.Errorf("parallel ReadAt(off %d): wrong bytes", off)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	// An empty object reads as empty whichever way it is read.
	mustPut(t, s, "zip/empty", nil)
	e, err := s.Open(t.Context(), "zip/empty")
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if n, err := e.ReadAt(make([]byte, 1), 0); n != 0 || err != io.EOF {
		t.Fatalf("empty ReadAt = %d, %v", n, err)
	}
	if b, err := io.ReadAll(e); err != nil || len(b) != 0 {
		t.Fatalf("empty ReadAll = %d bytes, %v", len(b), err)
	}
}

func testMissing(t *testing.T, s Store, _ backend) {
	for _, err := range []error{
		func() error { _, err := s.Stat(t.Context(), "no/such/key"); return err }(),
		func() error { _, err := s.Open(t.Context(), "no/such/key"); return err }(),
	} {
		if !errors.Is(err, ErrNotFound) || !errors.Is(err, model.ErrNotFound) {
			t.Errorf("err = %v, want ErrNotFound wrapping model.ErrNotFound", err)
		}
	}
	if err := s.Delete(t.Context(), "no/such/key"); err != nil {
		t.Errorf("Delete of a missing key = %v, want nil", err)
	}
}

func testDeleteIdempotent(t *testing.T, s Store, _ backend) {
	mustPut(t, s, "d/x", []byte("x"))
	mustPut(t, s, "d/y", []byte("y"))
	for range 2 {
		if err := s.Delete(t.Context(), "d/x"); err != nil {
			t.Fatalf("Delete: %v", err)
		}
	}
	if _, err := s.Stat(t.Context(), "d/x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Stat after Delete = %v", err)
	}
	if got := listKeys(t, s, ""); !slices.Equal(got, []string{"d/y"}) {
		t.Fatalf("List after Delete = %v", got)
	}
}

func testListByPrefix(t *testing.T, s Store, _ backend) {
	keys := []string{"a/1", "a/2", "a/b/3", "ab/4", "b/5"}
	for i, k := range keys {
		mustPut(t, s, k, make([]byte, i))
	}
	for _, tc := range []struct {
		prefix string
		want   []string
	}{
		{"", keys},
		{"a/", []string{"a/1", "a/2", "a/b/3"}},
		{"a", []string{"a/1", "a/2", "a/b/3", "ab/4"}},
		{"a/b", []string{"a/b/3"}},
		{"a/b/", []string{"a/b/3"}},
		{"ab/4", []string{"ab/4"}},
		{"a/1", []string{"a/1"}},
		{"zz", nil},
		{"c/d/", nil},
	} {
		if got := listKeys(t, s, tc.prefix); !slices.Equal(got, tc.want) {
			t.Errorf("List(%q) = %v, want %v", tc.prefix, got, tc.want)
		}
	}
	for info, err := range s.List(t.Context(), "a/b/") {
		if err != nil || info.Size != 2 || info.ModTime.IsZero() || info.SHA256 != "" {
			t.Errorf("List info = %+v, %v", info, err)
		}
	}
	n := 0
	for range s.List(t.Context(), "") {
		n++
		break
	}
	if n != 1 {
		t.Errorf("break after one: %d", n)
	}
	for _, err := range s.List(t.Context(), "../") {
		if !errors.Is(err, model.ErrInvalid) {
			t.Errorf("List(../) err = %v, want model.ErrInvalid", err)
		}
	}
}

func testOverwrite(t *testing.T, s Store, _ backend) {
	v1 := randomBytes(100*KiB, 1)
	v2 := randomBytes(70*KiB, 2)
	mustPut(t, s, "o/k", v1)
	old, err := s.Open(t.Context(), "o/k")
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	mustPut(t, s, "o/k", v2)
	if got := readAll(t, s, "o/k"); !bytes.Equal(got, v2) {
		t.Fatal("Open after overwrite does not return the new content")
	}
	if st, err := s.Stat(t.Context(), "o/k"); err != nil || st.Size != int64(len(v2)) {
		t.Fatalf("Stat after overwrite = %+v, %v", st, err)
	}
	// An object opened before never mixes versions: it reads the old
	// bytes or fails with ErrChanged.
	got, err := io.ReadAll(old)
	if err == nil && !bytes.Equal(got, v1) || err != nil && !errors.Is(err, ErrChanged) {
		t.Fatalf("object opened before the overwrite read %d bytes, %v", len(got), err)
	}
	p := make([]byte, 10)
	if n, err := old.ReadAt(p, 50*KiB); err == nil && !bytes.Equal(p[:n], v1[50*KiB:50*KiB+10]) || err != nil && !errors.Is(err, ErrChanged) {
		t.Fatalf("ReadAt on the object opened before the overwrite: %d, %v", n, err)
	}
	if keys := listKeys(t, s, ""); !slices.Equal(keys, []string{"o/k"}) {
		t.Fatalf("List = %v", keys)
	}
}

func testBadKeys(t *testing.T, s Store, _ backend) {
	for _, k := range []string{"", "/etc/passwd", "../x", "a/../../x", "a//b", "a/", ".tmp/x", "a/.b", "a b", "a\x00b", "a\\b", string(make([]byte, MaxKeyLen+1))} {
		_, perr := s.Put(t.Context(), k, bytes.NewReader([]byte("x")), 1)
		_, oerr := s.Open(t.Context(), k)
		_, serr := s.Stat(t.Context(), k)
		derr := s.Delete(t.Context(), k)
		for op, err := range map[string]error{"Put": perr, "Open": oerr, "Stat": serr, "Delete": derr} {
			if !errors.Is(err, ErrInvalidKey) || !errors.Is(err, model.ErrInvalid) {
				t.Errorf("%s(%q) = %v, want ErrInvalidKey", op, k, err)
			}
		}
	}
	if keys := listKeys(t, s, ""); len(keys) != 0 {
		t.Fatalf("bad keys stored something: %v", keys)
	}
}

func testReaderFails(t *testing.T, s Store, b backend) {
	data := randomBytes(12*MiB, 3)
	prev := []byte("previous version")
	mustPut(t, s, "f/kept", prev)
	for _, n := range []int{0, KiB, 2*testPartSize + 1} {
		for _, size := range []int64{-1, int64(len(data))} {
			key := fmt.Sprintf("f/%d-%d", n, size)
			_, err := s.Put(t.Context(), key, &failingReader{data: data, n: n}, size)
			if !errors.Is(err, errBoom) {
				t.Fatalf("Put(%s) = %v, want the reader's error", key, err)
			}
			assertAbsent(t, s, b, key)
			if _, err := s.Put(t.Context(), "f/kept", &failingReader{data: data, n: n}, size); !errors.Is(err, errBoom) {
				t.Fatalf("Put over an existing key = %v", err)
			}
			if got := readAll(t, s, "f/kept"); !bytes.Equal(got, prev) {
				t.Fatal("a failed Put damaged the previous version")
			}
		}
	}
	if keys := listKeys(t, s, ""); !slices.Equal(keys, []string{"f/kept"}) {
		t.Fatalf("List = %v", keys)
	}
}

func testCanceled(t *testing.T, s Store, b backend) {
	prev := []byte("previous version")
	mustPut(t, s, "c/kept", prev)
	block := randomBytes(64*KiB+1, 4)

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.Put(ctx, "c/before", bytes.NewReader(block), int64(len(block))); !errors.Is(err, context.Canceled) {
		t.Fatalf("Put with a canceled context = %v", err)
	}
	assertAbsent(t, s, b, "c/before")

	for _, at := range []int64{100 * KiB, 2*testPartSize + 1} {
		for _, size := range []int64{-1, 20 * MiB} {
			for _, key := range []string{fmt.Sprintf("c/%d-%d", at, size), "c/kept"} {
				ctx, cancel := context.WithCancel(t.Context())
				r := &repeatReader{block: block, n: 20 * MiB, onRead: func(read int64) {
					if read >= at {
						cancel()
					}
				}}
				_, err := s.Put(ctx, key, r, size)
				cancel()
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("Put(%s) canceled after %d bytes = %v", key, at, err)
				}
				if key == "c/kept" {
					if got := readAll(t, s, key); !bytes.Equal(got, prev) {
						t.Fatal("a canceled Put damaged the previous version")
					}
					continue
				}
				assertAbsent(t, s, b, key)
			}
		}
	}
}

func testSizeMismatch(t *testing.T, s Store, b backend) {
	data := randomBytes(3*testPartSize, 5)
	for _, tc := range []struct{ give, declare int }{
		{50, 100}, {100, 50}, {0, 1}, {1, 0},
		{2*testPartSize + 5, 3 * testPartSize}, // short, after parts were sent
		{3 * testPartSize, testPartSize + 1},   // long, after a part was sent
	} {
		key := fmt.Sprintf("m/%d-%d", tc.give, tc.declare)
		_, err := s.Put(t.Context(), key, onlyReader{bytes.NewReader(data[:tc.give])}, int64(tc.declare))
		if !errors.Is(err, ErrSizeMismatch) || !errors.Is(err, model.ErrInvalid) {
			t.Fatalf("Put(%s) = %v, want ErrSizeMismatch", key, err)
		}
		assertAbsent(t, s, b, key)
	}
}

func testConcurrentPuts(t *testing.T, s Store, _ backend) {
	const n = 16
	var wg sync.WaitGroup
	errs := make(chan error, n)
	blobs := make([][]byte, n)
	for i := range n {
		size := i * 97 * KiB
		if i == n-1 {
			size = testPartSize + MiB // multipart on S3
		}
		blobs[i] = randomBytes(size, uint64(100+i))
		wg.Go(func() {
			size := int64(len(blobs[i]))
			if i%2 == 1 {
				size = -1
			}
			info, err := s.Put(t.Context(), fmt.Sprintf("p/%02d", i), onlyReader{bytes.NewReader(blobs[i])}, size)
			if err == nil && info.SHA256 != sha256Hex(blobs[i]) {
				err = fmt.Errorf("p/%02d: wrong digest", i)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		if got := readAll(t, s, fmt.Sprintf("p/%02d", i)); !bytes.Equal(got, blobs[i]) {
			t.Fatalf("p/%02d: content differs", i)
		}
	}
	if keys := listKeys(t, s, "p/"); len(keys) != n {
		t.Fatalf("List = %d keys, want %d", len(keys), n)
	}
}

// testMemoryBounded streams 64 MiB of unknown size and samples the heap
// while it flows: a Store that buffered the blob would show the whole
// 64 MiB. performance.md allows 64 MiB of growth for a 1 GiB upload; the
// bound here is half that, for a blob a sixteenth the size.
func testMemoryBounded(t *testing.T, s Store, b backend) {
	const size = 64 * MiB
	const limit = 32 * MiB
	block := randomBytes(64*KiB+1, 6)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base, peak := ms.HeapInuse, ms.HeapInuse
	next := int64(0)
	r := &repeatReader{block: block, n: size, onRead: func(read int64) {
		if read >= next {
			next += 2 * MiB
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
		}
	}}
	want := sha256.New()
	io.Copy(want, &repeatReader{block: block, n: size})
	info, err := s.Put(t.Context(), "big/64MiB", r, -1)
	if err != nil {
		t.Fatal(err)
	}
	if info.Size != size || info.SHA256 != hex.EncodeToString(want.Sum(nil)) {
		t.Fatalf("Put = %+v", info)
	}
	growth := int64(peak) - int64(base)
	t.Logf("HeapInuse growth while streaming 64 MiB of unknown size: %.1f MiB (limit %d MiB)", float64(growth)/MiB, limit/MiB)
	if growth > limit {
		t.Fatalf("heap grew by %.1f MiB while streaming, limit %d MiB", float64(growth)/MiB, limit/MiB)
	}
	if st, err := s.Stat(t.Context(), "big/64MiB"); err != nil || st.Size != size {
		t.Fatalf("Stat = %+v, %v", st, err)
	}
	if n := b.temporaries(t, s); n != 0 {
		t.Fatalf("%d temporaries left", n)
	}
}
