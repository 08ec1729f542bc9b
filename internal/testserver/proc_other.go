//go:build !linux

package testserver

import "os/exec"

// dieWithParent: only Linux can tie a child's life to the test's.
func dieWithParent(*exec.Cmd) {}
