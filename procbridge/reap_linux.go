//go:build linux

package procbridge

import (
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The reaper: a worker's end is told (Exited) from its status, read
// without reaping it (waitid with WNOWAIT), and the zombie is reaped here,
// one at a time, by a goroutine that runs only while there are zombies to
// reap. Reaping is where the kernel releases the process and flushes its
// /proc entries, which on a loaded machine takes tens of milliseconds; a
// stop of many workers in order, each waiting for the last one's end,
// would otherwise wait for every flush in turn.
var reaper zombies

// reapHold, set by tests, holds each reap until the channel is closed, so
// that a test may look at a zombie.
var reapHold atomic.Pointer[chan struct{}]

type zombies struct {
	mu      sync.Mutex
	queue   []zombie
	running bool
}

type zombie struct {
	pid  int
	gone chan struct{} // closed once it is reaped
}

// reap queues pid, a zombie child of this process, to be reaped, and
// closes gone once it is.
func (z *zombies) reap(pid int, gone chan struct{}) {
	z.mu.Lock()
	defer z.mu.Unlock()
	z.queue = append(z.queue, zombie{pid, gone})
	if !z.running {
		z.running = true
		go z.run()
	}
}

func (z *zombies) run() {
	z.mu.Lock()
	defer z.mu.Unlock()
	for len(z.queue) > 0 {
		next := z.queue[0]
		z.queue = z.queue[1:]
		z.mu.Unlock()
		if h := reapHold.Load(); h != nil {
			<-*h
		}
		var ws unix.WaitStatus
		for {
			if _, err := unix.Wait4(next.pid, &ws, 0, nil); err != unix.EINTR {
				break
			}
		}
		close(next.gone)
		z.mu.Lock()
	}
	z.queue = nil
	z.running = false
}

// exitStatusOf reads a child's end from the siginfo waitid filled in: its
// exit code (-1 when a signal ended it), the signal, and whether it dumped
// core.
func exitStatusOf(info *unix.Siginfo) (code, sig int, core bool) {
	b := (*[128]byte)(unsafe.Pointer(info))
	status := int(int32(uint32(b[24]) | uint32(b[25])<<8 | uint32(b[26])<<16 | uint32(b[27])<<24))
	switch info.Code {
	case cldKilled:
		return -1, status, false
	case cldDumped:
		return -1, status, true
	}
	return status, 0, false
}

// si_code of SIGCHLD (CLD_KILLED, CLD_DUMPED).
const (
	cldKilled = 2
	cldDumped = 3
)
