// Package rekey re-seals every value kept encrypted at rest with the
// current instance key (`ciwarden admin rotate-key`), so that an old key
// may be dropped. It runs beside live servers: each value is replaced only
// if it is unchanged since read, and servers given both keys open either.
package rekey

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/ciwarden/ciwarden/internal/blob"
	"github.com/ciwarden/ciwarden/internal/ci"
	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/registry"
	"github.com/ciwarden/ciwarden/internal/runners"
	"github.com/ciwarden/ciwarden/internal/secretbox"
	"github.com/ciwarden/ciwarden/internal/store"
	"github.com/ciwarden/ciwarden/internal/terraform"
	"github.com/ciwarden/ciwarden/internal/variables"
)

// Result counts the sealed values seen: re-sealed now, or sealed with the
// current key already (or changed meanwhile by a server, which seals with
// the current key).
type Result struct {
	Resealed, Current int
	// Cleared counts values that an older version kept in clear (before
	// migration 00024), sealed now.
	Cleared int
}

const batch = 500

// source is one column of sealed values.
type source struct {
	table   string
	fetch   func(ctx context.Context, after int64) ([]store.Sealed, error)
	context func(s store.Sealed) []byte
	// what names a row in an error, never its value.
	what func(s store.Sealed) string
}

// Rotate re-seals every sealed value not sealed with box's current key:
// the database's columns, and the sealed blobs in blobs (Terraform state
// versions).
func Rotate(ctx context.Context, st *store.Store, box *secretbox.Box, blobs blob.Store) (Result, error) {
	var r Result
	builtinDone, registryDone := false, false
	sources := []source{
		{"ci_variables", func(ctx context.Context, after int64) ([]store.Sealed, error) {
			return st.SealedCIVariables(ctx, after, batch)
		},
			func(s store.Sealed) []byte { return variables.SealContext(model.ParseVariableOwner(s.Name), s.Key) },
			func(s store.Sealed) string { return fmt.Sprintf("variable %s of %s", s.Key, s.Name) }},
		{"jobs", func(ctx context.Context, after int64) ([]store.Sealed, error) {
			return st.SealedTraceStates(ctx, after, batch)
		},
			func(s store.Sealed) []byte { return ci.TraceStateContext(s.ID) },
			func(s store.Sealed) string { return fmt.Sprintf("the trace state of job %d", s.ID) }},
		{"builtin_runners", func(ctx context.Context, after int64) ([]store.Sealed, error) {
			if builtinDone {
				return nil, nil
			}
			builtinDone = true
			return st.SealedBuiltinTokens(ctx)
		},
			func(s store.Sealed) []byte { return runners.BuiltinTokenContext(s.Name) },
			func(s store.Sealed) string { return "the built-in runner token of replica " + s.Name }},
		{"registry_keys", func(ctx context.Context, after int64) ([]store.Sealed, error) {
			if registryDone {
				return nil, nil
			}
			registryDone = true
			return st.SealedRegistryKeys(ctx)
		},
			func(s store.Sealed) []byte { return registry.SealContext(s.Name) },
			func(s store.Sealed) string { return "the container registry signing key " + s.Name }},
		// The run values the store seals itself (store/seal.go), bound to
		// what the store says; rows from before migration 00024 are in
		// clear and sealed here.
		{"pipelines.variables", func(ctx context.Context, after int64) ([]store.Sealed, error) {
			return st.SealedPipelineVariables(ctx, after, batch)
		}, runContext, func(s store.Sealed) string { return fmt.Sprintf("the variables of pipeline %d", s.ID) }},
		{"jobs.spec", func(ctx context.Context, after int64) ([]store.Sealed, error) {
			return st.SealedJobSpecs(ctx, after, batch)
		}, runContext, func(s store.Sealed) string { return fmt.Sprintf("the spec of job %d", s.ID) }},
		{"pipeline_schedule_variables.value", func(ctx context.Context, after int64) ([]store.Sealed, error) {
			return st.SealedScheduleVariables(ctx, after, batch)
		}, runContext, func(s store.Sealed) string { return fmt.Sprintf("variable %s of pipeline schedule %d", s.Key, s.ID) }},
	}
	if err := rotateTerraform(ctx, st, box, blobs, &r); err != nil {
		return r, err
	}
	for _, src := range sources {
		after := int64(0)
		for {
			rows, err := src.fetch(ctx, after)
			if err != nil {
				return r, err
			}
			if len(rows) == 0 {
				break
			}
			for _, s := range rows {
				after = s.ID
				var resealed []byte
				changed, clear := true, s.Sealed == nil
				if clear {
					resealed = box.Seal(s.Clear, src.context(s))
				} else {
					resealed, changed, err = box.Reseal(s.Sealed, src.context(s))
				}
				if err != nil {
					return r, fmt.Errorf("%s does not open with the keys given (%w): give the key that sealed it in CIWARDEN_INSTANCE_KEY_OLD", src.what(s), err)
				}
				if !changed {
					r.Current++
					continue
				}
				ok, err := st.Reseal(ctx, src.table, s, resealed)
				if err != nil {
					return r, err
				}
				switch {
				case ok && clear:
					r.Cleared++
				case ok:
					r.Resealed++
				default:
					r.Current++ // rewritten meanwhile, with the current key
				}
			}
		}
	}
	return r, nil
}

// rotateTerraform re-seals the blobs of Terraform state versions. A
// version's blob never changes once written, so it is replaced in place
// (blob.Store.Put is atomic: a reader sees the old sealing or the new,
// and servers given both keys open either); one whose version was deleted
// meanwhile is removed again.
func rotateTerraform(ctx context.Context, st *store.Store, box *secretbox.Box, blobs blob.Store, r *Result) error {
	after := int64(0)
	for {
		rows, err := st.SealedTerraformVersions(ctx, after, batch)
		if err != nil || len(rows) == 0 {
			return err
		}
		for _, v := range rows {
			after = v.ID
			sealed, err := readBlob(ctx, blobs, v.Key)
			if errors.Is(err, blob.ErrNotFound) {
				continue // deleted with its version meanwhile
			} else if err != nil {
				return err
			}
			resealed, changed, err := box.Reseal(sealed, terraform.SealContext(v.Key))
			if err != nil {
				return fmt.Errorf("terraform state version %d does not open with the keys given (%w): give the key that sealed it in CIWARDEN_INSTANCE_KEY_OLD", v.ID, err)
			}
			if !changed {
				r.Current++
				continue
			}
			if _, err := blobs.Put(ctx, v.Key, bytes.NewReader(resealed), int64(len(resealed))); err != nil {
				return err
			}
			if kept, err := st.TerraformVersionKey(ctx, v.ID, v.Key); err != nil {
				return err
			} else if !kept {
				if err := blobs.Delete(ctx, v.Key); err != nil {
					return err
				}
				continue
			}
			r.Resealed++
		}
	}
}

func readBlob(ctx context.Context, blobs blob.Store, key string) ([]byte, error) {
	obj, err := blobs.Open(ctx, key)
	if err != nil {
		return nil, err
	}
	defer obj.Close()
	return io.ReadAll(obj)
}

// runContext is what a value the store seals is bound to, as it read it.
func runContext(s store.Sealed) []byte { return s.Context }
