// Package secretbox keeps small secrets encrypted at rest with the
// instance key: the log masker's held-back tail between trace requests
// (security.md §4: no byte of a live secret in clear in the database or
// its WAL), and later CI/CD variables.
//
// A sealed value is a key version byte, a random 96-bit nonce and the
// AES-256-GCM ciphertext with its tag. The version byte says which key
// sealed it, so that a later key can be added beside the old one and
// values re-sealed at leisure. Each seal draws a fresh random nonce; GCM
// stays safe for 2^32 seals per key, decades of trace requests.
package secretbox

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/ciwarden/ciwarden/internal/linkfile"
)

// KeySize is the length of an instance key: AES-256.
const KeySize = 32

// keyVersion is the version byte of the one key a Box holds today.
const keyVersion = 1

const nonceSize = 12

var (
	// ErrKeyVersion: the value was sealed with a key version this Box
	// does not hold.
	ErrKeyVersion = errors.New("secretbox: sealed with a key version this instance does not have")
	// ErrOpen: the value does not open with this key: another instance
	// key sealed it (replicas with different keys, a replaced key file),
	// or it was altered or bound to another context.
	ErrOpen = errors.New("secretbox: sealed with another instance key, or altered")
)

// Box seals and opens values with one instance key. It is safe for
// concurrent use.
type Box struct {
	version byte
	aead    cipher.AEAD
}

// New returns a Box for a KeySize-byte key.
func New(key []byte) (*Box, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("secretbox: the key is %d bytes, not %d", len(key), KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Box{version: keyVersion, aead: aead}, nil
}

// Seal encrypts plain, bound to context (such as which row and column
// will hold it): Open must be given the same context, so a value copied to
// another row does not open there.
func (b *Box) Seal(plain, context []byte) []byte {
	out := make([]byte, 1+nonceSize, 1+nonceSize+len(plain)+b.aead.Overhead())
	out[0] = b.version
	nonce := out[1 : 1+nonceSize]
	rand.Read(nonce) // never fails (crypto/rand)
	return b.aead.Seal(out, nonce, plain, additional(b.version, context))
}

// Open decrypts what Seal returned for the same context.
func (b *Box) Open(sealed, context []byte) ([]byte, error) {
	if len(sealed) < 1+nonceSize+b.aead.Overhead() {
		return nil, ErrOpen
	}
	if sealed[0] != b.version {
		return nil, ErrKeyVersion
	}
	plain, err := b.aead.Open(nil, sealed[1:1+nonceSize], sealed[1+nonceSize:], additional(sealed[0], context))
	if err != nil {
		return nil, ErrOpen
	}
	return plain, nil
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

// KeyFile reads the key kept at path, in ParseKey's form, or creates it
// with KeySize random bytes (mode 0600) if there is none; created says
// which. A crash or a concurrent start never leaves a partial key, and
// whoever creates it first wins (linkfile).
func KeyFile(path string) (key []byte, created bool, err error) {
	if key, err := readKeyFile(path); !errors.Is(err, fs.ErrNotExist) {
		return key, false, err
	}
	key = make([]byte, KeySize)
	rand.Read(key)
	created, err = linkfile.Create(path, []byte(base64.StdEncoding.EncodeToString(key)+"\n"))
	if err != nil {
		return nil, false, err
	}
	if !created { // another start's key won
		key, err = readKeyFile(path)
	}
	return key, created, err
}

func readKeyFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	key, err := ParseKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("instance key file %s: %v", path, err)
	}
	return key, nil
}
