package runner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// collector gathers the files of one artifacts[] entry, as gitlab-runner's
// artifacts-uploader does: every path matching `paths` (a directory
// brings everything under it), plus git's untracked and ignored files
// when `untracked` is set, minus whatever matches `exclude`. Files are
// keyed by their slash path relative to the build directory.
type collector struct {
	root     string // the build directory, absolute and clean
	realRoot string // root with symlinks resolved
	exclude  []string
	env      []string // for git

	files    map[string]fs.FileInfo
	excluded map[string]int
	logs     []string // lines for the job log, in order
}

func newCollector(root string, exclude, env []string) (*collector, error) {
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	real, err := filepath.EvalSymlinks(root)
	if err != nil {
		return nil, err
	}
	c := &collector{root: root, realRoot: real, env: env, files: map[string]fs.FileInfo{}, excluded: map[string]int{}}
	for _, e := range exclude {
		rel, err := c.relative(e)
		if err != nil {
			c.warnf("isExcluded: %v", err)
			continue
		}
		c.exclude = append(c.exclude, rel)
	}
	return c, nil
}

func (c *collector) infof(format string, args ...any) {
	c.logs = append(c.logs, fmt.Sprintf(format, args...))
}

func (c *collector) warnf(format string, args ...any) {
	c.logs = append(c.logs, "WARNING: "+fmt.Sprintf(format, args...))
}

// relative turns a pattern as written in the YAML into a clean slash path
// relative to the build directory, refusing one that leaves it.
func (c *collector) relative(p string) (string, error) {
	p = filepath.ToSlash(p)
	if p == "" {
		return "", errors.New("empty path")
	}
	if path.IsAbs(p) {
		rel, err := filepath.Rel(c.root, filepath.FromSlash(p))
		if err != nil {
			return "", fmt.Errorf("artifact path is not a subpath of project directory: %s", p)
		}
		p = filepath.ToSlash(rel)
	}
	p = path.Clean(p)
	if p == ".." || strings.HasPrefix(p, "../") {
		return "", fmt.Errorf("artifact path is not a subpath of project directory: %s", p)
	}
	return p, nil
}

// sorted returns the collected paths in a stable order: a directory
// always comes before what it holds.
func (c *collector) sorted() []string {
	out := make([]string, 0, len(c.files))
	for f := range c.files {
		out = append(out, f)
	}
	sort.Strings(out)
	return out
}

// addPaths processes each `paths` pattern, logging how much it found.
func (c *collector) addPaths(patterns []string) {
	for _, p := range patterns {
		found := 0
		shown := p
		for _, alt := range expandBraces(filepath.ToSlash(p)) {
			rel, err := c.relative(alt)
			if err != nil {
				c.warnf("processPath: %v", err)
				continue
			}
			shown = rel
			found += c.glob(rel)
		}
		if found == 0 {
			c.warnf("%s: no matching files. Ensure that the artifact path is relative to the working directory (%s)", shown, c.root)
		} else {
			c.infof("%s: found %d matching artifact files and directories", shown, found)
		}
	}
}

// glob adds every match of one (brace-free, relative) pattern, walking
// from its literal leading directories without following symlinks.
func (c *collector) glob(pattern string) int {
	base, segs := splitGlob(pattern)
	start := filepath.Join(c.root, filepath.FromSlash(base))
	if _, err := os.Lstat(start); err != nil {
		return 0
	}
	if base != "." && !c.inside(filepath.Dir(start)) {
		c.warnf("%s: not supported: outside build directory", pattern)
		return 0
	}
	found := 0
	literal := base == pattern || pattern == "."
	_ = filepath.WalkDir(start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // vanished or unreadable: gitlab-runner skips it too
		}
		rel := c.rel(p)
		if !literal {
			var name []string
			if rel != "." {
				name = strings.Split(rel, "/")
			}
			if !matchSegs(segs, name) {
				if d.IsDir() && !mayMatchBelow(segs, name) {
					return filepath.SkipDir
				}
				return nil
			}
		}
		// A match: it, and everything under it when it is a directory.
		found += c.addTree(p)
		if d.IsDir() {
			return filepath.SkipDir
		}
		return nil
	})
	return found
}

// addTree adds p and, for a directory, everything below it.
func (c *collector) addTree(p string) int {
	n := 0
	_ = filepath.WalkDir(p, func(q string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if c.add(c.rel(q)) {
			n++
		}
		return nil
	})
	return n
}

func (c *collector) rel(p string) string {
	r, err := filepath.Rel(c.root, p)
	if err != nil {
		return "."
	}
	return filepath.ToSlash(r)
}

// inside reports whether dir, with symlinks resolved, is in the build
// directory: a path through a symlinked directory must not reach out.
func (c *collector) inside(dir string) bool {
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return false
	}
	r, err := filepath.Rel(c.realRoot, real)
	return err == nil && r != ".." && !strings.HasPrefix(r, "../")
}

// add records one path unless an exclude pattern matches it; the build
// directory itself is never an entry.
func (c *collector) add(rel string) bool {
	if rel == "." || rel == "" {
		return false
	}
	for _, e := range c.exclude {
		if globMatch(e, rel) {
			c.excluded[e]++
			return false
		}
	}
	info, err := os.Lstat(filepath.Join(c.root, filepath.FromSlash(rel)))
	if err != nil {
		return false
	}
	c.files[rel] = info
	return true
}

// addUntracked adds what `git ls-files --others` lists: untracked files,
// ignored ones included, as gitlab-runner does.
func (c *collector) addUntracked(ctx context.Context) {
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, "git", "ls-files", "-o", "-z")
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = c.root, c.env, &out, &errb
	cmd.WaitDelay = gitWaitDelay
	if err := runOwned(cmd); err != nil {
		c.warnf("untracked: %v %s", err, strings.TrimSpace(errb.String()))
		return
	}
	found := 0
	for _, f := range strings.Split(out.String(), "\x00") {
		if f == "" {
			continue
		}
		rel, err := c.relative(f)
		if err != nil {
			c.warnf("%s: %v", f, err)
			continue
		}
		if !c.inside(filepath.Dir(filepath.Join(c.root, filepath.FromSlash(rel)))) {
			c.warnf("%s: not supported: outside build directory", f)
			continue
		}
		if c.add(rel) {
			found++
		}
	}
	if found == 0 {
		c.warnf("untracked: no files")
	} else {
		c.infof("untracked: found %d files", found)
	}
}

// logExcluded reports how many paths each exclude pattern removed.
func (c *collector) logExcluded() {
	keys := make([]string, 0, len(c.excluded))
	for k := range c.excluded {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		c.infof("%s: excluded %d files", k, c.excluded[k])
	}
}
