package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ciwarden/ciwarden/internal/linkfile"
	"github.com/ciwarden/ciwarden/internal/store"
)

// The storage identity check (issue 20, item 2; docs/scaling.md): each
// local directory that every replica of one database must share holds a
// marker file with a random ID, and the database records the ID of the
// directory its data is in. A server whose directory holds another ID, or
// none while the database has one, is looking at other storage than the
// instance's: a replica with a data directory of its own on a shared
// PostgreSQL. It refuses to start, rather than answer 404s and 500s for
// repositories it does not have and write artifacts no other replica
// sees. A single host never notices: its directories are the ones its
// database recorded on its first start.

// storageMarker is the marker file's name in the directory. A dot name:
// no repository (<id>.git) and no blob key (segments never start with a
// dot) can collide with it.
const storageMarker = ".ciwarden-storage-id"

// sharedDir is one local store replicas must share.
type sharedDir struct {
	key  string // its row in storage_ids
	dir  string
	what string // "repositories directory"
	data string // "repositories": what a directory of the instance holds
	fix  string // what to set on several hosts
	// expected reports whether the database records anything that the
	// directory should hold; present whether the directory holds any.
	expected func(context.Context) (bool, error)
	present  func(dir string) bool
}

func repositoriesDir(cfg Config, st *store.Store) sharedDir {
	return sharedDir{key: "repositories", dir: cfg.RepositoriesDir, what: "repositories directory", data: "repositories",
		fix:      "set --repositories-dir to the shared file system every replica mounts",
		expected: st.HoldsRepositories,
		present: func(dir string) bool {
			return holdsEntry(dir, func(name string) bool { return strings.HasSuffix(name, ".git") })
		}}
}

func blobsDir(cfg Config, st *store.Store) sharedDir {
	return sharedDir{key: "blobs", dir: filepath.Join(cfg.DataDir, "blobs"), what: "blob directory", data: "artifacts or packages",
		fix:      "set --s3-endpoint and --s3-bucket, or share the data directory",
		expected: st.HoldsBlobs,
		present: func(dir string) bool {
			return holdsEntry(dir, func(name string) bool { return !strings.HasPrefix(name, ".") })
		}}
}

// verifyStorage checks that d is the directory the database's data is
// in, recording its identity on a first start.
func verifyStorage(ctx context.Context, st *store.Store, d sharedDir, now time.Time) error {
	if err := os.MkdirAll(d.dir, 0o750); err != nil {
		return fmt.Errorf("%s %s cannot be created: %v", d.what, d.dir, unwrapPathErr(err))
	}
	path := filepath.Join(d.dir, storageMarker)
	have, err := readMarker(path)
	if err != nil {
		return err
	}
	want, err := st.StorageID(ctx, d.key)
	if err != nil {
		return err
	}
	if want == "" && have == "" {
		// A first start, or the first since identities were recorded:
		// the directory becomes the instance's. On an existing install
		// it must hold the data the database knows of, or a replica
		// with an empty data directory would claim the instance.
		expected, err := d.expected(ctx)
		if err != nil {
			return err
		}
		if expected && !d.present(d.dir) {
			return fmt.Errorf("%s %s holds no %s of this instance (its database has some): on several hosts, %s", d.what, d.dir, d.data, d.fix)
		}
		if have, err = createMarker(path); err != nil {
			return fmt.Errorf("%s %s: cannot write its storage marker: %v", d.what, d.dir, unwrapPathErr(err))
		}
	}
	if want == "" {
		// Of replicas starting at once, the first claim wins: a replica
		// sharing the directory read the same marker and agrees.
		if want, err = st.ClaimStorageID(ctx, d.key, have, now); err != nil {
			return err
		}
	}
	if have == want {
		return nil
	}
	found := "it has no storage id"
	if have != "" {
		found = "its storage id is " + have
	}
	return fmt.Errorf("%s %s holds no %s of this instance (%s, its database expects %s): on several hosts, %s", d.what, d.dir, d.data, found, want, d.fix)
}

// holdsEntry reports whether dir has an entry whose name matches.
func holdsEntry(dir string, match func(string) bool) bool {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range entries {
		if match(e.Name()) {
			return true
		}
	}
	return false
}

// readMarker is the ID in a marker file, "" when there is none.
func readMarker(path string) (string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("storage marker %s: %v", path, unwrapPathErr(err))
	}
	id := strings.TrimSpace(string(b))
	if _, err := hex.DecodeString(id); err != nil || len(id) != 32 {
		return "", fmt.Errorf("storage marker %s is damaged (not 32 hex digits): restore it from a replica that shares the directory", path)
	}
	return id, nil
}

// createMarker writes a new random ID at path, unless a marker is there
// already, and returns the ID the file holds: of replicas creating it at
// once on a shared file system one wins and the others read its ID
// (linkfile), and none ever reads a partial file.
func createMarker(path string) (string, error) {
	var b [16]byte
	rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	created, err := linkfile.Create(path, []byte(id+"\n"))
	if err != nil {
		return "", err
	}
	if !created {
		return readMarker(path)
	}
	return id, nil
}
