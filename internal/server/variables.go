package server

import (
	"context"
	"time"

	"github.com/ciwarden/ciwarden/internal/mask"
	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/variables"
)

// maskedVariables feeds a job's masked CI/CD variables to the server's
// log masker. A failure to read them is an error (ci.Traces.rules): the
// chunk is refused and sent again, not stored unmasked.
func maskedVariables(vars *variables.Service) func(j *model.Job) ([]string, error) {
	return func(j *model.Job) ([]string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		vals, err := vars.MaskedForJob(ctx, j)
		if err != nil {
			return nil, err
		}
		out := vals[:0]
		for _, v := range vals {
			if len(v) >= mask.MinSecretLen {
				out = append(out, v)
			}
		}
		return out, nil
	}
}
