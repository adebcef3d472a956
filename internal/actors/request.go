package actors

import (
	"context"
	"errors"
	"fmt"

	"github.com/asynkron/protoactor-go/actor"
)

// ErrNoActor: the request went to an actor that does not exist (it stopped,
// or was never spawned).
var ErrNoActor = errors.New("actors: no such actor")

// Request sends msg to pid and waits for the reply (the first message the
// actor sends back to the request's sender, usually with ctx.Respond), for
// ctx's end, or until protoactor reports the actor does not exist
// (ErrNoActor). Unlike RequestFuture it honours a context and starts no
// goroutine and no timer: the reply goes to a throwaway process in the
// system's registry that forwards it to a channel.
func Request(ctx context.Context, system *actor.ActorSystem, pid *actor.PID, msg any) (any, error) {
	if system == nil || pid == nil {
		return nil, fmt.Errorf("actors: request %T: nil system or PID", msg)
	}
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	r := &replyProcess{c: make(chan any, 1)}
	self, ok := system.ProcessRegistry.Add(r, "reply$"+system.ProcessRegistry.NextId())
	if !ok {
		return nil, fmt.Errorf("actors: request %T: could not register the reply process", msg)
	}
	defer system.ProcessRegistry.Remove(self)
	system.Root.RequestWithCustomSender(pid, msg, self)
	select {
	case reply := <-r.c:
		if _, dead := reply.(*actor.DeadLetterResponse); dead {
			return nil, fmt.Errorf("actors: request %T to %s: %w", msg, pid.Id, ErrNoActor)
		}
		return reply, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("actors: request %T to %s: %w", msg, pid.Id, context.Cause(ctx))
	}
}

// QueryStatus asks the ProcessActor at pid for its Status.
func QueryStatus(ctx context.Context, system *actor.ActorSystem, pid *actor.PID) (Status, error) {
	reply, err := Request(ctx, system, pid, &StatusRequest{})
	if err != nil {
		return Status{}, err
	}
	st, ok := reply.(*Status)
	if !ok {
		return Status{}, fmt.Errorf("actors: %s answered a status request with %T: not a ProcessActor", pid.Id, reply)
	}
	return *st, nil
}

// replyProcess is a registry entry that keeps the first user message sent
// to it.
type replyProcess struct{ c chan any }

func (r *replyProcess) SendUserMessage(_ *actor.PID, message any) {
	_, msg, _ := actor.UnwrapEnvelope(message)
	select {
	case r.c <- msg:
	default: // only the first reply counts
	}
}

func (r *replyProcess) SendSystemMessage(*actor.PID, any) {}

func (r *replyProcess) Stop(*actor.PID) {}
