//go:build linux

package linux

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

var pidfdProbe struct {
	once sync.Once
	p    PidfdProbe
}

// ProbePidfd finds, once, how a start can get a pidfd for its child. It
// tries what a start does: pidfd_open and waitid(P_PIDFD) on this process,
// then a fork with CLONE_PIDFD. Linux 5.3+ has all of them, but emulators
// and sandboxes may refuse a part: qemu-user refuses the clone flag while
// pidfd_open works, seccomp profiles and gVisor may refuse either.
func ProbePidfd() PidfdProbe {
	pidfdProbe.once.Do(func() { pidfdProbe.p = probePidfd() })
	return pidfdProbe.p
}

func probePidfd() PidfdProbe {
	fd, err := unix.PidfdOpen(os.Getpid(), 0)
	if err != nil {
		return PidfdProbe{Way: PidfdNone, Why: fmt.Sprintf("pidfd_open fails: %v", err)}
	}
	var info unix.Siginfo
	err = unix.Waitid(unix.P_PIDFD, fd, &info, unix.WEXITED|unix.WNOHANG, nil)
	for err == unix.EINTR {
		err = unix.Waitid(unix.P_PIDFD, fd, &info, unix.WEXITED|unix.WNOHANG, nil)
	}
	unix.Close(fd)
	if err != unix.ECHILD { // this process is not its own child
		return PidfdProbe{Way: PidfdNone, Why: fmt.Sprintf("waitid(P_PIDFD) fails: %v", err)}
	}
	if err := probeClonePidfd(); err != nil {
		return PidfdProbe{Way: PidfdOpen, Why: err.Error()}
	}
	return PidfdProbe{Way: PidfdClone}
}

// probeClonePidfd checks that a process can be forked with CLONE_PIDFD the
// way syscall.ForkExec forks it: an exec of a path that does not exist
// fails with ENOENT only once the clone has worked.
func probeClonePidfd() error {
	pidfd := -1
	_, err := syscall.ForkExec("/nonexistent/understudy-pidfd-probe", []string{"probe"},
		&syscall.ProcAttr{Sys: &syscall.SysProcAttr{PidFD: &pidfd}})
	if pidfd >= 0 {
		unix.Close(pidfd)
	}
	if !errors.Is(err, syscall.ENOENT) {
		return fmt.Errorf("forking with a pidfd (clone CLONE_PIDFD) fails: %v", err)
	}
	return nil
}
