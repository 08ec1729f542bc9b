package expr

import "strings"

// Expand replaces $NAME and ${NAME} in s with the variables' values. An
// undefined variable expands to nothing, "$$" is a literal "$", and a "$"
// that starts no variable reference is kept as it is.
func Expand(s string, lookup func(string) (string, bool)) string {
	out, _ := ExpandLimit(s, lookup, -1)
	return out
}

// ExpandLimit is Expand with a bound on the result's length: ok is false, and
// the result empty, as soon as the expansion would exceed max bytes (max < 0
// means no bound). Variable values can reference each other, so a few short
// definitions can otherwise expand to gigabytes.
func ExpandLimit(s string, lookup func(string) (string, bool), max int) (out string, ok bool) {
	if strings.IndexByte(s, '$') < 0 {
		if max >= 0 && len(s) > max {
			return "", false
		}
		return s, true
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		if c != '$' || i+1 >= len(s) {
			b.WriteByte(c)
			i++
		} else if s[i+1] == '$' {
			b.WriteByte('$')
			i += 2
		} else {
			name, n := refAt(s[i:])
			if n == 0 {
				b.WriteByte('$')
				i++
			} else {
				if lookup != nil {
					v, _ := lookup(name)
					if max >= 0 && b.Len()+len(v) > max {
						return "", false
					}
					b.WriteString(v)
				}
				i += n
			}
		}
		if max >= 0 && b.Len() > max {
			return "", false
		}
	}
	return b.String(), true
}

// refAt reads a "$NAME" or "${NAME}" reference at the start of s and returns
// the name and its length in s, or n == 0 when s holds no valid reference.
func refAt(s string) (name string, n int) {
	if strings.HasPrefix(s, "${") {
		l := scanName(s[2:])
		if l == 0 || !strings.HasPrefix(s[2+l:], "}") {
			return "", 0
		}
		return s[2 : 2+l], l + 3
	}
	l := scanName(s[1:])
	if l == 0 {
		return "", 0
	}
	return s[1 : 1+l], l + 1
}
