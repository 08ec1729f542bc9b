package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// The project's own documentation is README.md and docs/*.md. Every
// relative link in it must lead to a file of the repository, and a link to
// a heading (file.md#anchor) to a heading that exists there; a path to a
// document written in code (`docs/x.md`) must exist too, since readers
// follow those as well. The README once pointed at a docs/ file that was
// not in the repository; this keeps that from happening again.

func TestDocLinksResolve(t *testing.T) {
	root := filepath.Join("..", "..")
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("the repository root is not two levels up: %v", err)
	}
	files := []string{"README.md"}
	docs, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range docs {
		rel, _ := filepath.Rel(root, d)
		files = append(files, filepath.ToSlash(rel))
	}
	// The README names these two; if one went missing the README check
	// below would say so too, but this names the cause.
	for _, want := range []string{"docs/runner-protocol.md", "docs/job-token.md"} {
		if !slices.Contains(files, want) {
			t.Errorf("%s is missing", want)
		}
	}
	for _, p := range brokenLinks(t, root, files) {
		t.Error(p)
	}
}

// TestDocLinkCheckerFindsBrokenLinks runs the checker on documents with
// every kind of broken link, and on the forms that must pass.
func TestDocLinkCheckerFindsBrokenLinks(t *testing.T) {
	root := t.TempDir()
	write := func(name, text string) {
		t.Helper()
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("docs/a.md", "# A title\n\n## 2. The `x.y` part\n\n## Twice\n\n## Twice\n\n```\n## Not a heading\n```\n")
	write("src/file.go", "package src\n")
	write("README.md", strings.Join([]string{
		"# Read me",
		"",
		"Good: [a](docs/a.md), [title](docs/a.md#a-title), [part](docs/a.md#2-the-xy-part),",
		"[again](docs/a.md#twice-1), [self](#read-me), [dir](src/), [file](./src/file.go \"title\"),",
		"[web](https://example.com/missing.md), [mail](mailto:x@example.com), `docs/a.md`, [ref][r].",
		"",
		"[r]: docs/a.md",
		"",
		"Bad: [gone](docs/gone.md), [anchor](docs/a.md#no-such-heading), [code heading](docs/a.md#not-a-heading),",
		"[self](#nowhere), [out](../outside.md), `docs/missing.md` §3, [ref][s], [third](docs/a.md#twice-2).",
		"",
		"[s]: docs/also-gone.md",
		"",
		"    [indented code](is/not/a/link.md)",
		"",
		"```",
		"[fenced code](is/not/a/link.md)",
		"```",
		"",
		"Code `[text](not/a/link.md)` is not a link either.",
	}, "\n"))
	got := brokenLinks(t, root, []string{"README.md", "docs/a.md"})
	want := []string{
		`README.md: link "docs/gone.md": no such file`,
		`README.md: link "docs/a.md#no-such-heading": no heading with anchor #no-such-heading in docs/a.md`,
		`README.md: link "docs/a.md#not-a-heading": no heading with anchor #not-a-heading in docs/a.md`,
		`README.md: link "#nowhere": no heading with anchor #nowhere in README.md`,
		`README.md: link "../outside.md": leads out of the repository`,
		`README.md: link "docs/a.md#twice-2": no heading with anchor #twice-2 in docs/a.md`,
		`README.md: link "docs/also-gone.md": no such file`,
		`README.md: code path "docs/missing.md": no such file`,
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("problems found:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

var (
	// inlineLink is [text](target) or ![alt](target), with an optional
	// title; the target may be in angle brackets.
	inlineLink = regexp.MustCompile(`!?\[[^\]]*\]\(\s*(?:<([^>]*)>|([^\s)]+))(?:\s+(?:"[^"]*"|'[^']*'))?\s*\)`)
	// refDefinition is [label]: target.
	refDefinition = regexp.MustCompile(`^ {0,3}\[[^\]]+\]:\s*<?([^\s>]+)>?`)
	// codePath is a repository path to a document, written as code.
	codePath = regexp.MustCompile("^(docs/[A-Za-z0-9._-]+\\.md|README\\.md)$")
	// scheme starts an absolute URL (https:, mailto:, ...).
	scheme = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*:`)
	// fence opens or closes a fenced code block.
	fence = regexp.MustCompile("^ {0,3}(```|~~~)")
	// atxHeading is a Markdown heading line.
	atxHeading = regexp.MustCompile(`^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$`)
)

// mdDoc is what the checker needs of one Markdown file: its paragraphs
// (code blocks left out) and the anchors of its headings.
type mdDoc struct {
	paragraphs []string
	anchors    map[string]bool
}

// parseMarkdown splits a document into paragraphs outside code blocks and
// collects its headings' anchors as GitHub renders them.
func parseMarkdown(text string) mdDoc {
	d := mdDoc{anchors: map[string]bool{}}
	seen := map[string]int{}
	var para []string
	flush := func() {
		if len(para) > 0 {
			d.paragraphs = append(d.paragraphs, strings.Join(para, "\n"))
			para = nil
		}
	}
	inFence := ""
	for _, line := range strings.Split(text, "\n") {
		if m := fence.FindStringSubmatch(line); m != nil {
			switch {
			case inFence == "":
				flush()
				inFence = m[1]
				continue
			case m[1] == inFence:
				inFence = ""
				continue
			}
		}
		if inFence != "" {
			continue
		}
		if strings.TrimSpace(line) == "" {
			flush()
			continue
		}
		// An indented line that does not continue a paragraph is code.
		if len(para) == 0 && (strings.HasPrefix(line, "    ") || strings.HasPrefix(line, "\t")) {
			continue
		}
		if m := atxHeading.FindStringSubmatch(line); m != nil {
			flush()
			slug := headingSlug(m[2])
			n := seen[slug]
			seen[slug] = n + 1
			if n > 0 {
				slug += "-" + strconv.Itoa(n)
			}
			d.anchors[slug] = true
			continue
		}
		para = append(para, line)
	}
	flush()
	return d
}

// headingSlug is GitHub's anchor for a heading: its text without markup,
// lower case, with every character but letters, digits, '_', '-' and
// spaces dropped and spaces turned into '-'.
func headingSlug(heading string) string {
	heading = inlineLink.ReplaceAllStringFunc(heading, func(l string) string {
		return l[strings.IndexByte(l, '[')+1 : strings.IndexByte(l, ']')]
	})
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// codeSpans splits a paragraph into its text outside code spans and the
// contents of its code spans (CommonMark: a run of backticks closed by a
// run of the same length).
func codeSpans(p string) (text string, spans []string) {
	var out strings.Builder
	for i := 0; i < len(p); {
		if p[i] != '`' {
			out.WriteByte(p[i])
			i++
			continue
		}
		n := 0
		for i+n < len(p) && p[i+n] == '`' {
			n++
		}
		ticks := p[i : i+n]
		end := -1
		for j := i + n; j < len(p); {
			if p[j] != '`' {
				j++
				continue
			}
			m := 0
			for j+m < len(p) && p[j+m] == '`' {
				m++
			}
			if m == n {
				end = j
				break
			}
			j += m
		}
		if end < 0 {
			out.WriteString(ticks) // unmatched: literal backticks
			i += n
			continue
		}
		spans = append(spans, strings.TrimSpace(strings.ReplaceAll(p[i+n:end], "\n", " ")))
		out.WriteString("code")
		i = end + n
	}
	return out.String(), spans
}

// brokenLinks checks the links of files (slash paths relative to root)
// and returns one line per problem.
func brokenLinks(t *testing.T, root string, files []string) []string {
	t.Helper()
	docs := map[string]mdDoc{}
	load := func(rel string) (mdDoc, error) {
		if d, ok := docs[rel]; ok {
			return d, nil
		}
		b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(rel)))
		if err != nil {
			return mdDoc{}, err
		}
		d := parseMarkdown(string(b))
		docs[rel] = d
		return d, nil
	}
	var problems []string
	for _, file := range files {
		d, err := load(file)
		if err != nil {
			t.Fatalf("read %s: %v", file, err)
		}
		report := func(kind, target, msg string) {
			problems = append(problems, file+": "+kind+" "+strconv.Quote(target)+": "+msg)
		}
		check := func(kind, target, base string) {
			if scheme.MatchString(target) {
				return // a URL, not a file of the repository
			}
			pathPart, anchor, _ := strings.Cut(target, "#")
			dest := file
			if pathPart != "" {
				dest = filepath.ToSlash(filepath.Clean(filepath.Join(base, filepath.FromSlash(pathPart))))
				if strings.HasPrefix(pathPart, "/") {
					dest = strings.TrimPrefix(filepath.ToSlash(filepath.Clean(pathPart)), "/")
				}
				if dest == ".." || strings.HasPrefix(dest, "../") {
					report(kind, target, "leads out of the repository")
					return
				}
				if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(dest))); err != nil {
					report(kind, target, "no such file")
					return
				}
			}
			if anchor == "" || !strings.HasSuffix(dest, ".md") {
				return
			}
			dd, err := load(dest)
			if err != nil {
				report(kind, target, err.Error())
				return
			}
			if !dd.anchors[strings.ToLower(anchor)] {
				report(kind, target, "no heading with anchor #"+anchor+" in "+dest)
			}
		}
		dir := filepath.ToSlash(filepath.Dir(file))
		for _, p := range d.paragraphs {
			text, spans := codeSpans(p)
			for _, m := range inlineLink.FindAllStringSubmatch(text, -1) {
				check("link", m[1]+m[2], dir)
			}
			for _, line := range strings.Split(text, "\n") {
				if m := refDefinition.FindStringSubmatch(line); m != nil {
					check("link", m[1], dir)
				}
			}
			for _, s := range spans {
				if codePath.MatchString(s) {
					check("code path", s, ".")
				}
			}
		}
	}
	return problems
}
