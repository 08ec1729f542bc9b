package server_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ciwarden/ciwarden/internal/testserver"
)

// TestOversizedBodyAnswerArrives: a client that writes its whole oversized
// body before it reads (as curl and Go's transport do) gets the 413, not a
// connection reset. 16 MiB is more than the loopback socket buffers hold,
// so without the lingering read the server would close with unread bytes
// while the client is still writing.
func TestOversizedBodyAnswerArrives(t *testing.T) {
	s := testserver.New(t, testserver.Options{Run: true})
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	const size = 16 << 20
	fmt.Fprintf(conn, "POST /api/v4/groups HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", size)
	chunk := []byte(strings.Repeat("x", 64<<10))
	for sent := 0; sent < size; sent += len(chunk) {
		if _, err := conn.Write(chunk); err != nil {
			t.Fatalf("writing the body after %d bytes: %v; the server closed before the client could read its answer", sent, err)
		}
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(body), "413") {
		t.Fatalf("answer %d %q; want 413", res.StatusCode, body)
	}
}
