package config

import (
	"fmt"
	"slices"
	"strings"

	"github.com/ciwarden/ciwarden/internal/authz"
)

// jobState is a job being decoded: which keywords it sets, and what it
// inherits from default:.
type jobState struct {
	j              *Job
	set            map[string]bool
	inheritDefault bool
	defaultKeys    []string // when inheritDefault is false: the keywords still inherited
}

// keyword decodes one job keyword. inherit is non-nil for the keywords that
// default: may set; it copies the decoded default into a job.
type keyword struct {
	decode  func(d *decoder, s *jobState, v *value) error
	inherit func(dst, src *Job)
}

// jobKeywords is a read-only table; it is a variable only because Go has no
// constant maps.
var jobKeywords = map[string]keyword{
	"script": {decode: func(d *decoder, s *jobState, v *value) (err error) {
		if s.j.Script, err = d.script(v, "script"); err == nil && len(s.j.Script) == 0 {
			err = errAt(v, "script must not be empty")
		}
		return err
	}},
	"before_script": {
		decode: func(d *decoder, s *jobState, v *value) (err error) {
			s.j.BeforeScript, err = d.script(v, "before_script")
			return
		},
		inherit: func(dst, src *Job) { dst.BeforeScript = src.BeforeScript },
	},
	"after_script": {
		decode: func(d *decoder, s *jobState, v *value) (err error) {
			s.j.AfterScript, err = d.script(v, "after_script")
			return
		},
		inherit: func(dst, src *Job) { dst.AfterScript = src.AfterScript },
	},
	"stage": {decode: func(d *decoder, s *jobState, v *value) (err error) {
		if s.j.Stage, err = d.str(v, "stage"); err == nil && s.j.Stage == "" {
			err = errAt(v, "stage must not be empty")
		}
		return err
	}},
	"variables": {decode: func(d *decoder, s *jobState, v *value) (err error) {
		s.j.Variables, err = d.variables(v, false, "variables")
		return err
	}},
	"rules": {decode: func(d *decoder, s *jobState, v *value) (err error) {
		s.j.Rules, err = d.rules(v, false)
		s.j.RulesSet = true
		return err
	}},
	"when": {decode: func(d *decoder, s *jobState, v *value) (err error) {
		s.j.When, err = d.oneOf(v, "when", jobWhens...)
		return err
	}},
	"start_in": {decode: func(d *decoder, s *jobState, v *value) (err error) {
		s.j.StartIn, err = d.duration(v, "start_in", "1 week", int64(maxStartIn))
		return err
	}},
	"allow_failure": {decode: (*decoder).allowFailure},
	"needs": {decode: func(d *decoder, s *jobState, v *value) (err error) {
		s.j.Needs, err = d.needs(v, "needs")
		s.j.NeedsSet = true
		return err
	}},
	"dependencies": {decode: func(d *decoder, s *jobState, v *value) (err error) {
		s.j.Dependencies, err = d.strs(v, "dependencies", false)
		s.j.DependenciesSet = true
		return err
	}},
	"artifacts": {
		decode:  func(d *decoder, s *jobState, v *value) (err error) { s.j.Artifacts, err = d.artifacts(v); return },
		inherit: func(dst, src *Job) { dst.Artifacts = src.Artifacts },
	},
	"cache": {
		decode:  func(d *decoder, s *jobState, v *value) (err error) { s.j.Cache, err = d.caches(v); return },
		inherit: func(dst, src *Job) { dst.Cache = src.Cache },
	},
	"trigger": {decode: func(d *decoder, s *jobState, v *value) (err error) {
		s.j.Trigger, err = d.trigger(v)
		return err
	}},
	"id_tokens": {
		decode:  func(d *decoder, s *jobState, v *value) (err error) { s.j.IDTokens, err = d.idTokens(v); return },
		inherit: func(dst, src *Job) { dst.IDTokens = src.IDTokens },
	},
	"tags": {
		decode:  func(d *decoder, s *jobState, v *value) (err error) { s.j.Tags, err = d.strs(v, "tags", false); return },
		inherit: func(dst, src *Job) { dst.Tags = src.Tags },
	},
	"timeout": {
		decode: func(d *decoder, s *jobState, v *value) error {
			str, err := d.duration(v, "timeout", "1 month", int64(maxTimeout))
			if err == nil {
				s.j.Timeout, _ = ParseDuration(str)
			}
			return err
		},
		inherit: func(dst, src *Job) { dst.Timeout = src.Timeout },
	},
	"retry": {
		decode:  func(d *decoder, s *jobState, v *value) (err error) { s.j.Retry, err = d.retry(v); return },
		inherit: func(dst, src *Job) { dst.Retry = src.Retry },
	},
	"interruptible": {
		decode: func(d *decoder, s *jobState, v *value) (err error) {
			s.j.Interruptible, err = d.boolean(v, "interruptible")
			return err
		},
		inherit: func(dst, src *Job) { dst.Interruptible = src.Interruptible },
	},
	"image": {
		decode:  func(d *decoder, s *jobState, v *value) (err error) { s.j.Image, err = d.image(v); return },
		inherit: func(dst, src *Job) { dst.Image = src.Image },
	},
	"services": {
		decode:  func(d *decoder, s *jobState, v *value) (err error) { s.j.Services, err = d.services(v); return },
		inherit: func(dst, src *Job) { dst.Services = src.Services },
	},
	"environment": {decode: (*decoder).environment},
	"resource_group": {decode: func(d *decoder, s *jobState, v *value) (err error) {
		s.j.ResourceGroup, err = d.str(v, "resource_group")
		return
	}},
	"coverage": {decode: func(d *decoder, s *jobState, v *value) (err error) { s.j.Coverage, err = d.str(v, "coverage"); return }},
	"inherit":  {decode: (*decoder).inherit},
	"release":  {decode: (*decoder).release},
	"job_token": {
		decode: (*decoder).jobToken,
		inherit: func(dst, src *Job) {
			dst.JobTokenPermissions, dst.JobTokenSet, dst.JobTokenLine = src.JobTokenPermissions, src.JobTokenSet, src.JobTokenLine
		},
	},
}

// defaultKeywords are the keywords default: may set, in the order they are
// applied; exactly the entries of jobKeywords with an inherit function.
var defaultKeywords = []string{
	"after_script", "artifacts", "before_script", "cache", "id_tokens", "image",
	"interruptible", "job_token", "retry", "services", "tags", "timeout",
}

// GitLab job keywords ciwarden does not implement; naming them gives a
// clearer error than "unknown keyword".
var unsupportedJobKeywords = map[string]bool{
	"only": true, "except": true, "parallel": true, "secrets": true,
	"pages": true, "hooks": true, "dast_configuration": true, "identity": true,
	"manual_confirmation": true, "run": true, "publish": true, "inputs": true,
}

// maxJobName is GitLab's limit on job names.
const maxJobName = 255

var jobWhens = []string{"on_success", "manual", "always", "on_failure", "never", "delayed"}

func (d *decoder) keyword(s *jobState, e *entry, kw keyword) error {
	v, err := d.deref(e.val)
	if err != nil {
		return err
	}
	s.set[e.key] = true
	return kw.decode(d, s, v)
}

// job decodes the job at top-level entry e.
func (d *decoder) job(e *entry) (*Job, error) {
	switch {
	case strings.TrimSpace(e.key) == "":
		return nil, errAtKey(e, "job names must not be blank")
	case len(e.key) > maxJobName:
		return nil, errAtKey(e, "job name %.20q... is longer than %d bytes", e.key, maxJobName)
	case e.val.kind != mapKind:
		return nil, errAtKey(e, "job %q must be a mapping, not %s", e.key, e.val.describe())
	}
	v, err := d.extended(e)
	if err != nil {
		return nil, err
	}
	j := &Job{Name: e.key, File: e.file, Line: e.line, Stage: "test", When: "on_success", InheritAllVariables: true}
	s := &jobState{j: j, set: map[string]bool{}, inheritDefault: true}
	for i := range v.entries {
		ke := &v.entries[i]
		kw, ok := jobKeywords[ke.key]
		switch {
		case ok:
			if err := d.keyword(s, ke, kw); err != nil {
				return nil, err
			}
		case unsupportedJobKeywords[ke.key]:
			return nil, errAtKey(ke, "job %q: keyword %q is not supported", j.Name, ke.key)
		default:
			return nil, errAtKey(ke, "job %q: unknown keyword %q", j.Name, ke.key)
		}
	}
	if j.Trigger == nil {
		// Bridge jobs run no script on a runner, so runner defaults such
		// as image or before_script do not apply to them.
		for _, key := range defaultKeywords {
			if d.defaultSet[key] && !s.set[key] && s.inherits(key) {
				jobKeywords[key].inherit(j, d.defaults)
			}
		}
	}
	return j, d.checkJob(s, v)
}

func (s *jobState) inherits(key string) bool {
	return s.inheritDefault || slices.Contains(s.defaultKeys, key)
}

// checkJob applies the cross-keyword rules of a job.
func (d *decoder) checkJob(s *jobState, v *value) error {
	j := s.j
	// fail locates the error at the keyword, or at the job's name.
	fail := func(key, msg string) error {
		if e := v.get(key); key != "" && e != nil {
			return errAtKey(e, "%s", msg)
		}
		return &Error{File: j.File, Line: j.Line, Msg: msg}
	}
	switch {
	case !slices.Contains(d.stageList, j.Stage):
		return fail("stage", fmt.Sprintf("job %q: stage %q is not one of the stages (%s)", j.Name, j.Stage, strings.Join(d.stageList, ", ")))
	case j.Trigger != nil && s.set["script"]:
		return fail("trigger", `job "`+j.Name+`" has both script and trigger`)
	case j.Trigger == nil && !s.set["script"]:
		return fail("", `job "`+j.Name+`" has neither script nor trigger`)
	case j.When == "delayed" && j.StartIn == "":
		return fail("when", `job "`+j.Name+`": when: delayed needs start_in`)
	case j.RulesSet && s.set["start_in"]:
		return fail("start_in", `job "`+j.Name+`": start_in cannot be used with rules; set it in the rule`)
	case j.StartIn != "" && j.When != "delayed":
		return fail("start_in", `job "`+j.Name+`": start_in needs when: delayed`)
	}
	if !s.set["allow_failure"] && j.When == "manual" {
		// GitLab makes a job-level manual job optional unless it says
		// otherwise; a rule's when: manual does not (see Plan).
		j.AllowFailure = true
	}
	return nil
}

func (d *decoder) allowFailure(s *jobState, v *value) error {
	if v.kind != mapKind {
		af, err := d.boolean(v, "allow_failure")
		s.j.AllowFailure = af
		return err
	}
	for i := range v.entries {
		e := &v.entries[i]
		if e.key != "exit_codes" {
			return errAtKey(e, "unknown allow_failure keyword %q", e.key)
		}
		codes, err := d.ints(e.val, "allow_failure:exit_codes")
		if err != nil {
			return err
		}
		if len(codes) == 0 {
			return errAt(e.val, "allow_failure:exit_codes must not be empty")
		}
		s.j.AllowFailureExitCodes = codes
	}
	if s.j.AllowFailureExitCodes == nil {
		return errAt(v, "allow_failure needs exit_codes")
	}
	return nil
}

// needs reads needs or rules:needs.
func (d *decoder) needs(v *value, what string) ([]Need, error) {
	items, err := d.list(v, what)
	if err != nil {
		return nil, err
	}
	if len(items) > MaxNeeds {
		return nil, errAt(v, "%s has %d entries, more than %d", what, len(items), MaxNeeds)
	}
	out := make([]Need, 0, len(items))
	seen := map[string]bool{}
	for _, it := range items {
		n, err := d.need(it, what)
		if err != nil {
			return nil, err
		}
		if n.local() {
			if seen[n.Job] {
				return nil, errAt(it, "%s lists %q twice", what, n.Job)
			}
			seen[n.Job] = true
		}
		out = append(out, n)
	}
	return out, nil
}

func (d *decoder) need(it *value, what string) (Need, error) {
	n := Need{Artifacts: true, Line: it.line}
	if it.kind == scalarKind {
		n.Job = it.str
		if n.Job == "" {
			return n, errAt(it, "%s entries must name a job", what)
		}
		return n, nil
	}
	if it.kind != mapKind {
		return n, errAt(it, "%s entries must be job names or mappings, not %s", what, it.describe())
	}
	var err error
	for i := range it.entries {
		e := &it.entries[i]
		switch e.key {
		case "job":
			n.Job, err = d.str(e.val, what+":job")
		case "artifacts":
			n.Artifacts, err = d.boolean(e.val, what+":artifacts")
		case "optional":
			n.Optional, err = d.boolean(e.val, what+":optional")
		case "project":
			n.Project, err = d.str(e.val, what+":project")
		case "ref":
			n.Ref, err = d.str(e.val, what+":ref")
		case "pipeline":
			n.Pipeline, err = d.str(e.val, what+":pipeline")
		case "parallel":
			err = errAtKey(e, "%s:parallel is not supported", what)
		default:
			err = errAtKey(e, "unknown %s keyword %q", what, e.key)
		}
		if err != nil {
			return n, err
		}
	}
	switch {
	case n.Job == "":
		return n, errAt(it, "%s entries must name a job", what)
	case n.Project != "" && n.Pipeline != "":
		return n, errAt(it, "%s entries cannot have both project and pipeline", what)
	case n.Project != "" && n.Ref == "":
		return n, errAt(it, "%s:project needs ref", what)
	case n.Ref != "" && n.Project == "":
		return n, errAt(it, "%s:ref needs project", what)
	}
	return n, nil
}

// knownReports are the artifacts:reports types GitLab defines.
var knownReports = map[string]bool{
	"accessibility": true, "annotations": true, "api_fuzzing": true, "browser_performance": true,
	"cluster_image_scanning": true, "codequality": true, "container_scanning": true,
	"coverage_fuzzing": true, "coverage_report": true, "cyclonedx": true, "dast": true,
	"dependency_scanning": true, "dotenv": true, "junit": true, "license_scanning": true,
	"load_performance": true, "metrics": true, "performance": true, "requirements": true,
	"requirements_v2": true, "repository_xray": true, "sast": true, "secret_detection": true,
	"terraform": true,
}

func (d *decoder) artifacts(v *value) (*Artifacts, error) {
	if v.kind != mapKind {
		return nil, errAt(v, "artifacts must be a mapping, not %s", v.describe())
	}
	a := &Artifacts{When: "on_success"}
	var err error
	for i := range v.entries {
		e := &v.entries[i]
		switch e.key {
		case "name":
			a.Name, err = d.str(e.val, "artifacts:name")
		case "paths":
			a.Paths, err = d.strs(e.val, "artifacts:paths", false)
		case "exclude":
			a.Exclude, err = d.strs(e.val, "artifacts:exclude", false)
		case "expire_in":
			a.ExpireIn, err = d.expireIn(e.val)
		case "expose_as":
			a.ExposeAs, err = d.str(e.val, "artifacts:expose_as")
		case "when":
			a.When, err = d.oneOf(e.val, "artifacts:when", "on_success", "on_failure", "always")
		case "untracked":
			a.Untracked, err = d.boolean(e.val, "artifacts:untracked")
		case "public":
			var b bool
			b, err = d.boolean(e.val, "artifacts:public")
			a.Public = &b
		case "access":
			a.Access, err = d.oneOf(e.val, "artifacts:access", "all", "developer", "maintainer", "none")
		case "reports":
			err = d.reports(e.val, a)
		default:
			err = errAtKey(e, "unknown artifacts keyword %q", e.key)
		}
		if err != nil {
			return nil, err
		}
	}
	return a, nil
}

func (d *decoder) expireIn(v *value) (string, error) {
	s, err := d.str(v, "artifacts:expire_in")
	if err != nil {
		return "", err
	}
	if s == "never" {
		return s, nil
	}
	if _, err := ParseDuration(s); err != nil {
		return "", errAt(v, "artifacts:expire_in: %v", err)
	}
	return s, nil
}

func (d *decoder) reports(v *value, a *Artifacts) error {
	m, err := d.mapping(v, "artifacts:reports")
	if err != nil {
		return err
	}
	a.Reports = make(map[string][]string, len(m.entries))
	for i := range m.entries {
		e := &m.entries[i]
		if !knownReports[e.key] {
			return errAtKey(e, "unknown artifacts:reports type %q", e.key)
		}
		val, err := d.deref(e.val)
		if err != nil {
			return err
		}
		if e.key == "coverage_report" {
			if err := d.coverageReport(val, a); err != nil {
				return err
			}
			continue
		}
		paths, err := d.strs(val, "artifacts:reports:"+e.key, true)
		if err != nil {
			return err
		}
		a.Reports[e.key] = paths
	}
	return nil
}

func (d *decoder) coverageReport(v *value, a *Artifacts) error {
	if v.kind != mapKind {
		return errAt(v, "artifacts:reports:coverage_report must be a mapping with coverage_format and path")
	}
	var path string
	var err error
	for i := range v.entries {
		e := &v.entries[i]
		switch e.key {
		case "coverage_format":
			a.CoverageFormat, err = d.oneOf(e.val, "coverage_report:coverage_format", "cobertura", "jacoco")
		case "path":
			path, err = d.str(e.val, "coverage_report:path")
		default:
			err = errAtKey(e, "unknown coverage_report keyword %q", e.key)
		}
		if err != nil {
			return err
		}
	}
	if path == "" || a.CoverageFormat == "" {
		return errAt(v, "artifacts:reports:coverage_report needs coverage_format and path")
	}
	a.Reports["coverage_report"] = []string{path}
	return nil
}

// caches reads cache: one mapping or a list of them (at most 4, as GitLab).
func (d *decoder) caches(v *value) ([]Cache, error) {
	items := []*value{v}
	if v.kind == seqKind {
		var err error
		if items, err = d.list(v, "cache"); err != nil {
			return nil, err
		}
		if len(items) > 4 {
			return nil, errAt(v, "cache has %d entries, more than 4", len(items))
		}
	}
	out := make([]Cache, 0, len(items))
	for _, it := range items {
		c, err := d.cache(it)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

func (d *decoder) cache(v *value) (Cache, error) {
	c := Cache{Policy: "pull-push", When: "on_success"}
	if v.kind != mapKind {
		return c, errAt(v, "cache must be a mapping or a list of mappings, not %s", v.describe())
	}
	var err error
	for i := range v.entries {
		e := &v.entries[i]
		switch e.key {
		case "key":
			err = d.cacheKey(e.val, &c)
		case "paths":
			c.Paths, err = d.strs(e.val, "cache:paths", false)
		case "policy":
			c.Policy, err = d.oneOf(e.val, "cache:policy", "pull", "push", "pull-push")
		case "when":
			c.When, err = d.oneOf(e.val, "cache:when", "on_success", "on_failure", "always")
		case "untracked":
			c.Untracked, err = d.boolean(e.val, "cache:untracked")
		case "unprotect":
			c.Unprotect, err = d.boolean(e.val, "cache:unprotect")
		case "fallback_keys":
			if c.FallbackKeys, err = d.strs(e.val, "cache:fallback_keys", false); err == nil && len(c.FallbackKeys) > 5 {
				err = errAt(e.val, "cache:fallback_keys has %d entries, more than 5", len(c.FallbackKeys))
			}
		default:
			err = errAtKey(e, "unknown cache keyword %q", e.key)
		}
		if err != nil {
			return c, err
		}
	}
	if c.Key == "" && len(c.KeyFiles) == 0 {
		c.Key = "default"
	}
	return c, nil
}

func (d *decoder) cacheKey(v *value, c *Cache) error {
	v, err := d.deref(v)
	if err != nil {
		return err
	}
	if v.kind != mapKind {
		if c.Key, err = d.str(v, "cache:key"); err != nil {
			return err
		}
		// The key becomes a file name on the runner, so GitLab refuses
		// anything that could climb directories.
		if strings.Contains(c.Key, "/") || strings.Contains(strings.ToLower(c.Key), "%2f") || c.Key == "." || c.Key == ".." {
			return errAt(v, "cache:key %q must not contain \"/\" or be \".\" or \"..\"", c.Key)
		}
		return nil
	}
	for i := range v.entries {
		e := &v.entries[i]
		switch e.key {
		case "files":
			if c.KeyFiles, err = d.strs(e.val, "cache:key:files", false); err == nil && (len(c.KeyFiles) == 0 || len(c.KeyFiles) > 2) {
				err = errAt(e.val, "cache:key:files must list one or two files")
			}
		case "prefix":
			c.KeyPrefix, err = d.str(e.val, "cache:key:prefix")
		default:
			err = errAtKey(e, "unknown cache:key keyword %q", e.key)
		}
		if err != nil {
			return err
		}
	}
	if len(c.KeyFiles) == 0 {
		return errAt(v, "cache:key needs files")
	}
	return nil
}

func (d *decoder) trigger(v *value) (*Trigger, error) {
	t := &Trigger{ForwardYAMLVariables: true}
	if v.kind == scalarKind {
		t.Project = v.str
		if t.Project == "" {
			return nil, errAt(v, "trigger must name a project")
		}
		return t, nil
	}
	if v.kind != mapKind {
		return nil, errAt(v, "trigger must be a project path or a mapping, not %s", v.describe())
	}
	var err error
	for i := range v.entries {
		e := &v.entries[i]
		switch e.key {
		case "project":
			t.Project, err = d.str(e.val, "trigger:project")
		case "branch":
			t.Branch, err = d.str(e.val, "trigger:branch")
		case "strategy":
			t.Strategy, err = d.oneOf(e.val, "trigger:strategy", "depend")
		case "forward":
			err = d.forward(e.val, t)
		case "include":
			err = d.triggerInclude(e.val, t)
		default:
			err = errAtKey(e, "unknown trigger keyword %q", e.key)
		}
		if err != nil {
			return nil, err
		}
	}
	included := t.Include != nil || t.Artifact != ""
	switch {
	case t.Project != "" && included:
		return nil, errAt(v, "trigger cannot have both project and include")
	case t.Project == "" && !included:
		return nil, errAt(v, "trigger needs project or include")
	case t.Branch != "" && t.Project == "":
		return nil, errAt(v, "trigger:branch needs trigger:project")
	}
	return t, nil
}

func (d *decoder) forward(v *value, t *Trigger) error {
	m, err := d.mapping(v, "trigger:forward")
	if err != nil {
		return err
	}
	for i := range m.entries {
		e := &m.entries[i]
		switch e.key {
		case "yaml_variables":
			t.ForwardYAMLVariables, err = d.boolean(e.val, "trigger:forward:yaml_variables")
		case "pipeline_variables":
			t.ForwardPipelineVariables, err = d.boolean(e.val, "trigger:forward:pipeline_variables")
		default:
			err = errAtKey(e, "unknown trigger:forward keyword %q", e.key)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// triggerInclude reads trigger:include, which names the local files of a
// child pipeline (at most 3, as GitLab), or one artifact of a job of the
// same pipeline ({artifact, job}: a dynamic child pipeline).
func (d *decoder) triggerInclude(v *value, t *Trigger) error {
	v, err := d.deref(v)
	if err != nil {
		return err
	}
	items := []*value{v}
	if v.kind == seqKind {
		if items, err = d.list(v, "trigger:include"); err != nil {
			return err
		}
	}
	if len(items) == 0 || len(items) > 3 {
		return errAt(v, "trigger:include must list one to three files")
	}
	if len(items) == 1 && items[0].kind == mapKind && len(items[0].entries) == 2 {
		return d.triggerArtifact(items[0], t)
	}
	t.Include, err = d.triggerLocal(items)
	return err
}

// triggerArtifact reads {artifact: path, job: name}.
func (d *decoder) triggerArtifact(v *value, t *Trigger) error {
	for i := range v.entries {
		e := &v.entries[i]
		var err error
		switch e.key {
		case "artifact":
			if t.Artifact, err = d.str(e.val, "trigger:include:artifact"); err == nil {
				t.Artifact, err = localPath(e.val, t.Artifact)
			}
		case "job":
			t.ArtifactJob, err = d.str(e.val, "trigger:include:job")
		default:
			err = errAtKey(e, "trigger:include supports local files, or artifact with job")
		}
		if err != nil {
			return err
		}
	}
	if t.Artifact == "" || t.ArtifactJob == "" {
		return errAt(v, "trigger:include:artifact needs artifact and job")
	}
	t.Artifact = strings.TrimPrefix(t.Artifact, "/")
	return nil
}

func (d *decoder) triggerLocal(items []*value) ([]string, error) {
	out := make([]string, 0, len(items))
	for _, it := range items {
		if it.kind == mapKind {
			if len(it.entries) != 1 || it.entries[0].key != "local" {
				return nil, errAt(it, "trigger:include supports only local files")
			}
			it = it.entries[0].val
		}
		s, err := d.str(it, "trigger:include")
		if err != nil {
			return nil, err
		}
		if strings.Contains(s, "://") {
			return nil, errAt(it, "trigger:include supports only local files")
		}
		p, err := localPath(it, s)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

func (d *decoder) idTokens(v *value) ([]IDToken, error) {
	if v.kind != mapKind {
		return nil, errAt(v, "id_tokens must be a mapping, not %s", v.describe())
	}
	out := make([]IDToken, 0, len(v.entries))
	for i := range v.entries {
		e := &v.entries[i]
		if !isVarName(e.key) {
			return nil, errAtKey(e, "id_tokens name %q must contain only letters, digits and _", e.key)
		}
		m, err := d.mapping(e.val, "id_tokens:"+e.key)
		if err != nil {
			return nil, err
		}
		tok := IDToken{Name: e.key}
		for k := range m.entries {
			te := &m.entries[k]
			if te.key != "aud" {
				return nil, errAtKey(te, "unknown id_tokens keyword %q", te.key)
			}
			if tok.Aud, err = d.strs(te.val, "id_tokens:"+e.key+":aud", true); err != nil {
				return nil, err
			}
		}
		if len(tok.Aud) == 0 {
			return nil, errAt(m, "id_tokens:%s needs aud", e.key)
		}
		out = append(out, tok)
	}
	slices.SortFunc(out, func(a, b IDToken) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

var retryWhens = []string{
	"always", "unknown_failure", "script_failure", "api_failure", "stuck_or_timeout_failure",
	"runner_system_failure", "runner_unsupported", "stale_schedule", "job_execution_timeout",
	"archived_failure", "unmet_prerequisites", "scheduler_failure", "data_integrity_failure",
}

func (d *decoder) retry(v *value) (Retry, error) {
	var r Retry
	retryMax := func(v *value) error {
		n, err := d.integer(v, "retry")
		if err == nil && (n < 0 || n > 2) {
			err = errAt(v, "retry must be between 0 and 2, not %d", n)
		}
		r.Max = n
		return err
	}
	if v.kind != mapKind {
		return r, retryMax(v)
	}
	var err error
	for i := range v.entries {
		e := &v.entries[i]
		switch e.key {
		case "max":
			err = retryMax(e.val)
		case "when":
			if r.When, err = d.strs(e.val, "retry:when", true); err == nil {
				for _, w := range r.When {
					if !slices.Contains(retryWhens, w) {
						err = errAt(e.val, "unknown retry:when value %q", w)
						break
					}
				}
			}
		case "exit_codes":
			r.ExitCodes, err = d.ints(e.val, "retry:exit_codes")
		default:
			err = errAtKey(e, "unknown retry keyword %q", e.key)
		}
		if err != nil {
			return r, err
		}
	}
	return r, nil
}

// image keeps only the name: the keywords that change how a container
// starts are refused rather than silently dropped.
func (d *decoder) image(v *value) (string, error) {
	if v.kind != mapKind {
		return d.str(v, "image")
	}
	var name string
	for i := range v.entries {
		e := &v.entries[i]
		if e.key != "name" {
			return "", errAtKey(e, "image:%s is not supported", e.key)
		}
		var err error
		if name, err = d.str(e.val, "image:name"); err != nil {
			return "", err
		}
	}
	if name == "" {
		return "", errAt(v, "image needs name")
	}
	return name, nil
}

// services keeps the service names; the other service keywords are
// accepted because they only matter to container executors.
func (d *decoder) services(v *value) ([]string, error) {
	items, err := d.list(v, "services")
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(items))
	for _, it := range items {
		if it.kind == mapKind {
			ne := it.get("name")
			if ne == nil {
				return nil, errAt(it, "services entries need name")
			}
			it = ne.val
		}
		s, err := d.str(it, "services entries")
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func (d *decoder) environment(s *jobState, v *value) (err error) {
	if v.kind != mapKind {
		s.j.Environment, err = d.str(v, "environment")
		return err
	}
	for i := range v.entries {
		e := &v.entries[i]
		switch e.key {
		case "name":
			s.j.Environment, err = d.str(e.val, "environment:name")
		case "action":
			s.j.EnvironmentAction, err = d.oneOf(e.val, "environment:action", "start", "prepare", "stop", "verify", "access")
		case "url", "on_stop", "deployment_tier", "auto_stop_in", "kubernetes":
			_, err = d.deref(e.val)
		default:
			err = errAtKey(e, "unknown environment keyword %q", e.key)
		}
		if err != nil {
			return err
		}
	}
	if s.j.Environment == "" {
		return errAt(v, "environment needs name")
	}
	return nil
}

func (d *decoder) inherit(s *jobState, v *value) error {
	if v.kind != mapKind {
		return errAt(v, "inherit must be a mapping, not %s", v.describe())
	}
	for i := range v.entries {
		e := &v.entries[i]
		val, err := d.deref(e.val)
		if err != nil {
			return err
		}
		switch e.key {
		case "default":
			if val.kind != seqKind {
				s.inheritDefault, err = d.boolean(val, "inherit:default")
				break
			}
			s.inheritDefault = false
			if s.defaultKeys, err = d.strs(val, "inherit:default", false); err == nil {
				for _, k := range s.defaultKeys {
					if !slices.Contains(defaultKeywords, k) {
						err = errAt(val, "inherit:default: %q is not a default keyword", k)
						break
					}
				}
			}
		case "variables":
			if val.kind != seqKind {
				s.j.InheritAllVariables, err = d.boolean(val, "inherit:variables")
				break
			}
			s.j.InheritAllVariables = false
			s.j.InheritVariables, err = d.strs(val, "inherit:variables", false)
		default:
			err = errAtKey(e, "unknown inherit keyword %q", e.key)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (d *decoder) jobToken(s *jobState, v *value) error {
	if v.kind != mapKind {
		return errAt(v, "job_token must be a mapping, not %s", v.describe())
	}
	s.j.JobTokenSet = true
	s.j.JobTokenLine = v.line
	for i := range v.entries {
		e := &v.entries[i]
		if e.key != "permissions" {
			return errAtKey(e, "unknown job_token keyword %q", e.key)
		}
		list, err := d.deref(e.val)
		if err != nil {
			return err
		}
		items, err := d.list(list, "job_token:permissions")
		if err != nil {
			return err
		}
		perms := make([]string, 0, len(items))
		for _, it := range items {
			p, err := d.str(it, "job_token:permissions entries")
			if err != nil {
				return err
			}
			// A misspelt name must fail the pipeline, not silently
			// deny at run time.
			if !authz.KnownPolicy(p) {
				return errAt(it, "job_token:permissions: unknown permission %q", p)
			}
			perms = append(perms, p)
		}
		s.j.JobTokenPermissions = perms
		s.j.JobTokenLine = e.val.line
	}
	if s.j.JobTokenPermissions == nil {
		return errAt(v, "job_token needs permissions")
	}
	return nil
}
