//go:build !unix

package main

import "os"

// killGroup kills pid: there are no process groups to kill here.
func killGroup(pid int) {
	if p, err := os.FindProcess(pid); err == nil {
		_ = p.Kill()
	}
}
