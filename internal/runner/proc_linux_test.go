package runner

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// alive reports whether pid is a process that has not ended: neither gone
// nor a zombie waiting to be reaped by whoever adopted it.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// pid (comm) state ...: comm may hold spaces, the state follows the
	// last parenthesis.
	s := string(b)
	rest := s[strings.LastIndexByte(s, ')')+1:]
	return !strings.HasPrefix(strings.TrimSpace(rest), "Z")
}

// startSleepers starts, in g, a bash that puts one sleep in the
// background and waits in another, and returns the three PIDs.
func startSleepers(t *testing.T, g *group) (cmd *exec.Cmd, pids []int) {
	t.Helper()
	pidFile := filepath.Join(t.TempDir(), "pids")
	cmd = exec.Command("bash", "-c", `sleep 300 & echo $! >> "$1"; echo $$ >> "$1"; exec sleep 301`, "bash", pidFile)
	if err := g.start(cmd); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); len(pids) < 2; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the script did not write its PIDs")
		}
		b, _ := os.ReadFile(pidFile)
		pids = pids[:0]
		for _, f := range strings.Fields(string(b)) {
			n, _ := strconv.Atoi(f)
			pids = append(pids, n)
		}
	}
	return cmd, append(pids, g.pgid)
}

// TestGroupDiesWithRunner: when the runner's end of the lifeline closes
// without the release line, as it does when the runner is killed, the
// watchdog kills every process of the step's group, the children that
// the parent-death signal does not reach included.
func TestGroupDiesWithRunner(t *testing.T) {
	g, err := newGroup()
	if err != nil {
		t.Fatal(err)
	}
	cmd, pids := startSleepers(t, g)
	g.abandon()
	cmd.Wait()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var left []int
		for _, pid := range pids {
			if alive(pid) {
				left = append(left, pid)
			}
		}
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("processes %v of the group outlived the lifeline", left)
		}
	}
}

// TestGroupRelease: a released watchdog exits by itself and kills
// nothing, and a graceful SIGTERM to the group leaves the watchdog.
func TestGroupRelease(t *testing.T) {
	g, err := newGroup()
	if err != nil {
		t.Fatal(err)
	}
	ready := filepath.Join(t.TempDir(), "ready")
	cmd := exec.Command("bash", "-c", `trap 'exit 7' TERM; : > "$1"; sleep 300 & wait`, "bash", ready)
	if err := g.start(cmd); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if _, err := os.Stat(ready); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the script never set its trap")
		}
	}
	g.signal(syscall.SIGTERM)
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 7 {
		t.Errorf("the script's exit code after SIGTERM: %d, want its trap's 7", code)
	}
	if !alive(g.pgid) {
		t.Fatalf("the watchdog died of the group's SIGTERM")
	}
	g.release()
	if code := g.watchdog.ProcessState.ExitCode(); code != 0 {
		t.Errorf("the released watchdog exited %d, want 0", code)
	}
}

// TestSpawnSurvivesThreadExit: the parent-death signal follows the thread
// that forked the child. A child started on behalf of a goroutine that
// locked its thread and ended (which ends that thread) lives on, because
// spawn forks from a thread of its own that never ends.
func TestSpawnSurvivesThreadExit(t *testing.T) {
	g, err := newGroup()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sleep", "300")
	started := make(chan error)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		started <- g.start(cmd)
	}()
	if err := <-started; err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // the locked thread's exit
	if !alive(cmd.Process.Pid) {
		t.Fatalf("the child died with the thread of the goroutine that asked for it")
	}
	g.abandon()
	cmd.Wait()
}
