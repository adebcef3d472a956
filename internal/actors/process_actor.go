package actors

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/understudy/understudy/internal/limits"
	"github.com/understudy/understudy/procbridge"
)

// NewProps returns the props of a ProcessActor that runs one process from
// spec at a time, and the Restarter of the props' actors. It validates spec
// (a *procbridge.SpecError names the field) and opts up front, so a bad
// spec is an error here rather than a failure of the actor later.
//
// Spawn the props once per actor: the counters that survive the actor's
// restarts (incarnation, last exit) are kept per spawned actor, by its PID.
func NewProps(spec procbridge.Spec, opts Options) (*actor.Props, *Restarter, error) {
	if err := spec.Validate(); err != nil {
		return nil, nil, fmt.Errorf("actors: %w", err)
	}
	if err := opts.validate(); err != nil {
		return nil, nil, err
	}
	cfg := &config{spec: spec, opts: opts, log: opts.logger()}
	if cfg.spec.StopGrace == 0 {
		cfg.spec.StopGrace = limits.DefaultStopGrace
	}
	cfg.name = spec.Name
	switch {
	case cfg.name != "":
	case spec.Worker != "":
		cfg.name = spec.Worker
	default:
		cfg.name = spec.Path
	}
	props := actor.PropsFromProducer(func() actor.Actor { return &processActor{cfg: cfg} })
	return props, &Restarter{cfg: cfg}, nil
}

// Restarter lets the parent of a ProcessActor start the actor's next process
// ahead of protoactor's restart of the actor. A parent that restarts a
// failed ProcessActor with RestartChildren waits for a round trip through
// the actor's mailbox before the new process is forked; a parent that
// learns of the death first (from the ProcessExited notification, which
// reaches the observer before the failure reaches the parent) can start the
// replacement at once. It is the seam where a supervisor replaces a cold
// start with something else, such as promoting a standby.
type Restarter struct{ cfg *config }

// StartNext starts the next process of the actor pid at once, on a
// goroutine the actor owns, if the actor's current process has ended with a
// failure (the actor has failed, or is about to). The parent then restarts
// the actor (RestartChildren); its new instance adopts the process instead
// of starting another. If the actor is stopped instead, the process is
// stopped with it. It returns the new process's incarnation, or false when
// there is nothing to restart (no such actor of these props, its process is
// running, or a next one was started already). Call it from the parent's
// goroutine: its Receive or HandleFailure.
func (r *Restarter) StartNext(pid *actor.PID) (incarnation int, ok bool) {
	if r == nil || r.cfg == nil || pid == nil {
		return 0, false
	}
	v, found := r.cfg.histories.Load(pid.Id)
	if !found {
		return 0, false
	}
	h := v.(*history)
	h.mu.Lock()
	defer h.mu.Unlock()
	cur := h.run
	if cur == nil || h.next != nil {
		return 0, false
	}
	if x := cur.end(); x == nil || x.Err == nil {
		return 0, false
	}
	n := newRun(cur.incarnation+1, r.cfg.spec, r.cfg.opts.Kill, h.system, h.self, r.cfg.opts.Observer, r.cfg.name)
	n.standby, n.tracker = r.cfg.opts.Standby, r.cfg.opts.Tracker
	h.next = n
	go n.loop()
	return n.incarnation, true
}

// config is shared by every instance of one props' actors.
type config struct {
	spec procbridge.Spec
	opts Options
	name string
	log  *slog.Logger

	histories sync.Map // actor id → *history
}

// history is what survives an actor's restarts: protoactor makes a new
// instance for each, with the same PID. Its plain fields are touched only
// from the actor's mailbox, which runs one instance at a time; those under
// mu are shared with the Restarter.
type history struct {
	incarnation int // of the current or last process; 0 before the first
	state       State
	pid         int
	since       time.Time
	lastExit    *procbridge.Exit
	lastErr     error

	mu     sync.Mutex
	system *actor.ActorSystem
	self   *actor.PID
	run    *run // the current run
	next   *run // started ahead by the Restarter, for the next instance
}

// processActor is one instance of a ProcessActor.
type processActor struct {
	cfg  *config
	hist *history
	run  *run
}

// Receive handles protoactor's lifecycle messages, the run's messages and
// status requests. It panics with the typed reason when the process dies or
// hangs: that is how the actor fails.
func (a *processActor) Receive(c actor.Context) {
	a.noteReady(c)
	switch m := c.Message().(type) {
	case *actor.Started:
		a.start(c)
	case *bridgeEvent:
		if m.r == a.run {
			a.onEvent(c, m.ev)
		}
	case *startFailed:
		if m.r == a.run {
			a.onStartFailed(c, m.err)
		}
	case *StatusRequest:
		c.Respond(a.status())
	case *SwitchRequest:
		a.switchOver(c, m)
	case *actor.Restarting:
		a.stop(c, a.run) // a run started ahead stays, for the new instance
	case *actor.Stopping:
		a.stop(c, a.run)
		if a.hist != nil {
			a.hist.mu.Lock()
			next := a.hist.next
			a.hist.next = nil
			a.hist.mu.Unlock()
			a.stop(c, next)
		}
	case *actor.Stopped:
		a.cfg.histories.Delete(c.Self().Id)
	}
}

func (a *processActor) start(c actor.Context) {
	v, _ := a.cfg.histories.LoadOrStore(c.Self().Id, &history{})
	h := v.(*history)
	a.hist = h
	h.state, h.pid, h.since = StateStarting, 0, time.Time{}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.system, h.self = c.ActorSystem(), c.Self()
	if r := h.next; r != nil { // started ahead by the Restarter: adopt it
		h.next = nil
		h.incarnation, h.run, a.run = r.incarnation, r, r
		a.cfg.log.Debug("adopting process started ahead", "actor", c.Self().Id, "incarnation", r.incarnation)
		return
	}
	if h.incarnation == 0 {
		h.incarnation = a.cfg.opts.firstIncarnation()
	} else {
		h.incarnation++
	}
	r := newRun(h.incarnation, a.cfg.spec, a.cfg.opts.Kill, c.ActorSystem(), c.Self(), a.cfg.opts.Observer, a.cfg.name)
	r.standby, r.tracker = a.cfg.opts.Standby, a.cfg.opts.Tracker
	h.run, a.run = r, r
	a.cfg.log.Debug("starting process", "actor", c.Self().Id, "incarnation", r.incarnation)
	go r.loop()
}

// noteReady brings the history up to date with the run's readiness, which
// the run records itself rather than sending it.
func (a *processActor) noteReady(c actor.Context) {
	if a.run == nil || a.hist == nil || a.hist.state != StateStarting {
		return
	}
	if pid, at := a.run.readiness(); !at.IsZero() {
		a.hist.state, a.hist.pid, a.hist.since = StateRunning, pid, at
		a.cfg.log.Debug("process ready", "actor", c.Self().Id, "pid", pid)
	}
}

// onEvent follows a bridge event the run has already told the observer
// about (Ready is not sent: see noteReady).
func (a *processActor) onEvent(c actor.Context, ev procbridge.Event) {
	h := a.hist
	switch e := ev.(type) {
	case procbridge.Hung:
		h.state, h.lastErr = StateHung, e.Err
		a.cfg.log.Debug("process hung", "actor", c.Self().Id, "pid", e.Pid, "err", e.Err)
		panic(e.Err) // the failure: protoactor hands e.Err to the parent
	case procbridge.Exited:
		exit := e.Exit
		h.state, h.lastExit, h.lastErr = StateExited, &exit, e.Err
		a.cfg.log.Debug("process exited", "actor", c.Self().Id, "pid", e.Pid, "exit", e.Exit.String())
		if e.Err != nil {
			panic(e.Err) // a *procbridge.ExitError
		}
		// A clean end is not a failure: the actor stops, and its
		// parent sees *actor.Terminated.
		c.Stop(c.Self())
	}
}

func (a *processActor) onStartFailed(c actor.Context, err error) {
	h := a.hist
	h.state, h.lastErr = StateExited, err
	var xe *procbridge.ExitError
	if errors.As(err, &xe) {
		exit := xe.Exit
		h.lastExit, h.pid = &exit, xe.Pid
	}
	a.cfg.log.Debug("process start failed", "actor", c.Self().Id, "err", err)
	panic(err)
}

// stop ends the current run within the shutdown policy and waits, bounded,
// for the process to be reaped and the run's goroutine to return. It is the
// one place Receive blocks.
func (a *processActor) stop(c actor.Context, r *run) {
	if r == nil {
		return
	}
	if r == a.run {
		a.run = nil
	}
	if a.hist.state == StateStarting || a.hist.state == StateRunning {
		a.hist.state = StateStopping
	}
	began := time.Now()
	r.stop()
	bound := a.cfg.opts.killWait()
	if !r.kill {
		bound += a.cfg.spec.StopGrace
	}
	timer := time.NewTimer(bound)
	defer timer.Stop()
	select {
	case <-r.done:
	case <-timer.C:
		pid := a.hist.pid
		if p := r.process(); p != nil {
			pid = p.Pid()
		}
		a.cfg.log.Debug("process not reaped in time", "actor", c.Self().Id, "pid", pid, "waited", time.Since(began))
		r.notify(&ProcessStopTimeout{Origin: r.origin, Pid: pid, Waited: time.Since(began)})
		return
	}
	x := r.end()
	if x == nil || r.reported.Load() {
		if a.hist.state == StateStopping {
			a.hist.state = StateStopped
		}
		return
	}
	r.reported.Store(true)
	exit := x.Exit
	a.hist.lastExit, a.hist.lastErr = &exit, x.Err
	if a.hist.state == StateStopping {
		a.hist.state = StateStopped
	} else if x.Err != nil {
		a.hist.state = StateExited
	}
	r.notify(&ProcessExited{Origin: r.origin, Exited: *x})
}

func (a *processActor) status() *Status {
	h := a.hist
	if h == nil { // a request before Started cannot happen, but be safe
		return &Status{Name: a.cfg.name}
	}
	st := &Status{
		Name:        a.cfg.name,
		State:       h.state,
		Pid:         h.pid,
		Incarnation: h.incarnation,
		Restarts:    max(h.incarnation-1, 0),
		Since:       h.since,
		LastExit:    h.lastExit,
		LastErr:     h.lastErr,
	}
	if a.run != nil && h.state == StateRunning {
		if p := a.run.process(); p != nil {
			st.Pid = p.Pid() // under hot standby, the primary now
			st.HeartbeatAge = p.HeartbeatAge()
		}
		st.Group = a.run.group()
	}
	return st
}
