package actors

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/understudy/understudy/internal/limits"
	"github.com/understudy/understudy/procbridge"
)

// defaultKillWait is how long a stopping ProcessActor waits, after SIGKILL,
// for its process to be reaped when Options.KillWait is zero.
const defaultKillWait = 5 * time.Second

// errInvalid is wrapped by the errors NewProps returns for an Options field
// out of range.
var errInvalid = errors.New("actors: invalid value")

// Options configure a ProcessActor. The zero value is ready to use: no
// observer, a graceful stop, a kill wait of 5s, incarnations numbered from
// 1, no logs.
type Options struct {
	// Observer, when set, is sent a Notification for each thing that
	// happens to the process (ready, hung, dying, exited, ...). A
	// supervisor passes its own PID.
	Observer *actor.PID

	// Kill stops the process with SIGKILL at once (OTP's brutal_kill).
	// Otherwise it gets SIGTERM, then SIGKILL after the spec's StopGrace
	// (5 s when zero).
	Kill bool

	// KillWait bounds the wait, after SIGKILL, for the process to be
	// reaped before the actor stops anyway and reports a
	// ProcessStopTimeout. Zero means 5s.
	KillWait time.Duration

	// Incarnation is the number of the first process the actor starts;
	// each restart of the actor adds one. Zero means 1. A supervisor that
	// spawns a fresh actor for every restart passes its own count, so the
	// numbers keep rising across actors.
	Incarnation int

	// Standby, when above zero, runs the process as a hot-standby group
	// (procbridge.StartGroup): a primary and Standby pre-warmed spares.
	// A failover is not a failure of the actor: the observer is sent a
	// *ProcessPromoted. Only when the primary ends with no spare ready
	// does the actor fail, as it would without standby. A SwitchRequest
	// fails over on purpose; spares replaced, lost or failing to start
	// are reported (*ProcessSpareReady, *ProcessSpareDown).
	Standby int

	// Logger receives the actor's debug logs. Nil means none.
	Logger *slog.Logger

	// Tracker, when set, is told of every process and group the actor
	// starts, until it has ended.
	Tracker Tracker
}

// Tracker is told of the processes an actor runs, so that they can all be
// killed at once (supervision's Tree.Kill). Track gets a process, or a
// hot-standby group, once it is ready; untrack is called once it has
// ended.
type Tracker interface {
	Track(p *procbridge.Process, g *procbridge.Group) (untrack func())
}

// validate reports, wrapping errInvalid, every field that is out of range.
func (o Options) validate() error {
	var errs []error
	if o.KillWait < 0 {
		errs = append(errs, fmt.Errorf("%w: Options.KillWait = %v (must not be negative)", errInvalid, o.KillWait))
	}
	if o.Standby < 0 || o.Standby > limits.MaxSpares {
		errs = append(errs, fmt.Errorf("%w: Options.Standby = %d (want 0..%d)", errInvalid, o.Standby, limits.MaxSpares))
	}
	if o.Incarnation < 0 {
		errs = append(errs, fmt.Errorf("%w: Options.Incarnation = %d (must not be negative)", errInvalid, o.Incarnation))
	}
	return errors.Join(errs...)
}

func (o Options) killWait() time.Duration {
	if o.KillWait == 0 {
		return defaultKillWait
	}
	return o.KillWait
}

func (o Options) firstIncarnation() int {
	if o.Incarnation == 0 {
		return 1
	}
	return o.Incarnation
}

func (o Options) logger() *slog.Logger {
	if o.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Logger
}
