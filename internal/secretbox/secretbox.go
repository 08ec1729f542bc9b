// Package secretbox keeps small secrets encrypted at rest with the
// instance key: the log masker's held-back tail between trace requests
// (security.md §4: no byte of a live secret in clear in the database or
// its WAL), and later CI/CD variables.
//
// A sealed value is a key ID byte, a random 96-bit nonce and the
// AES-256-GCM ciphertext with its tag. The key ID says which key sealed
// it, so that a new key can be added beside the old one, values re-sealed
// at leisure (`ciwarden admin rotate-key`) and the old key dropped: a Box
// seals with its current key and opens with it or any older one. Each
// seal draws a fresh random nonce; GCM stays safe for 2^32 seals per key,
// decades of trace requests.
package secretbox

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/ciwarden/ciwarden/internal/linkfile"
)

// KeySize is the length of an instance key: AES-256.
const KeySize = 32

// legacyID is the ID byte of values sealed before keys had IDs (when one
// key was all there was): they open with whichever key a Box holds that
// opens them, and rotation re-seals them under an ID.
const legacyID = 1

const nonceSize = 12

var (
	// ErrOpen: the value does not open with this key: another instance
	// key sealed it (replicas with different keys, a replaced key file),
	// or it was altered or bound to another context.
	ErrOpen = errors.New("secretbox: sealed with another instance key, or altered")
	// ErrKeyVersion (an ErrOpen): the value was sealed with a key whose ID
	// none of this Box's keys has: a key not given, an old key dropped
	// before every value was re-sealed.
	ErrKeyVersion = fmt.Errorf("%w: its key ID is none of this instance's keys", ErrOpen)
)

// Box seals with the current instance key and opens with it or an older
// one. It is safe for concurrent use.
type Box struct {
	id    byte
	aead  cipher.AEAD
	byID  map[byte]cipher.AEAD
	order []byte // the IDs, current first, for legacy values
}

// KeyID is the ID byte a key seals under: derived from the key, so that
// every replica given the same keys agrees without being told, and never
// legacyID (nor 0).
func KeyID(key []byte) byte {
	sum := sha256.Sum256(append([]byte("ciwarden instance key id\x00"), key...))
	return 2 + sum[0]%254
}

// New returns a Box that seals with key (KeySize bytes) and also opens
// values sealed with any of older.
func New(key []byte, older ...[]byte) (*Box, error) {
	b := &Box{byID: map[byte]cipher.AEAD{}}
	for i, k := range append([][]byte{key}, older...) {
		if len(k) != KeySize {
			return nil, fmt.Errorf("secretbox: the key is %d bytes, not %d", len(k), KeySize)
		}
		id := KeyID(k)
		if _, dup := b.byID[id]; dup {
			// Two different keys with one ID (a 1 in 254 chance), or the
			// same key twice: either way the operator must choose.
			return nil, fmt.Errorf("secretbox: two of the instance keys given share key ID %d (the same key twice, or a rare clash: make another new key)", id)
		}
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		b.byID[id] = aead
		b.order = append(b.order, id)
		if i == 0 {
			b.id, b.aead = id, aead
		}
	}
	return b, nil
}

// Current reports whether sealed was sealed with the current key (so key
// rotation may leave it as it is).
func (b *Box) Current(sealed []byte) bool { return len(sealed) > 0 && sealed[0] == b.id }

// Seal encrypts plain, bound to context (such as which row and column
// will hold it): Open must be given the same context, so a value copied to
// another row does not open there.
func (b *Box) Seal(plain, context []byte) []byte {
	out := make([]byte, 1+nonceSize, 1+nonceSize+len(plain)+b.aead.Overhead())
	out[0] = b.id
	nonce := out[1 : 1+nonceSize]
	rand.Read(nonce) // never fails (crypto/rand)
	return b.aead.Seal(out, nonce, plain, additional(b.id, context))
}

// Open decrypts what Seal returned for the same context.
func (b *Box) Open(sealed, context []byte) ([]byte, error) {
	if len(sealed) < 1+nonceSize+b.aead.Overhead() {
		return nil, ErrOpen
	}
	ids := []byte{sealed[0]}
	if sealed[0] == legacyID {
		ids = b.order
	}
	found := false
	for _, id := range ids {
		aead, ok := b.byID[id]
		if !ok {
			continue
		}
		found = true
		plain, err := aead.Open(nil, sealed[1:1+nonceSize], sealed[1+nonceSize:], additional(sealed[0], context))
		if err == nil {
			return plain, nil
		}
	}
	if !found {
		return nil, ErrKeyVersion
	}
	return nil, ErrOpen
}

// Reseal returns sealed sealed again with the current key, or sealed
// itself when the current key sealed it already (changed is false).
func (b *Box) Reseal(sealed, context []byte) (out []byte, changed bool, err error) {
	if b.Current(sealed) {
		return sealed, false, nil
	}
	plain, err := b.Open(sealed, context)
	if err != nil {
		return nil, false, err
	}
	return b.Seal(plain, context), true, nil
}

// additional authenticates the version byte with the caller's context.
func additional(version byte, context []byte) []byte {
	return append([]byte{version}, context...)
}

// ParseKey reads a key in its text form, the standard base64 of KeySize
// bytes (`openssl rand -base64 32`). The error never repeats the text.
func ParseKey(text string) ([]byte, error) {
	s := strings.TrimSpace(text)
	key, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		key, err = base64.RawStdEncoding.DecodeString(s)
	}
	if err != nil || len(key) != KeySize {
		return nil, fmt.Errorf("not the base64 of %d bytes (make one with: openssl rand -base64 %d)", KeySize, KeySize)
	}
	return key, nil
}

// ParseKeys reads one key or several separated by commas or newlines (an
// old-keys setting, a key file during a rotation).
func ParseKeys(text string) ([][]byte, error) {
	var keys [][]byte
	for _, f := range strings.FieldsFunc(text, func(r rune) bool { return r == ',' || r == '\n' || r == '\r' }) {
		if strings.TrimSpace(f) == "" {
			continue
		}
		k, err := ParseKey(f)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("no key (make one with: openssl rand -base64 %d)", KeySize)
	}
	return keys, nil
}

// KeyFile reads the keys kept at path, one a line in ParseKey's form, the
// current key first and older ones after it (during a rotation), or
// creates the file with one key of KeySize random bytes (mode 0600) if
// there is none; created says which. A crash or a concurrent start never
// leaves a partial key, and whoever creates it first wins (linkfile).
func KeyFile(path string) (keys [][]byte, created bool, err error) {
	if keys, err := ReadKeyFile(path); !errors.Is(err, fs.ErrNotExist) {
		return keys, false, err
	}
	key := NewKey()
	created, err = linkfile.Create(path, []byte(base64.StdEncoding.EncodeToString(key)+"\n"))
	if err != nil {
		return nil, false, err
	}
	if !created { // another start's key won
		keys, err := ReadKeyFile(path)
		return keys, false, err
	}
	return [][]byte{key}, true, nil
}

// ReadKeyFile reads the keys of a key file, current first.
func ReadKeyFile(path string) ([][]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	keys, err := ParseKeys(string(b))
	if err != nil {
		return nil, fmt.Errorf("instance key file %s: %v", path, err)
	}
	return keys, nil
}

// WriteKeyFile replaces the key file at path with keys (current first),
// whole or not at all: a temporary file of mode 0600 renamed into place.
func WriteKeyFile(path string, keys [][]byte) error {
	var text strings.Builder
	for _, k := range keys {
		text.WriteString(base64.StdEncoding.EncodeToString(k) + "\n")
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".instance-key-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(text.String()); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// NewKey is a fresh random key.
func NewKey() []byte {
	key := make([]byte, KeySize)
	rand.Read(key)
	return key
}
