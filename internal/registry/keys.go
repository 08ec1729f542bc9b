package registry

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/ciwarden/ciwarden/internal/secretbox"
	"github.com/ciwarden/ciwarden/internal/store"
)

// Keys are the token service's ES256 signing keys. They live in the
// database, sealed with the instance key, so that every replica signs
// with the same key and trusts every key: a token issued by one replica
// works on the registry of another. The newest signs; all are in the
// JWKS the registry reads, so a new key can be added (rotation) while
// tokens signed by the old one are still out.
type Keys struct {
	signer jose.Signer
	kid    string
	set    jose.JSONWebKeySet
	// secret is derived from the signing key: the registry's HTTP secret,
	// which signs upload state and must be the same on every replica.
	secret string
}

// SealContext binds a sealed key to its row (key rotation re-seals it).
func SealContext(kid string) []byte { return []byte("registry_keys:" + kid) }

// LoadKeys reads the signing keys, creating the first one on a first
// start.
func LoadKeys(ctx context.Context, st *store.Store, box *secretbox.Box, now time.Time) (*Keys, error) {
	rows, err := st.RegistryKeys(ctx)
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		if err := addKey(ctx, st, box, now); err != nil {
			return nil, err
		}
		// Re-read: a replica starting at the same moment may have added
		// its own, and every replica must pick the same signer.
		if rows, err = st.RegistryKeys(ctx); err != nil {
			return nil, err
		}
	}
	k := &Keys{}
	for i, row := range rows {
		der, err := box.Open(row.Sealed, SealContext(row.KID))
		if err != nil {
			return nil, fmt.Errorf("registry signing key %s: %w", row.KID, err)
		}
		priv, err := x509.ParsePKCS8PrivateKey(der)
		if err != nil {
			return nil, fmt.Errorf("registry signing key %s: %w", row.KID, err)
		}
		ec, ok := priv.(*ecdsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("registry signing key %s: not an ECDSA key", row.KID)
		}
		k.set.Keys = append(k.set.Keys, jose.JSONWebKey{Key: &ec.PublicKey, KeyID: row.KID, Algorithm: string(jose.ES256), Use: "sig"})
		if i > 0 {
			continue
		}
		k.kid = row.KID
		opts := (&jose.SignerOptions{}).WithType("JWT").WithHeader(jose.HeaderKey("kid"), row.KID)
		if k.signer, err = jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: ec}, opts); err != nil {
			return nil, err
		}
		sum := sha256.Sum256(append([]byte("ciwarden registry http secret\x00"), der...))
		k.secret = base64.RawStdEncoding.EncodeToString(sum[:])
	}
	return k, nil
}

func addKey(ctx context.Context, st *store.Store, box *secretbox.Box, now time.Time) error {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	der, err := x509.MarshalPKCS8PrivateKey(ec)
	if err != nil {
		return err
	}
	// The kid is the key's RFC 7638 thumbprint, as GitLab's is.
	tp, err := (&jose.JSONWebKey{Key: &ec.PublicKey}).Thumbprint(crypto.SHA256)
	if err != nil {
		return err
	}
	kid := base64.RawURLEncoding.EncodeToString(tp)
	return st.AddRegistryKey(ctx, store.RegistryKey{KID: kid, Sealed: box.Seal(der, SealContext(kid)), CreatedAt: now})
}

// writeJWKS writes the public keys where the registry's token auth reads
// them (it reads keys from a file only). Public keys: no secret on disk.
func (k *Keys) writeJWKS(path string) error {
	b, err := json.Marshal(k.set)
	if err != nil {
		return err
	}
	// A temporary file of its own: replicas sharing the data directory
	// start at once and each writes the same keys; a shared temporary
	// name let one rename away the file another was about to rename.
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(b)
	if err == nil {
		err = tmp.Chmod(0o644)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp.Name(), filepath.Clean(path))
}

// sign makes a compact JWS of claims with the newest key.
func (k *Keys) sign(claims any) (string, error) {
	b, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	obj, err := k.signer.Sign(b)
	if err != nil {
		return "", err
	}
	return obj.CompactSerialize()
}
