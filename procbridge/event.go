package procbridge

import "time"

// Event is one of Ready, Hung, Dying and Exited: the closed set of things
// the bridge tells about a process, in that order (Hung and Dying may be
// missing; Exited always comes, last).
type Event interface {
	// Process returns the pid the event is about.
	EventPid() int
	isEvent()
}

// Ready: the worker said it was ready (or, without the SDK, it started).
type Ready struct {
	Pid          int
	Mono         int64         // CLOCK_MONOTONIC ns when the bridge saw it
	SpawnToReady time.Duration // from just before fork to ready
}

// Hung: the worker stopped beating; it is being killed.
type Hung struct {
	Pid  int
	Mono int64
	Err  *HangError
}

// Dying: the kernel has begun tearing the worker down (robust futex), before
// the pidfd says it is gone. Exited follows.
type Dying struct {
	Pid  int
	Mono int64
}

// Exited: the process is gone and reaped.
type Exited struct {
	Pid  int
	Exit Exit
	Err  error // nil for a clean exit or a stop we asked for, else *ExitError
}

func (e Ready) EventPid() int  { return e.Pid }
func (e Hung) EventPid() int   { return e.Pid }
func (e Dying) EventPid() int  { return e.Pid }
func (e Exited) EventPid() int { return e.Pid }
func (Ready) isEvent()         {}
func (Hung) isEvent()          {}
func (Dying) isEvent()         {}
func (Exited) isEvent()        {}

// Line is one line of a worker's output, for OutputLines.
type Line struct {
	Pid    int
	Stderr bool
	Text   string
}
