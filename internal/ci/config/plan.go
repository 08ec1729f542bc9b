package config

import (
	"cmp"
	"slices"
	"strings"

	"github.com/ciwarden/ciwarden/internal/ci/expr"
)

// Env is what Plan evaluates rules against.
type Env struct {
	// Vars returns predefined and pipeline variables (CI_COMMIT_BRANCH,
	// CI_PIPELINE_SOURCE, ...). YAML variables of the same name take
	// precedence over them.
	Vars func(name string) (string, bool)
	// Overrides, if set, returns variables that take precedence over YAML
	// variables: in GitLab, variables given when the pipeline is run
	// (API, trigger, schedule, manual run) and project or group CI/CD
	// variables beat the YAML's, which are only defaults. Nil means none.
	Overrides func(name string) (string, bool)
	// Changes reports whether the push changed a file matching one of the
	// globs (see Match), compared with compareTo when it is not "". Nil
	// means true, as GitLab answers for pipelines without a push to compare.
	Changes func(globs []string, compareTo string) bool
	// Exists reports whether a file matching one of the globs exists in the
	// pipeline's commit. Nil means false.
	Exists func(globs []string) bool
}

// Plan is the outcome of evaluating workflow:rules and job rules.
type Plan struct {
	// Created is false when the pipeline must not be created; Reason says
	// why, in words suitable for the user.
	Created bool
	Reason  string
	// Variables are those of the matching workflow rule, which act as
	// global variables for every job that inherits global variables.
	Variables []Variable
	// Jobs in stage order, then file order.
	Jobs []*PlannedJob
}

// PlannedJob is a job that rules let into the pipeline.
type PlannedJob struct {
	Job          *Job
	When         string // on_success, on_failure, always, manual or delayed
	StartIn      string // for delayed
	AllowFailure bool
	// Variables from the matching rule, added over the job's own.
	Variables []Variable
	// Needs after rules:needs, without optional needs on absent jobs.
	Needs    []Need
	NeedsSet bool
}

// Reasons for Plan.Created == false.
const (
	ReasonWorkflow = "workflow rules prevented the pipeline"
	ReasonNoJobs   = "no jobs: the rules of every job excluded it"
	ReasonEdgeOnly = "the pipeline would only have .pre or .post jobs"
)

// maxExpanded bounds a YAML variable's value after expansion; beyond it the
// value is used as written (see expr.ExpandLimit).
const maxExpanded = 16 << 10

// Plan evaluates workflow:rules and each job's rules. It returns an *Error
// when the jobs that rules keep cannot form a pipeline (a need on a job that
// is not in it, a need on a later stage, a cycle, a dependency on a job not
// in an earlier stage).
func (c *Config) Plan(env Env) (*Plan, error) {
	p := &Plan{Created: true}
	if wf := c.Workflow; wf != nil && len(wf.Rules) > 0 {
		s := newScope(env, c.Variables)
		r := matchRule(wf.Rules, s, env)
		if r == nil || r.When == "never" {
			return &Plan{Reason: ReasonWorkflow}, nil
		}
		p.Variables = r.Variables
	}
	root := overlay(c.Variables, p.Variables)
	stage := stageIndex(c.Stages)
	jobs := slices.Clone(c.Jobs)
	slices.SortStableFunc(jobs, func(a, b *Job) int { return cmp.Compare(stage[a.Stage], stage[b.Stage]) })
	for _, j := range jobs {
		if pj := planJob(j, root, env); pj != nil {
			p.Jobs = append(p.Jobs, pj)
		}
	}
	if err := validatePlan(p, stage); err != nil {
		return nil, err
	}
	switch {
	case len(p.Jobs) == 0:
		p.Created, p.Reason = false, ReasonNoJobs
	case !slices.ContainsFunc(p.Jobs, func(pj *PlannedJob) bool { return pj.Job.Stage != ".pre" && pj.Job.Stage != ".post" }):
		// GitLab refuses such a pipeline: .pre and .post jobs only frame
		// the real work.
		p.Created, p.Reason, p.Jobs = false, ReasonEdgeOnly, nil
	}
	return p, nil
}

// JobVariables returns the YAML variables of a planned job in GitLab's order
// of precedence: the global variables with the workflow rule's over them
// (as far as the job inherits them), then the job's own, then its matching
// rule's.
func (p *Plan) JobVariables(c *Config, pj *PlannedJob) []Variable {
	root := overlay(c.Variables, p.Variables)
	return overlay(overlay(inheritedVariables(root, pj.Job), pj.Job.Variables), pj.Variables)
}

// planJob evaluates a job's rules; nil means the job is not created.
func planJob(j *Job, root []Variable, env Env) *PlannedJob {
	pj := &PlannedJob{
		Job: j, When: j.When, StartIn: j.StartIn, AllowFailure: j.AllowFailure,
		Needs: j.Needs, NeedsSet: j.NeedsSet,
	}
	if j.RulesSet {
		s := newScope(env, overlay(inheritedVariables(root, j), j.Variables))
		r := matchRule(j.Rules, s, env)
		if r == nil {
			return nil
		}
		if r.When != "" {
			pj.When = r.When
		}
		pj.StartIn = r.StartIn
		// A rule's allow_failure wins; otherwise the job's own, which is
		// true by default only for a job-level when: manual. GitLab does not
		// make a rule's when: manual optional by default.
		if r.AllowFailure != nil {
			pj.AllowFailure = *r.AllowFailure
		}
		pj.Variables = r.Variables
		if r.NeedsSet {
			pj.Needs, pj.NeedsSet = r.Needs, true
		}
	}
	if pj.When == "never" {
		return nil
	}
	return pj
}

// matchRule returns the first rule whose clauses all hold; a rule with no
// if, changes or exists always matches.
func matchRule(rules []Rule, s *scope, env Env) *Rule {
	for i := range rules {
		r := &rules[i]
		if r.If != nil && !r.If.Eval(s.lookup) {
			continue
		}
		if r.Changes != nil && env.Changes != nil && !env.Changes(s.expandAll(r.Changes), s.expand(r.CompareTo)) {
			continue
		}
		if r.Exists != nil && (env.Exists == nil || !env.Exists(s.expandAll(r.Exists))) {
			continue
		}
		return r
	}
	return nil
}

// validatePlan checks needs and dependencies against the planned jobs and
// drops optional needs on jobs that are not planned.
func validatePlan(p *Plan, stage map[string]int) error {
	present := make(map[string]*PlannedJob, len(p.Jobs))
	for _, pj := range p.Jobs {
		present[pj.Job.Name] = pj
	}
	names := make([]string, len(p.Jobs))
	for i, pj := range p.Jobs {
		names[i] = pj.Job.Name
		j := pj.Job
		var kept []Need
		for _, n := range pj.Needs {
			if n.local() {
				t := present[n.Job]
				if t == nil && n.Optional {
					continue
				}
				if t == nil {
					return jobErr(j, "job %q needs %q, which is not in this pipeline", j.Name, n.Job)
				}
				if stage[t.Job.Stage] > stage[j.Stage] {
					return jobErr(j, "job %q needs %q, which is in a later stage (%s)", j.Name, n.Job, t.Job.Stage)
				}
			}
			kept = append(kept, n)
		}
		if len(kept) != len(pj.Needs) {
			pj.Needs = kept
		}
		for _, dep := range j.Dependencies {
			t := present[dep]
			switch {
			case t == nil:
				return jobErr(j, "job %q depends on %q, which is not in this pipeline", j.Name, dep)
			case !needsJob(pj.Needs, dep) && stage[t.Job.Stage] >= stage[j.Stage]:
				return jobErr(j, "job %q depends on %q, which is not in an earlier stage", j.Name, dep)
			}
		}
	}
	needsOf := func(name string) ([]Need, bool) {
		pj, ok := present[name]
		if !ok {
			return nil, false
		}
		return pj.Needs, true
	}
	if cycle := needsCycle(names, needsOf); cycle != nil {
		j := present[cycle[0]].Job
		return jobErr(j, "needs form a cycle: %s", strings.Join(cycle, " -> "))
	}
	return nil
}

// scope resolves variables for rules, in GitLab's order of precedence:
// overrides, then YAML variables (later layers already applied over
// earlier ones), then predefined. YAML values are expanded, except raw
// ones, since GitLab expands them before evaluating rules.
type scope struct {
	env    Env
	yaml   map[string]Variable
	memo   map[string]string
	active map[string]bool
}

func newScope(env Env, vars []Variable) *scope {
	s := &scope{env: env, yaml: make(map[string]Variable, len(vars))}
	for _, v := range vars {
		s.yaml[v.Key] = v
	}
	return s
}

func (s *scope) lookup(name string) (string, bool) {
	if s.env.Overrides != nil {
		if v, ok := s.env.Overrides(name); ok {
			return v, true
		}
	}
	if v, ok := s.yaml[name]; ok {
		return s.expanded(v), true
	}
	if s.env.Vars != nil {
		return s.env.Vars(name)
	}
	return "", false
}

func (s *scope) expanded(v Variable) string {
	if v.Raw {
		return v.Value
	}
	if out, ok := s.memo[v.Key]; ok {
		return out
	}
	if s.active[v.Key] {
		// A variable that refers back to itself stays as written.
		return v.Value
	}
	if s.memo == nil {
		s.memo, s.active = map[string]string{}, map[string]bool{}
	}
	s.active[v.Key] = true
	out, ok := expr.ExpandLimit(v.Value, s.lookup, maxExpanded)
	delete(s.active, v.Key)
	if !ok {
		out = v.Value
	}
	s.memo[v.Key] = out
	return out
}

func (s *scope) expand(str string) string {
	out, ok := expr.ExpandLimit(str, s.lookup, maxExpanded)
	if !ok {
		return str
	}
	return out
}

func (s *scope) expandAll(globs []string) []string {
	out := make([]string, len(globs))
	for i, g := range globs {
		out[i] = s.expand(g)
	}
	return out
}
