// Package terraform is the Terraform/OpenTofu state backend (GitLab's
// "GitLab-managed Terraform state", gitlab-compat.md §6): named states of
// a project, every version kept, in the blob store sealed with the
// instance key, and a lock held in the database so that it holds across
// replicas and restarts.
package terraform

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"time"
	"unicode/utf8"

	"github.com/ciwarden/ciwarden/internal/auth"
	"github.com/ciwarden/ciwarden/internal/blob"
	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/secretbox"
	"github.com/ciwarden/ciwarden/internal/store"
)

// DefaultMaxStateSize bounds one state (README, "Terraform state"); a
// larger one is refused with 413 before anything is stored. A state is
// sealed whole, so it is held in memory while written and read.
const DefaultMaxStateSize = 32 << 20

// maxLockInfo bounds a lock request's body: OpenTofu's lock information
// is a few hundred bytes.
const maxLockInfo = 64 << 10

// maxName bounds a state name and a lock ID (GitLab: 255).
const maxName = 255

// Service keeps the states.
type Service struct {
	Store *store.Store
	Blobs blob.Store
	// Box seals every version at rest with the instance key.
	Box *secretbox.Box
	Log *slog.Logger
	Now func() time.Time
	// MaxStateSize bounds one state (DefaultMaxStateSize when 0).
	MaxStateSize int64
}

// Answers in GitLab's words.
var (
	errNotJSON       = model.Refuse(model.ErrInvalid, "the state is not a JSON object")
	errNoSerial      = model.Refuse(model.ErrInvalid, "the state has no serial (a non-negative integer)")
	errMD5           = model.Refuse(model.ErrInvalid, "the state does not match its Content-MD5")
	errLockBody      = model.Refuse(model.ErrInvalid, "the lock information is not a JSON object with a string ID")
	errLockID        = model.Refuse(model.ErrInvalid, "ID is invalid")
	errBadName       = model.Refuse(model.ErrInvalid, "name is invalid")
	errVersionAbsent = model.Refuse(model.ErrNotFound, "Version")
	errStateAbsent   = model.Refuse(model.ErrNotFound, "State")
	errInterrupted   = model.Refuse(model.ErrInvalid, "upload interrupted")
)

// CheckName refuses a state name that is empty, too long, "." or "..",
// or holds control characters (security.md §5: state names are hostile).
// Names are only ever values in SQL and JSON: blob keys use row IDs.
func CheckName(name string) error {
	if name == "" || len(name) > maxName || name == "." || name == ".." || !utf8.ValidString(name) {
		return errBadName
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return errBadName
		}
	}
	return nil
}

func (s *Service) max() int64 {
	if s.MaxStateSize > 0 {
		return s.MaxStateSize
	}
	return DefaultMaxStateSize
}

// SealContext binds a version's sealed bytes to its blob key: a blob
// copied under another key does not open there.
func SealContext(key string) []byte { return []byte("terraform state\x00" + key) }

// State is project p's state name with its newest version's content; a
// state that does not exist or has no version yet is (nil, nil, nil),
// which the backend answers 204 as OpenTofu expects.
func (s *Service) State(ctx context.Context, p *model.Project, name string) (*model.TerraformState, []byte, error) {
	st, err := s.Store.TerraformState(ctx, p.ID, name)
	if errors.Is(err, model.ErrNotFound) {
		return nil, nil, nil
	} else if err != nil {
		return nil, nil, err
	}
	if st.Latest == nil {
		return nil, nil, nil
	}
	data, err := s.open(ctx, st.Latest)
	return st, data, err
}

// Version is version serial of p's state name, with its content.
func (s *Service) Version(ctx context.Context, p *model.Project, name string, serial int64) (*model.TerraformStateVersion, []byte, error) {
	st, err := s.state(ctx, p, name)
	if err != nil {
		return nil, nil, err
	}
	v, err := s.Store.TerraformVersion(ctx, st.ID, serial)
	if errors.Is(err, model.ErrNotFound) {
		return nil, nil, errVersionAbsent
	} else if err != nil {
		return nil, nil, err
	}
	data, err := s.open(ctx, v)
	return v, data, err
}

func (s *Service) state(ctx context.Context, p *model.Project, name string) (*model.TerraformState, error) {
	st, err := s.Store.TerraformState(ctx, p.ID, name)
	if errors.Is(err, model.ErrNotFound) {
		return nil, errStateAbsent
	}
	return st, err
}

// open reads and unseals a version's blob.
func (s *Service) open(ctx context.Context, v *model.TerraformStateVersion) ([]byte, error) {
	obj, err := s.Blobs.Open(ctx, v.BlobKey)
	if err != nil {
		return nil, err
	}
	defer obj.Close()
	sealed, err := io.ReadAll(io.LimitReader(obj, s.max()+1024))
	if err != nil {
		return nil, err
	}
	return s.Box.Open(sealed, SealContext(v.BlobKey))
}

// Versions is one page of p's state name's versions, newest first.
func (s *Service) Versions(ctx context.Context, p *model.Project, name string, pg store.Page) ([]*model.TerraformStateVersion, int, error) {
	st, err := s.state(ctx, p, name)
	if err != nil {
		return nil, 0, err
	}
	return s.Store.TerraformVersions(ctx, st.ID, pg)
}

// List is one page of p's states by name.
func (s *Service) List(ctx context.Context, p *model.Project, pg store.Page) ([]*model.TerraformState, int, error) {
	return s.Store.TerraformStates(ctx, p.ID, pg)
}

// Write stores body as a new version of p's state name, by who. lockID
// is the client's ?ID= (hasLockID: it was given): where the state is
// locked it must name the lock, and where it is not, none may be named
// (gitlab-compat.md §6; 409 otherwise). md5 is the request's Content-MD5,
// checked when given.
//
// Order (security.md §6): the sealed blob is written first under a new
// key, then one transaction checks the lock again and makes the version
// current. A write that fails or is killed before the commit leaves the
// previous version current; its blob, unrecorded, is deleted (or, after
// a kill, left unread under the project's prefix).
func (s *Service) Write(ctx context.Context, who *auth.Principal, p *model.Project, name, lockID string, hasLockID bool, md5sum string, body io.Reader, size int64) (*model.TerraformStateVersion, error) {
	if size > s.max() {
		return nil, model.ErrTooLarge
	}
	data, err := io.ReadAll(io.LimitReader(body, s.max()+1))
	switch {
	case err != nil:
		// A body cut short or a client gone: the client's, who may not
		// be listening.
		return nil, errInterrupted
	case int64(len(data)) > s.max():
		return nil, model.ErrTooLarge
	}
	serial, err := parseState(data)
	if err != nil {
		return nil, err
	}
	if md5sum != "" {
		want, err := base64.StdEncoding.DecodeString(md5sum)
		got := md5.Sum(data)
		if err != nil || !bytes.Equal(want, got[:]) {
			return nil, errMD5
		}
	}
	st, err := s.Store.TerraformState(ctx, p.ID, name)
	switch {
	case errors.Is(err, model.ErrNotFound) && hasLockID:
		// A lock of a state that does not exist: nothing is made.
		return nil, &model.StateLockedError{}
	case errors.Is(err, model.ErrNotFound):
		err = s.Store.Tx(ctx, func(q *store.Queries) error {
			st, err = q.EnsureTerraformState(ctx, p.ID, name, s.Now())
			return err
		})
	}
	if err != nil {
		return nil, err
	}
	// Refused before anything is written; checked again at the commit.
	if err := lockMatches(st.Lock, lockID, hasLockID); err != nil {
		return nil, err
	}
	key := blob.TerraformStateKey(p.ID, st.ID)
	sealed := s.Box.Seal(data, SealContext(key))
	if _, err := s.Blobs.Put(ctx, key, bytes.NewReader(sealed), int64(len(sealed))); err != nil {
		if ctx.Err() != nil {
			return nil, errInterrupted
		}
		return nil, err
	}
	v := &model.TerraformStateVersion{StateID: st.ID, Serial: serial, BlobKey: key, Size: int64(len(data)),
		CreatedBy: who.UserID(), CreatedAt: s.Now()}
	if who.Kind == auth.JobKind {
		v.JobID = &who.Job.ID
	}
	var replaced string
	err = s.Store.Tx(ctx, func(q *store.Queries) error {
		cur, err := lockedState(ctx, q, p, name)
		if err != nil {
			return err
		}
		if cur.ID != st.ID {
			return errStateAbsent // deleted (and made again) meanwhile
		}
		if err := lockMatches(cur.Lock, lockID, hasLockID); err != nil {
			return err
		}
		replaced, err = q.PutTerraformVersion(ctx, v)
		return err
	})
	if err != nil {
		s.deleteBlob(ctx, key)
		if ctx.Err() != nil {
			return nil, errInterrupted
		}
		return nil, err
	}
	if replaced != "" {
		s.deleteBlob(ctx, replaced)
	}
	return v, nil
}

func (s *Service) deleteBlob(ctx context.Context, key string) {
	if err := s.Blobs.Delete(context.WithoutCancel(ctx), key); err != nil {
		s.Log.Warn("terraform state: removing an unused version blob failed", "key", key, "err", err)
	}
}

// parseState checks that data is a JSON object and reads its serial.
func parseState(data []byte) (int64, error) {
	var head struct {
		Serial *json.Number `json:"serial"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if len(bytes.TrimSpace(data)) == 0 || bytes.TrimSpace(data)[0] != '{' || dec.Decode(&head) != nil || dec.Decode(new(any)) != io.EOF {
		return 0, errNotJSON
	}
	if head.Serial == nil {
		return 0, errNoSerial
	}
	n, err := head.Serial.Int64()
	if err != nil || n < 0 {
		return 0, errNoSerial
	}
	return n, nil
}

// lockMatches: a locked state takes a write from its lock's holder only,
// and a write that names a lock needs the state to hold it.
func lockMatches(l *model.TerraformLock, lockID string, hasLockID bool) error {
	switch {
	case l == nil && !hasLockID:
		return nil
	case l == nil:
		return &model.StateLockedError{}
	case !hasLockID || subtle.ConstantTimeCompare([]byte(l.ID), []byte(lockID)) != 1:
		return &model.StateLockedError{Lock: l}
	}
	return nil
}

// ParseLock reads a lock request's body: OpenTofu's lock information, a
// JSON object whose ID names the lock. An empty body is no lock
// information (an unlock by a Maintainer's curl).
func ParseLock(body io.Reader) (id, info string, err error) {
	data, err := io.ReadAll(io.LimitReader(body, maxLockInfo+1))
	if err != nil {
		return "", "", errInterrupted
	}
	if len(data) > maxLockInfo {
		return "", "", model.ErrTooLarge
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return "", "", nil
	}
	var head struct {
		ID *string `json:"ID"`
	}
	var compact bytes.Buffer
	if bytes.TrimSpace(data)[0] != '{' || json.Unmarshal(data, &head) != nil || json.Compact(&compact, data) != nil {
		return "", "", errLockBody
	}
	if head.ID == nil {
		return "", "", errLockBody
	}
	if *head.ID == "" || len(*head.ID) > maxName {
		return "", "", errLockID
	}
	return *head.ID, compact.String(), nil
}

// Lock takes p's state name's lock for the lock information info (with
// its ID id), creating the state if it does not exist yet; a state locked
// already is a StateLockedError with the holder, whoever asks (OpenTofu
// reads the 409's body), and so is a repeated lock by the same holder, as
// in GitLab.
func (s *Service) Lock(ctx context.Context, who *auth.Principal, p *model.Project, name, id, info string) error {
	if id == "" {
		return errLockBody
	}
	return s.Store.Tx(ctx, func(q *store.Queries) error {
		st, err := q.EnsureTerraformState(ctx, p.ID, name, s.Now())
		if err != nil {
			return err
		}
		ok, err := q.LockTerraformState(ctx, st.ID, model.TerraformLock{ID: id, Info: info, UserID: who.UserID(), LockedAt: s.Now()})
		if err != nil || ok {
			return err
		}
		cur, err := q.TerraformState(ctx, p.ID, name)
		if err != nil {
			return err
		}
		return &model.StateLockedError{Lock: cur.Lock}
	})
}

// Unlock releases p's state name's lock. id must name the lock; "" (no
// lock information given) releases whatever lock is held, as GitLab lets
// a Maintainer do for a lock a killed job left. Unlocking a state that is
// not locked is a success.
func (s *Service) Unlock(ctx context.Context, p *model.Project, name, id string) error {
	return s.Store.Tx(ctx, func(q *store.Queries) error {
		st, err := lockedState(ctx, q, p, name)
		if err != nil {
			return err
		}
		if st.Lock == nil {
			return nil
		}
		if id != "" && subtle.ConstantTimeCompare([]byte(st.Lock.ID), []byte(id)) != 1 {
			return &model.StateLockedError{Lock: st.Lock}
		}
		return q.UnlockTerraformState(ctx, st.ID, s.Now())
	})
}

// lockedState loads p's state name in transaction q with its row locked
// against other writers, as it stands once the lock is held.
func lockedState(ctx context.Context, q *store.Queries, p *model.Project, name string) (*model.TerraformState, error) {
	st, err := q.TerraformState(ctx, p.ID, name)
	if errors.Is(err, model.ErrNotFound) {
		return nil, errStateAbsent
	} else if err != nil {
		return nil, err
	}
	if err := q.LockTerraformStateRow(ctx, st.ID); err != nil {
		return nil, err
	}
	return q.TerraformState(ctx, p.ID, name)
}

// Delete removes p's state name with every version. A locked state is
// deleted only by its lock's holder (lockID, as for a write).
func (s *Service) Delete(ctx context.Context, p *model.Project, name, lockID string, hasLockID bool) error {
	var keys []string
	err := s.Store.Tx(ctx, func(q *store.Queries) error {
		st, err := lockedState(ctx, q, p, name)
		if err != nil {
			return err
		}
		if st.Lock != nil {
			if err := lockMatches(st.Lock, lockID, hasLockID); err != nil {
				return err
			}
		}
		keys, err = q.DeleteTerraformState(ctx, st.ID)
		return err
	})
	if err != nil {
		return err
	}
	for _, k := range keys {
		s.deleteBlob(ctx, k)
	}
	return nil
}

// DeleteVersion removes version serial of p's state name.
func (s *Service) DeleteVersion(ctx context.Context, p *model.Project, name string, serial int64) error {
	var key string
	err := s.Store.Tx(ctx, func(q *store.Queries) error {
		st, err := q.TerraformState(ctx, p.ID, name)
		if errors.Is(err, model.ErrNotFound) {
			return errStateAbsent
		} else if err != nil {
			return err
		}
		key, err = q.DeleteTerraformVersion(ctx, st.ID, serial)
		if errors.Is(err, model.ErrNotFound) {
			return errVersionAbsent
		}
		return err
	})
	if err != nil {
		return err
	}
	s.deleteBlob(ctx, key)
	return nil
}
