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

// startSleepers starts, as the leader of a group w lists, a bash that puts
// one sleep in the background and waits in another, and returns the group
// and the three PIDs.
func startSleepers(t *testing.T, w *watchdog) (g *group, pids []int) {
	t.Helper()
	pidFile := filepath.Join(t.TempDir(), "pids")
	cmd := exec.Command("bash", "-c", stepGate+`sleep 300 & echo $! >> "$1"; echo $$ >> "$1"; exec sleep 301`, "bash", pidFile)
	g, err := startGroup(w, cmd)
	if err != nil {
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
	return g, pids
}

// waitGone waits until none of pids is alive.
func waitGone(t *testing.T, pids []int, what string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var left []int
		for _, pid := range pids {
			if alive(pid) {
				left = append(left, pid)
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("processes %v %s", left, what)
		}
	}
}

// TestGroupDiesWithRunner: when the runner's end of the lifeline closes,
// as it does when the runner is killed, the watchdog kills every process
// of every step group it lists, the children that the parent-death signal
// does not reach included, and exits.
func TestGroupDiesWithRunner(t *testing.T) {
	w, err := startWatchdog()
	if err != nil {
		t.Fatal(err)
	}
	g1, pids1 := startSleepers(t, w)
	g2, pids2 := startSleepers(t, w)
	w.abandon()
	// Judged before reaping: a killed leader is a zombie until then.
	waitGone(t, append(pids1, pids2...), "of the groups outlived the lifeline")
	g1.leader.Wait()
	g2.leader.Wait()
	if code := w.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("the watchdog exited %d after killing the groups, want 0", code)
	}
}

// TestGroupRelease: a step that ended leaves the watchdog's list, so that
// what it left running is not killed when the runner dies later; a
// graceful SIGTERM to a step's group leaves the watchdog, which serves
// the next steps.
func TestGroupRelease(t *testing.T) {
	w, err := startWatchdog()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ready := filepath.Join(dir, "ready")
	cmd := exec.Command("bash", "-c", stepGate+`trap 'exit 7' TERM; : > "$1"; sleep 300 & wait`, "bash", ready)
	g, err := startGroup(w, cmd)
	if err != nil {
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
	g.wait()
	if code := cmd.ProcessState.ExitCode(); code != 7 {
		t.Errorf("the script's exit code after SIGTERM: %d, want its trap's 7", code)
	}
	if !alive(w.cmd.Process.Pid) {
		t.Fatalf("the watchdog died of a group's SIGTERM")
	}

	// A step that leaves a process behind, and ends.
	left := filepath.Join(dir, "left")
	step := exec.Command("bash", "-c", stepGate+`sleep 300 >/dev/null 2>&1 & echo $! > "$1"`, "bash", left)
	g, err = startGroup(w, step)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.wait(); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(left)
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if pid == 0 {
		t.Fatalf("the step did not say what it left: %q", b)
	}
	defer syscall.Kill(pid, syscall.SIGKILL)
	w.abandon()
	if code := w.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("the watchdog exited %d, want 0", code)
	}
	time.Sleep(100 * time.Millisecond)
	if !alive(pid) {
		t.Errorf("the watchdog killed what an ended step left running")
	}
}

// TestStepWaitsForItsGroupListed: a step's script runs nothing before the
// runner's word (stepGate), which comes once the watchdog lists its
// group; without it (a runner that died in between) the script exits.
func TestStepWaitsForItsGroupListed(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "ran")
	gateR, gateW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", "-c", stepGate+`: > "$1"`, "bash", marker)
	cmd.ExtraFiles = []*os.File{gateR}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	gateR.Close()
	time.Sleep(200 * time.Millisecond)
	if _, err := os.Stat(marker); err == nil {
		t.Fatalf("the script ran before the runner's word")
	}
	gateW.Close()
	if err := cmd.Wait(); err == nil {
		t.Errorf("a script whose runner never gave its word exited 0, want 1")
	}
	if _, err := os.Stat(marker); err == nil {
		t.Errorf("a script whose runner never gave its word ran")
	}
}

// TestSpawnSurvivesThreadExit: the parent-death signal follows the thread
// that forked the child. A child started on behalf of a goroutine that
// locked its thread and ended (which ends that thread) lives on, because
// spawn forks from a thread of its own that never ends.
func TestSpawnSurvivesThreadExit(t *testing.T) {
	w, err := startWatchdog()
	if err != nil {
		t.Fatal(err)
	}
	g, _ := startSleepers(t, w)
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
	w.abandon()
	cmd.Wait()
	g.leader.Wait()
}
