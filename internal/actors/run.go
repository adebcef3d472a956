package actors

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/understudy/understudy/procbridge"
)

// run is one incarnation of a ProcessActor: one process, and the goroutine
// that starts it, forwards its events to the actor and stops it. The actor
// owns it: stop cancels it and done says the goroutine has returned, by
// which time the process has been reaped and every goroutine of its bridge
// has returned.
type run struct {
	incarnation int
	spec        procbridge.Spec
	kill        bool
	standby     int                  // spares: run a procbridge.Group
	tracker     Tracker              // told of the process or group, if set
	send        func(msg any)        // to the actor's mailbox; safe from any goroutine
	notify      func(n Notification) // to the observer, if any; safe from any goroutine
	origin      Origin               // of this run's notifications
	reported    atomic.Bool          // the end (exit or failed start) was notified

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	p       *procbridge.Process
	g       *procbridge.Group  // the hot-standby group, while it runs
	readyAt time.Time          // when the process was seen ready
	exited  *procbridge.Exited // how the process ended, once it has

	// SwitchRequests on their way to the group loop (see switch.go).
	switchAsks     []switchAsk   // under mu
	switchesClosed bool          // under mu: the group loop has ended
	switchKick     chan struct{} // wakes the group loop; buffered
}

// Messages from a run's goroutine to its actor. The run pointer tells the
// current incarnation's messages from a previous one's, which protoactor
// delivers to the new actor instance after a restart.
type (
	bridgeEvent struct {
		r  *run
		ev procbridge.Event
	}
	startFailed struct {
		r   *run
		err error
	}
)

func (*bridgeEvent) IgnoreDeadLetterLogging() {}
func (*startFailed) IgnoreDeadLetterLogging() {}

func newRun(incarnation int, spec procbridge.Spec, kill bool, system *actor.ActorSystem, self, observer *actor.PID, name string) *run {
	ctx, cancel := context.WithCancel(context.Background())
	r := &run{
		incarnation: incarnation,
		spec:        spec,
		kill:        kill,
		send:        func(msg any) { system.Root.Send(self, msg) },
		notify:      func(Notification) {},
		origin:      Origin{Actor: self, Name: name, Incarnation: incarnation},
		ctx:         ctx,
		cancel:      cancel,
		done:        make(chan struct{}),
		switchKick:  make(chan struct{}, 1),
	}
	if observer != nil {
		r.notify = func(n Notification) { system.Root.Send(observer, n) }
	}
	return r
}

// loop starts the process, forwards its events until the bridge closes
// them, and stops the process when the run is cancelled. Each event goes
// straight from here to the actor and to the observer (which saves the
// observer a hop through the actor's mailbox on the restart path). Once
// cancelled it tells the observer only of a verdict (Hung, Violated) that
// ended the process before the stop reached it: the actor collects the
// end from the run itself.
func (r *run) loop() {
	defer close(r.done)
	if r.standby > 0 {
		r.groupLoop()
		return
	}
	p, err := procbridge.Start(r.ctx, r.spec)
	if err != nil {
		r.failedToStart(err)
		return
	}
	r.mu.Lock()
	r.p = p
	r.mu.Unlock()
	if r.tracker != nil {
		defer r.tracker.Track(p, nil)()
	}

	stopping := r.ctx.Done()
	events := p.Events()
	for events != nil {
		select {
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			if x, isExit := ev.(procbridge.Exited); isExit {
				r.mu.Lock()
				r.exited = &x
				r.mu.Unlock()
			}
			if r.ctx.Err() != nil {
				// Cancelled: the actor collects the end from the run.
				// A verdict that killed the process before the stop
				// reached it is still told, ahead of that end, which
				// the actor reports as the verdict's.
				switch ev.(type) {
				case procbridge.Hung, procbridge.Violated:
					r.notifyEvent(p, nil, ev)
				}
				continue
			}
			switch ev.(type) {
			case procbridge.Ready:
				// The actor reads Ready from the run (readiness)
				// rather than through its mailbox, which saves the
				// restart's critical path a hop.
				r.mu.Lock()
				r.readyAt = time.Now()
				r.mu.Unlock()
				if HoldReady != nil && HoldReady(r.origin.Name) && r.holdReady(p, ev, events) {
					continue
				}
				r.notifyEvent(p, nil, ev)
			case procbridge.Dying, procbridge.Violated:
				r.notifyEvent(p, nil, ev) // the actor waits for Exited
			default:
				// The observer is sent the event last: the mailbox
				// that was sent to last runs next on this thread,
				// and the observer's reaction (a supervisor's
				// restart) is the critical path.
				r.send(&bridgeEvent{r: r, ev: ev})
				r.notifyEvent(p, nil, ev)
			}
		case <-stopping:
			stopping = nil
			if hold := HoldStop.Load(); hold != nil {
				(*hold)(r.origin.Name, p)
			}
			if r.kill {
				p.Kill()
			} else {
				// The context is done, so Stop sends SIGTERM, arms the
				// SIGKILL for the end of the grace and returns at once.
				_, _ = p.Stop(r.ctx)
			}
		}
	}
	<-p.Done()
}

// notifyEvent tells the observer about one bridge event of process p (the
// primary of group g, under hot standby).
func (r *run) notifyEvent(p *procbridge.Process, g *procbridge.Group, ev procbridge.Event) {
	switch e := ev.(type) {
	case procbridge.Ready:
		r.notify(&ProcessReady{Origin: r.origin, Ready: e, Process: p, Group: g})
	case procbridge.Hung:
		r.notify(&ProcessHung{Origin: r.origin, Hung: e})
	case procbridge.Violated:
		r.notify(&ProcessViolated{Origin: r.origin, Violated: e})
	case procbridge.Dying:
		r.notify(&ProcessDying{Origin: r.origin, Dying: e})
	case procbridge.Exited:
		r.reported.Store(true)
		r.notify(&ProcessExited{Origin: r.origin, Exited: e})
	}
}

// stop cancels the run: a start in progress is abandoned (procbridge kills
// and reaps the worker), a running process is stopped.
func (r *run) stop() { r.cancel() }

func (r *run) process() *procbridge.Process {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.p
}

// readiness returns the process's pid and when it was seen ready (a zero
// time before it was).
func (r *run) readiness() (int, time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.p == nil {
		return 0, time.Time{}
	}
	return r.p.Pid(), r.readyAt
}

// group returns the run's hot-standby group while it runs (nil otherwise).
func (r *run) group() *procbridge.Group {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.g
}

func (r *run) end() *procbridge.Exited {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.exited
}

// groupLoop is loop for a hot-standby group. The group's primary stands for
// the process: the group's Ready is its readiness, a failover is a
// ProcessPromoted notification (the actor carries on, now mirroring the new
// primary), and the group's last event, its primary's Exited, is the
// process's exit, a failure of the actor unless it was clean or asked for.
// It also switches the group for the actor's SwitchRequests and answers
// them (switch.go), and tells the observer about replacement spares.
func (r *run) groupLoop() {
	var sw switches
	defer sw.close(r)
	g, err := procbridge.StartGroup(r.ctx, r.spec, r.standby)
	if err != nil {
		r.failedToStart(err)
		return
	}
	p := g.Primary()
	r.mu.Lock()
	r.p, r.g = p, g
	r.mu.Unlock()
	if r.tracker != nil {
		untrack := r.tracker.Track(nil, g)
		defer func() { <-g.Done(); untrack() }()
	}

	stopping := r.ctx.Done()
	events := g.Events()
	for events != nil {
		select {
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			switch e := ev.(type) {
			case procbridge.Ready:
				r.mu.Lock()
				r.readyAt = time.Now()
				r.mu.Unlock()
				r.notifyEvent(p, g, e)
			case procbridge.Promoted:
				next := g.Primary()
				r.mu.Lock()
				r.p = next
				r.mu.Unlock()
				asked, requested := sw.promotedBy(e)
				if r.ctx.Err() == nil {
					r.notify(&ProcessPromoted{Origin: r.origin, Promoted: e, Requested: requested, Token: asked.token})
				}
				if requested {
					// After the notification: an observer that asked
					// sees the ProcessPromoted first.
					asked.respond(&SwitchReply{Token: asked.token, OldPid: e.From, NewPid: e.To, Epoch: e.Epoch})
				}
			case procbridge.SpareReady:
				if r.ctx.Err() == nil {
					r.notify(&ProcessSpareReady{Origin: r.origin, SpareReady: e})
				}
			case procbridge.SpareDown:
				if r.ctx.Err() == nil {
					r.notify(&ProcessSpareDown{Origin: r.origin, SpareDown: e})
				}
			case procbridge.Exited:
				r.mu.Lock()
				r.exited = &e
				r.mu.Unlock()
				if r.ctx.Err() == nil {
					r.send(&bridgeEvent{r: r, ev: e})
					r.notifyEvent(r.process(), g, e)
				}
			}
		case <-r.switchKick:
			sw.start(r, g)
		case <-stopping:
			stopping = nil
			go func() {
				if r.kill {
					for _, q := range append(g.Spares(), g.Primary()) {
						if q != nil {
							q.Kill()
						}
					}
				}
				_ = g.Stop(context.Background())
			}()
		}
	}
	<-g.Done()
	r.mu.Lock()
	r.g = nil
	r.mu.Unlock()
	if x := r.end(); x == nil {
		// The group's last event was lost (its reader fell behind):
		// report the primary's end like a single process's.
		if q := r.process(); q != nil {
			exit, err := q.Wait(context.Background())
			r.mu.Lock()
			r.exited = &procbridge.Exited{Pid: q.Pid(), Exit: exit, Err: err}
			r.mu.Unlock()
		}
	}
}

// failedToStart reports a start that failed on its own, a failure of the
// actor. A start cancelled by stop, which kills and reaps the worker, is
// not one.
func (r *run) failedToStart(err error) {
	if r.ctx.Err() != nil {
		return
	}
	r.reported.Store(true)
	r.notify(&ProcessStartFailed{Origin: r.origin, Err: err})
	r.send(&startFailed{r: r, err: err})
}

// HoldReady, when set (by a test, before anything starts), names the
// children whose ProcessReady is held back until the actor's failure has
// reached its supervisor, when the process ends at once after it was ready:
// the order that protoactor allows (a failure is a system message, which
// overtakes the notifications in the supervisor's mailbox) and that a busy
// machine produces only now and then.
var HoldReady func(name string) bool

// HoldStop, when set (by a test), is called with a run's name and its
// process as the run turns to stop the process, before it signals it: a
// test holds the stop there to see what a verdict given in that moment
// does.
var HoldStop atomic.Pointer[func(name string, p *procbridge.Process)]

// holdReady forces that order for a process that was ready: when its next
// event is its Exited, the actor is told first, and the observer is told
// of Ready and Exited only once the actor's supervisor has stopped or
// restarted it (the run is cancelled). It reports whether it did.
func (r *run) holdReady(p *procbridge.Process, ready procbridge.Event, events <-chan procbridge.Event) bool {
	const bound = 10 * time.Second // nothing waits this long unless something is wrong
	var next procbridge.Event
	select {
	case ev, ok := <-events:
		if !ok {
			return false
		}
		next = ev
	case <-time.After(bound):
		return false
	}
	x, isExit := next.(procbridge.Exited)
	if !isExit {
		r.notifyEvent(p, nil, ready)
		if _, dying := next.(procbridge.Dying); !dying {
			r.send(&bridgeEvent{r: r, ev: next})
		}
		r.notifyEvent(p, nil, next)
		return true
	}
	r.mu.Lock()
	r.exited = &x
	r.mu.Unlock()
	r.send(&bridgeEvent{r: r, ev: x})
	select {
	case <-r.ctx.Done():
	case <-time.After(bound):
	}
	r.notifyEvent(p, nil, ready)
	r.notifyEvent(p, nil, x)
	return true
}
