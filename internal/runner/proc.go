package runner

import (
	"fmt"
	"io"
	"os"
	"os/exec"
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
//   - each step therefore runs in a process group of its own, led by a
//     watchdog shell that reads a pipe only the runner can write to. When
//     the runner dies, the kernel closes the pipe, the read ends, and the
//     watchdog kills its whole group. On a normal end the runner writes a
//     line first and the watchdog exits quietly. The watchdog ignores the
//     SIGTERM of a graceful cancel, which goes to the whole group.
//
// The runner starts the watchdog itself (rather than the script forking
// one) so that it reaps it, which matters when the server is PID 1 in a
// container, and so that the user's script, its `wait` included, is
// unchanged.

// watchdogScript waits for the runner's line on stdin; end of file means
// the runner is gone. It is POSIX sh: cheaper to start than bash.
const watchdogScript = `trap '' HUP INT TERM; read -r _ || kill -9 0`

// group is the process group of one job step.
type group struct {
	watchdog *exec.Cmd
	lifeline *os.File // the pipe's write end, held by this process only
	pgid     int
}

// newGroup starts a step's process group with its watchdog as leader.
func newGroup() (*group, error) {
	r, w, err := os.Pipe() // close-on-exec: no other child inherits w
	if err != nil {
		return nil, err
	}
	wd := exec.Command("/bin/sh", "-c", watchdogScript)
	wd.Stdin = r // stdout and stderr: /dev/null
	wd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	err = spawn(wd)
	r.Close()
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("start the job's watchdog: %w", err)
	}
	return &group{watchdog: wd, lifeline: w, pgid: wd.Process.Pid}, nil
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

// release lets the watchdog go: the step is over and the group's
// processes may stay (a cancel has already killed them).
func (g *group) release() {
	io.WriteString(g.lifeline, "done\n")
	g.close()
}

// abandon closes the lifeline as a dying runner does: the watchdog kills
// the group.
func (g *group) abandon() {
	g.close()
}

func (g *group) close() {
	g.lifeline.Close()
	g.watchdog.Wait()
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
