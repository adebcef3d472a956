package cluster

import (
	"errors"
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/understudy/understudy/internal/actors"
	"github.com/understudy/understudy/internal/cluster/wire"
	"github.com/understudy/understudy/procbridge"
)

// ProxyOptions configure a proxy: the local actor that stands for a
// remote child in its supervisor, as an actors.ProcessActor stands for a
// local one.
type ProxyOptions struct {
	Key         string   // the child's path in its tree
	Nodes       []string // in order of preference
	Observer    *actor.PID
	Incarnation int // of the first copy; 0 means 1
	Standby     int
	Kill        bool
	// Takeover moves the child back, stop-then-start, when a node
	// earlier in Nodes than the one it runs on answers again.
	Takeover bool
	// StopWait bounds the wait for a node to confirm a stop (the grace
	// and the kill); past it the lease is revoked and left to expire.
	StopWait time.Duration
}

// NewProps returns the props of a proxy for a remote child running spec.
// The proxy places a copy on the first node of opts.Nodes that takes it
// (after a lost node, on the nodes after it first), tells the observer
// its events as the actors package's notifications (with the node), and
// fails, as a process actor does, when the copy fails or its node is
// lost (ErrNodeLost). Stopped or restarted, it stops the copy and waits
// until it is gone or its lease has expired.
func (c *Client) NewProps(spec procbridge.Spec, opts ProxyOptions) (*actor.Props, error) {
	if err := spec.Validate(); err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	if len(spec.ExtraFiles) > 0 {
		return nil, errors.New("cluster: a remote child cannot be handed ExtraFiles")
	}
	for _, n := range opts.Nodes {
		if _, ok := c.nodes[n]; !ok {
			return nil, fmt.Errorf("cluster: node %q has no address", n)
		}
	}
	if spec.Name == "" {
		spec.Name = opts.Key
	}
	st := &proxyState{c: c, spec: toWire(spec), opts: opts, name: spec.Name, incarnation: max(opts.Incarnation, 1) - 1}
	return actor.PropsFromProducer(func() actor.Actor { return &proxy{st: st} }), nil
}

// proxyState survives the proxy's restarts.
type proxyState struct {
	c           *Client
	spec        *wire.Spec
	opts        ProxyOptions
	name        string
	incarnation int
}

type proxy struct {
	st     *proxyState
	cp     *Copy
	origin actors.Origin
	pid    int
}

// fromCopy carries a copy's event into the proxy's mailbox.
type fromCopy struct {
	cp *Copy
	ev any
}

func (*fromCopy) IgnoreDeadLetterLogging() {}

func (p *proxy) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		p.start(ctx)
	case *fromCopy:
		if m.cp == p.cp {
			p.onCopy(ctx, m.ev)
		}
	case *actor.Restarting:
		p.stop(ctx, false)
	case *actor.Stopping:
		p.stop(ctx, true)
	}
}

// order is the node list, starting after the node last lost.
func (st *proxyState) order() []string {
	nodes, lost := st.opts.Nodes, st.c.lostNode(st.opts.Key)
	for i, n := range nodes {
		if n == lost {
			return append(append([]string(nil), nodes[i+1:]...), nodes[:i+1]...)
		}
	}
	return nodes
}

func (p *proxy) start(ctx actor.Context) {
	st := p.st
	st.incarnation++
	p.origin = actors.Origin{Actor: ctx.Self(), Name: st.name, Incarnation: st.incarnation}
	p.place(ctx, st.order())
}

// place places a copy on the first node of order that takes it.
func (p *proxy) place(ctx actor.Context, order []string) {
	st := p.st
	var prefer []string
	if st.opts.Takeover {
		prefer = st.opts.Nodes
	}
	system, self := ctx.ActorSystem(), ctx.Self()
	var cp *Copy
	notify := func(ev any) { system.Root.Send(self, &fromCopy{cp: cp, ev: ev}) }
	// notify is called only from the copy's goroutine and the client's
	// actor, after Place has returned cp... or before: hold them back.
	ready := make(chan struct{})
	wrapped := func(ev any) { <-ready; notify(ev) }
	cp, err := st.c.Place(st.opts.Key, st.spec, st.opts.Standby, st.opts.Kill, st.incarnation, order, prefer, wrapped)
	close(ready)
	if err != nil {
		p.fail(ctx, err)
		return
	}
	p.cp = cp
}

func (p *proxy) tell(ctx actor.Context, n actors.Notification) {
	if o := p.st.opts.Observer; o != nil {
		ctx.Send(o, n)
	}
}

// fail reports err as the copy's end and fails the actor with it.
func (p *proxy) fail(ctx actor.Context, err error) {
	p.tell(ctx, &actors.ProcessStartFailed{Origin: p.origin, Err: err})
	panic(err)
}

func (p *proxy) onCopy(ctx actor.Context, ev any) {
	switch m := ev.(type) {
	case Lost:
		p.fail(ctx, m.Err)
	case PlaceFailed:
		p.fail(ctx, m.Err)
	case Rejoined:
		p.takeover(ctx, m.Node)
	case *wire.Event:
		p.onEvent(ctx, m)
	}
}

func (p *proxy) onEvent(ctx actor.Context, m *wire.Event) {
	o := p.origin
	o.Node = m.GetNode()
	now := time.Now()
	switch m.GetKind() {
	case wire.Event_READY:
		p.origin.Node, p.pid = m.GetNode(), int(m.GetPid())
		o = p.origin
		p.tell(ctx, &actors.ProcessReady{Origin: o, Ready: procbridge.Ready{Pid: p.pid, Time: now, SpawnToReady: time.Duration(m.GetSpawnToReadyNs())}})
	case wire.Event_DYING:
		p.tell(ctx, &actors.ProcessDying{Origin: o, Dying: procbridge.Dying{Pid: int(m.GetPid()), Time: now}})
	case wire.Event_HUNG:
		herr := &procbridge.HangError{Name: p.st.name, Pid: int(m.GetPid()), Silence: time.Duration(m.GetHangSilenceNs()), Timeout: time.Duration(m.GetHangTimeoutNs()), Kind: m.GetHangKind()}
		p.tell(ctx, &actors.ProcessHung{Origin: o, Hung: procbridge.Hung{Pid: int(m.GetPid()), Time: now, Err: herr}})
		panic(herr)
	case wire.Event_EXITED:
		x := procbridge.Exited{Pid: int(m.GetPid()), Exit: exitFromWire(m.GetExit())}
		if m.GetErr() != "" {
			x.Err = &procbridge.ExitError{Name: p.st.name, Pid: x.Pid, Exit: x.Exit}
		}
		p.tell(ctx, &actors.ProcessExited{Origin: o, Exited: x})
		if x.Err != nil {
			panic(x.Err)
		}
		ctx.Stop(ctx.Self()) // a clean end: not a failure
	case wire.Event_START_FAILED:
		p.fail(ctx, fmt.Errorf("on node %s: %s", m.GetNode(), m.GetErr()))
	case wire.Event_PROMOTED:
		p.pid = int(m.GetToPid())
		p.tell(ctx, &actors.ProcessPromoted{Origin: o, Promoted: procbridge.Promoted{From: int(m.GetPid()), To: p.pid, Epoch: m.GetGroupEpoch(), Detected: now, Switched: now}})
	case wire.Event_SPARE_READY:
		p.tell(ctx, &actors.ProcessSpareReady{Origin: o, SpareReady: procbridge.SpareReady{Pid: int(m.GetPid()), Lane: int(m.GetLane()), Time: now}})
	case wire.Event_SPARE_DOWN:
		sd := procbridge.SpareDown{Pid: int(m.GetPid()), Lane: int(m.GetLane())}
		if m.GetExit() != nil {
			x := exitFromWire(m.GetExit())
			sd.Exit = &x
		}
		if m.GetErr() != "" {
			sd.Err = errors.New(m.GetErr())
		}
		p.tell(ctx, &actors.ProcessSpareDown{Origin: o, SpareDown: sd})
	case wire.Event_STOPPED:
		// Gone without being asked (its lease was revoked): a failure.
		p.fail(ctx, fmt.Errorf("node %s: copy stopped: %w", m.GetNode(), ErrNodeLost))
	}
}

// takeover moves the child back to the nodes it prefers, node among them
// answering again: the copy is stopped (or its lease left to expire)
// before the next is placed, from the first node of the list. The same
// incarnation carries on: it is not a restart.
func (p *proxy) takeover(ctx actor.Context, node string) {
	cp := p.cp
	if cp == nil {
		return
	}
	p.cp = nil
	cp.Stop(p.st.opts.StopWait)
	p.place(ctx, p.st.opts.Nodes)
}

// stop stops the copy and waits until it is gone or its lease expired.
func (p *proxy) stop(ctx actor.Context, report bool) {
	cp := p.cp
	if cp == nil {
		return
	}
	p.cp = nil
	ev := cp.Stop(p.st.opts.StopWait)
	if !report || ev == nil || ev.GetExit() == nil || ev.GetExit().GetKind() != string(procbridge.ExitStopped) {
		return
	}
	x := procbridge.Exited{Pid: int(ev.GetPid()), Exit: exitFromWire(ev.GetExit())}
	p.tell(ctx, &actors.ProcessExited{Origin: p.origin, Exited: x})
}
