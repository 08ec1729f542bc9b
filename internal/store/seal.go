package store

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/ciwarden/ciwarden/internal/secretbox"
)

// The store seals with the instance key the run values that may be
// secret and that no service reads apart from the row they come with
// (issue 16, "Encrypted at rest"): a pipeline's variables, a schedule
// variable's value and a job's spec. They are read with the pipelines and
// jobs they belong to, by every query that reads those, so the one place
// that writes and reads each row seals and opens it too. (CI/CD
// variables, trace states and built-in runner tokens are sealed by their
// services, which own the only reads.)
//
// Rows written before migration 00024 hold the clear column and no sealed
// one: they read as they are until `ciwarden admin rotate-key` seals them
// (SealRunValues below, the Sealed kinds "pipelines", "jobs",
// "pipeline_schedule_variables").

// errNoBox: a store used without SetBox was asked to seal or open.
var errNoBox = errors.New("store: no instance key to seal with (SetBox)")

// SetBox gives the store the instance key's box; call it once, before the
// store serves any request. Transactions share it.
func (s *Store) SetBox(b *secretbox.Box) { s.box = b }

func (q *Queries) seal(plain, context []byte) ([]byte, error) {
	if q.box == nil {
		return nil, errNoBox
	}
	return q.box.Seal(plain, context), nil
}

func (q *Queries) open(sealed, context []byte) ([]byte, error) {
	if q.box == nil {
		return nil, errNoBox
	}
	plain, err := q.box.Open(sealed, context)
	if err != nil {
		// What an operator must check (README, "Encryption at rest").
		return nil, fmt.Errorf("%w (is CIWARDEN_INSTANCE_KEY the same on every replica?)", err)
	}
	return plain, nil
}

// The contexts bind each sealed value to its row (secretbox.Seal): a
// value copied to another row does not open there. Each is known before
// the row is inserted, so a value is written once.

// PipelineVariablesContext: a pipeline's variables, by project and IID.
func PipelineVariablesContext(projectID, iid int64) []byte {
	return rowContext("pipelines.variables", strconv.FormatInt(projectID, 10), strconv.FormatInt(iid, 10))
}

// JobSpecContext: a job's spec, by pipeline and job name (a retry's copy
// shares both, and the spec).
func JobSpecContext(pipelineID int64, name string) []byte {
	return rowContext("jobs.spec", strconv.FormatInt(pipelineID, 10), name)
}

// ScheduleVariableContext: a schedule variable's value, by schedule and
// key.
func ScheduleVariableContext(scheduleID int64, key string) []byte {
	return rowContext("pipeline_schedule_variables.value", strconv.FormatInt(scheduleID, 10), key)
}

func rowContext(parts ...string) []byte {
	var b []byte
	for _, p := range parts {
		b = append(append(b, p...), 0)
	}
	return b
}
