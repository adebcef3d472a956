package supervision

import (
	"fmt"
	"time"

	"github.com/understudy/understudy/procbridge"
)

// Event is one thing that happened in a supervision tree: one of
// ChildStarted, ChildReady, ChildExited, ChildHung, ChildRestarting,
// ChildBackingOff, ChildPromoted, ChildSpareReady, ChildSpareLost,
// ChildSpareFailed, ChildTerminated, ChildStopped, GaveUp and Escalated, a
// closed set. The events of one supervisor are reported in the order they
// happened, and an event caused by another (a nested supervisor's
// Escalated, then its parent's ChildExited) is reported after it.
//
// They go to Options.OnEvent, to every Subscription, and onto the actor
// system's EventStream (as values of these types).
type Event interface {
	// EventHeader says where and when the event happened.
	EventHeader() Header
	isEvent()
}

// Header says where and when an event happened.
type Header struct {
	// Supervisor is the path of the supervisor that reports the event,
	// such as "root/mid".
	Supervisor string
	// Child is the name of the child the event is about; for GaveUp and
	// Escalated, the child whose failure caused it.
	Child string
	// Incarnation numbers the child's starts: 1 for the first, one more
	// for each restart.
	Incarnation int
	// Time is when the supervisor saw it, on the tree's Clock.
	Time time.Time
}

// EventHeader returns h; it makes every event an Event.
func (h Header) EventHeader() Header { return h }

// ChildStarted: the supervisor started the child (a process is being
// started; a nested supervisor is starting its own children).
type ChildStarted struct {
	Header
	Kind ChildKind
}

// ChildReady: the child is ready. For a process, the worker said so (Pid,
// SpawnToReady and Mono, the CLOCK_MONOTONIC ns the bridge saw it, are
// set); for a nested supervisor, all its children are ready.
type ChildReady struct {
	Header
	Pid          int
	SpawnToReady time.Duration
	Mono         int64
}

// ChildExited: the child ended on its own. For a process, Exit says how
// and Err is the *procbridge.ExitError of a failure (nil for a clean
// exit), or the start error of a process that never got ready; Mark is the
// timestamp the worker left with worker.Mark, if any. For a nested
// supervisor, Err is its *EscalationError (nil when it shut itself down).
type ChildExited struct {
	Header
	Pid  int
	Exit procbridge.Exit
	Err  error
	Mark int64
}

// ChildHung: the child's process stopped beating and is being killed.
type ChildHung struct {
	Header
	Pid int
	Err *procbridge.HangError
}

// ChildRestarting: the child is about to be started again, because of
// Cause: its own failure or end, or a sibling's under OneForAll and
// RestForOne. Restarts counts the child's restarts (and failovers), this
// one included. A hot-standby sibling that is switched to a spare instead
// reports a ChildPromoted with Switched set, not this; one that was to be
// switched but could not be restarts cold, and NotSwitched says why
// (wrapping procbridge.ErrNoSpare when no spare was ready,
// procbridge.ErrGroupDown or actors.ErrNotRunning when its group or actor
// ended first).
type ChildRestarting struct {
	Header
	Cause       error
	Restarts    int
	NotSwitched error
}

// ChildPromoted: a spare of a hot-standby child (ChildSpec.Standby) took
// over from the state the primary committed; the child did not restart (its
// Incarnation stays). Either of two things happened:
//
//   - A failover: the primary died or hung (Cause says how). It counts
//     against the intensity, like a restart.
//   - A switch (Switched): a sibling's failure, SwitchCause, took the child
//     down under OneForAll or RestForOne, and the supervisor switched it to
//     a spare instead of restarting it cold (the old primary is fenced and
//     killed). It is part of that restart, whose failure counted against
//     the intensity once: the switch does not count again. Cause is nil.
//
// Both count in Restarts, as a cold restart of the child would. DetectMono
// is when the failure was seen (the switch began) and SwitchMono when the
// spare was promoted, both CLOCK_MONOTONIC ns (procbridge.Monotonic).
type ChildPromoted struct {
	Header
	OldPid, NewPid int
	Epoch          uint64
	Cause          procbridge.Event // Dying, Hung or Exited of the old primary; nil for a switch
	DetectMono     int64
	SwitchMono     int64
	Restarts       int // the child's restarts, failovers and switches, this one included
	// Switched: the supervisor switched the child on purpose, because of
	// SwitchCause, a sibling's failure (as ChildRestarting.Cause).
	Switched    bool
	SwitchCause error
}

// ChildSpareReady: a replacement spare of a hot-standby child is warm and
// parked in Lane (after a failover, a switch, or a lost spare). The spares
// started with the child are ready when its ChildReady is reported, and
// are not reported one by one. Mono is when it was ready, CLOCK_MONOTONIC
// ns.
type ChildSpareReady struct {
	Header
	Pid, Lane int
	Mono      int64
}

// ChildSpareLost: a parked spare of a hot-standby child ended (Exit says
// how); a replacement is started after Retry, reported by ChildSpareReady
// (or ChildSpareFailed). Retry is 0 unless the spare died within a second
// of its Ready: then it doubles each time, from 10 ms up to 5 s, so a
// spare that cannot live does not burn a CPU. The child itself did not
// fail, and nothing counts against the intensity.
type ChildSpareLost struct {
	Header
	Pid   int
	Exit  procbridge.Exit
	Retry time.Duration
}

// ChildSpareFailed: a replacement spare of a hot-standby child could not
// be started (Err says why); the group tries again after Retry, which
// doubles with each failure in a row (10 ms to 5 s). The child runs on with
// fewer spares meanwhile (with none left, its next failure restarts it
// cold); nothing counts against the intensity.
type ChildSpareFailed struct {
	Header
	Lane  int
	Err   error
	Retry time.Duration
}

// ChildBackingOff: the child's restart waits Delay first (its Backoff).
type ChildBackingOff struct {
	Header
	Delay time.Duration
}

// ChildTerminated: the child ended on its own and is not restarted: its
// Restart type says so (a Temporary child, a Transient one that ended
// cleanly). Removed says its spec was dropped too (Temporary children and
// those of a simple_one_for_one supervisor are not kept).
type ChildTerminated struct {
	Header
	Removed bool
}

// ChildStopped: the supervisor stopped the child, for Reason; Took is how
// long it took and Outcome whether it was in time. Exit is how its process
// ended, when it had one.
type ChildStopped struct {
	Header
	Pid     int
	Reason  StopReason
	Outcome StopOutcome
	Took    time.Duration
	Exit    *procbridge.Exit
}

// GaveUp: the supervisor's children failed more often than its intensity
// allows (or a child did not start when the supervisor started). It stops
// all its children, in reverse start order, and escalates.
type GaveUp struct {
	Header
	Cause     error
	Intensity Intensity // the limit, with defaults applied
}

// Escalated: the supervisor, having stopped its children, failed to its
// own supervisor with Err (an *EscalationError); at the root, the tree
// ended with it.
type Escalated struct {
	Header
	Err error
}

func (ChildStarted) isEvent()     {}
func (ChildReady) isEvent()       {}
func (ChildExited) isEvent()      {}
func (ChildHung) isEvent()        {}
func (ChildRestarting) isEvent()  {}
func (ChildBackingOff) isEvent()  {}
func (ChildPromoted) isEvent()    {}
func (ChildSpareReady) isEvent()  {}
func (ChildSpareLost) isEvent()   {}
func (ChildSpareFailed) isEvent() {}
func (ChildTerminated) isEvent()  {}
func (ChildStopped) isEvent()     {}
func (GaveUp) isEvent()           {}
func (Escalated) isEvent()        {}

// ChildKind says what a child runs.
type ChildKind int

// Child kinds.
const (
	KindProcess    ChildKind = iota // a worker process
	KindSupervisor                  // a nested supervisor
)

func (k ChildKind) String() string {
	switch k {
	case KindProcess:
		return "process"
	case KindSupervisor:
		return "supervisor"
	}
	return fmt.Sprintf("ChildKind(%d)", int(k))
}

// StopReason says why a supervisor stopped a child.
type StopReason int

// Stop reasons.
const (
	// StopForRestart: the child is stopped to be restarted, by its own
	// failure's or a sibling's (OneForAll, RestForOne).
	StopForRestart StopReason = iota
	// StopTerminate: TerminateChild asked for it.
	StopTerminate
	// StopShutdown: the supervisor is shutting down (stopped, gave up, or
	// shut itself down automatically).
	StopShutdown
)

func (r StopReason) String() string {
	switch r {
	case StopForRestart:
		return "restart"
	case StopTerminate:
		return "terminate"
	case StopShutdown:
		return "shutdown"
	}
	return fmt.Sprintf("StopReason(%d)", int(r))
}

// StopOutcome says whether a child stopped within its shutdown policy.
type StopOutcome int

// Stop outcomes.
const (
	// StoppedInTime: the child stopped within its policy (a brutal kill
	// counts as in time).
	StoppedInTime StopOutcome = iota
	// KilledAfterGrace: the process ignored SIGTERM for the whole grace
	// period and was killed.
	KilledAfterGrace
	// NotStopped: the child was still not gone when its bound passed (a
	// process that survived SIGKILL, a nested supervisor past its grace);
	// the supervisor went on without it.
	NotStopped
)

func (o StopOutcome) String() string {
	switch o {
	case StoppedInTime:
		return "in time"
	case KilledAfterGrace:
		return "killed after grace"
	case NotStopped:
		return "not stopped"
	}
	return fmt.Sprintf("StopOutcome(%d)", int(o))
}

// ChildState says where a child is in its life, as the supervisor sees it.
type ChildState int

// Child states.
const (
	// StateStarting: started, not ready yet.
	StateStarting ChildState = iota
	// StateRunning: ready and running.
	StateRunning
	// StateStopping: being stopped.
	StateStopping
	// StateRestarting: stopped, waiting for its turn to start again.
	StateRestarting
	// StateBackingOff: stopped, waiting out its backoff delay.
	StateBackingOff
	// StateTerminated: not running and not to be restarted (ended and not
	// restarted by its Restart type, or TerminateChild); RestartChild
	// starts it again, DeleteChild removes it.
	StateTerminated
)

func (s ChildState) String() string {
	switch s {
	case StateStarting:
		return "starting"
	case StateRunning:
		return "running"
	case StateStopping:
		return "stopping"
	case StateRestarting:
		return "restarting"
	case StateBackingOff:
		return "backing off"
	case StateTerminated:
		return "terminated"
	}
	return fmt.Sprintf("ChildState(%d)", int(s))
}
