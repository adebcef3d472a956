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
// its restarts exceeded its Intensity (it matches ErrIntensity), or a child
// did not start when it started (it matches ErrStartFailed). By then it has
// stopped all its children. Cause is the last failure, of Child: a
// *procbridge.ExitError or *procbridge.HangError for a process, the nested
// supervisor's own *EscalationError for a supervisor, so errors.As finds
// the process error at the bottom of a chain through any number of levels.
// At the root of a tree, Tree.Wait returns it; a nested supervisor's
// parent reports it in the ChildExited of that supervisor.
type EscalationError struct {
	Supervisor string // path of the supervisor that gave up, e.g. "root/mid"
	Child      string // the child whose failure was the last
	Cause      error
	// MaxRestarts and Period are the limit that was exceeded, with the
	// defaults applied (zero when a start failed).
	MaxRestarts int
	Period      time.Duration
	startFailed bool
}

// Error says what was counted and the last failure, such as
// `supervision: root gave up: 4 restarts within 10s exceed its intensity
// (3 within 10s); the last failure: child "nap": procbridge: nap (pid 42)
// exited 3`.
func (e *EscalationError) Error() string {
	if e.startFailed {
		return fmt.Sprintf("supervision: %s gave up: child %q failed to start: %v", e.Supervisor, e.Child, e.Cause)
	}
	return fmt.Sprintf("supervision: %s gave up: %s; the last failure: child %q: %v", e.Supervisor, exceeded(e.MaxRestarts, e.Period), e.Child, e.Cause)
}

// exceeded says how a supervisor allowed max restarts within period and
// had one more: "4 restarts within 10s exceed its intensity (3 within
// 10s)".
func exceeded(max int, period time.Duration) string {
	n := max + 1
	verb, noun := "exceed", "restarts"
	if n == 1 {
		verb, noun = "exceeds", "restart"
	}
	allowed := fmt.Sprintf("%d within %v", max, period)
	if max == 0 {
		allowed = "no restarts"
	}
	return fmt.Sprintf("%d %s within %v %s its intensity (%s)", n, noun, period, verb, allowed)
}

// Unwrap returns ErrIntensity or ErrStartFailed, whichever made the
// supervisor give up, and the cause, so that errors.Is and errors.As look
// at both.
func (e *EscalationError) Unwrap() []error {
	if e.startFailed {
		return []error{ErrStartFailed, e.Cause}
	}
	return []error{ErrIntensity, e.Cause}
}

// asError returns reason as an error: a failure whose reason was not an
// error is the value a child's actor panicked with.
func asError(reason any) error {
	if err, ok := reason.(error); ok {
		return err
	}
	return fmt.Errorf("supervision: panic: %v", reason)
}

// ErrFailover is the cause of an escalation that a hot-standby failover
// pushed over the intensity.
var ErrFailover = errors.New("supervision: hot-standby failover")
