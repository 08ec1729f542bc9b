package api

import (
	"bytes"
	"crypto/sha256"
	"hash/crc32"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/ciwarden/ciwarden/internal/auth"
	"github.com/ciwarden/ciwarden/internal/ci"
	"github.com/ciwarden/ciwarden/internal/gate"
	"github.com/ciwarden/ciwarden/internal/mask"
	"github.com/ciwarden/ciwarden/internal/model"
)

// Trace limits: a PATCH carries at most 1 MiB (the runner's chunk size,
// with room), a whole log at most maxTraceSize bytes.
const (
	maxTraceChunk = 1<<20 + 64<<10
	maxTraceSize  = 64 << 20
)

// LogMasker masks one job's log across PATCH requests: it masks data
// after the held state, returning what is settled and the state to keep;
// final flushes what is held.
type LogMasker interface {
	Mask(r mask.Rules, state, data []byte, final bool) (out, newState []byte, err error)
}

// jobRules are what the server masks in a job's log as it arrives: its
// token with its encodings (the runner's credential on this very request),
// its masked variables, every token prefix, URL passwords and credential
// query parameters.
func (c *Ctx) jobRules() mask.Rules {
	r := mask.Rules{Prefixes: append(mask.DefaultPrefixes(), auth.MaskPrefixes...), URLCredentials: true,
		QueryParams: mask.DefaultQueryParams()}
	if tok := c.presentedJobToken(); strings.HasPrefix(tok, auth.JobTokenPrefix) {
		r.Tokens = append(r.Tokens, tok)
	}
	for _, v := range ci.SpecOf(c.Job).Variables {
		if v.Masked && len(v.Value) >= mask.MinSecretLen {
			r.Secrets = append(r.Secrets, v.Value)
		}
	}
	return r
}

// parseContentRange reads "start-end" (GitLab's runner form, no unit).
func parseContentRange(h string) (start int64, ok bool) {
	h = strings.TrimPrefix(strings.TrimSpace(h), "bytes ")
	a, _, found := strings.Cut(h, "-")
	if !found {
		return 0, false
	}
	n, err := strconv.ParseInt(a, 10, 64)
	return n, err == nil && n >= 0
}

// patchTrace is PATCH /jobs/:id/trace: append the runner's bytes at their
// offset, masked. Offsets and the CRC refer to the bytes the runner sent,
// so the runner's view stays consistent while the stored log is masked.
func (a *API) patchTrace(c *Ctx) error {
	j := c.Job
	start, ok := parseContentRange(c.R.Header.Get("Content-Range"))
	if !ok {
		return errBadRequest("Content-Range is missing or invalid")
	}
	if start != j.TraceSize {
		c.W.Header().Set("Range", "0-"+strconv.FormatInt(j.TraceSize, 10))
		c.W.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
		return nil
	}
	data, err := io.ReadAll(http.MaxBytesReader(c.W, c.R.Body, maxTraceChunk))
	if err != nil {
		return err
	}
	if j.TraceSize+int64(len(data)) > maxTraceSize {
		return errTooLarge
	}
	out, state, err := a.Masker.Mask(c.jobRules(), j.TraceState, data, false)
	if err != nil {
		return err
	}
	crc := crc32.Update(j.TraceCRC, crc32.IEEETable, data)
	okSet, err := a.Store.AppendTrace(c.Context(), j.ID, start, int64(len(data)), crc, state, out)
	if err != nil {
		return err
	}
	size := j.TraceSize + int64(len(data))
	if !okSet {
		cur, err := a.Store.Job(c.Context(), j.ID)
		if err != nil {
			return err
		}
		if !auth.JobAlive(cur) {
			// The token died while the chunk was on its way (the job
			// ended, its user was blocked): nothing was stored.
			gate.SetJobStatus(c.W, cur.Status)
			return errRunnerForbidden
		}
		// A concurrent PATCH moved the offset: tell the runner where we are.
		c.W.Header().Set("Range", "0-"+strconv.FormatInt(cur.TraceSize, 10))
		c.W.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
		return nil
	}
	c.W.Header().Set("Range", "0-"+strconv.FormatInt(size, 10))
	c.W.WriteHeader(http.StatusAccepted)
	return nil
}

// flushTrace stores what the masker still holds once the runner has sent
// everything.
func (a *API) flushTrace(c *Ctx, j *model.Job) error {
	cur, err := a.Store.Job(c.Context(), j.ID)
	if err != nil || len(cur.TraceState) == 0 {
		return err
	}
	out, _, err := a.Masker.Mask(c.jobRules(), cur.TraceState, nil, true)
	if err != nil {
		return err
	}
	_, err = a.Store.AppendTrace(c.Context(), j.ID, cur.TraceSize, 0, cur.TraceCRC, nil, out)
	return err
}

// StreamMasker is the LogMasker of internal/mask: streaming, with the
// held-back tail and flags carried between requests in the job row.
// Compiled maskers are kept per rule set (a job's PATCHes all use the
// same), since compiling costs more than masking a chunk.
type StreamMasker struct {
	mu    sync.Mutex
	cache map[string]*mask.Masker
}

// maxCachedMaskers bounds the cache: one entry per job sending logs.
const maxCachedMaskers = 1024

func (s *StreamMasker) compile(r mask.Rules) (*mask.Masker, error) {
	h := sha256.New()
	for _, list := range [][]string{r.Secrets, r.Tokens, r.Prefixes, r.QueryParams} {
		for _, v := range list {
			h.Write([]byte(v))
			h.Write([]byte{0})
		}
		h.Write([]byte{1})
	}
	key := string(h.Sum(nil))
	s.mu.Lock()
	m, ok := s.cache[key]
	s.mu.Unlock()
	if ok {
		return m, nil
	}
	m, err := mask.Compile(r)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.cache == nil || len(s.cache) >= maxCachedMaskers {
		s.cache = map[string]*mask.Masker{} // start over rather than track age
	}
	s.cache[key] = m
	s.mu.Unlock()
	return m, nil
}

// Mask implements LogMasker.
func (s *StreamMasker) Mask(r mask.Rules, state, data []byte, final bool) ([]byte, []byte, error) {
	m, err := s.compile(r)
	if err != nil {
		return nil, nil, err
	}
	var out bytes.Buffer
	w := m.NewWriter(&out)
	if len(state) > 0 {
		if w, err = m.Resume(state, &out); err != nil {
			return nil, nil, err
		}
	}
	if _, err := w.Write(data); err != nil {
		return nil, nil, err
	}
	if final {
		err := w.Close()
		return out.Bytes(), nil, err
	}
	return out.Bytes(), w.State(), nil
}
