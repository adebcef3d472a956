//go:build !linux

package procbridge

import "syscall"

func signalName(s syscall.Signal) string { return s.String() }
