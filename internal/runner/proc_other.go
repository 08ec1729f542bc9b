//go:build !linux

package runner

import (
	"os/exec"
	"syscall"
)

// dieWithRunner: there is no parent-death signal outside Linux; the
// watchdog of each step's group (proc.go) still ends the group.
func dieWithRunner(*syscall.SysProcAttr) {}

func spawn(cmd *exec.Cmd) error { return cmd.Start() }
