package ci

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"strings"
	"sync"

	"github.com/ciwarden/ciwarden/internal/auth"
	"github.com/ciwarden/ciwarden/internal/mask"
	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/secretbox"
	"github.com/ciwarden/ciwarden/internal/store"
)

// MaxTraceSize bounds a job's whole log, counted in the bytes the runner
// sent.
const MaxTraceSize = 64 << 20

// Traces keeps job logs as runners send them (PATCH /jobs/:id/trace),
// masked on arrival whatever the runner did (security.md §4).
//
// The runner's view stays that of the bytes it sent: the job row keeps
// their size and CRC32, which Range, the 416 answers and the final
// checksum check use, while the stored log is the masked output (whose
// size may differ). Between requests the masker's held-back tail, which
// may be the start of a secret, waits in the job row sealed with the
// instance key, so that no byte of a live secret is written in clear.
type Traces struct {
	Store *store.Store
	// Box seals the masker's state in jobs.trace_state.
	Box *secretbox.Box
	// Prefixes are token prefixes masked in every log besides
	// gitlab-runner's: ours.
	Prefixes []string
	Log      *slog.Logger
	// OnLeak counts a finished job whose stored log still holds one of
	// its secrets.
	OnLeak func()
	// MaskedVariables are the values of the masked CI/CD variables that
	// job j received (variables.Service.MaskedForJob); nil for none.
	MaskedVariables func(j *model.Job) ([]string, error)

	// Compiled maskers per rule set: a job's requests all use the same
	// one, and compiling costs more than masking a chunk.
	mu      sync.Mutex
	maskers map[string]*mask.Masker
	// The masked CI/CD variables of each job sending logs, read on its
	// first chunk: every later chunk would read and decrypt them again
	// (bounded and dropped as maskers are).
	masked map[int64][]string
}

// maxCachedMaskers bounds the cache: one entry per job sending logs.
const maxCachedMaskers = 1024

// Append adds the chunk read from body at offset, the runner's count of
// what it sent before. It reports the log's size in runner bytes after the
// call and whether the chunk was taken: not when offset is not where the
// log ends (the runner resends from size), checked before body is read
// and again, as a compare-and-set, when it is stored. A log over
// MaxTraceSize is refused (model.ErrTooLarge); body is bounded by the
// caller.
//
// j may be the job-token cache's copy, which appended chunks do not evict
// (store.AppendTrace), so its log fields (size, CRC, masker state) may lag
// behind: the compare-and-set is on all three, and when it or the offset
// check fails the job is read again and the chunk tried once more on what
// is stored.
func (t *Traces) Append(ctx context.Context, j *model.Job, token string, offset int64, body io.Reader) (size int64, taken bool, err error) {
	if offset != j.TraceSize {
		cur, err := t.current(ctx, j.ID)
		if err != nil || offset != cur.TraceSize {
			return sizeOf(cur), false, err
		}
		j = cur
	}
	data, err := io.ReadAll(body)
	if err != nil {
		return 0, false, err
	}
	if j.TraceSize+int64(len(data)) > MaxTraceSize {
		return 0, false, fmt.Errorf("job log over %d bytes: %w", MaxTraceSize, model.ErrTooLarge)
	}
	for retried := false; ; retried = true {
		stored, err := t.append(ctx, j, token, data)
		if err != nil {
			return 0, false, err
		}
		if stored {
			return offset + int64(len(data)), true, nil
		}
		cur, err := t.current(ctx, j.ID)
		if err != nil || offset != cur.TraceSize || retried {
			// A concurrent request moved the offset: say where the log is.
			return sizeOf(cur), false, err
		}
		j = cur
	}
}

func sizeOf(j *model.Job) int64 {
	if j == nil {
		return 0
	}
	return j.TraceSize
}

// append masks data after j's log as j says it stands and stores it, if
// that is how it stands.
func (t *Traces) append(ctx context.Context, j *model.Job, token string, data []byte) (stored bool, err error) {
	var out bytes.Buffer
	w, err := t.resume(j, token, &out)
	if err != nil {
		return false, err
	}
	if _, err := w.Write(data); err != nil {
		return false, err
	}
	from := store.TraceMark{Size: j.TraceSize, CRC: j.TraceCRC, State: j.TraceState}
	to := store.TraceMark{Size: j.TraceSize + int64(len(data)), CRC: crc32.Update(j.TraceCRC, crc32.IEEETable, data),
		State: t.seal(j.ID, w.State())}
	err = t.Store.Tx(ctx, func(q *store.Queries) error {
		stored, err = q.AppendTrace(ctx, j.ID, from, to, out.Bytes())
		return err
	})
	return stored, err
}

// current reads job id as stored, for a chunk that did not fit the job
// as the request had it; a job whose token died since is a
// *JobEndedError.
func (t *Traces) current(ctx context.Context, id int64) (*model.Job, error) {
	cur, err := t.Store.Job(ctx, id)
	if err != nil {
		return nil, err
	}
	if !auth.JobAlive(cur) {
		return nil, &JobEndedError{Status: cur.Status}
	}
	return cur, nil
}

// JobEndedError refuses a chunk whose job's token died while it was on
// its way (the job ended, its user was blocked): nothing of it is stored,
// and the runner is told the job's status.
type JobEndedError struct{ Status string }

func (e *JobEndedError) Error() string { return "the job's token died: job " + e.Status }
func (e *JobEndedError) Unwrap() error { return model.ErrForbidden }

// Flush stores what the masker still holds once the runner has sent
// everything: at the job's final update.
func (t *Traces) Flush(ctx context.Context, j *model.Job, token string) error {
	defer t.forget(j, token)
	cur, err := t.Store.Job(ctx, j.ID)
	if err != nil || len(cur.TraceState) == 0 {
		return err
	}
	var out bytes.Buffer
	w, err := t.resume(cur, token, &out)
	if err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	// Only the first of concurrent final updates stores the tail: the
	// state is taken by a compare-and-set on itself.
	return t.Store.Tx(ctx, func(q *store.Queries) error {
		_, err := q.FlushTrace(ctx, j.ID, cur.TraceState, out.Bytes())
		return err
	})
}

// Scan looks, once the job has ended, for any raw secret of the job (its
// token, its masked variables) still in the stored log: masking has failed
// somewhere. A find is reported without the secret, by a log line and
// OnLeak (the metric).
func (t *Traces) Scan(ctx context.Context, j *model.Job, token string) {
	data, err := t.Store.Trace(ctx, j.ID)
	if err != nil {
		t.Log.Warn("scan job log", "job_id", j.ID, "err", err)
		return
	}
	r, err := t.rules(j, token)
	if err != nil {
		t.Log.Warn("scan job log", "job_id", j.ID, "err", err)
		return
	}
	found := 0
	for _, s := range append(append([]string{}, r.Tokens...), r.Secrets...) {
		if s != "" && bytes.Contains(data, []byte(s)) {
			found++
		}
	}
	if found == 0 {
		return
	}
	t.Log.Error("a secret of the job is in its stored log", "job_id", j.ID, "project_id", j.ProjectID, "secrets_found", found)
	if t.OnLeak != nil {
		t.OnLeak()
	}
}

// rules are what the server masks in a job's log as it arrives: its token
// with its encodings (the runner's credential on this very request), its
// masked variables, every token prefix, URL passwords and credential query
// parameters.
//
// A masked variable that cannot be read is an error, never a rule left out:
// the chunk is then refused (the runner sends it again) rather than stored
// with a secret in clear.
func (t *Traces) rules(j *model.Job, token string) (mask.Rules, error) {
	r := mask.Rules{Prefixes: append(mask.DefaultPrefixes(), t.Prefixes...), URLCredentials: true,
		QueryParams: mask.DefaultQueryParams()}
	if strings.HasPrefix(token, auth.JobTokenPrefix) {
		r.Tokens = append(r.Tokens, token)
	}
	for _, v := range SpecOf(j).Variables {
		if v.Masked && len(v.Value) >= mask.MinSecretLen {
			r.Secrets = append(r.Secrets, v.Value)
		}
	}
	if t.MaskedVariables != nil {
		vals, err := t.maskedVariables(j)
		if err != nil {
			return mask.Rules{}, fmt.Errorf("job %d: its masked variables cannot be read for its log masker: %w", j.ID, err)
		}
		r.Secrets = append(r.Secrets, vals...)
	}
	return r, nil
}

// maskedVariables is MaskedVariables(j), read once per job while it sends
// its log.
func (t *Traces) maskedVariables(j *model.Job) ([]string, error) {
	t.mu.Lock()
	vals, ok := t.masked[j.ID]
	t.mu.Unlock()
	if ok {
		return vals, nil
	}
	vals, err := t.MaskedVariables(j)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	if t.masked == nil || len(t.masked) >= maxCachedMaskers {
		t.masked = map[int64][]string{}
	}
	t.masked[j.ID] = vals
	t.mu.Unlock()
	return vals, nil
}

// resume returns a masker Writer that continues j's log where its saved
// state left it, writing to out.
func (t *Traces) resume(j *model.Job, token string, out io.Writer) (*mask.Writer, error) {
	r, err := t.rules(j, token)
	if err != nil {
		return nil, err
	}
	m, err := t.masker(r)
	if err != nil {
		return nil, err
	}
	var state []byte
	if len(j.TraceState) > 0 {
		if state, err = t.Box.Open(j.TraceState, stateContext(j.ID)); err != nil {
			return nil, fmt.Errorf("job %d: the log masker's saved state cannot be resumed (is CIWARDEN_INSTANCE_KEY the same on every replica?): %w", j.ID, err)
		}
	}
	return m.Resume(state, out)
}

func (t *Traces) seal(jobID int64, state []byte) []byte {
	if state == nil {
		return nil
	}
	return t.Box.Seal(state, stateContext(jobID))
}

// stateContext binds a sealed state to its job's row.
func stateContext(jobID int64) []byte {
	return fmt.Appendf(nil, "jobs.trace_state %d", jobID)
}

// maskerKey names a rule set in the cache of compiled maskers.
func maskerKey(r mask.Rules) string {
	h := sha256.New()
	for _, list := range [][]string{r.Secrets, r.Tokens, r.Prefixes, r.QueryParams} {
		for _, v := range list {
			h.Write([]byte(v))
			h.Write([]byte{0})
		}
		h.Write([]byte{1})
	}
	return string(h.Sum(nil))
}

// forget drops the compiled masker of a job whose log is complete: no
// chunk follows the final update's flush (a repeat compiles it again). A
// masker is a few hundred KiB, and keeping those of up to
// maxCachedMaskers ended jobs grew the heap by as much.
func (t *Traces) forget(j *model.Job, token string) {
	r, err := t.rules(j, token)
	if err != nil {
		return // the cache's size bound drops it in time
	}
	key := maskerKey(r)
	t.mu.Lock()
	delete(t.maskers, key)
	delete(t.masked, j.ID)
	t.mu.Unlock()
}

func (t *Traces) masker(r mask.Rules) (*mask.Masker, error) {
	key := maskerKey(r)
	t.mu.Lock()
	m, ok := t.maskers[key]
	t.mu.Unlock()
	if ok {
		return m, nil
	}
	m, err := mask.Compile(r)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	if t.maskers == nil || len(t.maskers) >= maxCachedMaskers {
		t.maskers = map[string]*mask.Masker{} // start over rather than track age
	}
	t.maskers[key] = m
	t.mu.Unlock()
	return m, nil
}
