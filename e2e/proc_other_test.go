//go:build !linux

package e2e

import "os/exec"

// dieWithParent: only Linux can tie the server's life to the test's.
func dieWithParent(*exec.Cmd) {}
