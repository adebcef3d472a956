package actors

import (
	"fmt"
	"time"

	"github.com/understudy/understudy/procbridge"
)

// State is where a ProcessActor's process is in its life.
type State int

// States of a ProcessActor.
const (
	// StateStarting: the process is being started and is not ready yet.
	StateStarting State = iota
	// StateRunning: the process said it was ready and is running.
	StateRunning
	// StateHung: the process stopped beating; it is being killed and the
	// actor has failed.
	StateHung
	// StateExited: the process ended on its own; the actor has failed or
	// is stopping.
	StateExited
	// StateStopping: the actor is stopping its process.
	StateStopping
	// StateStopped: the actor's process was stopped.
	StateStopped
)

func (s State) String() string {
	switch s {
	case StateStarting:
		return "starting"
	case StateRunning:
		return "running"
	case StateHung:
		return "hung"
	case StateExited:
		return "exited"
	case StateStopping:
		return "stopping"
	case StateStopped:
		return "stopped"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// StatusRequest asks a ProcessActor for its Status; it responds to the
// sender (use QueryStatus, or RequestFuture).
type StatusRequest struct{}

// IgnoreDeadLetterLogging keeps a request to a stopped actor out of the
// dead-letter log.
func (*StatusRequest) IgnoreDeadLetterLogging() {}

// Status is what a ProcessActor reports about itself.
type Status struct {
	// Name is the spec's name.
	Name string
	// State is where the current process is in its life.
	State State
	// Pid is the current process's id (for a hot-standby actor, the
	// current primary's), or the last one's when it ended (0 before the
	// first one is ready).
	Pid int
	// Incarnation is the number of the current process (see
	// Options.Incarnation).
	Incarnation int
	// Restarts is how many processes came before the current one:
	// Incarnation minus 1.
	Restarts int
	// Since is when the current process became ready (zero before).
	Since time.Time
	// LastExit is how the last process that ended ended (nil when none
	// has), and LastErr the failure it was (nil for a clean end).
	LastExit *procbridge.Exit
	LastErr  error
	// HeartbeatAge is the time since the current process last beat (since
	// it was ready, when it never beat); 0 without a running process.
	HeartbeatAge time.Duration
	// Group is the running hot-standby group of an actor with
	// Options.Standby (nil otherwise, and while none runs). It is the
	// actor's: read it (Primary, Spares, Segment), do not stop it.
	Group *procbridge.Group
}
