package git

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// RefUpdate is one ref a push asked to change.
type RefUpdate struct {
	Ref string // refs/heads/main, refs/tags/v1
	Old string
	New string
}

// Deleted reports whether the update removes the ref.
func (u RefUpdate) Deleted() bool { return u.New == ZeroSHA }

// Limits on the command section of a receive-pack request; a real push
// names a handful of refs.
const (
	maxPushCommands = 10000
	maxPktLen       = 65520
)

var errBadPktLine = errors.New("malformed pkt-line")

// readCommands reads the ref-update commands at the start of a
// receive-pack request body, up to the flush packet. It returns them and
// the raw bytes it consumed, which must be replayed to git.
func readCommands(br *bufio.Reader) ([]RefUpdate, []byte, error) {
	updates, raw, _, err := readCommandsCaps(br)
	return updates, raw, err
}

// readCommandsCaps is readCommands that also returns the capabilities the
// client asked for (after the NUL of the first command).
func readCommandsCaps(br *bufio.Reader) ([]RefUpdate, []byte, []string, error) {
	var caps []string
	var raw []byte
	var updates []RefUpdate
	for {
		head := make([]byte, 4)
		if _, err := io.ReadFull(br, head); err != nil {
			return nil, raw, nil, fmt.Errorf("%w: %v", errBadPktLine, err)
		}
		raw = append(raw, head...)
		n, err := strconv.ParseUint(string(head), 16, 16)
		if err != nil {
			return nil, raw, nil, errBadPktLine
		}
		if n == 0 { // flush: end of the commands
			return updates, raw, caps, nil
		}
		if n < 4 || n > maxPktLen {
			return nil, raw, nil, errBadPktLine
		}
		payload := make([]byte, n-4)
		if _, err := io.ReadFull(br, payload); err != nil {
			return nil, raw, nil, fmt.Errorf("%w: %v", errBadPktLine, err)
		}
		raw = append(raw, payload...)
		line := string(payload)
		line, capList, hasCaps := strings.Cut(line, "\x00") // capabilities follow the first command
		if hasCaps && caps == nil {
			caps = strings.Fields(capList)
		}
		line = strings.TrimSuffix(line, "\n")
		if strings.HasPrefix(line, "shallow ") || strings.HasPrefix(line, "push-cert") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 3 || len(f[0]) != 40 || len(f[1]) != 40 {
			return nil, raw, nil, errBadPktLine
		}
		if len(updates) >= maxPushCommands {
			return nil, raw, nil, errors.New("too many ref updates in one push")
		}
		updates = append(updates, RefUpdate{Old: f[0], New: f[1], Ref: f[2]})
	}
}

// reportedRefs parses receive-pack's report-status from its response:
// the refs git says it updated ("ok <ref>"). sideband says whether the
// report travels in band 1 of side-band packets. ok is false when no
// report could be read.
func reportedRefs(resp []byte, sideband bool) (map[string]bool, bool) {
	if sideband {
		var inner []byte
		for _, pkt := range pktPayloads(resp) {
			if len(pkt) > 0 && pkt[0] == 1 {
				inner = append(inner, pkt[1:]...)
			}
		}
		resp = inner
	}
	refs := map[string]bool{}
	seen := false
	for _, pkt := range pktPayloads(resp) {
		line := strings.TrimSuffix(string(pkt), "\n")
		switch {
		case strings.HasPrefix(line, "unpack "):
			seen = true
		case strings.HasPrefix(line, "ok "):
			refs[strings.TrimPrefix(line, "ok ")] = true
		}
	}
	return refs, seen
}

// pktPayloads splits a pkt-line stream into payloads, stopping at the
// first malformed length.
func pktPayloads(b []byte) [][]byte {
	var out [][]byte
	for len(b) >= 4 {
		n, err := strconv.ParseUint(string(b[:4]), 16, 16)
		if err != nil {
			break
		}
		if n == 0 || n == 1 || n == 2 { // flush, delim, response-end
			b = b[4:]
			continue
		}
		if n < 4 || int(n) > len(b) {
			break
		}
		out = append(out, b[4:n])
		b = b[n:]
	}
	return out
}
