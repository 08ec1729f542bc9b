package variables

import (
	"context"
	"strings"

	"github.com/ciwarden/ciwarden/internal/model"
)

// ForJob is the CI/CD variables a job of project p receives, lowest
// precedence first: the instance's, then each group's from the root down
// to the project's own group (the nearest group wins), then the
// project's. environment is the job's `environment:` name ("" for none);
// protectedRef says whether the pipeline's ref is protected.
func (s *Service) ForJob(ctx context.Context, p *model.Project, environment string, protectedRef bool) ([]model.Variable, error) {
	owners := owners(p)
	vs, err := s.Store.CIVariablesOf(ctx, owners)
	if err != nil {
		return nil, err
	}
	if _, err := s.openAll(vs); err != nil {
		return nil, err
	}
	return Resolve(vs, owners, environment, protectedRef), nil
}

// owners are whose variables reach project p's jobs, lowest precedence
// first: the instance, each group from the root down, the project.
func owners(p *model.Project) []model.VariableOwner {
	out := []model.VariableOwner{{Kind: model.OwnerInstance}}
	if p.Namespace != nil && p.Namespace.IsGroup() {
		for _, id := range p.Namespace.Traversal {
			out = append(out, model.VariableOwner{Kind: model.OwnerGroup, ID: id})
		}
	}
	return append(out, model.VariableOwner{Kind: model.OwnerProject, ID: p.ID})
}

// Resolve orders vs by owner as owners lists them (lowest precedence
// first) and keeps, for each owner and key, the variable whose environment
// scope matches environment most closely: the exact name, then a
// wildcard pattern, then `*` (GitLab's rule). A job without an
// environment gets `*` variables only. Protected variables reach only
// protected refs (GitLab: "Protect variable").
func Resolve(vs []*model.CIVariable, owners []model.VariableOwner, environment string, protectedRef bool) []model.Variable {
	var out []model.Variable
	for _, o := range owners {
		best := map[string]*model.CIVariable{}
		var order []string
		for _, v := range vs {
			if v.Owner != o || v.Protected && !protectedRef {
				continue
			}
			rank := scopeRank(v.EnvironmentScope, environment)
			if rank < 0 {
				continue
			}
			cur, seen := best[v.Key]
			if !seen {
				order = append(order, v.Key)
			}
			if !seen || rank > scopeRank(cur.EnvironmentScope, environment) {
				best[v.Key] = v
			}
		}
		for _, k := range order {
			v := best[k]
			out = append(out, model.Variable{Key: v.Key, Value: v.Value, Raw: v.Raw, Masked: v.Masked,
				File: v.Type == model.VariableFile, Private: true})
		}
	}
	return out
}

// scopeRank is how closely scope matches environment: 2 the exact name, 1
// a wildcard pattern that matches, 0 `*`, -1 no match.
func scopeRank(scope, environment string) int {
	switch {
	case scope == "*":
		return 0
	case environment == "":
		return -1
	case scope == environment:
		return 2
	case strings.Contains(scope, "*") && wildcard(scope, environment):
		return 1
	}
	return -1
}

// wildcard matches name against pattern, where each '*' stands for any
// run of characters (none included).
func wildcard(pattern, name string) bool {
	parts := strings.Split(pattern, "*")
	if !strings.HasPrefix(name, parts[0]) {
		return false
	}
	name = name[len(parts[0]):]
	for i, part := range parts[1:] {
		if i == len(parts)-2 { // the last part ends the name
			return strings.HasSuffix(name, part)
		}
		j := strings.Index(name, part)
		if j < 0 {
			return false
		}
		name = name[j+len(part):]
	}
	return true
}

// MaskedForJob is the values of the masked variables job j received, for
// the server's log masker (as the job token's, in all its encodings).
// Protected ones are included whatever the job's ref, and those of every
// environment scope whatever the job's environment: masking a value the
// job never received hides nothing of its own, and this way the masker
// needs no pipeline read, nor the expansion of the job's environment name
// (ci.environmentName), which a name such as `review/$CI_COMMIT_REF_SLUG`
// needs before it matches a scope.
func (s *Service) MaskedForJob(ctx context.Context, j *model.Job) ([]string, error) {
	p, err := s.Store.Project(ctx, j.ProjectID)
	if err != nil {
		return nil, err
	}
	vs, err := s.Store.CIVariablesOf(ctx, owners(p))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, v := range vs {
		if !v.Masked {
			continue
		}
		if err := s.open(v); err != nil {
			return nil, err
		}
		out = append(out, v.Value)
	}
	return out, nil
}
