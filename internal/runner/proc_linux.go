package runner

import (
	"os/exec"
	"runtime"
	"sync"
	"syscall"
	"unsafe"
)

// dieWithRunner has the kernel SIGKILL the process when the runner dies.
func dieWithRunner(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGKILL }

// The parent-death signal fires when the thread that forked the child
// exits, not the process; and Go ends a thread when a goroutine locked to
// it returns without unlocking. A child started from any goroutine could
// thus be killed while the runner lives on. So every job process is
// started from one goroutine that locks its thread and never returns:
// that thread ends only with the process.
var (
	spawnOnce     sync.Once
	spawnRequests = make(chan spawnRequest)
)

type spawnRequest struct {
	cmd  *exec.Cmd
	done chan error
}

// spawn starts cmd from the spawner's thread.
func spawn(cmd *exec.Cmd) error {
	spawnOnce.Do(func() { go spawner() })
	req := spawnRequest{cmd: cmd, done: make(chan error, 1)}
	spawnRequests <- req
	return <-req.done
}

func spawner() {
	runtime.LockOSThread() // never unlocked, on purpose
	for req := range spawnRequests {
		req.done <- req.cmd.Start()
	}
}

// waitExited waits until process pid (a child) has exited, without
// reaping it: its PID stays taken until the caller reaps it. false: it
// could not wait.
func waitExited(pid int) bool {
	const pPID = 1     // P_PID
	var info [128]byte // siginfo_t
	for {
		_, _, errno := syscall.Syscall6(syscall.SYS_WAITID, pPID, uintptr(pid), uintptr(unsafe.Pointer(&info[0])),
			syscall.WEXITED|syscall.WNOWAIT, 0, 0)
		if errno != syscall.EINTR {
			return errno == 0
		}
	}
}
