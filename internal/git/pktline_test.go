package git

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
)

// pkt frames s as one pkt-line.
func pkt(s string) string { return fmt.Sprintf("%04x%s", len(s)+4, s) }

const (
	shaA = "1111111111111111111111111111111111111111"
	shaB = "2222222222222222222222222222222222222222"
	shaC = "abcdefabcdefabcdefabcdefabcdefabcdef0123"
)

// pack stands in for whatever follows the command section; readCommands
// must not consume any of it.
const pack = "PACK\x00\x00\x00\x02\x00\x00\x00\x00trailing-bytes"

func TestReadCommands(t *testing.T) {
	long := "refs/heads/" + strings.Repeat("x", maxPktLen-4-len(shaA+" "+shaB+" refs/heads/"))
	tests := []struct {
		name     string
		commands string // the command section, through the flush packet
		want     []RefUpdate
	}{
		{
			name:     "one command with capabilities",
			commands: pkt(ZeroSHA+" "+shaA+" refs/heads/main\x00 report-status side-band-64k quiet object-format=sha1 agent=git/2.39.5\n") + "0000",
			want:     []RefUpdate{{Ref: "refs/heads/main", Old: ZeroSHA, New: shaA}},
		},
		{
			name:     "capabilities without leading space",
			commands: pkt(shaA+" "+shaB+" refs/heads/main\x00report-status\n") + "0000",
			want:     []RefUpdate{{Ref: "refs/heads/main", Old: shaA, New: shaB}},
		},
		{
			name:     "no trailing newline",
			commands: pkt(shaA+" "+shaB+" refs/heads/main") + "0000",
			want:     []RefUpdate{{Ref: "refs/heads/main", Old: shaA, New: shaB}},
		},
		{
			name: "several commands",
			commands: pkt(ZeroSHA+" "+shaA+" refs/heads/new\x00report-status\n") +
				pkt(shaA+" "+shaB+" refs/heads/main\n") +
				pkt(shaC+" "+ZeroSHA+" refs/tags/old\n") +
				pkt(ZeroSHA+" "+shaC+" refs/tags/v1.0\n") + "0000",
			want: []RefUpdate{
				{Ref: "refs/heads/new", Old: ZeroSHA, New: shaA},
				{Ref: "refs/heads/main", Old: shaA, New: shaB},
				{Ref: "refs/tags/old", Old: shaC, New: ZeroSHA},
				{Ref: "refs/tags/v1.0", Old: ZeroSHA, New: shaC},
			},
		},
		{
			name: "shallow lines before the commands",
			commands: pkt("shallow "+shaC+"\n") + pkt("shallow "+shaB+"\n") +
				pkt(shaA+" "+shaB+" refs/heads/main\x00report-status\n") + "0000",
			want: []RefUpdate{{Ref: "refs/heads/main", Old: shaA, New: shaB}},
		},
		{
			name:     "flush only (nothing to update)",
			commands: "0000",
			want:     nil,
		},
		{
			name:     "upper-case length",
			commands: "006A" + shaC + " " + shaB + " refs/heads/mainabcd\n" + "0000",
			want:     []RefUpdate{{Ref: "refs/heads/mainabcd", Old: shaC, New: shaB}},
		},
		{
			name:     "longest allowed packet",
			commands: pkt(shaA+" "+shaB+" "+long) + "0000",
			want:     []RefUpdate{{Ref: long, Old: shaA, New: shaB}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			input := tt.commands + pack
			br := bufio.NewReader(strings.NewReader(input))
			got, raw, err := readCommands(br)
			if err != nil {
				t.Fatalf("readCommands: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("updates = %#v\nwant %#v", got, tt.want)
			}
			if string(raw) != tt.commands {
				t.Errorf("raw = %q\nwant the consumed prefix %q", raw, tt.commands)
			}
			rest, _ := io.ReadAll(br)
			if string(raw)+string(rest) != input {
				t.Errorf("raw + rest of the reader does not rebuild the input:\nraw  %q\nrest %q", raw, rest)
			}
		})
	}
	if got := len(pkt(shaA + " " + shaB + " " + long)); got != maxPktLen {
		t.Fatalf("test bug: longest packet is %d bytes, want %d", got, maxPktLen)
	}
}

func TestReadCommandsDeleted(t *testing.T) {
	in := pkt(shaA+" "+ZeroSHA+" refs/heads/gone\x00report-status\n") + pkt(ZeroSHA+" "+shaA+" refs/heads/born\n") + "0000"
	got, _, err := readCommands(bufio.NewReader(strings.NewReader(in)))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !got[0].Deleted() || got[1].Deleted() {
		t.Fatalf("Deleted() wrong for %#v", got)
	}
}

func TestReadCommandsMalformed(t *testing.T) {
	good := pkt(shaA + " " + shaB + " refs/heads/main\x00report-status\n")
	tests := []struct {
		name  string
		input string
	}{
		{"empty body", ""},
		{"short length", "00"},
		{"short length after a command", good + "00"},
		{"non-hex length", "zzzz" + shaA},
		{"non-hex length 0x", "0x3f" + shaA},
		{"signed length", "+03f" + shaA},
		{"spaces in length", " 03f" + shaA},
		{"length below 4: delim", "0001"},
		{"length below 4: response end", "0002"},
		{"length 3", "0003"},
		{"empty packet", "0004" + "0000"},
		{"over-long packet", "fff1" + strings.Repeat("a", 0xfff1-4) + "0000"},
		{"maximal length ffff", "ffff" + strings.Repeat("a", 0xffff-4) + "0000"},
		{"short read of the payload", good[:30]},
		{"short read: missing flush", good},
		{"old SHA too short", pkt(shaA[:39]+" "+shaB+" refs/heads/main\n") + "0000"},
		{"new SHA too long", pkt(shaA+" "+shaB+"2 refs/heads/main\n") + "0000"},
		{"SHA-256 length", pkt(strings.Repeat("a", 64)+" "+strings.Repeat("b", 64)+" refs/heads/main\n") + "0000"},
		{"missing ref", pkt(shaA+" "+shaB+"\n") + "0000"},
		{"extra field", pkt(shaA+" "+shaB+" refs/heads/main extra\n") + "0000"},
		{"garbage line", pkt("hello world\n") + "0000"},
		{"bad second command", good + pkt(shaA+" refs/heads/x\n") + "0000"},
		{"pack without commands", pack},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, raw, err := readCommands(bufio.NewReader(strings.NewReader(tt.input)))
			if err == nil {
				t.Fatalf("readCommands(%.60q) = %#v, nil; want an error", tt.input, got)
			}
			if !errors.Is(err, errBadPktLine) {
				t.Errorf("error %v is not errBadPktLine", err)
			}
			if got != nil {
				t.Errorf("updates on error = %#v, want nil", got)
			}
			if !strings.HasPrefix(tt.input, string(raw)) {
				t.Errorf("raw %.80q is not a prefix of the input", raw)
			}
		})
	}
}

func TestReadCommandsTooMany(t *testing.T) {
	build := func(n int) string {
		var b strings.Builder
		for i := 0; i < n; i++ {
			b.WriteString(pkt(fmt.Sprintf("%s %s refs/heads/b%d\n", ZeroSHA, shaA, i)))
		}
		b.WriteString("0000")
		return b.String()
	}
	in := build(maxPushCommands)
	got, raw, err := readCommands(bufio.NewReader(strings.NewReader(in)))
	if err != nil || len(got) != maxPushCommands || string(raw) != in {
		t.Fatalf("%d commands: %d updates, %d raw bytes, err %v", maxPushCommands, len(got), len(raw), err)
	}
	got, _, err = readCommands(bufio.NewReader(strings.NewReader(build(maxPushCommands + 1))))
	if err == nil || got != nil {
		t.Fatalf("%d commands: %d updates, err %v; want an error", maxPushCommands+1, len(got), err)
	}
}
