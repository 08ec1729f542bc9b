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
	if sealed[0] != keyVersion {
		t.Errorf("version byte %d, want %d", sealed[0], keyVersion)
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
	otherVersion[0] = 2
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
	key, created, err := KeyFile(path)
	if err != nil || !created || len(key) != KeySize {
		t.Fatalf("first KeyFile = %d bytes, created %v, %v", len(key), created, err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", st.Mode().Perm())
	}
	again, created, err := KeyFile(path)
	if err != nil || created || !bytes.Equal(again, key) {
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
			if err != nil {
				t.Error(err)
			}
			keys[i] = k
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
