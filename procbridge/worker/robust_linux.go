//go:build linux

package worker

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/understudy/understudy/internal/linux"
	"github.com/understudy/understudy/procbridge/internal/shm"
)

// The death notice. The kernel walks each exiting thread's robust futex
// list early in its exit, before the address space is torn down (which, for
// a large heap, takes tens of milliseconds): every word on the list that
// holds the thread's TID gets FUTEX_OWNER_DIED, and a waiter on it is woken.
// So one thread of the worker, locked and parked for the life of the
// process, registers a list whose entries are the lane's robust words, in
// the shared segment: the supervisor waits on word 0, parked spares on the
// others. The thread never returns, so it exits only when the whole process
// does.
//
// cgo: glibc registers a robust list of its own for every thread it
// creates (for robust pthread mutexes). set_robust_list replaces that list
// for the one thread that calls it, and that thread never takes a pthread
// mutex, so nothing of glibc's is lost; every other thread keeps glibc's.

// robustHead is the kernel's struct robust_list_head: the list's first
// entry, the offset from an entry to its futex word, and the pending op.
// It lives in Go memory that never moves and is never freed.
var robustHead [3]uintptr

const robustFutexOffset = 8 // each entry is 8 bytes of next pointer, then the word

// robustArmed says whether this process armed its robust words.
var robustArmed atomic.Bool

// armRobust starts the robust thread and returns once the list is
// registered and the words hold its TID.
func armRobust(lane *shm.Lane) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread lives as long as the process
		tid := unix.Gettid()
		// The kernel wakes the words' waiters in list order. The spares'
		// words come first and the supervisor's (word 0) last: on a busy
		// machine the first thread woken gets the idle CPU, and it should
		// be the spare that takes over, not the bookkeeping.
		order := make([]int, 0, shm.RobustWords)
		for i := 1; i < shm.RobustWords; i++ {
			order = append(order, i)
		}
		order = append(order, 0)
		next := uintptr(unsafe.Pointer(&robustHead))
		for k := len(order) - 1; k >= 0; k-- {
			i := order[k]
			atomic.StoreUint32(lane.RobustWord(i), uint32(tid))
			atomic.StoreUint64(lane.RobustEntry(i), uint64(next))
			next = uintptr(unsafe.Pointer(lane.RobustEntry(i)))
		}
		robustHead[0] = next
		robustHead[1] = robustFutexOffset
		robustHead[2] = 0
		_, _, e := unix.RawSyscall(unix.SYS_SET_ROBUST_LIST, uintptr(unsafe.Pointer(&robustHead)), unsafe.Sizeof(robustHead), 0)
		if e != 0 {
			errc <- fmt.Errorf("worker: set_robust_list: %w", e)
			return // the thread exits with nothing registered: the pidfd still tells
		}
		lane.SetRobustTid(tid)
		robustArmed.Store(true)
		errc <- nil
		select {} // park for the life of the process
	}()
	return <-errc
}

// disarmRobust clears the words, so that a clean exit is not taken for a
// crash, and wakes whoever waits on them.
func disarmRobust(lane *shm.Lane) {
	if !robustArmed.Load() {
		return
	}
	for i := range shm.RobustWords {
		atomic.StoreUint32(lane.RobustWord(i), 0)
		linux.FutexWake(lane.RobustWord(i), 1<<30)
	}
}
