package procbridge

import (
	"fmt"
	"syscall"
	"time"
)

// Event is one thing the bridge tells about a process or a group: a closed
// set. A Process tells Ready, then possibly Hung or Dying, then Exited,
// always last. A Group, which stands for one process that outlives its
// failovers, tells its first primary's Ready, then Promoted, SpareReady and
// SpareDown, and ends with its primary's Exited. Every event prints as one
// line.
type Event interface {
	String() string
	isEvent()
}

// Ready: the worker said it was ready (or, without the SDK, it started).
type Ready struct {
	Pid          int
	Time         time.Time     // when the bridge saw it
	SpawnToReady time.Duration // from just before fork to ready
}

// Hung: the worker stopped beating; it is being killed.
type Hung struct {
	Pid  int
	Time time.Time
	Err  *HangError
}

// Dying: the kernel has begun to end the worker, before it has torn it
// down and the pidfd says it is gone. Exited follows. Two notices give it,
// and the first one tells:
//
//   - "futex": the robust futex of a worker that links the SDK, woken
//     when the process's last thread dies;
//   - "ebpf": the kernel's eBPF watch, for any worker, where the
//     supervisor may load BPF programs (root, or CAP_BPF with
//     CAP_PERFMON): a signal that will kill it was sent, its exit began,
//     or the OOM killer chose it. A notice counts only for the process it
//     names, watched from its fork to its reaping (a reused pid is never
//     taken for it).
//
// A worker the bridge itself is ending (a stop, a kill, a hang), and one
// that exits with code 0, get no eBPF notice: Exited says how it ended.
type Dying struct {
	Pid  int
	Time time.Time // when the bridge had the notice
	// Source is "futex" or "ebpf": which notice came first.
	Source string
	// What the kernel said, for an eBPF notice. Signal is the signal that
	// kills the worker (0 when it is exiting on its own: Code is its exit
	// code); Sender the pid that sent it (the worker itself for a fault,
	// 0 for the kernel); OOM, that the OOM killer chose it (Signal is
	// SIGKILL). Kernel is when the kernel's program ran.
	Signal syscall.Signal
	Code   int
	Sender int
	OOM    bool
	Kernel time.Time
}

// Exited: the process is gone. Its status is read without reaping it; the
// zombie is reaped right after, off the path of this event.
type Exited struct {
	Pid  int
	Exit Exit
	Err  error // nil for a clean exit or a stop we asked for, else *ExitError
	// Dropped counts the bytes of output dropped so far because their
	// reader fell behind (Lines, ToWriter); output still in the pipes when
	// the process ended is read after this event.
	Dropped uint64
	// Refused counts the datagrams refused on the sd_notify socket of a
	// child with Spec.Notify: sent by a process that is neither the child
	// nor its MAINPID, without credentials, or too long.
	Refused uint64
}

// Promoted: the primary of a group died or hung and a spare took over,
// resuming from the state the primary committed; or Group.Switch asked
// for it (Cause nil).
type Promoted struct {
	From, To int    // pids: the old primary, the new one
	Epoch    uint64 // the new primary's epoch; the old one is fenced
	Cause    Event  // what gave the primary away: Dying, Hung, Violated or Exited; nil for Switch
	Detected time.Time
	Switched time.Time // when the spare was promoted and woken
	ByKernel bool      // the kernel woke the spare, which promoted itself first
}

// SpareReady: a replacement spare is warm and parked in Lane. The spares
// StartGroup starts are ready when it returns, and are not reported.
type SpareReady struct {
	Pid, Lane int
	Time      time.Time
}

// SpareDown: a spare was lost, or a replacement could not be started; a
// replacement is started in its Lane after Retry (0: at once).
//
//   - Lost: a parked spare (Pid) ended, and Exit says how. A spare that
//     ends within a second of its Ready is crash looping: each time, the
//     wait doubles, from 10 ms up to 5 s; a spare that lived longer
//     resets it.
//   - Failed: a replacement could not be started (Pid 0, Exit nil, Err
//     says why); the wait doubles with each failure in a row, 10 ms to
//     5 s, for as long as the group runs.
type SpareDown struct {
	Pid, Lane int
	Exit      *Exit
	Err       error
	Retry     time.Duration
}

func (Ready) isEvent()      {}
func (Hung) isEvent()       {}
func (Dying) isEvent()      {}
func (Exited) isEvent()     {}
func (Promoted) isEvent()   {}
func (SpareReady) isEvent() {}
func (SpareDown) isEvent()  {}

// String returns "pid 4242 ready in 3.1ms".
func (e Ready) String() string {
	return fmt.Sprintf("pid %d ready in %v", e.Pid, round(e.SpawnToReady))
}

// String returns "pid 4242 hung (asleep): no heartbeat for 12ms (timeout
// 10ms)".
func (e Hung) String() string {
	if e.Err == nil {
		return fmt.Sprintf("pid %d hung", e.Pid)
	}
	kind := e.Err.Kind
	if kind == hangHeldUp {
		kind = "held up past the cap"
	}
	return fmt.Sprintf("pid %d hung (%s): no heartbeat for %v (timeout %v)", e.Pid, kind, round(e.Err.Silence), e.Err.Timeout)
}

// String returns "pid 4242 dying", with what the kernel said: "pid 4242
// dying: SIGKILL from pid 17", "pid 4242 dying: exiting 3", "pid 4242
// dying: chosen by the OOM killer".
func (e Dying) String() string {
	s := fmt.Sprintf("pid %d dying", e.Pid)
	switch {
	case e.OOM:
		s += ": chosen by the OOM killer"
	case e.Signal != 0:
		s += ": " + signalName(e.Signal)
		switch e.Sender {
		case 0:
			s += " from the kernel"
		case e.Pid:
		default:
			s += fmt.Sprintf(" from pid %d", e.Sender)
		}
	case e.Source == dyingEBPF:
		s += fmt.Sprintf(": exiting %d", e.Code)
	}
	return s
}

// Dying.Source's values.
const (
	dyingFutex = "futex"
	dyingEBPF  = "ebpf"
)

// String returns "pid 4242 exited: killed by SIGKILL".
func (e Exited) String() string {
	s := fmt.Sprintf("pid %d exited: %v", e.Pid, e.Exit)
	if e.Dropped > 0 {
		s += fmt.Sprintf(" (%d bytes of output dropped)", e.Dropped)
	}
	if e.Refused > 0 {
		s += fmt.Sprintf(" (%d notify messages refused)", e.Refused)
	}
	return s
}

// String returns "pid 4242 took over from pid 4241 (epoch 2): pid 4241
// dying; switched in 120µs".
func (e Promoted) String() string {
	s := fmt.Sprintf("pid %d took over from pid %d (epoch %d)", e.To, e.From, e.Epoch)
	switch {
	case e.Cause == nil:
		s += ": switched on request"
	default:
		s += ": " + e.Cause.String()
	}
	if !e.Detected.IsZero() && !e.Switched.IsZero() {
		s += fmt.Sprintf("; switched in %v", round(e.Switched.Sub(e.Detected)))
	}
	if e.ByKernel {
		s += ", woken by the kernel"
	}
	return s
}

// String returns "spare pid 4243 ready in lane 1".
func (e SpareReady) String() string {
	return fmt.Sprintf("spare pid %d ready in lane %d", e.Pid, e.Lane)
}

// String returns "spare pid 4243 (lane 1) lost: killed by SIGKILL;
// replacement in 10ms", or "spare for lane 1 failed to start: ...".
func (e SpareDown) String() string {
	var s string
	switch {
	case e.Exit != nil:
		s = fmt.Sprintf("spare pid %d (lane %d) lost: %v", e.Pid, e.Lane, *e.Exit)
	case e.Err != nil:
		s = fmt.Sprintf("spare for lane %d failed to start: %v", e.Lane, e.Err)
	default:
		s = fmt.Sprintf("spare pid %d (lane %d) down", e.Pid, e.Lane)
	}
	if e.Retry > 0 {
		return s + fmt.Sprintf("; replacement in %v", e.Retry)
	}
	return s + "; replacement now"
}

// Line is one line of a worker's output, for streams set to Lines.
type Line struct {
	Pid    int
	Stderr bool
	Text   string
}

// round shortens d for a reader: microseconds below a millisecond, tenths
// of a millisecond below a second, milliseconds above.
func round(d time.Duration) time.Duration {
	switch {
	case d < time.Millisecond:
		return d.Round(time.Microsecond)
	case d < time.Second:
		return d.Round(100 * time.Microsecond)
	}
	return d.Round(time.Millisecond)
}
