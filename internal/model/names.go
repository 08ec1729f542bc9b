package model

import (
	"regexp"
	"strings"
)

var pathRe = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9_.\-]*$`)

// reservedTopLevel are first path segments that ciwarden's own routes use,
// so no group, user or top-level namespace may take them.
var reservedTopLevel = map[string]bool{
	"-": true, "api": true, "admin": true, "users": true, "groups": true, "projects": true,
	"explore": true, "dashboard": true, "help": true, "jwt": true, "metrics": true,
	"assets": true, "v2": true, "oauth": true, "login": true, "logout": true, "static": true,
	"root-namespace-reserved": true,
}

// ValidatePath checks a project, group or user path segment the way
// GitLab does: letters, digits, '_', '-' and '.', not starting with a
// special character, not ending in '.', '.git' or '.atom', at most 255
// characters. topLevel adds ciwarden's reserved names.
func ValidatePath(field, path string, topLevel bool) error {
	switch {
	case path == "":
		return Invalid(field, "can't be blank")
	case len(path) > 255:
		return Invalid(field, "is too long (maximum is 255 characters)")
	case !pathRe.MatchString(path),
		strings.HasSuffix(path, "."), strings.HasSuffix(path, "-"),
		strings.Contains(path, ".."),
		strings.HasSuffix(strings.ToLower(path), ".git"), strings.HasSuffix(strings.ToLower(path), ".atom"):
		return Invalid(field, "can contain only letters, digits, '_', '-' and '.'. Cannot start with '-', end in '.git' or end in '.atom'")
	case topLevel && reservedTopLevel[strings.ToLower(path)]:
		return Invalid(field, path+" is a reserved name")
	}
	return nil
}

// ValidateName checks a display name: present, bounded, printable.
func ValidateName(field, name string) error {
	switch {
	case strings.TrimSpace(name) == "":
		return Invalid(field, "can't be blank")
	case len(name) > 255:
		return Invalid(field, "is too long (maximum is 255 characters)")
	case strings.ContainsAny(name, "\x00\r\n\t"):
		return Invalid(field, "can contain only printable characters")
	}
	return nil
}

// Slug derives a path from a name: lower case, runs of other characters
// turned into '-'.
func Slug(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || r == '_' || r == '.' {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	return strings.Trim(b.String(), "-.")
}
