package actors

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/understudy/understudy/procbridge"
)

// Notification is what a ProcessActor tells its observer (Options.Observer):
// one of *ProcessReady, *ProcessHung, *ProcessViolated, *ProcessDying, *ProcessExited,
// *ProcessStartFailed and *ProcessStopTimeout, and, for a hot-standby actor
// (Options.Standby), *ProcessPromoted, *ProcessSpareReady and
// *ProcessSpareDown: a closed set. Each wraps the procbridge event it
// reports. They are sent in the order things happened, straight from the
// goroutine that watches the process, at the same time as the actor learns
// of them. So a failure of the actor may reach its parent before the
// notification of the exit that caused it reaches the observer (protoactor
// hands system messages over first), but an *actor.Terminated never comes
// before the notifications of the actor's processes: an observer that
// handles Terminated after the messages already in its mailbox has seen
// them all.
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

// ProcessReady: the process said it was ready. For a hot-standby actor it
// is the primary, and the group's spares are ready too.
type ProcessReady struct {
	Origin
	procbridge.Ready
	// Process is the process (the primary of a hot-standby actor): read
	// it (HeartbeatAge, Segment), do not stop it.
	Process *procbridge.Process
	// Group is the hot-standby group the process is the primary of (nil
	// without Options.Standby). It is the actor's: read it (Primary,
	// Spares), do not stop it.
	Group *procbridge.Group
}

// ProcessHung: the process stopped beating; it is being killed and the
// actor fails with Err.
type ProcessHung struct {
	Origin
	procbridge.Hung
}

// ProcessViolated: the process broke its segment's protocol; it is being
// killed, and a ProcessExited of the kind procbridge.ExitKilledViolation
// follows.
type ProcessViolated struct {
	Origin
	procbridge.Violated
}

// ProcessDying: the kernel has begun tearing the process down; a
// ProcessExited follows.
type ProcessDying struct {
	Origin
	procbridge.Dying
}

// ProcessExited: the process is gone and reaped. Err is nil for a clean
// exit and for a stop the actor asked for (Exit.Kind ExitStopped), else the
// *procbridge.ExitError the actor fails with.
type ProcessExited struct {
	Origin
	procbridge.Exited
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

// ProcessPromoted: the primary of a hot-standby group (Options.Standby)
// died or hung and a spare took over, resuming from the state the primary
// committed; or the group was switched on purpose (Cause nil). The actor
// did not fail; its process is now To.
type ProcessPromoted struct {
	Origin
	Promoted procbridge.Promoted
	// Requested: the switch a SwitchRequest asked for, whose Token is
	// Token (see SwitchRequest). False for a failover, and for a switch
	// made on the group directly (procbridge.Group.Switch).
	Requested bool
	Token     uint64
}

// ProcessSpareReady: a replacement spare of a hot-standby group is warm and
// parked, after a failover, a switch or a lost spare. The spares started
// with the group are not reported: they are ready when the ProcessReady of
// the primary is sent.
type ProcessSpareReady struct {
	Origin
	procbridge.SpareReady
}

// ProcessSpareDown: a parked spare of a hot-standby group ended (Exit set),
// or a replacement could not be started (Err set); the group starts one
// after Retry, backing off, reported by a ProcessSpareReady. The actor did
// not fail: its primary runs on, with fewer spares meanwhile.
type ProcessSpareDown struct {
	Origin
	procbridge.SpareDown
}

func (*ProcessReady) isNotification()       {}
func (*ProcessHung) isNotification()        {}
func (*ProcessViolated) isNotification()    {}
func (*ProcessDying) isNotification()       {}
func (*ProcessExited) isNotification()      {}
func (*ProcessStartFailed) isNotification() {}
func (*ProcessStopTimeout) isNotification() {}
func (*ProcessPromoted) isNotification()    {}
func (*ProcessSpareReady) isNotification()  {}
func (*ProcessSpareDown) isNotification()   {}

// Notifications are never logged as dead letters (the observer may have
// gone first).
func (*ProcessReady) IgnoreDeadLetterLogging()       {}
func (*ProcessHung) IgnoreDeadLetterLogging()        {}
func (*ProcessViolated) IgnoreDeadLetterLogging()    {}
func (*ProcessDying) IgnoreDeadLetterLogging()       {}
func (*ProcessExited) IgnoreDeadLetterLogging()      {}
func (*ProcessStartFailed) IgnoreDeadLetterLogging() {}
func (*ProcessStopTimeout) IgnoreDeadLetterLogging() {}
func (*ProcessPromoted) IgnoreDeadLetterLogging()    {}
func (*ProcessSpareReady) IgnoreDeadLetterLogging()  {}
func (*ProcessSpareDown) IgnoreDeadLetterLogging()   {}
