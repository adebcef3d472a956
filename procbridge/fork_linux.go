//go:build linux

package procbridge

import (
	"os"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/understudy/understudy/internal/linux"
)

// The kernel sends a child its parent-death signal when the *thread* that
// forked it exits, not the process. Go may retire a thread whenever a
// goroutine that locked it returns, so every fork happens on a goroutine
// locked to a thread that never exits: a forker. There are GOMAXPROCS of
// them, taking forks from one channel, so that many workers can be forked
// at once (the Go runtime lets forks run concurrently; each blocks its
// thread until the child has exec'd). They live as long as the program
// (each parks on the channel and costs nothing) and are the goroutines of
// this package without an owner that can stop them, by design; tests that
// use goleak ignore procbridge.forkLoop.
var forker struct {
	once sync.Once
	reqs chan func() bool
}

// A fork that leaves its thread unfit for more (a thread that could not
// leave a worker's cgroup v1 groups, limits_linux.go) retires its forker:
// the goroutine parks for good on its thread, which must still outlive the
// children it forked, and a new forker takes its place.
func forkLoop(reqs <-chan func() bool) {
	runtime.LockOSThread() // never unlocked: the thread must outlive every child
	for f := range reqs {
		if !f() {
			go forkLoop(reqs)
			select {}
		}
	}
}

// onForkThread runs f on a forker's thread and waits for it. f reports
// whether the thread may fork again.
func onForkThread(f func() bool) {
	forker.once.Do(func() {
		forker.reqs = make(chan func() bool)
		for range max(runtime.GOMAXPROCS(0), 1) {
			go forkLoop(forker.reqs)
		}
	})
	done := make(chan struct{})
	forker.reqs <- func() bool { defer close(done); return f() }
	<-done
}

// The lifeline: a pipe whose write end only this process holds. Every worker
// inherits the read end; when this process dies, however it dies, the read
// end sees EOF and the worker SDK exits. It backs up the parent-death signal
// (which an exec of a set-uid program clears, and which a thread exit would
// fire early).
var lifeline struct {
	once sync.Once
	r, w *os.File
	rfd  int // r's descriptor, made blocking once
	err  error
}

func lifelineReadEnd() (*os.File, error) {
	lifeline.once.Do(func() {
		lifeline.r, lifeline.w, lifeline.err = os.Pipe()
		if lifeline.err == nil {
			lifeline.rfd = int(lifeline.r.Fd())
		}
	})
	return lifeline.r, lifeline.err
}

// devNull is opened once and shared by every child's discarded streams.
var devNull struct {
	once sync.Once
	f    *os.File
	fd   uintptr // f's descriptor, read once (each File.Fd is a system call or two)
	err  error
}

func nullFile() (*os.File, error) {
	devNull.once.Do(func() {
		if devNull.f, devNull.err = os.OpenFile(os.DevNull, os.O_RDWR, 0); devNull.err == nil {
			devNull.fd = devNull.f.Fd()
		}
	})
	return devNull.f, devNull.err
}

// pidfdWay is how a start gets its child's pidfd: from the fork, by
// pidfd_open right after it (where the fork refuses CLONE_PIDFD, as under
// qemu-user), or not at all (the sentinel pipe). The probe runs once.
func pidfdWay() linux.PidfdWay {
	w := linux.ProbePidfd().Way
	if w == linux.PidfdClone && noClonePidfd.Load() {
		return linux.PidfdOpen
	}
	return w
}

// noClonePidfd makes starts act as where the fork refuses CLONE_PIDFD
// (tests).
var noClonePidfd atomic.Bool

// pidfdWorks reports whether a start can get a pidfd for its child.
func pidfdWorks() bool { return pidfdWay() != linux.PidfdNone }
