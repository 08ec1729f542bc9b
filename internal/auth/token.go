// Package auth turns a request's credentials into a Principal: who is
// calling, with which token. It knows the token formats, how they are
// hashed, and where a route lets each credential travel.
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"hash/crc32"
	"strings"
)

// Token prefixes. Distinct prefixes let runners and secret scanners mask
// and recognise our tokens without asking the server.
const (
	PATPrefix = "cwpat-"
	// JobTokenPrefix starts every CI/CD job token; runners are told to mask
	// words that start with it (features.token_mask_prefixes).
	JobTokenPrefix = "cwjob-"
	// RunnerTokenPrefix is GitLab's glrt-: gitlab-runner recognises it
	// and uses the runner-authentication-token flow (runners/verify).
	RunnerTokenPrefix = "glrt-"
	// TriggerTokenPrefix is GitLab's prefix of pipeline trigger tokens.
	TriggerTokenPrefix = "glptt-"
	// SessionPrefix starts the secret in a web UI session's cookie.
	SessionPrefix = "cwsess-"
)

// MaskPrefixes are the token prefixes runners must mask in job logs
// (features.token_mask_prefixes), and the server in every log it keeps.
var MaskPrefixes = []string{JobTokenPrefix, PATPrefix, RunnerTokenPrefix, TriggerTokenPrefix, SessionPrefix}

// secretBytes is the random part of every token: 256 bits.
const secretBytes = 32

// NewSecret returns prefix + 43 URL-safe characters of randomness + a
// 6-character checksum (CRC-32 of what precedes it), so a scanner can tell a
// real token from noise offline.
func NewSecret(prefix string) string {
	buf := make([]byte, secretBytes)
	if _, err := rand.Read(buf); err != nil {
		// crypto/rand never fails on supported platforms (Go 1.24+ panics
		// inside Read instead); keep the contract explicit.
		panic("crypto/rand: " + err.Error())
	}
	body := prefix + base64.RawURLEncoding.EncodeToString(buf)
	return body + checksum(body)
}

func checksum(body string) string {
	var c [4]byte
	binary.BigEndian.PutUint32(c[:], crc32.ChecksumIEEE([]byte(body)))
	return base64.RawURLEncoding.EncodeToString(c[:])
}

// WellFormed reports whether s looks like a token we issued with prefix:
// the right length and a matching checksum.
func WellFormed(s, prefix string) bool {
	const bodyLen = 43 // base64 of 32 bytes, unpadded
	const sumLen = 6   // base64 of 4 bytes, unpadded
	if !strings.HasPrefix(s, prefix) || len(s) != len(prefix)+bodyLen+sumLen {
		return false
	}
	body := s[:len(s)-sumLen]
	return checksum(body) == s[len(s)-sumLen:]
}

// Digest is how every secret is stored and looked up: SHA-256 in hex. A
// 256-bit random token needs no slow KDF, and one hash keeps the lookup a
// single indexed read.
func Digest(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}
