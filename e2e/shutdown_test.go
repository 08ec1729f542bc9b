package e2e

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestGracefulShutdown: on SIGTERM the server stops accepting connections
// but finishes the request in flight, then exits 0.
func TestGracefulShutdown(t *testing.T) {
	s := startServer(t, "sqlite")

	// A request whose body arrives in two parts. With Expect:
	// 100-continue the client sends the body only once the handler reads
	// it, so when the first write returns the request is being served.
	body, w := io.Pipe()
	req := s.NewRequest(t, "POST", api+"/groups", s.RootToken, nil)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Expect", "100-continue")
	req.Body, req.ContentLength = body, -1
	client := &http.Client{Transport: &http.Transport{ExpectContinueTimeout: time.Minute}, Timeout: time.Minute}
	defer client.CloseIdleConnections()
	type result struct {
		resp *http.Response
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := client.Do(req)
		done <- result{resp, err}
	}()
	if _, err := io.WriteString(w, "name=Late&path="); err != nil {
		t.Fatalf("write the first part of the body: %v", err)
	}

	s.Terminate(t)
	// Shutdown has begun once new connections are refused.
	addr := strings.TrimPrefix(s.URL, "http://")
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatalf("still accepting connections 10s after SIGTERM")
		}
		time.Sleep(5 * time.Millisecond)
	}

	// The request in flight completes.
	io.WriteString(w, "late")
	w.Close()
	res := <-done
	if res.err != nil {
		t.Fatalf("request in flight during shutdown: %v", res.err)
	}
	b, _ := io.ReadAll(res.resp.Body)
	res.resp.Body.Close()
	if res.resp.StatusCode != http.StatusCreated || !strings.Contains(string(b), `"full_path":"late"`) {
		t.Errorf("request in flight during shutdown: %d %s", res.resp.StatusCode, b)
	}
	s.Wait(t)
	if !strings.Contains(s.Log(), "shutting down") {
		t.Errorf("no shutdown notice in the log")
	}
}
