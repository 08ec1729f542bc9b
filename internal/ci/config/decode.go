package config

import (
	"strconv"
	"strings"
)

// decoder turns the merged top-level mapping into a Config. It resolves
// extends and !reference lazily, charging every node it visits to a work
// budget, because both can copy one large subtree into many jobs.
type decoder struct {
	top       *value
	index     map[string]*entry // top-level keys
	resolved  map[string]*value // jobs and templates with extends applied
	levels    map[string]int    // extends levels below each resolved name
	resolving []string
	work      int
	refDepth  int
	stageList []string

	defaults   *Job            // default: (and deprecated globals), decoded
	defaultSet map[string]bool // keywords present in defaults
}

func newDecoder(top *value) *decoder {
	d := &decoder{
		top:        top,
		index:      make(map[string]*entry, len(top.entries)),
		resolved:   map[string]*value{},
		levels:     map[string]int{},
		defaults:   &Job{},
		defaultSet: map[string]bool{},
	}
	for i := range top.entries {
		d.index[top.entries[i].key] = &top.entries[i]
	}
	return d
}

// Top-level keywords that are not jobs. Hidden keys (starting with ".")
// are not jobs either: they are templates for extends, !reference and
// anchors.
var globalKeywords = map[string]bool{
	"stages": true, "variables": true, "default": true, "workflow": true,
	"image": true, "services": true, "before_script": true, "after_script": true, "cache": true,
}

// deprecatedGlobals are the top-level keywords GitLab still accepts as an
// older spelling of default:.
var deprecatedGlobals = []string{"image", "services", "before_script", "after_script", "cache"}

var unsupportedTopLevel = map[string]string{
	"types": "types is not supported; use stages",
	"spec":  "spec (CI/CD inputs) is not supported",
}

var defaultStages = []string{".pre", "build", "test", "deploy", ".post"}

func (d *decoder) config() (*Config, error) {
	cfg := &Config{Stages: defaultStages}
	for i := range d.top.entries {
		e := &d.top.entries[i]
		if msg, ok := unsupportedTopLevel[e.key]; ok {
			return nil, errAtKey(e, "%s", msg)
		}
	}
	if e := d.index["stages"]; e != nil {
		stages, err := d.stages(e.val)
		if err != nil {
			return nil, err
		}
		cfg.Stages = stages
	}
	d.stageList = cfg.Stages
	if e := d.index["variables"]; e != nil {
		vars, err := d.variables(e.val, true, "variables")
		if err != nil {
			return nil, err
		}
		cfg.Variables = vars
	}
	if e := d.index["workflow"]; e != nil {
		wf, err := d.workflow(e)
		if err != nil {
			return nil, err
		}
		cfg.Workflow = wf
	}
	if err := d.defaultSection(); err != nil {
		return nil, err
	}
	count := 0
	for i := range d.top.entries {
		e := &d.top.entries[i]
		if globalKeywords[e.key] || strings.HasPrefix(e.key, ".") {
			continue
		}
		if count++; count > MaxJobs {
			return nil, errAtKey(e, "more than %d jobs", MaxJobs)
		}
		j, err := d.job(e)
		if err != nil {
			return nil, err
		}
		cfg.Jobs = append(cfg.Jobs, j)
	}
	if err := validate(cfg); err != nil {
		return nil, err
	}
	return cfg, nil
}

func (d *decoder) stages(v *value) ([]string, error) {
	items, err := d.list(v, "stages")
	if err != nil {
		return nil, err
	}
	out := []string{".pre"}
	seen := map[string]bool{}
	for i, it := range items {
		s, err := d.str(it, "stages entries")
		if err != nil {
			return nil, err
		}
		switch {
		case s == "":
			return nil, errAt(it, "stage names must not be empty")
		case seen[s]:
			return nil, errAt(it, "stage %q is listed twice", s)
		case s == ".pre" && i != 0:
			return nil, errAt(it, "stage .pre must be the first stage")
		case s == ".post" && i != len(items)-1:
			return nil, errAt(it, "stage .post must be the last stage")
		}
		seen[s] = true
		if s != ".pre" && s != ".post" {
			out = append(out, s)
		}
	}
	return append(out, ".post"), nil
}

func (d *decoder) workflow(e *entry) (*Workflow, error) {
	m, err := d.mapping(e.val, "workflow")
	if err != nil {
		return nil, err
	}
	wf := &Workflow{Line: e.line}
	for i := range m.entries {
		we := &m.entries[i]
		switch we.key {
		case "rules":
			if wf.Rules, err = d.rules(we.val, true); err != nil {
				return nil, err
			}
		case "name":
			if wf.Name, err = d.str(we.val, "workflow:name"); err != nil {
				return nil, err
			}
		case "auto_cancel":
			return nil, errAtKey(we, "workflow:auto_cancel is not supported")
		default:
			return nil, errAtKey(we, "unknown workflow keyword %q", we.key)
		}
	}
	return wf, nil
}

// defaultSection decodes default: and the deprecated top-level globals into
// d.defaults. A keyword set both ways is refused rather than silently
// preferring one of them.
func (d *decoder) defaultSection() error {
	s := &jobState{j: d.defaults, set: d.defaultSet}
	if e := d.index["default"]; e != nil {
		m, err := d.mapping(e.val, "default")
		if err != nil {
			return err
		}
		for i := range m.entries {
			de := &m.entries[i]
			kw, ok := jobKeywords[de.key]
			if !ok || kw.inherit == nil {
				return errAtKey(de, "%q cannot be set in default", de.key)
			}
			if err := d.keyword(s, de, kw); err != nil {
				return err
			}
		}
	}
	for _, key := range deprecatedGlobals {
		e := d.index[key]
		if e == nil {
			continue
		}
		if d.defaultSet[key] {
			return errAtKey(e, "%s is set both at the top level and in default; keep only default:%s", key, key)
		}
		if err := d.keyword(s, e, jobKeywords[key]); err != nil {
			return err
		}
	}
	return nil
}

// deref returns v, or what a !reference at v points to, and charges the
// visit to the work budget. Every value is read through deref.
func (d *decoder) deref(v *value) (*value, error) {
	d.work++
	if d.work > maxWork {
		return nil, errAt(v, "configuration is too large once extends, !reference and defaults are applied (more than %d nodes)", maxWork)
	}
	if v.kind != refKind {
		return v, nil
	}
	if d.refDepth >= maxRefDepth {
		return nil, errAt(v, "!reference is nested deeper than %d levels or refers to itself", maxRefDepth)
	}
	d.refDepth++
	defer func() { d.refDepth-- }()
	name := v.items[0].str
	e := d.index[name]
	if e == nil {
		return nil, errAt(v, "!reference %s: %q is not defined", refPath(v), name)
	}
	cur := e.val
	if !globalKeywords[name] && cur.kind == mapKind {
		var err error
		if cur, err = d.extended(e); err != nil {
			return nil, err
		}
	}
	for _, k := range v.items[1:] {
		m, err := d.deref(cur)
		if err != nil {
			return nil, err
		}
		if m.kind != mapKind {
			return nil, errAt(v, "!reference %s: cannot look up %q in %s", refPath(v), k.str, m.describe())
		}
		ke := m.get(k.str)
		if ke == nil {
			return nil, errAt(v, "!reference %s: %q not found", refPath(v), k.str)
		}
		cur = ke.val
	}
	return d.deref(cur)
}

func refPath(v *value) string {
	parts := make([]string, len(v.items))
	for i, it := range v.items {
		parts[i] = it.str
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

func (d *decoder) mapping(v *value, what string) (*value, error) {
	v, err := d.deref(v)
	if err != nil {
		return nil, err
	}
	if v.kind != mapKind {
		return nil, errAt(v, "%s must be a mapping, not %s", what, v.describe())
	}
	return v, nil
}

// str reads a scalar as text. Numbers and booleans keep their source
// spelling: YAML would turn 1.10 into 1.1, which is never what a CI file
// means.
func (d *decoder) str(v *value, what string) (string, error) {
	v, err := d.deref(v)
	if err != nil {
		return "", err
	}
	if v.kind != scalarKind {
		return "", errAt(v, "%s must be a string, not %s", what, v.describe())
	}
	return v.str, nil
}

// boolean accepts YAML booleans and, unquoted, the YAML 1.1 spellings
// yes/no/on/off that GitLab's Ruby parser reads as booleans.
func (d *decoder) boolean(v *value, what string) (bool, error) {
	v, err := d.deref(v)
	if err != nil {
		return false, err
	}
	if v.kind == scalarKind {
		if v.tag == "!!bool" {
			return strings.EqualFold(v.str, "true"), nil
		}
		if v.plain {
			switch v.str {
			case "yes", "Yes", "YES", "on", "On", "ON":
				return true, nil
			case "no", "No", "NO", "off", "Off", "OFF":
				return false, nil
			}
		}
	}
	return false, errAt(v, "%s must be true or false, not %s", what, v.describe())
}

func (d *decoder) integer(v *value, what string) (int, error) {
	v, err := d.deref(v)
	if err != nil {
		return 0, err
	}
	if v.kind == scalarKind && v.tag == "!!int" {
		if n, err := strconv.ParseInt(v.str, 0, 32); err == nil {
			return int(n), nil
		}
	}
	return 0, errAt(v, "%s must be an integer, not %s", what, v.describe())
}

// list reads a list, flattening nested lists (which !reference produces
// inside lists) up to maxListDepth levels.
func (d *decoder) list(v *value, what string) ([]*value, error) {
	v, err := d.deref(v)
	if err != nil {
		return nil, err
	}
	if v.kind != seqKind {
		return nil, errAt(v, "%s must be a list, not %s", what, v.describe())
	}
	return d.flatten(v, what, 1, make([]*value, 0, len(v.items)))
}

func (d *decoder) flatten(v *value, what string, depth int, out []*value) ([]*value, error) {
	for _, it := range v.items {
		it, err := d.deref(it)
		if err != nil {
			return nil, err
		}
		if it.kind != seqKind {
			out = append(out, it)
			continue
		}
		if depth >= maxListDepth {
			return nil, errAt(it, "%s is nested deeper than %d levels", what, maxListDepth)
		}
		if out, err = d.flatten(it, what, depth+1, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// strs reads a list of strings; with single, a lone string is a list of one.
func (d *decoder) strs(v *value, what string, single bool) ([]string, error) {
	v, err := d.deref(v)
	if err != nil {
		return nil, err
	}
	if single && v.kind == scalarKind {
		return []string{v.str}, nil
	}
	items, err := d.list(v, what)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(items))
	for _, it := range items {
		s, err := d.str(it, what+" entries")
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// ints reads an integer or a list of integers.
func (d *decoder) ints(v *value, what string) ([]int, error) {
	v, err := d.deref(v)
	if err != nil {
		return nil, err
	}
	items := []*value{v}
	if v.kind == seqKind {
		if items, err = d.list(v, what); err != nil {
			return nil, err
		}
	}
	out := make([]int, 0, len(items))
	for _, it := range items {
		n, err := d.integer(it, what)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

// script reads a script keyword: a string or a list of strings, nested
// lists flattened.
func (d *decoder) script(v *value, what string) ([]string, error) {
	v, err := d.deref(v)
	if err != nil {
		return nil, err
	}
	if v.kind == scalarKind {
		return []string{v.str}, nil
	}
	items, err := d.list(v, what)
	if err != nil {
		return nil, err
	}
	if len(items) > MaxScriptLines {
		return nil, errAt(v, "%s has %d lines, more than %d", what, len(items), MaxScriptLines)
	}
	out := make([]string, 0, len(items))
	for _, it := range items {
		switch it.kind {
		case scalarKind:
			out = append(out, it.str)
		case mapKind:
			return nil, errAt(it, "%s entries must be strings, not a mapping (quote a line that contains \": \")", what)
		default:
			return nil, errAt(it, "%s entries must be strings, not %s", what, it.describe())
		}
	}
	return out, nil
}

// oneOf reads a string that must be one of allowed.
func (d *decoder) oneOf(v *value, what string, allowed ...string) (string, error) {
	s, err := d.str(v, what)
	if err != nil {
		return "", err
	}
	for _, a := range allowed {
		if s == a {
			return s, nil
		}
	}
	return "", errAt(v, "%s must be one of %s, not %q", what, strings.Join(allowed, ", "), s)
}

// duration reads a duration string bounded by limit.
func (d *decoder) duration(v *value, what string, limit string, max int64) (string, error) {
	s, err := d.str(v, what)
	if err != nil {
		return "", err
	}
	dur, err := ParseDuration(s)
	if err != nil {
		return "", errAt(v, "%s: %v", what, err)
	}
	if dur <= 0 || int64(dur) > max {
		return "", errAt(v, "%s must be between 1 second and %s, not %q", what, limit, s)
	}
	return s, nil
}

// isVarName reports whether s is a valid CI/CD variable key.
func isVarName(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
			return false
		}
	}
	return true
}

// variables reads a variables mapping. Values are scalars (null is ""), or
// {value, description, expand} (and options for global variables).
func (d *decoder) variables(v *value, global bool, what string) ([]Variable, error) {
	m, err := d.mapping(v, what)
	if err != nil {
		return nil, err
	}
	out := make([]Variable, 0, len(m.entries))
	for i := range m.entries {
		e := &m.entries[i]
		if !isVarName(e.key) {
			return nil, errAtKey(e, "variable name %q must contain only letters, digits and _", e.key)
		}
		val, err := d.deref(e.val)
		if err != nil {
			return nil, err
		}
		vr := Variable{Key: e.key}
		switch val.kind {
		case nullKind:
		case scalarKind:
			vr.Value = val.str
		case mapKind:
			if err := d.variableMapping(val, global, &vr); err != nil {
				return nil, err
			}
		default:
			return nil, errAt(val, "variable %q must be a string or a mapping with value, not %s", e.key, val.describe())
		}
		out = append(out, vr)
	}
	return out, nil
}

// MinMaskedLen is the shortest value a masked variable may have (GitLab's
// rule; shorter values would hide ordinary words and protect little).
const MinMaskedLen = 8

func (d *decoder) variableMapping(m *value, global bool, vr *Variable) error {
	var err error
	var valueAt *value
	for i := range m.entries {
		e := &m.entries[i]
		switch e.key {
		case "value":
			val, err := d.deref(e.val)
			if err != nil {
				return err
			}
			if val.kind != nullKind {
				if vr.Value, err = d.str(val, "variable value"); err != nil {
					return err
				}
			}
			valueAt = val
		case "description":
			if vr.Description, err = d.str(e.val, "variable description"); err != nil {
				return err
			}
		case "expand":
			expand, err := d.boolean(e.val, "variable expand")
			if err != nil {
				return err
			}
			vr.Raw = !expand
		case "masked":
			if vr.Masked, err = d.boolean(e.val, "variable masked"); err != nil {
				return err
			}
		case "options":
			if !global {
				return errAtKey(e, "variable options can only be set on global variables")
			}
			if vr.Options, err = d.strs(e.val, "variable options", false); err != nil {
				return err
			}
		default:
			return errAtKey(e, "unknown variable keyword %q", e.key)
		}
	}
	if vr.Masked && len(vr.Value) < MinMaskedLen {
		// The value itself is never repeated in the error.
		return errAt(m, "variable %q is marked masked but its value is shorter than %d characters, so it cannot be masked", vr.Key, MinMaskedLen)
	}
	if len(vr.Options) > 0 {
		for _, o := range vr.Options {
			if o == vr.Value {
				return nil
			}
		}
		at := m
		if valueAt != nil {
			at = valueAt
		}
		return errAt(at, "variable %q: value %q is not one of its options", vr.Key, vr.Value)
	}
	return nil
}
