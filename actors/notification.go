package actors

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/understudy/understudy/procbridge"
)

// Notification is what a ProcessActor tells its observer (Options.Observer):
// one of *ProcessReady, *ProcessHung, *ProcessDying, *ProcessExited,
// *ProcessStartFailed and *ProcessStopTimeout, and, for a hot-standby actor
// (Options.Standby), *ProcessPromoted, *ProcessSpareReady,
// *ProcessSpareLost and *ProcessSpareFailed: a closed set. They are sent
// in the order things happened, straight from the goroutine that watches
// the process, at the same time as the actor learns of them. So a failure
// of the actor may reach its parent before the notification of the exit
// that caused it reaches the observer (protoactor hands system messages
// over first), but an *actor.Terminated never comes before the
// notifications of the actor's processes: an observer that handles
// Terminated after the messages already in its mailbox has seen them all.
type Notification interface {
	// From returns which actor and which of its processes the
	// notification is about.
	From() Origin
	isNotification()
}

// Origin says which actor, and which of its processes, a Notification is
// about.
type Origin struct {
	Actor       *actor.PID
	Name        string // the spec's name
	Incarnation int    // the process's number (Options.Incarnation, then +1 per restart)
}

// From returns o; it makes every notification a Notification.
func (o Origin) From() Origin { return o }

// ProcessReady: the process said it was ready (procbridge.Ready). For a
// hot-standby actor it is the primary, and the group's spares are ready
// too.
type ProcessReady struct {
	Origin
	Pid          int
	SpawnToReady time.Duration
	Mono         int64 // CLOCK_MONOTONIC ns when the bridge saw it ready
	// Group is the hot-standby group the process is the primary of (nil
	// without Options.Standby). It is the actor's: read it (Primary,
	// Spares, Segment), do not stop it.
	Group *procbridge.Group
}

// ProcessHung: the process stopped beating; it is being killed and the
// actor fails with Err.
type ProcessHung struct {
	Origin
	Pid  int
	Err  *procbridge.HangError
	Mono int64
}

// ProcessDying: the kernel has begun tearing the process down; a
// ProcessExited follows.
type ProcessDying struct {
	Origin
	Pid  int
	Mono int64
}

// ProcessExited: the process is gone and reaped. Err is nil for a clean
// exit and for a stop the actor asked for (Exit.Kind ExitStopped), else the
// *procbridge.ExitError the actor fails with.
type ProcessExited struct {
	Origin
	Pid  int
	Exit procbridge.Exit
	Err  error
	// Mark is the CLOCK_MONOTONIC timestamp the worker left with
	// worker.Mark before it ended (0 when it left none): it lets a caller
	// measure from an instant the worker chose, such as just before a
	// crash.
	Mark int64
}

// ProcessStartFailed: the process could not be started or never became
// ready; the actor fails with Err (which wraps a *procbridge.ExitError when
// the worker died before it was ready, procbridge.ErrStartTimeout when it
// was too slow).
type ProcessStartFailed struct {
	Origin
	Err error
}

// ProcessStopTimeout: the stopping actor gave up waiting for its process,
// which was still not reaped Waited after the stop began (the grace plus
// Options.KillWait). The actor stops anyway; the process may still exist.
type ProcessStopTimeout struct {
	Origin
	Pid    int
	Waited time.Duration
}

func (*ProcessReady) isNotification()       {}
func (*ProcessHung) isNotification()        {}
func (*ProcessDying) isNotification()       {}
func (*ProcessExited) isNotification()      {}
func (*ProcessStartFailed) isNotification() {}
func (*ProcessStopTimeout) isNotification() {}

// Notifications are never logged as dead letters (the observer may have
// gone first).
func (*ProcessReady) IgnoreDeadLetterLogging()       {}
func (*ProcessHung) IgnoreDeadLetterLogging()        {}
func (*ProcessDying) IgnoreDeadLetterLogging()       {}
func (*ProcessExited) IgnoreDeadLetterLogging()      {}
func (*ProcessStartFailed) IgnoreDeadLetterLogging() {}
func (*ProcessStopTimeout) IgnoreDeadLetterLogging() {}

// ProcessPromoted: the primary of a hot-standby group (Options.Standby)
// died or hung and a spare took over, resuming from the state the primary
// committed; or the group was switched on purpose (Cause nil). The actor
// did not fail; its process is now NewPid.
type ProcessPromoted struct {
	Origin
	OldPid     int              // the primary that failed, or was switched from
	NewPid     int              // the spare that took over
	Epoch      uint64           // the new primary's epoch; the old one is fenced
	Cause      procbridge.Event // Dying, Hung or Exited of the old primary; nil for a switch
	DetectMono int64            // when the failure was seen (the switch began)
	SwitchMono int64            // when the spare was promoted
	ByKernel   bool             // the kernel woke the spare, which promoted itself
	// Requested: the switch a SwitchRequest asked for, whose Token is
	// Token (see SwitchRequest). False for a failover, and for a switch
	// made on the group directly (procbridge.Group.Switch).
	Requested bool
	Token     uint64
}

// ProcessSpareReady: a replacement spare of a hot-standby group is warm and
// parked (procbridge.SpareReady), after a failover, a switch or a lost
// spare. The spares started with the group are not reported: they are
// ready when the ProcessReady of the primary is sent.
type ProcessSpareReady struct {
	Origin
	Pid, Lane int
	Mono      int64 // CLOCK_MONOTONIC ns when it was ready
}

// ProcessSpareLost: a parked spare of a hot-standby group ended
// (procbridge.SpareLost); the group starts a replacement after Retry (a
// back-off when spares die young), reported by a ProcessSpareReady. The
// actor did not fail.
type ProcessSpareLost struct {
	Origin
	Pid   int
	Exit  procbridge.Exit
	Retry time.Duration
}

// ProcessSpareFailed: a replacement spare of a hot-standby group could not
// be started (procbridge.SpareFailed); the group tries again after Retry,
// backing off. The actor did not fail: its primary runs on, with fewer
// spares meanwhile.
type ProcessSpareFailed struct {
	Origin
	Lane  int
	Err   error
	Retry time.Duration
}

func (*ProcessPromoted) isNotification()    {}
func (*ProcessSpareReady) isNotification()  {}
func (*ProcessSpareLost) isNotification()   {}
func (*ProcessSpareFailed) isNotification() {}

func (*ProcessPromoted) IgnoreDeadLetterLogging()    {}
func (*ProcessSpareReady) IgnoreDeadLetterLogging()  {}
func (*ProcessSpareLost) IgnoreDeadLetterLogging()   {}
func (*ProcessSpareFailed) IgnoreDeadLetterLogging() {}
