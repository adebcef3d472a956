//go:build linux

package audio

import (
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// selfSignal sends sig to this thread (the node's locked thread); for SIGSEGV it first restores the
// default action behind the Go runtime's back, so that the process dies of
// it as a C program would instead of the runtime turning it into a panic.
func selfSignal(sig unix.Signal) {
	if sig == unix.SIGSEGV {
		var act [4]uintptr // sa_handler = SIG_DFL, flags, restorer, mask
		unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&act)), 0, 8, 0, 0)
	}
	// Directed at this thread, so that it is this thread that takes the
	// signal on its way out of the system call, and the fault strikes at
	// the exact point of the cycle: sent to the process, another thread
	// may take it while this one runs on for some microseconds.
	unix.Tgkill(os.Getpid(), unix.Gettid(), sig)
}

func killSelf() { selfSignal(unix.SIGKILL) }
func stopSelf() { selfSignal(unix.SIGSTOP) }
func segvSelf() { selfSignal(unix.SIGSEGV) }

func pid() int { return os.Getpid() }
