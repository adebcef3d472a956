package actors

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/understudy/understudy/procbridge"
)

// DefaultCommandTimeout bounds the wait for a worker's reply when a Command
// sets no Timeout.
const DefaultCommandTimeout = time.Second

// ErrNotRunning: the actor has no running process to give the command to.
var ErrNotRunning = errors.New("actors: no running process")

// Command is a user message for the worker: the ProcessActor puts Data into
// its process's command ring (procbridge.Spec.RingSize must be set) and
// responds to the sender with a *CommandReply carrying the worker's reply
// (worker.Recv, then worker.Reply). Commands are answered in order, one at
// a time. A full ring is answered at once with procbridge.ErrRingFull: the
// caller sees backpressure, not a block or a silent drop. Under hot standby
// the command goes to whichever process is primary.
type Command struct {
	Data    []byte
	Timeout time.Duration // for the reply; zero means DefaultCommandTimeout
}

// CommandReply answers a Command.
type CommandReply struct {
	Data []byte
	Err  error
}

// commands serialises a ProcessActor's commands: one goroutine at a time
// talks to the rings, so replies pair with requests.
type commands struct {
	mu sync.Mutex     // held by the goroutine talking to the rings
	wg sync.WaitGroup // the goroutines in flight; the actor waits on stop
}

// command hands m to the process without blocking Receive.
func (a *processActor) command(c actor.Context, m *Command) {
	sender, system := c.Sender(), c.ActorSystem()
	respond := func(r *CommandReply) {
		if sender != nil {
			system.Root.Send(sender, r)
		}
	}
	var p *procbridge.Process
	if a.run != nil {
		p = a.run.process()
	}
	if p == nil {
		respond(&CommandReply{Err: ErrNotRunning})
		return
	}
	timeout := m.Timeout
	if timeout <= 0 {
		timeout = DefaultCommandTimeout
	}
	cmds := &a.cfg.cmds
	cmds.wg.Add(1)
	go func() {
		defer cmds.wg.Done()
		cmds.mu.Lock()
		defer cmds.mu.Unlock()
		seg, _ := p.Segment()
		if err := seg.Send(m.Data); err != nil {
			respond(&CommandReply{Err: fmt.Errorf("actors: command to %s: %w", a.cfg.name, err)})
			return
		}
		buf := make([]byte, seg.Config().RingSize)
		n, err := seg.Recv(buf, timeout)
		if err != nil {
			respond(&CommandReply{Err: fmt.Errorf("actors: reply from %s: %w", a.cfg.name, err)})
			return
		}
		respond(&CommandReply{Data: buf[:n]})
	}()
}
