package blob

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/ciwarden/ciwarden/internal/model"
)

func TestCheckKey(t *testing.T) {
	good := []string{
		"a", "artifacts/42/1001/artifacts.zip", "packages/7/generic/my-pkg/1.0.0+build.1/file_x.tar.gz",
		"A-Z_a~z+0.9", "x/" + strings.Repeat("s", maxSegmentLen), strings.Repeat("ab/", MaxKeyLen/3-1) + "end",
		"a..b", "a.", "a/b.",
	}
	for _, k := range good {
		if err := CheckKey(k); err != nil {
			t.Errorf("CheckKey(%q) = %v, want nil", k, err)
		}
	}
	bad := []string{
		"", "/", "/a", "a/", "a//b", ".", "..", "../a", "a/..", "a/../b", "./a", "a/./b", ".tmp", ".tmp/x",
		"a/.hidden", "a b", "a\tb", "a\x00b", "a\\b", "a:b", "a%2Fb", "a?b", "a#b", "a*b", "café",
		"x/" + strings.Repeat("s", maxSegmentLen+1), strings.Repeat("a", MaxKeyLen+1),
	}
	for _, k := range bad {
		err := CheckKey(k)
		if !errors.Is(err, ErrInvalidKey) || !errors.Is(err, model.ErrInvalid) {
			t.Errorf("CheckKey(%q) = %v, want ErrInvalidKey wrapping model.ErrInvalid", k, err)
		}
	}
}

func TestCheckPrefix(t *testing.T) {
	for _, p := range []string{"", "a", "a/", "a/b", "a/b/", "artifacts/4"} {
		if err := checkPrefix(p); err != nil {
			t.Errorf("checkPrefix(%q) = %v, want nil", p, err)
		}
	}
	for _, p := range []string{"/", "/a", "a//", "../", "a/../", ".tmp/", "a b"} {
		if err := checkPrefix(p); !errors.Is(err, model.ErrInvalid) {
			t.Errorf("checkPrefix(%q) = %v, want model.ErrInvalid", p, err)
		}
	}
}

func TestDigestReader(t *testing.T) {
	data := []byte("the quick brown fox jumps over the lazy dog")
	want := sha256.Sum256(data)
	for _, tc := range []struct {
		name     string
		r        io.Reader
		size     int64
		mismatch bool
	}{
		{"known", bytes.NewReader(data), int64(len(data)), false},
		{"unknown", bytes.NewReader(data), -1, false},
		{"one byte at a time", iotest.OneByteReader(bytes.NewReader(data)), int64(len(data)), false},
		{"data and EOF together", iotest.DataErrReader(bytes.NewReader(data)), int64(len(data)), false},
		{"shorter than declared", bytes.NewReader(data), int64(len(data)) + 1, true},
		{"longer than declared", bytes.NewReader(data), int64(len(data)) - 1, true},
		{"empty but declared", bytes.NewReader(nil), 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newDigestReader(tc.r, tc.size)
			_, err := io.Copy(io.Discard, d)
			if tc.mismatch {
				if !errors.Is(err, ErrSizeMismatch) || !errors.Is(err, model.ErrInvalid) {
					t.Fatalf("err = %v, want ErrSizeMismatch", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d.n != int64(len(data)) || d.sum() != hex.EncodeToString(want[:]) {
				t.Fatalf("n=%d sum=%s", d.n, d.sum())
			}
		})
	}
	t.Run("does not drain a too-long stream", func(t *testing.T) {
		src := bytes.NewReader(make([]byte, 1<<20))
		d := newDigestReader(src, 10)
		if _, err := io.Copy(io.Discard, d); !errors.Is(err, ErrSizeMismatch) {
			t.Fatalf("err = %v", err)
		}
		if read := int64(1<<20) - int64(src.Len()); read != 11 {
			t.Fatalf("read %d bytes of the source, want 11", read)
		}
	})
}

func TestS3ConfigFromEnv(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	base := []string{"CIWARDEN_S3_ENDPOINT", "s3.example.com", "CIWARDEN_S3_BUCKET", "ci"}
	for _, tc := range []struct {
		name    string
		env     []string
		want    S3Config
		wantErr string
	}{
		{name: "not configured", env: nil, want: S3Config{}},
		{name: "ciwarden credentials win over AWS ones",
			env:  append(base, "CIWARDEN_S3_ACCESS_KEY", "ck", "CIWARDEN_S3_SECRET_KEY", "cs", "AWS_ACCESS_KEY_ID", "ak", "AWS_SECRET_ACCESS_KEY", "as", "CIWARDEN_S3_PREFIX", "inst1"),
			want: S3Config{Endpoint: "s3.example.com", Bucket: "ci", AccessKey: "ck", SecretKey: "cs", UseSSL: true, Prefix: "inst1"}},
		{name: "AWS credentials and region",
			env:  append(base, "AWS_ACCESS_KEY_ID", "ak", "AWS_SECRET_ACCESS_KEY", "as", "AWS_REGION", "eu-west-3"),
			want: S3Config{Endpoint: "s3.example.com", Bucket: "ci", AccessKey: "ak", SecretKey: "as", UseSSL: true, Region: "eu-west-3"}},
		{name: "http URL turns TLS off",
			env:  []string{"CIWARDEN_S3_ENDPOINT", "http://127.0.0.1:7070/", "CIWARDEN_S3_BUCKET", "ci", "AWS_ACCESS_KEY_ID", "ak", "AWS_SECRET_ACCESS_KEY", "as"},
			want: S3Config{Endpoint: "127.0.0.1:7070", Bucket: "ci", AccessKey: "ak", SecretKey: "as"}},
		{name: "halves never mixed",
			env:     append(base, "CIWARDEN_S3_ACCESS_KEY", "ck", "AWS_SECRET_ACCESS_KEY", "as"),
			wantErr: "both an access key and a secret key"},
		{name: "bucket required", env: []string{"CIWARDEN_S3_ENDPOINT", "s3.example.com"}, wantErr: "CIWARDEN_S3_BUCKET"},
		{name: "bad URL", env: append(base, "CIWARDEN_S3_ENDPOINT", "ftp://x"), wantErr: "must be host:port"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := S3ConfigFromEnv(env(tc.env...))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}
