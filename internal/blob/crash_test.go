package blob

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"
)

// The crash tests run a Put in a child process (this test binary again,
// running TestCrashHelper), kill it with SIGKILL in the middle of the
// stream, and check what security.md §6 promises: nothing visible under the
// key, and a temporary that CleanTemp removes.

const crashEnv = "CIWARDEN_BLOB_CRASH_HELPER"

// crashSpec tells the helper which store to open.
type crashSpec struct {
	FSDir string    `json:",omitempty"`
	S3    *S3Config `json:",omitempty"`
}

const (
	crashKey   = "crash/victim"
	crashAfter = 12 * MiB // two 5 MiB parts are on the S3 server by then
)

func TestCrashHelper(t *testing.T) {
	raw := os.Getenv(crashEnv)
	if raw == "" {
		return // not a helper: nothing to do
	}
	var spec crashSpec
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		t.Fatal(err)
	}
	var s Store
	var err error
	if spec.S3 != nil {
		s, err = NewS3(context.Background(), *spec.S3)
	} else {
		s, err = NewFS(spec.FSDir)
	}
	if err != nil {
		t.Fatal(err)
	}
	announced := false
	r := &repeatReader{block: randomBytes(64*KiB+1, 9), n: 1 << 40, onRead: func(read int64) {
		if read < crashAfter {
			return
		}
		if !announced {
			fmt.Println("STREAMING")
			announced = true
		}
		time.Sleep(time.Hour) // wait for the kill, mid-stream
	}}
	_, err = s.Put(context.Background(), crashKey, r, -1)
	t.Fatalf("Put returned (%v); the parent should have killed us", err)
}

func testCrash(t *testing.T, spec crashSpec, reopen func() Store, temporaries func(*testing.T, Store) int) {
	raw, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+string(raw))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	timeout := time.After(60 * time.Second)
wait:
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				cmd.Wait()
				t.Fatal("the helper exited before streaming")
			}
			if line == "STREAMING" {
				break wait
			}
			t.Logf("helper: %s", line)
		case <-timeout:
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatal("the helper did not start streaming within 60s")
		}
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	go func() {
		for range lines {
		}
	}()
	cmd.Wait()

	s := reopen()
	if _, err := s.Stat(t.Context(), crashKey); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after the crash Stat(%s) = %v, want ErrNotFound", crashKey, err)
	}
	if keys := listKeys(t, s, ""); len(keys) != 0 {
		t.Fatalf("after the crash List = %v", keys)
	}
	if n := temporaries(t, s); n != 1 {
		t.Fatalf("after the crash %d temporaries, want the interrupted one", n)
	}
	if n, err := s.CleanTemp(t.Context(), time.Now().Add(time.Second)); err != nil || n != 1 {
		t.Fatalf("CleanTemp = %d, %v; want 1", n, err)
	}
	if n := temporaries(t, s); n != 0 {
		t.Fatalf("after CleanTemp %d temporaries", n)
	}
}

func TestFSCrash(t *testing.T) {
	dir := t.TempDir()
	testCrash(t, crashSpec{FSDir: dir}, func() Store {
		s, err := NewFS(dir)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}, fsTemporaries)
}
