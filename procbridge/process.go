package procbridge

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/understudy/understudy/internal/mono"
	"github.com/understudy/understudy/procbridge/internal/shm"
)

// Why we ended a process, when we did.
const (
	reasonNone int32 = iota
	reasonStopped
	reasonHung
	reasonNotReady
	reasonViolation
)

// Process is one running worker process and the bridge that watches it.
// Its methods are safe for concurrent use. Every goroutine it starts ends
// by the time Done is closed.
type Process struct {
	spec Spec
	name string
	pid  int

	segment    *Segment
	seg        *shm.Segment
	lane       *shm.Lane
	ownSegment bool

	events    chan Event
	lines     chan Line
	done      chan struct{} // closed when dead and every goroutine is done (the reap may follow)
	exited    chan struct{} // closed when dead and classified
	started   chan struct{} // closed when Start has emitted Ready or given up
	dead      chan struct{} // closed when dead and classified, before Exited is sent
	dyingDone chan struct{} // closed when the death-notice waiter is done
	// dyingReleased: the process is reaped; its death-notice waiter ends.
	dyingReleased atomic.Bool
	exit          Exit
	err           error

	reason    atomic.Int32
	spawnMono int64
	readyMono atomic.Int64
	dropped   atomic.Uint64
	violation atomic.Pointer[violationError] // why it was killed, for reasonViolation
	oomKilled bool                           // the OOM killer ended a process of its cgroups (set before classify)

	mu        sync.Mutex // guards signalling against reaping
	reaped    bool
	stopOnce  sync.Once
	killTimer *time.Timer

	os    osProcess
	note  *notifier // sd_notify and s6 readiness, or nil
	out   outputs
	atEnd laneFinal // the lane's readings when reaped; valid once dead is closed
}

// Start starts a worker from spec and returns once it is ready: for a worker
// that links procbridge/worker, once it called Ready; otherwise once it runs.
// If the worker ends first, does not get ready within the spec's
// ReadyTimeout, or ctx ends, it is killed, reaped, and Start returns an error
// (wrapping ErrExitedBeforeReady, ErrStartTimeout, ErrBadSegment or ctx's
// cause). No process is left behind on any error. It needs Linux (pidfds,
// memfds, futexes); elsewhere it returns an error wrapping ErrNotSupported.
func Start(ctx context.Context, spec Spec) (*Process, error) {
	return start(ctx, spec, startOptions{})
}

// Pid returns the process id.
func (p *Process) Pid() int { return p.pid }

// Events returns the process's events: Ready, then possibly Hung, Violated
// or Dying, then Exited, after which the channel is closed. The channel
// has room for every event, so a slow reader never delays the bridge.
func (p *Process) Events() <-chan Event { return p.events }

// Lines returns the worker's output lines for streams set to Lines. It is
// closed once both streams are drained. Lines that arrive while the channel
// is full, or while 1 MiB of both streams' lines waits in it, are dropped
// and counted (Exited.Dropped).
func (p *Process) Lines() <-chan Line { return p.lines }

// Done is closed when the process has ended and every goroutine of its
// bridge has returned.
func (p *Process) Done() <-chan struct{} { return p.done }

// Wait waits for the process to end (Done), or for ctx, and returns how it
// ended and the failure (an *ExitError) if it was one.
func (p *Process) Wait(ctx context.Context) (Exit, error) {
	select {
	case <-p.done:
		return p.exit, p.err
	case <-ctx.Done():
		return Exit{}, context.Cause(ctx)
	}
}

// exitNow returns how the process ended, once it has (ok false before).
func (p *Process) exitNow() (exit Exit, err error, ok bool) {
	select {
	case <-p.exited:
		return p.exit, p.err, true
	default:
		return Exit{}, nil, false
	}
}

// heartbeat returns the worker's beat count and the CLOCK_MONOTONIC time of
// its last beat (0, 0 when it never beat). After the end it returns what
// the lane held when the process was reaped (a shared lane may serve
// another process since).
func (p *Process) heartbeat() (count uint64, lastMono int64) {
	if f := p.final(); f != nil {
		return f.beats, f.lastBeat
	}
	return p.lane.Heartbeat()
}

// laneFinal is what a process's lane held when it was reaped.
type laneFinal struct {
	beats    uint64
	lastBeat int64
	mark     int64
}

func (p *Process) final() *laneFinal {
	select {
	case <-p.dead:
		return &p.atEnd
	default:
		return nil
	}
}

// HeartbeatAge returns the time since the last beat (since ready when it
// never beat), or 0 before the process is ready.
func (p *Process) HeartbeatAge() time.Duration {
	_, at := p.heartbeat()
	return beatAge(at, p.readyMono.Load(), mono.Now())
}

// beatProgress returns the monitor's new mark of progress when the worker
// beat since its last look (at progress), looking at now: the time the
// worker stamped on its beat, trusted only when it is plausible (after
// the last progress, not after now), else now. It lies in (progress, now]
// whenever progress < now.
func beatProgress(at, progress, now int64) int64 {
	if at > progress && at <= now {
		return at
	}
	return now
}

// beatAge returns the age at now of a beat the worker stamped at, for a
// worker ready since ready (0: not yet, and the age is 0). The stamp is
// the worker's to write: one before it was ready or after now is not a
// beat it made, and the age runs from ready, so it lies in [0, now-ready].
func beatAge(at, ready, now int64) time.Duration {
	if ready <= 0 || now < ready {
		return 0
	}
	if at < ready || at > now {
		at = ready
	}
	return time.Duration(now - at)
}

// Segment returns the segment the process serves (its own, or its group's)
// and its lane in it: the state and the command rings.
func (p *Process) Segment() (*Segment, int) { return p.segment, p.lane.Index() }

// mark returns the timestamp the worker left in its lane (internal/hooks).
func (p *Process) mark() int64 {
	if f := p.final(); f != nil {
		return f.mark
	}
	return p.lane.Mark()
}

// Stop ends the process gracefully: SIGTERM to its process group, then
// SIGKILL to the group after the spec's StopGrace. It waits for the end or
// for ctx; on ctx's end the process is still killed at the grace's end.
// It is idempotent and safe to call concurrently, also with Kill.
func (p *Process) Stop(ctx context.Context) (Exit, error) {
	p.terminate(p.spec.stopGrace())
	select {
	case <-p.exited:
		return p.exit, nil
	case <-ctx.Done():
		return Exit{}, context.Cause(ctx)
	}
}

// Kill sends SIGKILL to the process group at once, without waiting. Safe to
// call twice, and after the process ended.
func (p *Process) Kill() { p.kill(reasonStopped) }

// kill sends SIGKILL to the process group, recording why only when why is
// a reason: a process already dying of its own (a certain death notice)
// is killed with reasonNone, so that its end is told by its status.
func (p *Process) kill(why int32) {
	if why != reasonNone {
		p.setReason(why)
	}
	p.signalGroup(sigKill)
}

func (p *Process) terminate(grace time.Duration) {
	p.stopOnce.Do(func() {
		p.setReason(reasonStopped)
		p.signalGroup(sigTerm)
		p.mu.Lock()
		if !p.reaped {
			p.killTimer = time.AfterFunc(grace, func() { p.signalGroup(sigKill) })
		}
		p.mu.Unlock()
	})
}

// setReason records why we end the process; the first reason wins.
func (p *Process) setReason(r int32) { p.reason.CompareAndSwap(reasonNone, r) }

// classify turns a reaped status into an Exit.
func (p *Process) classify(code int, sig int, core bool, ns int64, readySeen bool) Exit {
	e := Exit{Code: code, CoreDumped: core, Time: mono.Time(ns)}
	e.Signal = signalOf(sig)
	switch p.reason.Load() {
	case reasonHung:
		e.Kind = ExitKilledHung
	case reasonStopped:
		e.Kind = ExitStopped
	case reasonNotReady:
		e.Kind = ExitNotReady
	case reasonViolation:
		e.Kind = ExitKilledViolation
	default:
		switch {
		case sig == int(sigKill) && p.oomKilled:
			// Before it was ready too: the cause is what a reader needs.
			e.Kind = ExitOOM
		case !readySeen:
			e.Kind = ExitNotReady
		case sig != 0:
			e.Kind = ExitSignal
		case code == 0:
			e.Kind = ExitClean
		default:
			e.Kind = ExitCode
		}
	}
	return e
}

// emit sends an event; the channel is sized for every event of a process.
func (p *Process) emit(e Event) {
	select {
	case p.events <- e:
	default:
		// Unreachable: a process has at most four events.
	}
}
