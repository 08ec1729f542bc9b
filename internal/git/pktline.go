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
	var raw []byte
	var updates []RefUpdate
	for {
		head := make([]byte, 4)
		if _, err := io.ReadFull(br, head); err != nil {
			return nil, raw, fmt.Errorf("%w: %v", errBadPktLine, err)
		}
		raw = append(raw, head...)
		n, err := strconv.ParseUint(string(head), 16, 16)
		if err != nil {
			return nil, raw, errBadPktLine
		}
		if n == 0 { // flush: end of the commands
			return updates, raw, nil
		}
		if n < 4 || n > maxPktLen {
			return nil, raw, errBadPktLine
		}
		payload := make([]byte, n-4)
		if _, err := io.ReadFull(br, payload); err != nil {
			return nil, raw, fmt.Errorf("%w: %v", errBadPktLine, err)
		}
		raw = append(raw, payload...)
		line := string(payload)
		line, _, _ = strings.Cut(line, "\x00") // capabilities follow the first command
		line = strings.TrimSuffix(line, "\n")
		if strings.HasPrefix(line, "shallow ") || strings.HasPrefix(line, "push-cert") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 3 || len(f[0]) != 40 || len(f[1]) != 40 {
			return nil, raw, errBadPktLine
		}
		if len(updates) >= maxPushCommands {
			return nil, raw, errors.New("too many ref updates in one push")
		}
		updates = append(updates, RefUpdate{Old: f[0], New: f[1], Ref: f[2]})
	}
}
