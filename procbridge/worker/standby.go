package worker

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/understudy/understudy/internal/linux"
	"github.com/understudy/understudy/internal/mono"
	"github.com/understudy/understudy/procbridge/internal/shm"
)

// Errors of the standby and command API. State also returns
// procbridge.ErrNoState (nothing was committed yet, or the spec has no
// StateSize) and Reply procbridge.ErrRingFull (the reply does not fit in
// the ring now): the same values as procbridge's.
var (
	// ErrFenced: this process is no longer the primary (a spare took over);
	// what it would write is refused. It should stop.
	ErrFenced = errors.New("worker: fenced: another process is the primary now")
	// ErrStateTooLarge: a commit larger than the spec's StateSize.
	ErrStateTooLarge = shm.ErrStateTooLarge
)

// Active reports whether this process is the primary of its segment.
func (w *Worker) Active() bool {
	e, lane := w.seg.Control()
	return lane == w.lane.Index() && e == w.epoch.Load()
}

// WaitActive parks this process until it is the primary, and returns at
// once if it already is. A spare calls it after Ready: it sleeps on a futex,
// using next to no CPU, until the supervisor promotes it — or until the
// kernel wakes it directly because the primary's thread died (then the
// spare promotes itself, and the supervisor confirms). It also looks again
// every 100 ms on its own: on some virtual machines a process that slept
// longer wakes slowly (parkRefresh). On promotion it adopts the latest
// state the previous primary committed, re-committing it under its own
// epoch, so that nothing the fenced primary writes later counts. It returns
// ctx's error when ctx ends first.
//
// The thread it parks on is raised while it waits, to the lowest real-time
// priority where the process may have it (CAP_SYS_NICE or RLIMIT_RTPRIO),
// else to a short scheduler slice, so that the spare runs the moment it is
// woken rather than after the dying primary's teardown; after a promotion
// it stays raised for a millisecond, for the first work of the new
// primary, then gets back the scheduling it had. A thread the program put
// in a class of its own keeps it.
func (w *Worker) WaitActive(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() {
		atomic.StoreUint32(w.lane.ParkWord(), parkReleased)
		linux.FutexWake(w.lane.ParkWord(), 1<<30)
	})
	defer stop()
	// The thread that parks is raised above ordinary tasks, so that when
	// the kernel or the supervisor wakes it, it runs at once, ahead of the
	// dying primary's teardown (promptWhileParked). A primary never parks
	// and is not raised.
	var prompt *prompt
	promoted := false
	defer func() {
		if prompt != nil {
			prompt.end(promoted)
		}
		if promoted && spareTitled() {
			// A spare that took over: its title says so, after the
			// new primary's first work (retitle, in title_linux.go).
			time.AfterFunc(retitleAfter, retitle)
		}
	}()
	me := w.lane.Index()
	var looks parkBudget
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		looks.look(mono.Now())
		e, active := w.seg.Control()
		if active == me {
			promoted = true
			return w.adopt(e)
		}
		park := w.lane.ParkWord()
		pv := atomic.LoadUint32(park)
		if pv == parkReleased {
			if ctx.Err() == nil {
				// Left by an earlier wait whose ctx ended: not ours.
				atomic.CompareAndSwapUint32(park, parkReleased, shm.ParkWaiting)
			}
			continue // ctx ended: loop to return its error
		}
		primary := w.seg.Lane(active)
		if primary == nil || e+1 >= shm.MaxEpoch {
			// A control word no promotion leaves: some process of the
			// segment wrote it. The supervisor overwrites it; wait for
			// its wake, looking again now and then.
			w.lane.CountParkLoop()
			linux.FutexWait(park, pv, time.Second)
			continue
		}
		// The primary's robust word for our lane: the kernel marks it
		// when the primary's robust thread dies, and wakes us.
		rw := primary.RobustWord(1 + me)
		rv := atomic.LoadUint32(rw)
		if rv&shm.FutexOwnerDied != 0 {
			w.seg.Promote(e, active, me) // we, the supervisor or another spare: one wins
			continue
		}
		if rv&shm.FutexTIDMask != 0 && rv&shm.FutexWaiters == 0 {
			if !atomic.CompareAndSwapUint32(rw, rv, rv|shm.FutexWaiters) {
				continue
			}
			rv |= shm.FutexWaiters
		}
		if pv == shm.ParkPromoted {
			// Promoted by the supervisor but Control moved on already (we
			// were promoted and then fenced, or a stale wake): re-arm.
			atomic.CompareAndSwapUint32(park, pv, shm.ParkWaiting)
			continue
		}
		w.lane.CountParkLoop() // looked, found nothing to do: sleep again
		if prompt == nil {
			prompt = promptWhileParked()
		}
		// Sleep at most parkRefresh, then look again.
		if rv&shm.FutexTIDMask != 0 {
			// Without futex_waitv (Linux < 5.16), on the park word alone:
			// then only the supervisor wakes a parked spare.
			linux.FutexWaitEither(park, shm.ParkWaiting, rw, rv, mono.Now()+int64(parkRefresh))
		} else {
			linux.FutexWait(park, shm.ParkWaiting, parkRefresh)
		}
	}
}

// parkBudget bounds how often a parked spare looks at its words. Every
// process of the segment can write and wake them (the park word, the
// control word, the primary's robust word for the lane): one that kept
// doing so would have the spare, raised above ordinary tasks while it
// parks, go round its loop as fast as it is woken. An honest segment wakes
// a spare a few times per parking (its promotion, a stale wake), and the
// spare looks on its own 10 times a second (parkRefresh): well within the
// budget. Past parkLooks looks in a second, the spare looks once a parkNap.
type parkBudget struct {
	looks int
	since int64 // when the second being counted began
}

const (
	parkLooks = 64
	parkNap   = time.Millisecond
)

// look counts a look at now, and naps first when the second's budget is
// spent.
func (b *parkBudget) look(now int64) {
	if now-b.since >= int64(time.Second) {
		b.since, b.looks = now, 0
	}
	if b.looks++; b.looks > parkLooks {
		time.Sleep(parkNap)
	}
}

// parkRefresh is the longest a parked spare sleeps before it looks again,
// so that no sleep lasts long enough to go cold. On a virtual machine whose
// memory is paravirtualised, a process that slept for more than a few
// hundred milliseconds pays, on its next return to user mode, a cost that
// grows with its memory (measured: 0.1 ms after 0.2 s, 0.5 ms after 1 s
// with an empty heap, 1.8 ms after 1 s with 256 MB): a spare parked for
// long paid it as its takeover. The kernel's wake, as the primary's robust
// thread dies, and the supervisor's still promote at once. Each look costs
// about 0.24 ms of CPU there, 10 a second: 0.24 % of a CPU.
const parkRefresh = 100 * time.Millisecond

// retitleAfter is how long after a takeover the title changes: after the
// new primary's first work, off the takeover's path.
const retitleAfter = time.Millisecond

// parkReleased is written into the park word to give up waiting.
const parkReleased = 2

// adopt makes epoch this process's and carries the latest state over.
func (w *Worker) adopt(epoch uint64) error {
	w.epoch.Store(epoch)
	w.lane.SetMark(mono.Now()) // the instant of the promotion, for benchmarks (internal/hooks)
	w.Beat()                   // the heartbeat clock of the new primary starts here
	if w.seg.Layout().StateSize == 0 {
		return nil
	}
	// The state the previous primary committed: the highest epoch below
	// ours (shm.CommittedState's third rule), so that a slot a spare forged
	// with a future epoch is never adopted. It may be this lane's, from the
	// process this one replaced.
	buf := w.stateBuf()
	n, lane, e, _, err := w.seg.CommittedState(buf, epoch, w.lane.Index(), nil)
	switch {
	case errors.Is(err, shm.ErrNoState):
		return nil
	case err != nil:
		return fmt.Errorf("worker: adopt state: %w", err)
	case lane == w.lane.Index() && e == epoch:
		return nil // ours already
	}
	return w.lane.Commit(epoch, buf[:n])
}

func (w *Worker) stateBuf() []byte {
	if w.buf == nil {
		w.buf = make([]byte, w.seg.Layout().StateSize)
	}
	return w.buf
}

// Commit publishes state as this worker's latest, atomically: a reader (a
// spare taking over, whatever instant this process dies at) sees either
// this commit or the previous one, never a mix. It returns ErrFenced when
// this process is no longer the primary, and ErrStateTooLarge past the
// spec's StateSize. It makes no system call and does not allocate.
//
// The epoch is checked before the write, so a primary fenced at that very
// instant (one that was hung, not dead) can see nil for a commit its
// successor never adopts. A worker whose side effects must happen once
// checks Active after the commit, before it acts.
func (w *Worker) Commit(state []byte) error {
	e, lane := w.seg.Control()
	if lane != w.lane.Index() || e != w.epoch.Load() {
		return ErrFenced
	}
	return w.lane.Commit(e, state)
}

// State copies the latest committed state into buf (the spec's StateSize
// bytes at most) and returns its length, or procbridge.ErrNoState.
func (w *Worker) State(buf []byte) (int, error) {
	e, lane := w.seg.Control()
	n, _, _, _, err := w.seg.CommittedState(buf, e, lane, nil)
	return n, err
}

// Recv waits for the next command from the supervisor and copies it into
// buf. It sleeps on a futex while the ring is empty, and returns ctx's error
// when ctx ends. A command longer than buf is cut to len(buf) bytes and
// leaves the ring; the error then wraps io.ErrShortBuffer. A ring whose
// indices cannot be right reads as empty until the supervisor, which
// blames the primary that wrote them, empties it.
func (w *Worker) Recv(ctx context.Context, buf []byte) (int, error) {
	r, err := w.seg.Ring(shm.ToWorker)
	if err != nil {
		return 0, err
	}
	stop := context.AfterFunc(ctx, r.Release)
	defer stop()
	// The waiters word is any process's to write: after a few waits that
	// ended with the ring still empty, sleep instead, backing off.
	empty, nap := 0, 100*time.Microsecond
	for {
		n, err := r.Recv(buf)
		if errors.Is(err, shm.ErrRingCorrupt) {
			// Another member of the group scribbled it (a primary that
			// died doing so, before this spare took over): the supervisor
			// empties a corrupt ring and blames the primary. Wait for
			// that as on an empty ring, backing off.
			empty, err = max(empty, 4), shm.ErrRingEmpty
		}
		if !errors.Is(err, shm.ErrRingEmpty) {
			return n, err
		}
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		if empty >= 4 {
			time.Sleep(nap)
			nap = min(2*nap, 5*time.Millisecond)
			continue
		}
		word, val := r.Prepare()
		if r.Empty() && ctx.Err() == nil {
			linux.FutexWait(word, val, 0)
			empty++
		}
	}
}

// Reply sends a message to the supervisor. It never blocks: a full ring is
// procbridge.ErrRingFull.
func (w *Worker) Reply(msg []byte) error {
	r, err := w.seg.Ring(shm.FromWorker)
	if err != nil {
		return err
	}
	return r.Send(msg)
}
