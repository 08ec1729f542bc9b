package testserver

import (
	"os/exec"
	"syscall"
)

// dieWithParent has the kernel kill a child if the test process dies (a
// test timeout, ^C), so that no server outlives its test.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
