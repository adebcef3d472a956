//go:build unix

package main

import "syscall"

// killGroup SIGKILLs the process group that pid leads: procbridge starts
// each process in a group of its own, so the group takes grandchildren
// too. A pid that leads no group is killed alone.
func killGroup(pid int) {
	if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}
