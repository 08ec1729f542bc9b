package config

import (
	"fmt"
	"path"
	"slices"
	"strings"
)

// loader reads the main file and its include:local files into one merged
// top-level mapping.
type loader struct {
	opts     Options
	includes int
	nodes    int
	bytes    int
}

// maxTotalFactor bounds the bytes of all files together, as a multiple of
// the per-file limit: one file included a hundred times would otherwise
// cost a hundred parses of the largest allowed file.
const maxTotalFactor = 4

// load reads one file and merges its includes under it: included files are
// merged in order (a later one overrides an earlier one) and the including
// file overrides them all, deeply, as GitLab does.
func (l *loader) load(file string, data []byte, depth int, stack []string) (*value, error) {
	if len(data) > l.opts.MaxBytes {
		return nil, &Error{File: file, Msg: fmt.Sprintf("file is %d bytes, over the %d-byte limit", len(data), l.opts.MaxBytes)}
	}
	l.bytes += len(data)
	if limit := maxTotalFactor * l.opts.MaxBytes; l.bytes > limit {
		return nil, &Error{File: file, Msg: fmt.Sprintf("the configuration and its includes are over the %d-byte limit for all files together", limit)}
	}
	root, err := parseYAML(file, data)
	if err != nil {
		return nil, err
	}
	if root == nil {
		return nil, &Error{File: file, Msg: "configuration is empty"}
	}
	if root.kind != mapKind {
		return nil, errAt(root, "configuration must be a mapping of keywords and jobs, not %s", root.describe())
	}
	l.nodes += root.size
	if l.nodes > maxNodes {
		return nil, errAt(root, "configuration expands to more than %d YAML nodes", maxNodes)
	}
	inc := root.get("include")
	if inc == nil {
		return root, nil
	}
	refs, err := includeRefs(inc.val)
	if err != nil {
		return nil, err
	}
	var base *value
	for _, r := range refs {
		if depth >= MaxIncludeDepth {
			return nil, errAt(r.at, "includes are nested deeper than %d levels", MaxIncludeDepth)
		}
		l.includes++
		if l.includes > MaxIncludes {
			return nil, errAt(r.at, "more than %d files are included", MaxIncludes)
		}
		if slices.Contains(stack, r.path) {
			return nil, errAt(r.at, "include cycle: %s -> %s", strings.Join(stack, " -> "), r.path)
		}
		if l.opts.ReadFile == nil {
			return nil, errAt(r.at, "include is not available for this configuration")
		}
		data, err := l.opts.ReadFile(r.path)
		if err != nil {
			return nil, errAt(r.at, "cannot read included file %q: %v", r.path, err)
		}
		sub, err := l.load(r.path, data, depth+1, append(stack[:len(stack):len(stack)], r.path))
		if err != nil {
			return nil, err
		}
		base = merge(base, sub, nil)
	}
	return merge(base, root.without("include"), nil), nil
}

type includeRef struct {
	path string
	at   *value
}

// includeRefs reads the include keyword: a path, a list of paths, or
// {local: path} mappings. Only local files are supported.
func includeRefs(v *value) ([]includeRef, error) {
	items := []*value{v}
	if v.kind == seqKind {
		items = v.items
	}
	var refs []includeRef
	for _, it := range items {
		switch it.kind {
		case scalarKind:
			if strings.Contains(it.str, "://") {
				return nil, errAt(it, "include:remote is not supported; only local files can be included")
			}
			p, err := localPath(it, it.str)
			if err != nil {
				return nil, err
			}
			refs = append(refs, includeRef{p, it})
		case mapKind:
			var local *value
			for i := range it.entries {
				e := &it.entries[i]
				switch e.key {
				case "local":
					local = e.val
				case "remote", "project", "file", "ref", "template", "component", "artifact", "job":
					return nil, errAtKey(e, "include:%s is not supported; only local files can be included", e.key)
				case "rules", "inputs", "integrity", "cache":
					return nil, errAtKey(e, "include:%s is not supported", e.key)
				default:
					return nil, errAtKey(e, "unknown include keyword %q", e.key)
				}
			}
			if local == nil {
				return nil, errAt(it, "include entry needs local")
			}
			if local.kind != scalarKind {
				return nil, errAt(local, "include:local must be a path, not %s", local.describe())
			}
			p, err := localPath(local, local.str)
			if err != nil {
				return nil, err
			}
			refs = append(refs, includeRef{p, local})
		default:
			return nil, errAt(it, "include must be a path, a list, or a mapping with local, not %s", it.describe())
		}
	}
	return refs, nil
}

// localPath cleans a repository path. Paths are relative to the repository
// root whether or not they start with "/", and cannot climb out of it.
func localPath(at *value, p string) (string, error) {
	if strings.ContainsAny(p, "*?[{") {
		return "", errAt(at, "include:local with wildcards is not supported")
	}
	clean := strings.TrimPrefix(path.Clean("/"+p), "/")
	if clean == "" {
		return "", errAt(at, "include:local needs a file path")
	}
	return clean, nil
}

// merge deep-merges over into base: mappings merge key by key with over
// winning, anything else (lists included) is replaced by over, as GitLab's
// deep merge does for includes and extends. work, if non-nil, counts the
// entries visited.
func merge(base, over *value, work *int) *value {
	if base == nil {
		return over
	}
	if base.kind != mapKind || over.kind != mapKind {
		return over
	}
	if work != nil {
		*work += len(base.entries) + len(over.entries)
	}
	out := *over
	out.entries = make([]entry, 0, len(base.entries)+len(over.entries))
	overIdx := make(map[string]int, len(over.entries))
	for i, e := range over.entries {
		overIdx[e.key] = i
	}
	inBase := make(map[string]bool, len(base.entries))
	for _, e := range base.entries {
		inBase[e.key] = true
		if i, ok := overIdx[e.key]; ok {
			oe := over.entries[i]
			oe.val = merge(e.val, oe.val, work)
			out.entries = append(out.entries, oe)
		} else {
			out.entries = append(out.entries, e)
		}
	}
	for _, e := range over.entries {
		if !inBase[e.key] {
			out.entries = append(out.entries, e)
		}
	}
	return &out
}
