package supervision

import (
	"errors"
	"fmt"
	"time"
)

// Sentinel errors, matched with errors.Is.
var (
	// ErrIntensity: a supervisor's children failed more often than its
	// Intensity allows; it gave up and escalated (see *EscalationError).
	ErrIntensity = errors.New("supervision: restart intensity exceeded")
	// ErrStartFailed: a child did not start when the supervisor started
	// (see *EscalationError), or when it was started on request.
	ErrStartFailed = errors.New("supervision: child failed to start")
	// ErrNoChild: no child of that name.
	ErrNoChild = errors.New("supervision: no such child")
	// ErrChildExists: a child of that name exists already.
	ErrChildExists = errors.New("supervision: child exists")
	// ErrRunning: the operation needs a child that is not running.
	ErrRunning = errors.New("supervision: child is running")
	// ErrRestarting: the child is waiting to be restarted.
	ErrRestarting = errors.New("supervision: child is restarting")
	// ErrSimpleOneForOne: the operation is not for a simple_one_for_one
	// supervisor (StartChild, RestartChild, DeleteChild), or only for one
	// (StartSimpleChild).
	ErrSimpleOneForOne = errors.New("supervision: wrong operation for the strategy")
	// ErrShuttingDown: the supervisor is shutting down.
	ErrShuttingDown = errors.New("supervision: supervisor is shutting down")
	// ErrNoSupervisor: the supervisor does not exist (the tree ended, or
	// the nested supervisor is being restarted).
	ErrNoSupervisor = errors.New("supervision: no such supervisor")
)

// EscalationError is the reason a supervisor fails to its own supervisor:
// its children failed more often than its Intensity allows (it matches
// ErrIntensity), or one of them did not start when it started (it matches
// ErrStartFailed). By then it has stopped all its children. Cause is the
// failure of Child that tipped it over: a *procbridge.ExitError or
// *procbridge.HangError for a process, the nested supervisor's own
// *EscalationError for a supervisor, so errors.As finds the process error
// at the bottom of a chain through any number of levels. At the root of a
// tree, Tree.Wait returns it.
type EscalationError struct {
	Supervisor string // path of the supervisor that gave up, e.g. "root/mid"
	Child      string // the child whose failure made it give up
	Cause      error
	// Intensity and Period describe the limit that was exceeded
	// (zero when a start failed).
	MaxRestarts int
	Period      time.Duration
	startFailed bool
}

func (e *EscalationError) Error() string {
	if e.startFailed {
		return fmt.Sprintf("supervision: %s gave up: child %q failed to start: %v", e.Supervisor, e.Child, e.Cause)
	}
	return fmt.Sprintf("supervision: %s gave up: child %q failed more than %d times in %v: %v", e.Supervisor, e.Child, e.MaxRestarts, e.Period, e.Cause)
}

// Unwrap returns the cause.
func (e *EscalationError) Unwrap() error { return e.Cause }

// Is matches ErrIntensity or ErrStartFailed, whichever made the supervisor
// give up.
func (e *EscalationError) Is(target error) bool {
	if e.startFailed {
		return target == ErrStartFailed
	}
	return target == ErrIntensity
}

// PanicError is a failure whose reason was not an error: the value a
// child's actor panicked with.
type PanicError struct {
	Value any
}

func (e *PanicError) Error() string { return fmt.Sprintf("supervision: panic: %v", e.Value) }

// asError returns reason as an error, wrapping a non-error panic value.
func asError(reason any) error {
	if err, ok := reason.(error); ok {
		return err
	}
	return &PanicError{Value: reason}
}

// ErrFailover is the cause of an escalation that a hot-standby failover
// pushed over the intensity.
var ErrFailover = errors.New("supervision: hot-standby failover")
