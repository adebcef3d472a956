package supervision

import (
	"fmt"
	"strings"
	"time"

	"github.com/understudy/understudy/procbridge"
)

// Event is one thing that happened in a supervision tree: one of
// ChildStarted, ChildReady, ChildExited, ChildProcess, ChildRestarting,
// ChildStopped, ChildTerminated and GaveUp, a closed set. The events of a
// child's processes are procbridge's, carried inside ChildReady,
// ChildExited and ChildProcess. The events of one supervisor are reported
// in the order they happened, and an event caused by another (a nested
// supervisor's GaveUp, then its parent's ChildExited) is reported after it.
//
// They go to Options.OnEvent, to every channel of Tree.Subscribe, onto the
// actor system's EventStream (as values of these types) and to
// Options.Logger. Each prints as one line, such as
// "root/db#2: pid 4242 exited: killed by SIGKILL".
type Event interface {
	// EventHeader says where and when the event happened.
	EventHeader() Header
	String() string
	isEvent()
}

// Header says where and when an event happened.
type Header struct {
	// Supervisor is the path of the supervisor that reports the event,
	// such as "root/mid".
	Supervisor string
	// Child is the name of the child the event is about; for GaveUp, the
	// child whose failure was the last.
	Child string
	// Incarnation is the number of the child's start the event is about:
	// 1 for the first, one more for each restart. In ChildRestarting it is
	// the incarnation that ended (the next ChildStarted carries the new
	// number); in GaveUp, the failing child's.
	Incarnation int
	// Restarts counts the child's restarts so far, and, for a hot-standby
	// child, its failovers and switches to a spare (which leave
	// Incarnation as it is).
	Restarts int
	// Time is when the supervisor saw it, on the tree's Clock.
	Time time.Time
	// Template, for a child started from a simple_one_for_one template
	// (Supervisor.StartSimpleChild), is the template's name; empty
	// otherwise.
	Template string
}

// EventHeader returns h; it makes every event an Event.
func (h Header) EventHeader() Header { return h }

// who names the child and its incarnation: "root/db#2".
func (h Header) who() string {
	return fmt.Sprintf("%s/%s#%d", h.Supervisor, h.Child, h.Incarnation)
}

// ChildStarted: the supervisor started the child (a process is being
// started; a nested supervisor is starting its own children).
type ChildStarted struct {
	Header
}

// ChildReady: the child is ready. For a process, Ready is its procbridge
// event (for a hot-standby child, its primary's: the spares are ready
// too, and Spares counts them); for a nested supervisor, Ready is nil: all
// its children are ready.
type ChildReady struct {
	Header
	Ready  *procbridge.Ready
	Spares int
}

// ChildExited: the child ended on its own. For a process, Exited is its
// procbridge event (how it ended), and Err the *procbridge.ExitError of a
// failure (nil for a clean exit); a process that never got ready has Err
// its start's error, and Exited when it ran at all. For a nested
// supervisor Exited is nil and Err its *EscalationError (nil when it shut
// itself down).
type ChildExited struct {
	Header
	Err    error
	Exited *procbridge.Exited
}

// ChildProcess: something happened to one of the child's processes that
// the child outlives or that precedes its ChildExited: a procbridge.Hung,
// Violated or Dying of its process, and for a hot-standby child
// (ChildSpec.Standby) a Promoted (a spare took over: the child did not
// restart, its Incarnation stays), a SpareReady or a SpareDown of its
// group.
//
// A Promoted is one of two things:
//
//   - A failover: the primary died or hung (Event.Cause says how), or the
//     group was switched directly (procbridge.Group.Switch). It counts
//     against the intensity, like a restart.
//   - A switch the supervisor made (Cause set): a sibling's failure, Cause,
//     took the child down under OneForAll or RestForOne, and the
//     supervisor switched it to a spare instead of restarting it cold (the
//     old primary is fenced and killed). It is part of that restart, whose
//     failure counted against the intensity once: the switch does not
//     count again.
//
// Both count in Restarts, as a cold restart of the child would. A lost
// spare or one that failed to start counts for nothing.
type ChildProcess struct {
	Header
	Event procbridge.Event
	Cause error
}

// ChildRestarting: the child is about to be started again, because of
// Cause: its own failure or end, or a sibling's under OneForAll and
// RestForOne. Delay, when positive, is the backoff it waits first (its
// Backoff, or its sibling's whose failure restarts it). A hot-standby
// sibling that is switched to a spare instead reports a ChildProcess
// Promoted, not this; one that was to be switched but could not be
// restarts cold, and NotSwitched says why (wrapping procbridge.ErrNoSpare
// when no spare was ready, procbridge.ErrGroupDown when its group ended
// first).
type ChildRestarting struct {
	Header
	Cause       error
	Delay       time.Duration
	NotSwitched error
}

// ChildStopped: the supervisor stopped the child, for Reason: "restart" (a
// restart, its own or a sibling's), "terminate" (Supervisor.TerminateChild)
// or "shutdown" (the supervisor is shutting down: stopped, gave up, or
// shut itself down automatically). Took is how long it took. Killed: the
// process ignored SIGTERM for its whole grace period and was killed.
// Late: it was still not gone when its bound passed (a process that
// survived SIGKILL, a nested supervisor past its grace); the supervisor
// went on without it. Pid and Exit are its process and how it ended, when
// it had one.
type ChildStopped struct {
	Header
	Pid          int
	Reason       string
	Took         time.Duration
	Killed, Late bool
	Exit         *procbridge.Exit
}

// ChildTerminated: the child ended on its own and is not restarted: its
// Restart type says so (a Temporary child, a Transient one that ended
// cleanly). Removed says its spec was dropped too (Temporary children and
// those of a simple_one_for_one supervisor are not kept).
type ChildTerminated struct {
	Header
	Removed bool
}

// GaveUp: the supervisor's restarts exceeded its Intensity, or a child did
// not start when the supervisor started (Intensity is then zero). It stops
// all its children, in reverse start order, and ends: the root ends the
// tree (Tree.Wait returns the *EscalationError), a nested supervisor fails
// to its parent (whose ChildExited carries it). Cause is the last failure,
// of Header.Child.
type GaveUp struct {
	Header
	Cause     error
	Intensity Intensity // the limit, with defaults applied
}

func (ChildStarted) isEvent()    {}
func (ChildReady) isEvent()      {}
func (ChildExited) isEvent()     {}
func (ChildProcess) isEvent()    {}
func (ChildRestarting) isEvent() {}
func (ChildStopped) isEvent()    {}
func (ChildTerminated) isEvent() {}
func (GaveUp) isEvent()          {}

// String returns "root/db#2: started".
func (e ChildStarted) String() string { return e.who() + ": started" }

// String returns "root/db#2: pid 4242 ready in 3.1ms", or, for a nested
// supervisor, "root/mid#1: ready (all its children are)".
func (e ChildReady) String() string {
	if e.Ready == nil {
		return e.who() + ": ready (all its children are)"
	}
	return e.who() + ": " + e.Ready.String()
}

// String returns "root/db#2: pid 4242 exited: killed by SIGKILL", or, for
// a nested supervisor, "root/mid#1: failed: ..." or "root/mid#1: shut
// itself down".
func (e ChildExited) String() string {
	switch {
	case e.Exited != nil:
		return e.who() + ": " + e.Exited.String()
	case e.Err == nil:
		return e.who() + ": shut itself down"
	}
	return e.who() + ": failed: " + oneLine(e.Err)
}

// String returns "root/db#2: pid 4242 hung (asleep): ...", or the line of
// whichever procbridge event it carries.
func (e ChildProcess) String() string {
	s := e.who() + ": "
	if e.Event != nil {
		s += e.Event.String()
	}
	if e.Cause != nil {
		s += "; a switch in a sibling's restart, after: " + oneLine(e.Cause)
	}
	return s
}

// String returns "root/db#2: restarting (restart 3) after: ...".
func (e ChildRestarting) String() string {
	s := e.who() + ": restarting"
	if e.Delay > 0 {
		s += fmt.Sprintf(" in %v", e.Delay)
	}
	s += fmt.Sprintf(" (restart %d)", e.Restarts)
	if e.Cause != nil {
		s += " after: " + oneLine(e.Cause)
	}
	if e.NotSwitched != nil {
		s += "; cold, not switched to a spare: " + oneLine(e.NotSwitched)
	}
	return s
}

// String returns "root/db#2: stopped (shutdown) in 1.2ms: stopped by us:
// exited 0".
func (e ChildStopped) String() string {
	s := fmt.Sprintf("%s: stopped (%s) in %v", e.who(), e.Reason, roundTook(e.Took))
	switch {
	case e.Late:
		s += ", LATE: still not gone when its bound passed"
	case e.Killed:
		s += ", killed after its grace period"
	}
	if e.Exit != nil {
		s += ": " + e.Exit.String()
	}
	return s
}

// String returns "root/db#1: terminated, not restarted".
func (e ChildTerminated) String() string {
	if e.Removed {
		return e.who() + ": terminated, not restarted, removed"
	}
	return e.who() + ": terminated, not restarted"
}

// String returns "root: gave up: 4 restarts within 10s exceed its
// intensity (3 within 10s); the last failure: child "nap"#2: ...".
func (e GaveUp) String() string {
	if e.Intensity == (Intensity{}) {
		return fmt.Sprintf("%s: gave up: child %q#%d failed to start: %s", e.Supervisor, e.Child, e.Incarnation, oneLine(e.Cause))
	}
	return fmt.Sprintf("%s: gave up: %s; the last failure: child %q#%d: %s", e.Supervisor,
		exceeded(e.Intensity.MaxRestarts, e.Intensity.Period), e.Child, e.Incarnation, oneLine(e.Cause))
}

// oneLine is err's message with its line breaks (errors.Join's) as "; ".
func oneLine(err error) string {
	if err == nil {
		return "no error"
	}
	return strings.ReplaceAll(err.Error(), "\n", "; ")
}

func roundTook(d time.Duration) time.Duration {
	if d < time.Millisecond {
		return d.Round(time.Microsecond)
	}
	return d.Round(100 * time.Microsecond)
}

// childKind says what a child runs.
type childKind int

const (
	kindProcess    childKind = iota // a worker process
	kindSupervisor                  // a nested supervisor
)

// Why a supervisor stopped a child (ChildStopped.Reason).
const (
	stopForRestart = "restart"   // the child's own restart, or a sibling's
	stopTerminate  = "terminate" // TerminateChild asked for it
	stopShutdown   = "shutdown"  // the supervisor is shutting down
)

// ChildState says where a child is in its life, as the supervisor sees it.
type ChildState string

// Child states.
const (
	// StateStarting: started, not ready yet.
	StateStarting ChildState = "starting"
	// StateRunning: ready and running.
	StateRunning ChildState = "running"
	// StateStopping: being stopped.
	StateStopping ChildState = "stopping"
	// StateRestarting: stopped, waiting for its turn to start again.
	StateRestarting ChildState = "restarting"
	// StateBackingOff: stopped, waiting out its backoff delay.
	StateBackingOff ChildState = "backing off"
	// StateTerminated: not running and not to be restarted (ended and not
	// restarted by its Restart type, or TerminateChild); RestartChild
	// starts it again, DeleteChild removes it.
	StateTerminated ChildState = "terminated"
)
