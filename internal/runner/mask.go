package runner

import (
	"bytes"
	"io"
	"strings"
)

// maskWriter replaces secrets and prefixed tokens before output reaches
// the trace. It holds back a tail shorter than the longest pattern so
// that a secret split between two writes is seen whole.
type maskWriter struct {
	w        io.Writer
	secrets  [][]byte
	prefixes []string
	longest  int
	held     []byte
}

func newMaskWriter(w io.Writer, secrets, prefixes []string) *maskWriter {
	m := &maskWriter{w: w, prefixes: prefixes}
	for _, s := range secrets {
		if len(s) > 0 {
			m.secrets = append(m.secrets, []byte(s))
			m.longest = max(m.longest, len(s))
		}
	}
	for _, p := range prefixes {
		m.longest = max(m.longest, len(p)+64)
	}
	return m
}

var masked = []byte("[MASKED]")

func (m *maskWriter) Write(p []byte) (int, error) {
	buf := m.mask(append(m.held, p...))
	hold := min(max(m.longest-1, 0), len(buf))
	m.held = append([]byte{}, buf[len(buf)-hold:]...)
	if _, err := m.w.Write(buf[:len(buf)-hold]); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Flush writes what is held; call it at the end of the output.
func (m *maskWriter) Flush() error {
	buf := m.mask(m.held)
	m.held = nil
	_, err := m.w.Write(buf)
	return err
}

func (m *maskWriter) mask(b []byte) []byte {
	for _, s := range m.secrets {
		b = bytes.ReplaceAll(b, s, masked)
	}
	for _, pre := range m.prefixes {
		b = maskWords(b, pre)
	}
	return b
}

// maskWords keeps prefix and masks the rest of every word starting with
// it, as gitlab-runner's token-prefix rule.
func maskWords(b []byte, prefix string) []byte {
	var out []byte
	for {
		i := bytes.Index(b, []byte(prefix))
		if i < 0 {
			return append(out, b...)
		}
		j := i + len(prefix)
		for j < len(b) && strings.IndexByte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._=-", b[j]) >= 0 {
			j++
		}
		out = append(out, b[:i+len(prefix)]...)
		if j > i+len(prefix) && !bytes.HasPrefix(b[i+len(prefix):], masked) {
			out = append(out, masked...)
		} else {
			out = append(out, b[i+len(prefix):j]...)
		}
		b = b[j:]
	}
}
