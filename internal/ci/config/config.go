// Package config loads a .gitlab-ci.yml file into a normalized Config (with
// includes, extends, anchors, !reference and defaults already applied and
// the result validated) and evaluates its rules into a pipeline Plan.
//
// Every error it returns is an *Error that points at the offending line.
// The file is hostile input: sizes, nesting, alias expansion, includes and
// job counts are all bounded, and no input makes Parse panic.
//
// The supported keywords are the subset listed in runner-protocol.md §14;
// their semantics follow GitLab's CI/CD YAML reference.
package config

import (
	"time"

	"github.com/ciwarden/ciwarden/internal/ci/expr"
)

// Options configures Parse.
type Options struct {
	// ReadFile returns the content of a repository file for include:local.
	// The path is relative to the repository root and cleaned. Nil means
	// includes are not available and any include is an error.
	ReadFile func(path string) ([]byte, error)
	// MaxBytes bounds the size of the main file and of each included file;
	// 0 means 1 MiB.
	MaxBytes int
}

// Limits on the configuration, beyond those on the YAML itself.
const (
	DefaultMaxBytes = 1 << 20
	MaxIncludes     = 100
	MaxIncludeDepth = 10
	MaxJobs         = 1000
	MaxNeeds        = 50
	MaxScriptLines  = 10_000
	maxExtendsDepth = 11
	maxListDepth    = 10
	maxRefDepth     = 10
	maxWork         = 2_000_000 // nodes visited after extends, !reference and defaults
	maxTimeout      = 30 * 24 * time.Hour
	maxStartIn      = 7 * 24 * time.Hour
)

// Config is a loaded and validated configuration. Treat it as read-only: it
// is shared by every pipeline planned from it, and jobs may share slices.
type Config struct {
	// Stages in order; always starts with ".pre" and ends with ".post".
	Stages []string
	// Variables are the global (top-level) YAML variables in file order.
	Variables []Variable
	// Workflow holds workflow:rules; nil when the file has no workflow.
	Workflow *Workflow
	// Jobs in file order (jobs from included files first), without hidden
	// jobs, with extends, !reference and defaults applied.
	Jobs []*Job
}

// Workflow is the top-level workflow keyword.
type Workflow struct {
	Name  string // workflow:name, the pipeline's name (not expanded)
	Rules []Rule
	Line  int
}

// Job is one job after extends and defaults.
type Job struct {
	Name string
	File string // the included file that defines the job; "" for the main file
	Line int    // the line of the job's name

	Stage        string
	Script       []string
	BeforeScript []string
	AfterScript  []string

	// Variables are the job's own variables in file order. The global ones
	// it inherits are given by Config.JobVariables.
	Variables []Variable
	// InheritAllVariables is false when inherit:variables limits which
	// global variables the job sees to InheritVariables.
	InheritAllVariables bool
	InheritVariables    []string

	Rules    []Rule
	RulesSet bool // rules was given (possibly empty)

	// When is the job's own when (default "on_success"); with rules it is
	// the default for rules that set no when, as in GitLab.
	When    string
	StartIn string // for when: delayed; a duration such as "30 minutes"
	// AllowFailure is the job-level value: explicit, or true for a job with
	// a job-level `when: manual`.
	AllowFailure          bool
	AllowFailureExitCodes []int

	Needs           []Need
	NeedsSet        bool // needs was given; `needs: []` means "start at once"
	Dependencies    []string
	DependenciesSet bool // dependencies was given; [] means "fetch no artifacts"

	Artifacts *Artifacts
	Cache     []Cache
	Trigger   *Trigger // non-nil for a bridge job, which never reaches a runner
	Release   *Release // release.go
	IDTokens  []IDToken
	Tags      []string
	Timeout   time.Duration // 0 when not set
	Retry     Retry

	Interruptible     bool
	Image             string
	Services          []string
	Environment       string
	EnvironmentAction string
	ResourceGroup     string
	Coverage          string

	// JobTokenPermissions lists job_token:permissions as written; the names
	// are checked by the job token component, which also reports at
	// JobTokenLine.
	JobTokenPermissions []string
	JobTokenSet         bool
	JobTokenLine        int
}

// Need is one needs entry: a job of this pipeline, or with Project the
// latest successful job on Ref in another project, or with Pipeline a job
// of the parent pipeline.
type Need struct {
	Job       string
	Artifacts bool // fetch its artifacts (default true)
	Optional  bool // drop the need when the job is not in the pipeline
	Project   string
	Ref       string
	Pipeline  string
	Line      int
}

// local reports whether the need names a job of the same pipeline.
func (n Need) local() bool { return n.Project == "" && n.Pipeline == "" }

// Variable is one YAML variable.
type Variable struct {
	Key   string
	Value string
	Raw   bool // expand: false; sent to the runner with raw: true
	// Masked (masked: true) hides the value in job logs; it must be at
	// least MinMaskedLen characters.
	Masked      bool
	Description string
	Options     []string // global variables: the values offered for manual runs
}

// Rule is one entry of rules or workflow:rules.
type Rule struct {
	If           *expr.Expr // nil when the rule has no if
	IfSource     string
	Changes      []string // nil when absent; the patterns are not expanded
	CompareTo    string
	Exists       []string // nil when absent
	When         string   // "" when the rule sets no when
	StartIn      string
	AllowFailure *bool
	Variables    []Variable
	Needs        []Need
	NeedsSet     bool
	Line         int
}

// Artifacts is the artifacts keyword.
type Artifacts struct {
	Name           string
	Paths          []string
	Exclude        []string
	ExpireIn       string
	ExposeAs       string
	When           string // on_success (default), on_failure or always
	Untracked      bool
	Public         *bool
	Access         string
	Reports        map[string][]string // report type -> paths
	CoverageFormat string              // reports:coverage_report:coverage_format
}

// Cache is one cache entry.
type Cache struct {
	Key          string // "default" when neither key nor key:files is given
	KeyFiles     []string
	KeyPrefix    string
	Paths        []string
	Policy       string // pull, push or pull-push (default)
	When         string // on_success (default), on_failure or always
	Untracked    bool
	Unprotect    bool
	FallbackKeys []string
}

// Trigger is the trigger keyword of a bridge job.
type Trigger struct {
	Project string   // downstream project path (multi-project pipeline)
	Branch  string   // downstream ref; "" for the project's default branch
	Include []string // local files of a child pipeline
	// Artifact and ArtifactJob: a dynamic child pipeline, whose
	// configuration is the file Artifact of job ArtifactJob's artifacts
	// in the same pipeline (trigger:include: {artifact, job}).
	Artifact, ArtifactJob string
	Strategy              string // "" or "depend"
	// Forwarding to the downstream pipeline; GitLab's defaults are true for
	// YAML variables and false for pipeline variables.
	ForwardYAMLVariables     bool
	ForwardPipelineVariables bool
}

// IDToken is one id_tokens entry: an OIDC token exposed as variable Name.
type IDToken struct {
	Name string
	Aud  []string
}

// Retry is the retry keyword.
type Retry struct {
	Max       int
	When      []string
	ExitCodes []int
}

// Parse loads, normalizes and validates a .gitlab-ci.yml.
func Parse(data []byte, opts Options) (*Config, error) {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	l := &loader{opts: opts}
	top, err := l.load("", data, 0, nil)
	if err != nil {
		return nil, err
	}
	d := newDecoder(top)
	cfg, err := d.config()
	if err != nil {
		return nil, err
	}
	return cfg, nil
}

// JobVariables returns the YAML variables a job gets: the global ones it
// inherits, then its own (a job variable replaces a global one of the same
// key, in the global's position).
func (c *Config) JobVariables(j *Job) []Variable {
	out := make([]Variable, 0, len(c.Variables)+len(j.Variables))
	out = append(out, inheritedVariables(c.Variables, j)...)
	return overlay(out, j.Variables)
}

// Job returns the job with the given name, or nil.
func (c *Config) Job(name string) *Job {
	for _, j := range c.Jobs {
		if j.Name == name {
			return j
		}
	}
	return nil
}

func inheritedVariables(global []Variable, j *Job) []Variable {
	if j.InheritAllVariables {
		return global
	}
	var out []Variable
	for _, v := range global {
		for _, name := range j.InheritVariables {
			if v.Key == name {
				out = append(out, v)
				break
			}
		}
	}
	return out
}

// overlay returns base with vars applied over it: same keys replaced in
// place, new keys appended.
func overlay(base, vars []Variable) []Variable {
	if len(vars) == 0 {
		return base
	}
	out := make([]Variable, len(base), len(base)+len(vars))
	copy(out, base)
next:
	for _, v := range vars {
		for i := range out {
			if out[i].Key == v.Key {
				out[i] = v
				continue next
			}
		}
		out = append(out, v)
	}
	return out
}
