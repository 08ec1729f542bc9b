package web

import (
	"html"
	"regexp"
	"strconv"
	"strings"
)

// A job log is stored as the runner sent it, masked (the ci package's
// masker): ANSI colour codes and GitLab's section markers included. The
// job page renders it to HTML here, line by line, so that a chunk fetched
// by offset renders the same as the whole log (colours are reset at each
// line's end, as runners do).

// sectionMarker is GitLab's collapsible section marker:
// section_start:<unix time>:<name>[<options>]\r\x1b[0K, or section_end.
var sectionMarker = regexp.MustCompile(`section_(start|end):(\d+):([A-Za-z0-9_.-]+)(\[[^\]]*\])?\r?(\x1b\[0K)?`)

// sgr is one ANSI escape sequence (only SGR, "m", changes the rendering;
// others, such as erase-line, are dropped).
var sgr = regexp.MustCompile(`\x1b\[([0-9;]*)([A-Za-z])`)

// RenderLog turns log text into HTML lines.
func RenderLog(text string) string {
	var b strings.Builder
	lines := strings.SplitAfter(text, "\n")
	for _, line := range lines {
		if line == "" {
			continue
		}
		renderLine(&b, strings.TrimRight(line, "\n"))
	}
	return b.String()
}

func renderLine(b *strings.Builder, line string) {
	class := "line"
	section := ""
	if m := sectionMarker.FindStringSubmatch(line); m != nil {
		if m[1] == "end" && strings.TrimSpace(sectionMarker.ReplaceAllString(line, "")) == "" {
			return // an end marker alone on its line shows nothing
		}
		if m[1] == "start" {
			class, section = "line section-start", m[3]
		}
		line = sectionMarker.ReplaceAllString(line, "")
	}
	// A carriage return rewrites the line: show what was written last.
	if i := strings.LastIndexByte(strings.TrimRight(line, "\r"), '\r'); i >= 0 {
		line = line[i+1:]
	}
	line = strings.TrimRight(line, "\r")
	b.WriteString(`<div class="` + class + `"`)
	if section != "" {
		b.WriteString(` data-section="` + html.EscapeString(section) + `"`)
	}
	b.WriteString(">")
	var st style
	open := false
	pos := 0
	for _, loc := range sgr.FindAllStringSubmatchIndex(line, -1) {
		b.WriteString(html.EscapeString(line[pos:loc[0]]))
		pos = loc[1]
		if line[loc[4]:loc[5]] != "m" {
			continue
		}
		st.apply(line[loc[2]:loc[3]])
		if open {
			b.WriteString("</span>")
			open = false
		}
		if c := st.classes(); c != "" {
			b.WriteString(`<span class="` + c + `">`)
			open = true
		}
	}
	b.WriteString(html.EscapeString(line[pos:]))
	if open {
		b.WriteString("</span>")
	}
	b.WriteString("</div>")
}

// style is the SGR state: foreground and background colour (0 default,
// 30-37 and 90-97 / 40-47 and 100-107), bold, italic, underline.
type style struct {
	fg, bg                  int
	bold, italic, underline bool
}

func (s *style) apply(params string) {
	if params == "" {
		*s = style{}
		return
	}
	for _, p := range strings.Split(params, ";") {
		n, err := strconv.Atoi(p)
		if err != nil {
			continue
		}
		switch {
		case n == 0:
			*s = style{}
		case n == 1:
			s.bold = true
		case n == 3:
			s.italic = true
		case n == 4:
			s.underline = true
		case n == 22:
			s.bold = false
		case n == 23:
			s.italic = false
		case n == 24:
			s.underline = false
		case n >= 30 && n <= 37, n >= 90 && n <= 97:
			s.fg = n
		case n == 39:
			s.fg = 0
		case n >= 40 && n <= 47, n >= 100 && n <= 107:
			s.bg = n
		case n == 49:
			s.bg = 0
		}
	}
}

func (s *style) classes() string {
	var c []string
	if s.fg != 0 {
		c = append(c, "fg"+strconv.Itoa(s.fg))
	}
	if s.bg != 0 {
		c = append(c, "bg"+strconv.Itoa(s.bg))
	}
	if s.bold {
		c = append(c, "b")
	}
	if s.italic {
		c = append(c, "i")
	}
	if s.underline {
		c = append(c, "u")
	}
	return strings.Join(c, " ")
}
