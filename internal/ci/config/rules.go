package config

import (
	"github.com/ciwarden/ciwarden/internal/ci/expr"
)

// maxRulePaths bounds rules:changes and rules:exists, as GitLab does.
const maxRulePaths = 50

// rules reads rules (workflow: workflow:rules). Nested lists are flattened,
// which is how `- !reference [.x, rules]` shares rules between jobs.
func (d *decoder) rules(v *value, workflow bool) ([]Rule, error) {
	what := "rules"
	if workflow {
		what = "workflow:rules"
	}
	items, err := d.list(v, what)
	if err != nil {
		return nil, err
	}
	out := make([]Rule, 0, len(items))
	for _, it := range items {
		if it.kind != mapKind {
			return nil, errAt(it, "%s entries must be mappings, not %s", what, it.describe())
		}
		r, err := d.rule(it, what, workflow)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

func (d *decoder) rule(m *value, what string, workflow bool) (Rule, error) {
	r := Rule{Line: m.line}
	var err error
	for i := range m.entries {
		e := &m.entries[i]
		jobOnly := false
		switch e.key {
		case "if":
			err = d.ruleIf(e.val, what, &r)
		case "changes":
			err = d.changes(e.val, what, &r)
		case "exists":
			r.Exists, err = d.rulePaths(e.val, what+":exists")
			if r.Exists == nil && err == nil {
				r.Exists = []string{}
			}
		case "when":
			if workflow {
				r.When, err = d.oneOf(e.val, what+":when", "always", "never")
			} else {
				r.When, err = d.oneOf(e.val, what+":when", jobWhens...)
			}
		case "variables":
			r.Variables, err = d.variables(e.val, false, what+":variables")
		case "allow_failure":
			jobOnly = true
			var b bool
			b, err = d.boolean(e.val, what+":allow_failure")
			r.AllowFailure = &b
		case "needs":
			jobOnly = true
			r.Needs, err = d.needs(e.val, what+":needs")
			r.NeedsSet = true
		case "start_in":
			jobOnly = true
			r.StartIn, err = d.duration(e.val, what+":start_in", "1 week", int64(maxStartIn))
		default:
			return r, errAtKey(e, "unknown %s keyword %q", what, e.key)
		}
		if jobOnly && workflow {
			return r, errAtKey(e, "unknown %s keyword %q", what, e.key)
		}
		if err != nil {
			return r, err
		}
	}
	switch {
	case r.When == "delayed" && r.StartIn == "":
		return r, errAt(m, "%s: when: delayed needs start_in", what)
	case r.StartIn != "" && r.When != "delayed":
		return r, errAt(m, "%s: start_in needs when: delayed", what)
	}
	return r, nil
}

// ruleIf parses the expression now, so that a broken one is reported when
// the file is loaded, with its line, and not when a pipeline evaluates it.
func (d *decoder) ruleIf(v *value, what string, r *Rule) error {
	s, err := d.str(v, what+":if")
	if err != nil {
		return err
	}
	e, err := expr.Parse(s)
	if err != nil {
		return errAt(v, "invalid %s:if expression: %v", what, err)
	}
	r.If, r.IfSource = e, s
	return nil
}

// changes reads a list of paths or {paths, compare_to}.
func (d *decoder) changes(v *value, what string, r *Rule) error {
	what += ":changes"
	v, err := d.deref(v)
	if err != nil {
		return err
	}
	if v.kind != mapKind {
		r.Changes, err = d.rulePaths(v, what)
		if r.Changes == nil && err == nil {
			r.Changes = []string{}
		}
		return err
	}
	for i := range v.entries {
		e := &v.entries[i]
		switch e.key {
		case "paths":
			r.Changes, err = d.rulePaths(e.val, what+":paths")
		case "compare_to":
			r.CompareTo, err = d.str(e.val, what+":compare_to")
		default:
			err = errAtKey(e, "unknown %s keyword %q", what, e.key)
		}
		if err != nil {
			return err
		}
	}
	if r.Changes == nil {
		return errAt(v, "%s needs paths", what)
	}
	return nil
}

func (d *decoder) rulePaths(v *value, what string) ([]string, error) {
	v, err := d.deref(v)
	if err != nil {
		return nil, err
	}
	if v.kind == mapKind {
		// exists: {paths: [...]} is the long form; project and ref (files
		// of another project) are not supported.
		pe := v.get("paths")
		for i := range v.entries {
			if k := v.entries[i].key; k != "paths" {
				return nil, errAtKey(&v.entries[i], "%s:%s is not supported", what, k)
			}
		}
		if pe == nil {
			return nil, errAt(v, "%s needs paths", what)
		}
		v = pe.val
	}
	paths, err := d.strs(v, what, false)
	if err != nil {
		return nil, err
	}
	if len(paths) > maxRulePaths {
		return nil, errAt(v, "%s has %d paths, more than %d", what, len(paths), maxRulePaths)
	}
	return paths, nil
}
