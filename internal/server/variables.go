package server

import (
	"context"
	"log/slog"
	"time"

	"github.com/ciwarden/ciwarden/internal/ci"
	"github.com/ciwarden/ciwarden/internal/mask"
	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/variables"
)

// maskedVariables feeds a job's masked CI/CD variables to the server's
// log masker. A failure to read them is logged: the runner masks them as
// well, and the job's log is scanned for them when it ends.
func maskedVariables(vars *variables.Service, log *slog.Logger) func(j *model.Job) []string {
	return func(j *model.Job) []string {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		vals, err := vars.MaskedForJob(ctx, j, ci.SpecOf(j).Environment)
		if err != nil {
			log.Error("reading a job's masked variables for its log masker failed", "job_id", j.ID, "error", err)
			return nil
		}
		out := vals[:0]
		for _, v := range vals {
			if len(v) >= mask.MinSecretLen {
				out = append(out, v)
			}
		}
		return out
	}
}
