package runner

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
)

// A job's processes must not outlive the runner: a script left running
// by a killed runner (kill -9, a crash, the OOM killer) keeps its job's
// token alive and in use. Two mechanisms, because neither suffices alone:
//
//   - each process the runner starts gets the parent-death signal
//     (SIGKILL, Linux), so bash and git die with the runner. The kernel
//     does not pass it on to their children, though: a `sleep` or a
//     server started by the script would live on;
//   - each step therefore runs in a process group of its own, led by its
//     bash, and the runner's watchdog kills the group if the runner dies
//     while the step runs. The watchdog is one shell per runner process
//     (a shell per step doubled what a trivial job's processes cost) that
//     reads a pipe only the runner can write to: "add PGID" when a step
//     starts, "del PGID" when it ended. When the runner dies, the kernel
//     closes the pipe, the read ends, and the watchdog kills every group
//     still listed. It ignores the SIGTERM of a graceful cancel, and it is
//     in a group of its own, which no cancel signals.
//
// Two orderings make it airtight. A step's script waits, before its first
// command, for the runner's word on a pipe of its own (fd 3), which the
// runner gives only once "add" is written: a runner that dies in between
// leaves a script that reads end of file and exits, having started
// nothing. And "del" is written after the step's bash exited but before
// the runner reaps it, so that the group's ID (bash's PID) cannot have
// been reused by an unrelated group that the watchdog would kill.
//
// The runner starts the watchdog itself (rather than the script forking
// one) so that it reaps it, which matters when the server is PID 1 in a
// container, and so that the user's script, its `wait` included, is
// unchanged.

// watchdogScript keeps the list of the runner's live step groups and, at
// end of file (the runner is gone), kills them. It is POSIX sh, cheaper to
// start than bash, and it forks nothing until the end: every command it
// runs per line is a builtin.
const watchdogScript = `trap '' HUP INT TERM
gs=
while read -r op g; do
	case $op in
	add) gs="$gs $g" ;;
	del) r=; for x in $gs; do [ "$x" = "$g" ] || r="$r $x"; done; gs=$r ;;
	esac
done
for x in $gs; do kill -9 -"$x"; done
exit 0`

// stepGate is the first line of a step's script: it waits for the
// runner's word on fd 3 (end of file: the runner died before the step's
// group was listed, so nothing may start) and closes it, so that the
// script's own processes do not inherit it. It leaves the script's line
// numbers as they were by sharing the line with `set -eo pipefail`.
const stepGate = `read -r _ <&3 || exit 1; exec 3<&-; `

// watchdog is a runner process's watchdog (see above).
type watchdog struct {
	mu       sync.Mutex
	cmd      *exec.Cmd
	lifeline *os.File // the pipe's write end, held by this process only
	exited   chan struct{}
}

// startWatchdog starts a watchdog with an empty list.
func startWatchdog() (*watchdog, error) {
	r, w, err := os.Pipe() // close-on-exec: no other child inherits w
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("/bin/sh", "-c", watchdogScript)
	cmd.Stdin = r // stdout and stderr: /dev/null
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	err = spawn(cmd)
	r.Close()
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("start the runner's watchdog: %w", err)
	}
	wd := &watchdog{cmd: cmd, lifeline: w, exited: make(chan struct{})}
	go func() {
		cmd.Wait()
		close(wd.exited)
	}()
	return wd, nil
}

// current is this process's watchdog, started by the first step (again
// if it died: a step started meanwhile is refused rather than unguarded).
var current struct {
	sync.Mutex
	w *watchdog
}

func processWatchdog() (*watchdog, error) {
	current.Lock()
	defer current.Unlock()
	if current.w != nil {
		select {
		case <-current.w.exited:
			current.w.lifeline.Close()
			current.w = nil
		default:
			return current.w, nil
		}
	}
	w, err := startWatchdog()
	if err != nil {
		return nil, err
	}
	current.w = w
	return w, nil
}

func (w *watchdog) send(op string, pgid int) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	_, err := io.WriteString(w.lifeline, op+" "+strconv.Itoa(pgid)+"\n")
	return err
}

// abandon closes the lifeline as a dying runner does: the watchdog kills
// the groups still listed, and exits.
func (w *watchdog) abandon() {
	w.mu.Lock()
	w.lifeline.Close()
	w.mu.Unlock()
	<-w.exited
}

// group is the process group of one job step, led by its first process.
type group struct {
	w      *watchdog
	leader *exec.Cmd
	pgid   int
}

// startGroup starts cmd, with the parent-death signal, as the leader of a
// new process group that w lists for as long as cmd runs (wait). cmd's
// fd 3 is the runner's word: it is given once the group is listed
// (stepGate waits for it).
func startGroup(w *watchdog, cmd *exec.Cmd) (*group, error) {
	gateR, gateW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.ExtraFiles = []*os.File{gateR}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	dieWithRunner(cmd.SysProcAttr)
	err = spawn(cmd)
	gateR.Close()
	if err != nil {
		gateW.Close()
		return nil, err
	}
	g := &group{w: w, leader: cmd, pgid: cmd.Process.Pid}
	if err := w.send("add", g.pgid); err != nil {
		// No word: the script exits before its first command.
		gateW.Close()
		g.signal(syscall.SIGKILL)
		cmd.Wait()
		return nil, fmt.Errorf("the runner's watchdog is gone: %w", err)
	}
	_, err = io.WriteString(gateW, "go\n")
	gateW.Close()
	if err != nil {
		g.signal(syscall.SIGKILL)
		g.wait()
		return nil, err
	}
	return g, nil
}

// start starts cmd in the group, with the parent-death signal.
func (g *group) start(cmd *exec.Cmd) error {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pgid: g.pgid}
	dieWithRunner(cmd.SysProcAttr)
	return spawn(cmd)
}

// signal sends sig to every process of the group.
func (g *group) signal(sig syscall.Signal) {
	syscall.Kill(-g.pgid, sig)
}

// wait waits for the leader to exit and takes the group off the
// watchdog's list before it reaps the leader, whose PID is the group's ID:
// until then no other group can have it. The group's other processes may
// stay (a cancel has already killed them). A failed "del" means the
// watchdog is gone: there is no list left to take the group off.
func (g *group) wait() error {
	if !waitExited(g.pgid) {
		err := g.leader.Wait()
		_ = g.w.send("del", g.pgid)
		return err
	}
	_ = g.w.send("del", g.pgid)
	return g.leader.Wait()
}

// runOwned runs a process that is no step (git, with the job's token in
// its environment) in a group of its own, with the parent-death signal;
// cancelling cmd's context kills that group rather than the process
// alone. Its children end with it: they read from and write to it.
func runOwned(cmd *exec.Cmd) error {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	dieWithRunner(cmd.SysProcAttr)
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	if err := spawn(cmd); err != nil {
		return err
	}
	return cmd.Wait()
}
