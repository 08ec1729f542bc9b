package ci

import (
	"context"

	"github.com/ciwarden/ciwarden/internal/model"
)

// RefProtected reports whether a project's branch or tag is protected:
// a rule of its kind covers it, exactly or by a wildcard (issue 16). ref
// is a full name (refs/heads/x, refs/tags/x) or a short one, read as a
// tag when tag is set (a pipeline's Ref and Tag). Pipelines record it when
// they are created (model.Pipeline.Protected: CI_COMMIT_REF_PROTECTED);
// protected CI/CD variables go by the same answer.
func (s *Service) RefProtected(ctx context.Context, projectID int64, ref string, tag bool) (bool, error) {
	kind, name := model.SplitRef(ref)
	if kind == "" {
		kind, name = model.RefBranch, ref
		if tag {
			kind = model.RefTag
		}
	}
	rules, err := s.Store.ProtectedRefs(ctx, projectID)
	if err != nil {
		return false, err
	}
	return len(rules.Match(kind, name)) > 0, nil
}
