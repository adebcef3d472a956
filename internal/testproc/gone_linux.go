//go:build linux

package testproc

import (
	"context"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/understudy/understudy/internal/deathwatch"
	"github.com/understudy/understudy/procbridge"
)

// WaitGone waits until pid has ended, or fails t after Deadline.
func WaitGone(t testing.TB, pid int) {
	t.Helper()
	fd, err := unix.PidfdOpen(pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return
	}
	if err != nil {
		t.Fatalf("pidfd_open %d: %v", pid, err)
	}
	defer unix.Close(fd)
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, int(Deadline/time.Millisecond))
	if err != nil || n == 0 {
		t.Fatalf("pid %d still alive after %v", pid, Deadline)
	}
}

var warm sync.Once

// OpenFds counts this process's open descriptors, after procbridge has
// opened the ones it keeps for the life of the program (the lifeline pipe,
// /dev/null).
func OpenFds(t testing.TB) int {
	t.Helper()
	warm.Do(func() {
		p, err := procbridge.Start(context.Background(), procbridge.Spec{Worker: "wait"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
		<-p.Done()
	})
	deathwatch.EndLinger() // its programs and reader stay a while after the last process
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}
