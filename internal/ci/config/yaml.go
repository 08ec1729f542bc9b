package config

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Bounds on the YAML itself. The file comes from a repository, so it is
// hostile input: these keep a small file from turning into a large amount
// of memory or work (anchors and aliases let 1 KiB describe billions of nodes).
const (
	maxYAMLDepth = 64
	maxNodes     = 500_000 // nodes after alias expansion, over all files
)

type kind uint8

const (
	nullKind kind = iota
	scalarKind
	mapKind
	seqKind
	refKind // a !reference [name, key, ...] tag, resolved while decoding
)

// value is a YAML node after alias expansion and merge keys, with its
// position. Values are shared between the places that alias them and are
// never modified after conversion; merging builds new values.
type value struct {
	kind    kind
	tag     string // scalars: the resolved YAML tag, such as "!!str" or "!!int"
	plain   bool   // scalars: written without quotes or block style
	str     string
	entries []entry  // mapKind, in document order
	items   []*value // seqKind; refKind: the reference path
	file    string
	line    int
	col     int
	size    int // nodes below and including this one, aliases expanded
	height  int
}

// entry is one key of a mapping, with the key's position.
type entry struct {
	key  string
	file string
	line int
	col  int
	val  *value
}

func (v *value) get(key string) *entry {
	for i := range v.entries {
		if v.entries[i].key == key {
			return &v.entries[i]
		}
	}
	return nil
}

// without returns a copy of mapping v without key.
func (v *value) without(key string) *value {
	out := *v
	out.entries = make([]entry, 0, len(v.entries))
	for _, e := range v.entries {
		if e.key != key {
			out.entries = append(out.entries, e)
		}
	}
	return &out
}

func (v *value) describe() string {
	switch v.kind {
	case nullKind:
		return "null"
	case mapKind:
		return "a mapping"
	case seqKind:
		return "a list"
	case refKind:
		return "a !reference"
	}
	switch v.tag {
	case "!!bool":
		return "a boolean"
	case "!!int", "!!float":
		return "a number"
	}
	return "a string"
}

// parseYAML parses data into a value tree; an empty document gives nil.
func parseYAML(file string, data []byte) (*value, error) {
	var doc yaml.Node
	if err := unmarshal(data, &doc); err != nil {
		return nil, yamlError(file, err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, nil
	}
	c := converter{file: file, memo: map[*yaml.Node]*value{}, active: map[*yaml.Node]bool{}}
	return c.convert(doc.Content[0], 1)
}

// unmarshal turns a panic in the YAML library into an error: it is
// third-party code reading hostile input, and a crafted file must not take
// the server down.
func unmarshal(data []byte, n *yaml.Node) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml: cannot parse: %v", r)
		}
	}()
	return yaml.Unmarshal(data, n)
}

var yamlLineRE = regexp.MustCompile(`(?s)^yaml: line (\d+): (.*)$`)

// parserErrors are the YAML library's parser (not scanner) messages. For
// these it reports a 0-based line, one less than the line a person counts
// (its scanner errors are 1-based).
var parserErrors = []string{
	"did not find expected key", "did not find expected node content", "did not find expected '-' indicator",
	"did not find expected ',' or ']'", "did not find expected ',' or '}'", "did not find expected <document start>",
}

// yamlError converts the YAML library's "yaml: line N: msg" into an Error.
func yamlError(file string, err error) *Error {
	msg := err.Error()
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		for _, pe := range parserErrors {
			if strings.HasPrefix(m[2], pe) {
				line++
				break
			}
		}
		return &Error{File: file, Line: line, Msg: "invalid YAML: " + m[2]}
	}
	return &Error{File: file, Msg: "invalid YAML: " + strings.TrimPrefix(msg, "yaml: ")}
}

type converter struct {
	file   string
	memo   map[*yaml.Node]*value // converted anchors, shared by their aliases
	active map[*yaml.Node]bool   // nodes being converted, to catch self-referencing aliases
}

func (c *converter) errNode(n *yaml.Node, format string, args ...any) *Error {
	return &Error{File: c.file, Line: n.Line, Column: n.Column, Msg: fmt.Sprintf(format, args...)}
}

// addSize adds without overflowing: sizes saturate just above the limit.
func addSize(a, b int) int {
	if a+b > maxNodes {
		return maxNodes + 1
	}
	return a + b
}

// convert converts n found at the given depth (the document's top node is
// at depth 1). Depth and expanded size are checked here, on the way down,
// so neither deep nesting nor an alias bomb is ever materialized.
func (c *converter) convert(n *yaml.Node, depth int) (*value, error) {
	if depth > maxYAMLDepth {
		return nil, c.errNode(n, "YAML is nested deeper than %d levels", maxYAMLDepth)
	}
	if n.Kind == yaml.AliasNode {
		return c.alias(n, depth)
	}
	if v, ok := c.memo[n]; ok {
		return v, nil
	}
	c.active[n] = true
	defer delete(c.active, n)
	var v *value
	var err error
	switch n.Kind {
	case yaml.ScalarNode:
		v, err = c.scalar(n)
	case yaml.SequenceNode:
		v, err = c.sequence(n, depth)
	case yaml.MappingNode:
		v, err = c.mapping(n, depth)
	default:
		err = c.errNode(n, "unexpected YAML document structure")
	}
	if err != nil {
		return nil, err
	}
	if v.size > maxNodes {
		return nil, c.errNode(n, "YAML expands to more than %d nodes through anchors and aliases", maxNodes)
	}
	if n.Anchor != "" {
		c.memo[n] = v
	}
	return v, nil
}

func (c *converter) alias(n *yaml.Node, depth int) (*value, error) {
	t := n.Alias
	if t == nil {
		return nil, c.errNode(n, "unknown alias *%s", n.Value)
	}
	if c.active[t] {
		return nil, c.errNode(n, "alias *%s refers to a node that contains it", n.Value)
	}
	v, ok := c.memo[t]
	if !ok {
		var err error
		if v, err = c.convert(t, depth); err != nil {
			return nil, err
		}
	}
	if depth-1+v.height > maxYAMLDepth {
		return nil, c.errNode(n, "YAML is nested deeper than %d levels through alias *%s", maxYAMLDepth, n.Value)
	}
	return v, nil
}

func (c *converter) base(n *yaml.Node, k kind) *value {
	return &value{kind: k, file: c.file, line: n.Line, col: n.Column, size: 1, height: 1}
}

// checkTag accepts the standard "!!" tags and refuses local ones, which
// GitLab does not define (apart from !reference, handled by the caller).
func (c *converter) checkTag(n *yaml.Node) (string, error) {
	tag := n.ShortTag()
	if strings.HasPrefix(tag, "!!") {
		return tag, nil
	}
	if tag == "!reference" {
		return "", c.errNode(n, "!reference must be a list such as [job, key]")
	}
	return "", c.errNode(n, "unsupported YAML tag %q", tag)
}

func (c *converter) scalar(n *yaml.Node) (*value, error) {
	tag, err := c.checkTag(n)
	if err != nil {
		return nil, err
	}
	if tag == "!!null" {
		return c.base(n, nullKind), nil
	}
	v := c.base(n, scalarKind)
	v.tag = tag
	v.str = n.Value
	const written = yaml.DoubleQuotedStyle | yaml.SingleQuotedStyle | yaml.LiteralStyle | yaml.FoldedStyle
	v.plain = n.Style&written == 0
	return v, nil
}

func (c *converter) sequence(n *yaml.Node, depth int) (*value, error) {
	isRef := n.Tag == "!reference"
	if !isRef {
		if _, err := c.checkTag(n); err != nil {
			return nil, err
		}
	}
	v := c.base(n, seqKind)
	if isRef {
		v.kind = refKind
		if len(n.Content) == 0 {
			return nil, c.errNode(n, "!reference needs at least a job name")
		}
	}
	v.items = make([]*value, 0, len(n.Content))
	for _, cn := range n.Content {
		item, err := c.convert(cn, depth+1)
		if err != nil {
			return nil, err
		}
		if isRef && (item.kind != scalarKind || item.str == "") {
			return nil, c.errNode(cn, "!reference entries must be names, not %s", item.describe())
		}
		v.items = append(v.items, item)
		v.size = addSize(v.size, item.size)
		v.height = max(v.height, item.height+1)
		if v.size > maxNodes {
			return nil, c.errNode(n, "YAML expands to more than %d nodes through anchors and aliases", maxNodes)
		}
	}
	return v, nil
}

func (c *converter) mapping(n *yaml.Node, depth int) (*value, error) {
	if _, err := c.checkTag(n); err != nil {
		return nil, err
	}
	// First pass: the explicit keys, which take precedence over any key
	// brought in by a merge key (<<), wherever the merge key appears.
	seen := make(map[string]int, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn := n.Content[i]
		kv := kn
		if kv.Kind == yaml.AliasNode && kv.Alias != nil {
			kv = kv.Alias
		}
		if kv.Kind != yaml.ScalarNode {
			return nil, c.errNode(kn, "mapping keys must be strings")
		}
		if kv.ShortTag() == "!!merge" {
			continue
		}
		if first, dup := seen[kv.Value]; dup {
			return nil, c.errNode(kn, "duplicate key %q (first defined at line %d)", kv.Value, first)
		}
		seen[kv.Value] = kn.Line
	}
	v := c.base(n, mapKind)
	v.entries = make([]entry, 0, len(seen))
	merged := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := n.Content[i], n.Content[i+1]
		kv := kn
		if kv.Kind == yaml.AliasNode {
			kv = kv.Alias
		}
		child, err := c.convert(vn, depth+1)
		if err != nil {
			return nil, err
		}
		if kv.ShortTag() != "!!merge" {
			v.entries = append(v.entries, entry{key: kv.Value, file: c.file, line: kn.Line, col: kn.Column, val: child})
			v.size = addSize(v.size, 1+child.size)
			v.height = max(v.height, child.height+1)
		} else {
			// Merge keys (YAML 1.1, which GitLab's parser implements): the
			// mappings' keys are added unless set explicitly; in a list of
			// mappings, earlier ones win.
			srcs := []*value{child}
			if child.kind == seqKind {
				srcs = child.items
			}
			for _, src := range srcs {
				if src.kind != mapKind {
					return nil, c.errNode(vn, "a merge key (<<) needs a mapping or a list of mappings, not %s", src.describe())
				}
				for _, e := range src.entries {
					if _, explicit := seen[e.key]; explicit || merged[e.key] {
						continue
					}
					merged[e.key] = true
					v.entries = append(v.entries, e)
					v.size = addSize(v.size, 1+e.val.size)
					v.height = max(v.height, e.val.height+1)
				}
			}
		}
		if v.size > maxNodes {
			return nil, c.errNode(n, "YAML expands to more than %d nodes through anchors and aliases", maxNodes)
		}
	}
	return v, nil
}
