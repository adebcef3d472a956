package jackserver

import "syscall"

// dieWithParent makes a started server get SIGKILL when the thread that
// started it ends.
func dieWithParent() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
