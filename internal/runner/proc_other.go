//go:build !linux

package runner

import (
	"os/exec"
	"syscall"
)

// dieWithRunner: there is no parent-death signal outside Linux; the
// runner's watchdog (proc.go) still ends each step's group.
func dieWithRunner(*syscall.SysProcAttr) {}

// waitExited cannot wait without reaping outside Linux (waitid with
// WNOWAIT): the group leaves the watchdog's list just after its leader is
// reaped, so a runner that dies in between may have the watchdog signal a
// group ID the system just gave to another group.
func waitExited(int) bool { return false }

func spawn(cmd *exec.Cmd) error { return cmd.Start() }
