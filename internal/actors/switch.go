package actors

import (
	"context"
	"errors"
	"fmt"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/understudy/understudy/procbridge"
)

// ErrNoStandby: a SwitchRequest went to a ProcessActor that runs no
// hot-standby group (its Options.Standby is 0).
var ErrNoStandby = errors.New("actors: not a hot-standby actor")

// ErrNotRunning: the actor has no running process to switch.
var ErrNotRunning = errors.New("actors: no running process")

// SwitchRequest asks a ProcessActor that runs a hot-standby group
// (Options.Standby) to fail over on purpose, with procbridge.Group.Switch:
// the primary is fenced and killed, a ready spare takes over from the state
// the primary committed, and a replacement spare is started. The actor does
// not fail or restart. It responds to the sender with a *SwitchReply (use
// RequestSwitch, or a parent's ctx.Request).
//
// When the switch happens, the observer (Options.Observer) is sent its
// *ProcessPromoted, with Requested set and this Token, before the sender is
// sent the reply: a parent that is both (a supervisor) sees the
// notification first and can tell its own switch from a failure.
type SwitchRequest struct {
	// Token is the requester's: it comes back in the SwitchReply and in
	// the ProcessPromoted of the switch.
	Token uint64
}

// SwitchReply answers a SwitchRequest. Err is nil when the switch happened:
// OldPid was the primary, NewPid is, under Epoch. Otherwise nothing was
// switched and Err wraps ErrNoStandby (the actor has no group),
// ErrNotRunning (its group is not running, or the actor is stopping),
// procbridge.ErrNoSpare (no spare is ready: the primary is left running) or
// procbridge.ErrGroupDown (the group ended first).
type SwitchReply struct {
	Token          uint64
	OldPid, NewPid int
	Epoch          uint64
	Err            error
}

// IgnoreDeadLetterLogging keeps a request to a stopped actor, or a reply to
// a requester gone, out of the dead-letter log.
func (*SwitchRequest) IgnoreDeadLetterLogging() {}

// IgnoreDeadLetterLogging: see SwitchRequest.
func (*SwitchReply) IgnoreDeadLetterLogging() {}

// RequestSwitch asks the ProcessActor at pid to switch to a spare
// (SwitchRequest with token) and waits for the reply, or for ctx. The error
// is the request's (ErrNoActor, ctx's) or the reply's Err.
func RequestSwitch(ctx context.Context, system *actor.ActorSystem, pid *actor.PID, token uint64) (*SwitchReply, error) {
	reply, err := Request(ctx, system, pid, &SwitchRequest{Token: token})
	if err != nil {
		return nil, err
	}
	r, ok := reply.(*SwitchReply)
	if !ok {
		return nil, fmt.Errorf("actors: %s answered a switch request with %T: not a ProcessActor", pid.Id, reply)
	}
	return r, r.Err
}

// switchOver hands a SwitchRequest to the run, whose goroutine owns the
// group and answers; Receive does not wait for it.
func (a *processActor) switchOver(c actor.Context, m *SwitchRequest) {
	sender, system := c.Sender(), c.ActorSystem()
	ask := switchAsk{token: m.Token, name: a.cfg.name, respond: func(r *SwitchReply) {
		if sender != nil {
			system.Root.Send(sender, r)
		}
	}}
	switch {
	case a.cfg.opts.Standby == 0:
		ask.fail(ErrNoStandby)
	case a.run == nil || a.hist == nil || a.hist.state != StateRunning:
		ask.fail(ErrNotRunning)
	default:
		a.run.requestSwitch(ask)
	}
}

// switchAsk is one SwitchRequest on its way through a run.
type switchAsk struct {
	token   uint64
	name    string
	respond func(*SwitchReply) // safe from any goroutine
}

func (s switchAsk) fail(err error) {
	s.respond(&SwitchReply{Token: s.token, Err: fmt.Errorf("actors: switch %s: %w", s.name, err)})
}

// requestSwitch queues a switch for the run's group loop, or answers at once
// when the loop has ended.
func (r *run) requestSwitch(a switchAsk) {
	r.mu.Lock()
	if r.switchesClosed {
		r.mu.Unlock()
		a.fail(ErrNotRunning)
		return
	}
	r.switchAsks = append(r.switchAsks, a)
	r.mu.Unlock()
	select {
	case r.switchKick <- struct{}{}:
	default: // a kick is pending already
	}
}

// takeSwitches returns the queued switches; with closing, it also refuses
// any later one.
func (r *run) takeSwitches(closing bool) []switchAsk {
	r.mu.Lock()
	defer r.mu.Unlock()
	asks := r.switchAsks
	r.switchAsks = nil
	if closing {
		r.switchesClosed = true
	}
	return asks
}

// switches is the group loop's part of SwitchRequest: it switches the group
// for each queued request, and keeps those that succeeded until their
// Promoted event comes, in order (see promotedBy).
type switches struct {
	awaiting []switchAsk
}

// start switches g once for each queued request; a failed one is answered
// at once.
func (sw *switches) start(r *run, g *procbridge.Group) {
	for _, a := range r.takeSwitches(false) {
		if r.ctx.Err() != nil {
			a.fail(ErrNotRunning)
			continue
		}
		if err := g.Switch(r.ctx); err != nil {
			a.fail(err)
			continue
		}
		// The group emitted the switch's Promoted before Switch returned:
		// the loop reads it next among the group's events.
		sw.awaiting = append(sw.awaiting, a)
	}
}

// promotedBy returns the request a Promoted event answers, if any: a switch
// (Cause nil) while a requested one is awaited. A switch made on the group
// directly at the same moment as a requested one may be taken for it (both
// are switches; only which of the two reports says Requested can differ).
func (sw *switches) promotedBy(e procbridge.Promoted) (switchAsk, bool) {
	if e.Cause != nil || len(sw.awaiting) == 0 {
		return switchAsk{}, false
	}
	a := sw.awaiting[0]
	sw.awaiting = sw.awaiting[1:]
	return a, true
}

// close answers every switch still queued or awaited: the group loop has
// ended.
func (sw *switches) close(r *run) {
	err := procbridge.ErrGroupDown
	if r.ctx.Err() != nil {
		err = ErrNotRunning
	}
	for _, a := range append(sw.awaiting, r.takeSwitches(true)...) {
		a.fail(err)
	}
	sw.awaiting = nil
}
