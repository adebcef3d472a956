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
	done      chan struct{} // closed when reaped and every goroutine is done
	exited    chan struct{} // closed when reaped and classified
	started   chan struct{} // closed when Start has emitted Ready or given up
	dead      chan struct{} // closed when reaped and classified, before Exited is sent
	dyingDone chan struct{} // closed when the death-notice waiter is done
	exit      Exit
	err       error

	reason    atomic.Int32
	spawnMono int64
	readyMono atomic.Int64
	dropped   atomic.Uint64

	mu        sync.Mutex // guards signalling against reaping
	reaped    bool
	stopOnce  sync.Once
	killTimer *time.Timer

	os    osProcess
	out   outputs
	atEnd laneFinal // the lane's readings when reaped; valid once dead is closed
}

// Pid returns the process id.
func (p *Process) Pid() int { return p.pid }

// Name returns the spec's name.
func (p *Process) Name() string { return p.name }

// Spec returns the spec the process was started from.
func (p *Process) Spec() Spec { return p.spec }

// Events returns the process's events: Ready, then possibly Hung or Dying,
// then Exited, after which the channel is closed. The channel has room for
// every event, so a slow reader never delays the bridge.
func (p *Process) Events() <-chan Event { return p.events }

// Lines returns the worker's output lines for streams set to OutputLines.
// It is closed once both streams are drained. Lines that arrive while the
// channel is full are dropped and counted (Dropped).
func (p *Process) Lines() <-chan Line { return p.lines }

// Dropped returns how many bytes of output were dropped because their
// consumer fell behind.
func (p *Process) Dropped() uint64 { return p.dropped.Load() }

// Exited is closed when the process has ended and been classified.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// Done is closed when the process has ended and every goroutine of its
// bridge has returned.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exit returns how the process ended, and the failure (an *ExitError) if it
// was one. It is valid once Exited is closed; before, it returns a zero Exit.
func (p *Process) Exit() (Exit, error) {
	select {
	case <-p.exited:
		return p.exit, p.err
	default:
		return Exit{}, nil
	}
}

// Wait waits for the process to end, or for ctx.
func (p *Process) Wait(ctx context.Context) (Exit, error) {
	select {
	case <-p.done:
		return p.exit, p.err
	case <-ctx.Done():
		return Exit{}, context.Cause(ctx)
	}
}

// SpawnMono returns the CLOCK_MONOTONIC time just before the fork.
func (p *Process) SpawnMono() int64 { return p.spawnMono }

// ReadyMono returns when the bridge saw the worker ready (0 before).
func (p *Process) ReadyMono() int64 { return p.readyMono.Load() }

// Heartbeat returns the worker's beat count and the CLOCK_MONOTONIC time of
// its last beat (0, 0 when it never beat). After the end it returns what
// the lane held when the process was reaped (a shared lane may serve
// another process since).
func (p *Process) Heartbeat() (count uint64, lastMono int64) {
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
// never beat).
func (p *Process) HeartbeatAge() time.Duration {
	_, at := p.Heartbeat()
	if at == 0 {
		at = p.readyMono.Load()
	}
	if at == 0 {
		return 0
	}
	return time.Duration(mono.Now() - at)
}

// Segment returns the segment the process serves, and its lane.
func (p *Process) Segment() (*Segment, int) { return p.segment, p.lane.Index() }

// Mark returns the timestamp the worker left with worker.Mark.
func (p *Process) Mark() int64 {
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
func (p *Process) Kill() {
	p.setReason(reasonStopped)
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
func (p *Process) classify(code int, sig int, core bool, mono int64, readySeen bool) Exit {
	e := Exit{Code: code, CoreDumped: core, Mono: mono, At: time.Now()}
	e.Signal = signalOf(sig)
	switch p.reason.Load() {
	case reasonHung:
		e.Kind = ExitKilledHung
	case reasonStopped:
		e.Kind = ExitStopped
	case reasonNotReady:
		e.Kind = ExitNotReady
	default:
		switch {
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
