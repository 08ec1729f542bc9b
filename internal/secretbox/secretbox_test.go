package secretbox

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func testBox(t *testing.T, fill byte) *Box {
	t.Helper()
	b, err := New(bytes.Repeat([]byte{fill}, KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSealOpen(t *testing.T) {
	b := testBox(t, 1)
	plain := []byte("cwjob-partial-token")
	ctx := []byte("jobs.trace_state 42")
	sealed := b.Seal(plain, ctx)
	if bytes.Contains(sealed, plain) || bytes.Contains(sealed, plain[:8]) {
		t.Fatalf("sealed value holds the plain text: %q", sealed)
	}
	if sealed[0] != KeyID(bytes.Repeat([]byte{1}, KeySize)) || sealed[0] == legacyID {
		t.Errorf("key ID byte %d, want the key's", sealed[0])
	}
	if again := b.Seal(plain, ctx); bytes.Equal(again, sealed) {
		t.Error("two seals of the same value are equal: the nonce is not fresh")
	}
	got, err := b.Open(sealed, ctx)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("Open = %q, %v; want %q", got, err, plain)
	}
	if got, err := b.Open(b.Seal(nil, ctx), ctx); err != nil || len(got) != 0 {
		t.Errorf("empty value: %q, %v", got, err)
	}
}

func TestOpenRefuses(t *testing.T) {
	b := testBox(t, 1)
	ctx := []byte("jobs.trace_state 42")
	sealed := b.Seal([]byte("held bytes"), ctx)
	flipped := bytes.Clone(sealed)
	flipped[len(flipped)-1] ^= 1
	otherVersion := bytes.Clone(sealed)
	otherVersion[0] = KeyID(bytes.Repeat([]byte{2}, KeySize))
	for _, c := range []struct {
		name   string
		box    *Box
		sealed []byte
		ctx    string
		want   error
	}{
		{"another key", testBox(t, 2), sealed, string(ctx), ErrOpen},
		{"another context", b, sealed, "jobs.trace_state 43", ErrOpen},
		{"altered", b, flipped, string(ctx), ErrOpen},
		{"truncated", b, sealed[:len(sealed)-1], string(ctx), ErrOpen},
		{"too short", b, sealed[:5], string(ctx), ErrOpen},
		{"empty", b, nil, string(ctx), ErrOpen},
		{"unknown key version", b, otherVersion, string(ctx), ErrKeyVersion},
	} {
		got, err := c.box.Open(c.sealed, []byte(c.ctx))
		if !errors.Is(err, c.want) || got != nil {
			t.Errorf("%s: Open = %q, %v; want %v", c.name, got, err, c.want)
		}
	}
}

func TestNewKeySize(t *testing.T) {
	for _, n := range []int{0, 16, 31, 33} {
		if _, err := New(make([]byte, n)); err == nil {
			t.Errorf("New accepted a %d-byte key", n)
		}
	}
}

func TestParseKey(t *testing.T) {
	key := bytes.Repeat([]byte{0xa5}, KeySize)
	std := base64.StdEncoding.EncodeToString(key)
	for _, s := range []string{std, " " + std + "\n", strings.TrimRight(std, "=")} {
		got, err := ParseKey(s)
		if err != nil || !bytes.Equal(got, key) {
			t.Errorf("ParseKey(%q) = %x, %v", s, got, err)
		}
	}
	for _, s := range []string{"", "not base64!", base64.StdEncoding.EncodeToString(key[:16]), std + "AAAA", "s3cr3tvalue"} {
		_, err := ParseKey(s)
		if err == nil {
			t.Errorf("ParseKey(%q) accepted", s)
			continue
		}
		if s != "" && strings.Contains(err.Error(), s) {
			t.Errorf("the error repeats the key: %v", err)
		}
		if !strings.Contains(err.Error(), "base64 of 32 bytes") {
			t.Errorf("error %q does not say what a key is", err)
		}
	}
}

func TestKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "instance.key")
	keys, created, err := KeyFile(path)
	if err != nil || !created || len(keys) != 1 || len(keys[0]) != KeySize {
		t.Fatalf("first KeyFile = %d keys, created %v, %v", len(keys), created, err)
	}
	key := keys[0]
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", st.Mode().Perm())
	}
	again, created, err := KeyFile(path)
	if err != nil || created || len(again) != 1 || !bytes.Equal(again[0], key) {
		t.Fatalf("second KeyFile = %x, created %v, %v; want the same key", again, created, err)
	}
	// The file holds the key in the environment variable's form.
	text, _ := os.ReadFile(path)
	if parsed, err := ParseKey(string(text)); err != nil || !bytes.Equal(parsed, key) {
		t.Errorf("the file does not parse as the key: %v", err)
	}
	// Nothing but the key is left in the directory.
	if ents, _ := os.ReadDir(filepath.Dir(path)); len(ents) != 1 {
		t.Errorf("directory holds %d entries, want the key file alone", len(ents))
	}
}

func TestKeyFileConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "instance.key")
	keys := make([][]byte, 8)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Go(func() {
			k, _, err := KeyFile(path)
			if err != nil || len(k) != 1 {
				t.Error(err)
				return
			}
			keys[i] = k[0]
		})
	}
	wg.Wait()
	for _, k := range keys[1:] {
		if !bytes.Equal(k, keys[0]) {
			t.Fatal("concurrent starts got different keys")
		}
	}
}

func TestKeyFileMalformed(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "instance.key")
	if err := os.WriteFile(path, []byte("c2hvcnQ=\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err := KeyFile(path)
	if err == nil || !strings.Contains(err.Error(), path) || strings.Contains(err.Error(), "c2hvcnQ") {
		t.Fatalf("KeyFile of a malformed file: %v; want an error naming the file, not its content", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "c2hvcnQ=\n" {
		t.Error("a malformed key file was replaced")
	}
}

// TestRotation: a Box with a new key and the old one opens what either
// sealed, seals with the new one, and re-seals old values so that the old
// key is no longer needed; values sealed before keys had IDs (legacy ID
// 1) open too.
func TestRotation(t *testing.T) {
	oldKey, newKey := bytes.Repeat([]byte{1}, KeySize), bytes.Repeat([]byte{2}, KeySize)
	ctx := []byte("ci_variables.value_sealed project:1 K")
	old := testBox(t, 1)
	before := old.Seal([]byte("before"), ctx)
	// A legacy value: the old key's ciphertext under ID 1, as the code
	// before key IDs wrote it.
	legacy := func() []byte {
		out := make([]byte, 1+nonceSize)
		out[0] = legacyID
		return old.byID[old.id].Seal(out, out[1:], []byte("legacy"), additional(legacyID, ctx))
	}()
	both, err := New(newKey, oldKey)
	if err != nil {
		t.Fatal(err)
	}
	after := both.Seal([]byte("after"), ctx)
	if both.Current(before) || !both.Current(after) || both.Current(legacy) {
		t.Error("Current does not tell the new key's values from the others")
	}
	for _, c := range []struct {
		sealed []byte
		want   string
	}{{before, "before"}, {after, "after"}, {legacy, "legacy"}} {
		got, err := both.Open(c.sealed, ctx)
		if err != nil || string(got) != c.want {
			t.Errorf("Open = %q, %v; want %q", got, err, c.want)
		}
		resealed, changed, err := both.Reseal(c.sealed, ctx)
		if err != nil || changed != !both.Current(c.sealed) {
			t.Errorf("Reseal of %q: changed %v, %v", c.want, changed, err)
		}
		// The new key alone opens the re-sealed value.
		alone, _ := New(newKey)
		if got, err := alone.Open(resealed, ctx); err != nil || string(got) != c.want {
			t.Errorf("re-sealed %q with the new key alone: %q, %v", c.want, got, err)
		}
	}
	// Without the old key, an old value is refused as of an unknown key.
	alone, _ := New(newKey)
	if _, err := alone.Open(before, ctx); !errors.Is(err, ErrKeyVersion) {
		t.Errorf("the new key alone opened an old value: %v", err)
	}
	if _, err := New(oldKey, oldKey); err == nil {
		t.Error("New accepted the same key twice")
	}
}

func TestKeyFileSeveralKeys(t *testing.T) {
	path := filepath.Join(t.TempDir(), "instance.key")
	a, b := bytes.Repeat([]byte{3}, KeySize), bytes.Repeat([]byte{4}, KeySize)
	if err := WriteKeyFile(path, [][]byte{a, b}); err != nil {
		t.Fatal(err)
	}
	keys, created, err := KeyFile(path)
	if err != nil || created || len(keys) != 2 || !bytes.Equal(keys[0], a) || !bytes.Equal(keys[1], b) {
		t.Fatalf("KeyFile = %d keys, created %v, %v", len(keys), created, err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
	if ents, _ := os.ReadDir(filepath.Dir(path)); len(ents) != 1 {
		t.Errorf("directory holds %d entries, want the key file alone", len(ents))
	}
}

// BenchmarkOpen: opening a job spec's size (the store seals a job's whole
// spec, opened on each read of the job), against the baseline of copying
// the same bytes, in the same run.
func BenchmarkOpen(b *testing.B) {
	box, err := New(NewKey())
	if err != nil {
		b.Fatal(err)
	}
	plain := make([]byte, 2400)
	sealed := box.Seal(plain, []byte("jobs.spec\x001\x00build\x00"))
	b.Run("copy", func(b *testing.B) {
		b.SetBytes(int64(len(plain)))
		for b.Loop() {
			_ = append([]byte(nil), plain...)
		}
	})
	b.Run("open", func(b *testing.B) {
		b.SetBytes(int64(len(plain)))
		for b.Loop() {
			if _, err := box.Open(sealed, []byte("jobs.spec\x001\x00build\x00")); err != nil {
				b.Fatal(err)
			}
		}
	})
}
