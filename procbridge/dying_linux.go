//go:build linux

package procbridge

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/understudy/understudy/internal/linux"
	"github.com/understudy/understudy/internal/mono"
	"github.com/understudy/understudy/procbridge/internal/shm"
)

// The early death notice (see procbridge/worker's robust thread): a worker
// that links the SDK keeps one thread whose robust futex list holds the
// lane's robust words. When that thread exits — which it does only when the
// whole process dies — the kernel sets FUTEX_OWNER_DIED in each word and
// wakes one waiter on each, long before a large address space is torn down
// and the pidfd becomes readable. The bridge waits on word 0 and turns the
// notice into a Dying event.
//
// The word is the worker's to write, so nothing read from it is trusted: it
// must hold the TID the worker recorded, that TID must be a thread of the
// worker, and a notice counts only when that thread is really exiting. A
// word that breaks these rules is ignored and the pidfd decides.

// watchDying starts the waiter on the lane's robust word 0, when the worker
// armed it with one of its own threads.
func (p *Process) watchDying() {
	tid := p.lane.RobustTid()
	word := p.lane.RobustWord(0)
	v := atomic.LoadUint32(word)
	var ok bool
	switch {
	case tid <= 0 || tid > shm.FutexTIDMask:
	case v&shm.FutexTIDMask == uint32(tid):
		// Armed with a thread of its own. A worker that dies right after
		// Ready may have lost that thread since the load: the kernel marks
		// the word before it releases the thread, so look at it again.
		ok = threadOf(p.pid, tid) || atomic.LoadUint32(word)&shm.FutexOwnerDied != 0
	case v&shm.FutexOwnerDied != 0 && v&shm.FutexTIDMask == 0:
		ok = true // it died already: the waiter checks the thread is gone
	}
	if !ok {
		close(p.dyingDone)
		return
	}
	// A batch's thread, or where there is no futex_waitv a thread of its
	// own.
	dyingWaiters.add(p, &dyingMember{p: p, word: word, tid: uint32(tid)})
}

// dyingStep is what a robust word's value v means for the waiter of a
// process whose robust thread is tid.
type dyingStep int

const (
	dyingArm  dyingStep = iota // set the waiters bit, then look again
	dyingWait                  // sleep on the word while it holds v
	dyingDied                  // the kernel marked it: the thread died
	dyingDone                  // disarmed, released by the bridge, or garbage
)

func dyingStepOf(v, tid uint32) dyingStep {
	switch {
	case v == tid:
		return dyingArm
	case v == tid|shm.FutexWaiters:
		return dyingWait
	case v&shm.FutexOwnerDied != 0 && (v&shm.FutexTIDMask == 0 || v&shm.FutexTIDMask == tid):
		// The kernel clears the owner when it marks the word.
		return dyingDied
	}
	return dyingDone
}

// died settles a death notice, and closes p.dyingDone when it is done. It
// emits Dying when the process is really ending (linux.GroupEnding). A
// thread between taking its SIGKILL and its exit shows neither for a
// moment, longer on a loaded machine, so a notice that does not hold is
// looked at again, backing off, for up to dyingConfirm, on a goroutine of
// its own (the caller may watch other processes). One that still does not
// hold, from a process still alive, is forged (the word is the worker's to
// write), or its robust thread exited alone: either way the worker broke
// the protocol, and is killed for it.
func (p *Process) died(tid uint32, now int64) {
	if linux.GroupEnding(p.pid, int(tid)) {
		p.emitDying(Dying{Pid: p.pid, Time: mono.Time(now), Source: dyingFutex})
		p.hasten() // after its Dying, which a failover waits on
		close(p.dyingDone)
		return
	}
	go func() {
		defer close(p.dyingDone)
		wait := time.Millisecond
		for deadline := mono.Now() + int64(dyingConfirm); ; wait = min(2*wait, 100*time.Millisecond) {
			time.Sleep(wait)
			if p.reason.Load() != reasonNone {
				return // being ended by us: Exited tells
			}
			if linux.GroupEnding(p.pid, int(tid)) {
				p.emitDying(Dying{Pid: p.pid, Time: mono.Time(now), Source: dyingFutex})
				p.hasten()
				return
			}
			if mono.Now() >= deadline {
				break
			}
		}
		select {
		case <-p.dead:
			return // it ended meanwhile: Exited tells
		default:
		}
		p.violate("robust word 0", fmt.Sprintf("owner died (thread %d)", tid), "owner died only when the process ends")
	}()
}

// dyingConfirm bounds the confirmation of a death notice that does not
// hold at once (died).
const dyingConfirm = time.Second

// dyingBudget bounds what a worker's robust word 0 can make its waiter do:
// the SDK arms the word once, with its robust thread's TID, and the waiter
// adds the waiters bit; only the kernel wakes it, when the thread dies. A
// word that returns to the bare TID again (rearmed: the waiter would set
// the bit and go round), or that is woken while it holds what the waiter
// slept on, more than a few times, is the worker's doing: the waiter stops
// watching it (the pidfd still tells the end) and the worker is reported.
type dyingBudget struct {
	arms, spurious int
}

// maxSpuriousWakes is how many wakes of an unchanged word a worker gets.
const maxSpuriousWakes = 8

// look counts one look at the word, which says step; woken says the last
// sleep ended on this word. It reports false once the budget is spent.
func (b *dyingBudget) look(step dyingStep, woken bool) bool {
	switch step {
	case dyingArm:
		b.arms++
	case dyingWait:
		if woken {
			b.spurious++
		}
	}
	return b.arms <= 2 && b.spurious <= maxSpuriousWakes
}

// releaseDying frees the waiter once the process is reaped, and waits for it.
// The waiter is released through the supervisor's own state (the batch's
// membership, or dyingReleased), not only through the word, which a sibling
// may write back.
func (p *Process) releaseDying() {
	p.dyingReleased.Store(true)
	if dyingWaiters.release(p) {
		close(p.dyingDone)
		return
	}
	word := p.lane.RobustWord(0)
	for {
		v := atomic.LoadUint32(word)
		if v&shm.FutexOwnerDied != 0 || v == 0 {
			break // the waiter is on its way out already
		}
		if atomic.CompareAndSwapUint32(word, v, 0) {
			linux.FutexWake(word, 1)
			break
		}
	}
	<-p.dyingDone
}

// threadOf reports whether tid is a thread of pid.
func threadOf(pid, tid int) bool {
	_, ok := linux.ReadTaskStat(pid, tid)
	return ok
}
