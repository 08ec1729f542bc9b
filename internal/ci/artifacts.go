package ci

import (
	"context"
	"log/slog"
	"sort"
	"time"

	"github.com/ciwarden/ciwarden/internal/blob"
	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/runnerproto"
	"github.com/ciwarden/ciwarden/internal/store"
)

// Job artifacts: deleting them with their job (erase) or on request, and
// sweeping expired ones. Rows always go first, in a transaction, and the
// blobs after it committed: a blob may outlive its row (a crash in
// between), a row never outlives its blob.

// DeleteArtifacts removes every artifact of a job (DELETE
// /projects/:id/jobs/:job_id/artifacts), under its pipeline's lock so
// that an upload finishing meanwhile cannot slip in between.
func (s *Service) DeleteArtifacts(ctx context.Context, jobID int64) error {
	var keys []string
	err := s.Store.Tx(ctx, func(q *store.Queries) error {
		if _, err := lockedJob(ctx, q, jobID); err != nil {
			return err
		}
		var err error
		keys, err = q.DeleteJobArtifacts(ctx, jobID)
		return err
	})
	if err != nil {
		return err
	}
	deleteBlobs(ctx, s.Blobs, s.Log, keys)
	return nil
}

// deleteBlobs removes blobs whose rows are gone. A failure is logged, not
// returned: the rows' deletion, which is what readers see, has happened.
func deleteBlobs(ctx context.Context, blobs blob.Store, log *slog.Logger, keys []string) {
	if blobs == nil {
		return
	}
	for _, k := range keys {
		if err := blobs.Delete(ctx, k); err != nil && log != nil {
			log.Warn("delete artifact blob", "key", k, "err", err)
		}
	}
}

// sweepBatch bounds one transaction of the sweeper.
const sweepBatch = 500

// ArtifactSweeper deletes expired artifacts, and the artifacts of jobs
// that no longer exist (their pipeline was deleted), rows first and then
// blobs, in batches.
type ArtifactSweeper struct {
	Store *store.Store
	Blobs blob.Store
	Now   func() time.Time
	Log   *slog.Logger
	// cursor is where the scan for orphaned rows resumes, so each sweep
	// does bounded work however many artifacts there are.
	cursor int64
}

// Sweep deletes what has expired by now, batch after batch until none is
// left, and scans the next batch of rows for orphans. It returns how
// many artifacts it deleted.
func (w *ArtifactSweeper) Sweep(ctx context.Context) (int, error) {
	removed := 0
	for {
		keys, err := w.Store.SweepExpiredArtifacts(ctx, w.Now(), sweepBatch)
		if err != nil {
			return removed, err
		}
		deleteBlobs(ctx, w.Blobs, w.Log, keys)
		removed += len(keys)
		if len(keys) < sweepBatch || ctx.Err() != nil {
			break
		}
	}
	keys, next, err := w.Store.SweepOrphanArtifacts(ctx, w.cursor, sweepBatch)
	if err != nil {
		return removed, err
	}
	w.cursor = next
	deleteBlobs(ctx, w.Blobs, w.Log, keys)
	return removed + len(keys), nil
}

// Run sweeps every interval until ctx is done.
func (w *ArtifactSweeper) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if n, err := w.Sweep(ctx); err != nil && ctx.Err() == nil && w.Log != nil {
			w.Log.Error("artifact sweeper", "err", err)
		} else if n > 0 && w.Log != nil {
			w.Log.Info("artifact sweeper: deleted artifacts", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// payloadArtifacts is artifacts[] of the payload (runner-protocol.md
// §6.4): one zip archive when the job has paths or untracked, then one
// entry per report.
func payloadArtifacts(a *ArtifactSpec) []runnerproto.PayloadArtifact {
	out := []runnerproto.PayloadArtifact{}
	if a == nil {
		return out
	}
	if len(a.Paths) > 0 || a.Untracked {
		name := a.Name
		if name == "" {
			name = "artifacts"
		}
		when := a.When
		if when == "" {
			when = "on_success"
		}
		out = append(out, runnerproto.PayloadArtifact{Name: name, Untracked: a.Untracked, Paths: nonNilStrings(a.Paths),
			Exclude: nonNilStrings(a.Exclude), When: when, Type: model.ArtifactArchive, Format: model.FormatZip, ExpireIn: a.ExpireIn})
	}
	reports := make([]string, 0, len(a.Reports))
	for k := range a.Reports {
		reports = append(reports, k)
	}
	sort.Strings(reports)
	for _, key := range reports {
		typ := key
		if typ == "coverage_report" {
			// GitLab files it under its format; the spec keeps the paths
			// only, and Cobertura is the common one.
			typ = "cobertura"
		}
		format := model.FormatRaw
		if model.GzipReports[typ] {
			format = model.FormatGzip
		}
		name := reportFileNames[typ]
		if name == "" {
			name = typ
		}
		out = append(out, runnerproto.PayloadArtifact{Name: name, Paths: nonNilStrings(a.Reports[key]), Exclude: []string{},
			When: "always", Type: typ, Format: format, ExpireIn: a.ExpireIn})
	}
	return out
}

// reportFileNames are GitLab's default file names of some reports.
var reportFileNames = map[string]string{
	"junit": "junit.xml", "dotenv": ".env", "cobertura": "cobertura-coverage.xml", "codequality": "gl-code-quality-report.json",
	"sast": "gl-sast-report.json", "terraform": "tfplan.json", "metrics": "metrics.txt",
}
