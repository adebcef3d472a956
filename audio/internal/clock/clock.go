// Package clock is the contract between the engine's driver and a clock
// outside it, such as a sound server's process callback: the clock's
// periods start the engine's cycles, and the sink ports' blocks go back to
// it to be played. audio/jack implements it; Config.Clock takes it.
//
// Cycles and periods: once Begin(C) is called, the clock's next period
// starts cycle C, the one after it C+1, and so on; block C is played in
// the period that starts cycle C+Slack, and must be in the clock's hands
// (Put) before that period's end, less Margin.
package clock

// A Clock is handed to one engine, which owns it from then on: the
// engine's Close closes it.
//
// Shape is what the engine tells a clock when it starts: the graph's rate
// and block size, the sink's channels (one port each, named by Ports), and
// the slack in blocks between a cycle's start and its block being played.
type Shape struct {
	Rate, Frames, Slack int
	Ports               []string
}

// Clock drives an engine's cycles in real time. Every method but Attach is
// called on the engine's driver thread, during a cycle: none may allocate
// nor block on anything but the clock itself.
type Clock interface {
	// Attach is called by the engine's Start before any node process
	// starts; it fails when the clock cannot run the shape (its rate or
	// period differ from the graph's, its ports cannot be made).
	Attach(Shape) error
	// Begin is called at the start of each Run: the clock's next period
	// starts cycle first.
	Begin(first uint64)
	// Wait waits until the period that starts cycle C has begun, or until
	// the CLOCK_MONOTONIC instant until passes. It returns when that
	// period began, whether it has (false: until passed first), whether
	// it had to wait for it (false: the driver is behind), and an error
	// when the clock cannot go on (its server went away, its period or
	// rate changed).
	Wait(C uint64, until int64) (start int64, begun, waited bool, err error)
	// Margin is how long before the end of the period that plays a block
	// the block must be in the clock's hands, in nanoseconds.
	Margin() int64
	// Put hands the clock block C of the sink ports, one slice per port.
	// A block not put before its deadline is played as silence.
	Put(C uint64, ports [][]float32)
	// End is called when a Run ends after cycle last: the clock plays the
	// blocks it holds up to last (waiting at most a few periods), then
	// silence.
	End(last uint64)
	// Priority is the SCHED_FIFO priority of the clock's own thread, 0
	// when it runs in normal scheduling. With Config.Priority 0 the
	// engine runs its node loops and driver just below it, so that the
	// clock's thread is never preempted by the engine it drives.
	Priority() int
	// Close is called by the engine's Close, once its node processes
	// are stopped: the clock lets go of its server.
	Close() error
	// Xruns is how many times the clock's server reported an xrun since
	// Attach.
	Xruns() uint64
}
