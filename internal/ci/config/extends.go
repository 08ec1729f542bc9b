package config

import (
	"slices"
	"strings"
)

// extended returns the job or template at top-level entry e with extends
// applied: the parents, each itself extended, are deep-merged in order (a
// later parent wins) and the job's own keys are merged over them. GitLab
// does the same before it resolves !reference, so references see the
// extended jobs.
func (d *decoder) extended(e *entry) (*value, error) {
	if v, ok := d.resolved[e.key]; ok {
		return v, nil
	}
	v := e.val
	ext := v.get("extends")
	if ext == nil {
		d.resolved[e.key] = v
		return v, nil
	}
	parents, err := d.extendsNames(ext.val)
	if err != nil {
		return nil, err
	}
	d.resolving = append(d.resolving, e.key)
	defer func() { d.resolving = d.resolving[:len(d.resolving)-1] }()
	var base *value
	levels := 0
	for _, p := range parents {
		name := p.str
		if slices.Contains(d.resolving, name) {
			return nil, errAt(p, "circular extends: %s -> %s", strings.Join(d.resolving, " -> "), name)
		}
		pe := d.index[name]
		if pe == nil || globalKeywords[name] {
			return nil, errAt(p, "%q extends %q, which is not defined", e.key, name)
		}
		if pe.val.kind != mapKind {
			return nil, errAt(p, "%q extends %q, which is not a mapping", e.key, name)
		}
		pv, err := d.extended(pe)
		if err != nil {
			return nil, err
		}
		levels = max(levels, d.levels[name]+1)
		base = merge(base, pv, &d.work)
	}
	if levels > maxExtendsDepth {
		return nil, errAtKey(ext, "extends is nested deeper than %d levels", maxExtendsDepth)
	}
	out := merge(base, v.without("extends"), &d.work)
	if d.work > maxWork {
		return nil, errAtKey(ext, "configuration is too large once extends is applied (more than %d nodes)", maxWork)
	}
	d.resolved[e.key] = out
	d.levels[e.key] = levels
	return out, nil
}

func (d *decoder) extendsNames(v *value) ([]*value, error) {
	items := []*value{v}
	if v.kind == seqKind {
		items = v.items
	}
	for _, it := range items {
		if it.kind != scalarKind || it.str == "" {
			return nil, errAt(it, "extends must be a job name or a list of job names, not %s", it.describe())
		}
	}
	return items, nil
}
