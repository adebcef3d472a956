package procbridge

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/understudy/understudy/internal/limits"
	"github.com/understudy/understudy/internal/mono"
	"github.com/understudy/understudy/procbridge/internal/shm"
)

// The replacement of a crash-looping spare backs off, so a spare that
// cannot live does not burn a CPU being restarted.
const (
	spareStable   = time.Second // a spare that lived this long was healthy
	spareRetryMin = 10 * time.Millisecond
	spareRetryMax = 5 * time.Second
)

func nextRetry(d time.Duration) time.Duration {
	if d == 0 {
		return spareRetryMin
	}
	return min(2*d, spareRetryMax)
}

// Group runs a primary and its spares over one shared segment, and fails
// over to a spare the moment the primary dies or hangs: it fences the old
// primary (a new epoch), wakes a spare, which resumes from the last state
// the primary committed, and starts a replacement spare off the failover
// path. Its methods are safe for concurrent use.
type Group struct {
	spec Spec
	seg  *Segment

	events       chan Event
	done         chan struct{}
	ctx          context.Context
	cancel       context.CancelFunc
	wg           sync.WaitGroup // members' forwarders and replacement starts
	memberEvents chan memberEvent
	switches     chan chan error

	mu      sync.Mutex
	members []*Process        // by lane; nil when free
	handled map[*Process]bool // primaries already failed over from
	dying   map[*Process]bool // spares that said Dying or Hung
	retry   []time.Duration   // by lane: the replacement's current back-off
	// starting holds, by lane, a channel closed when the replacement's
	// Start in that lane has returned: a spare that said Ready may be
	// woken by the kernel and promote itself before then.
	starting map[int]chan struct{}
	primary  int // the lane the group last knew as primary
	stopped  bool

	// unwarm ends the group's hold of the death-notice waiters' warmth:
	// its failover rides on their Dying (warm_linux.go).
	unwarm func()
}

type memberEvent struct {
	p *Process
	e Event
}

// StartGroup starts a hot-standby group of spec's worker: a primary and
// spares pre-warmed spare processes (1 when zero, at most 14), sharing one
// Segment sized by spec's StateSize and RingSize. The spares run spec's
// program, which must then link the SDK, or spec.Spare's: a primary that
// does not link it (a plain executable) is stood by for by spares that do.
// It starts the primary and then each spare, each ready before the next,
// and returns the running group. On error nothing is left running.
func StartGroup(ctx context.Context, spec Spec, spares int) (*Group, error) {
	if spares == 0 {
		spares = 1
	}
	if spares < 0 || spares > limits.MaxSpares {
		return nil, &SpecError{Field: "spares", Value: fmt.Sprint(spares), Reason: fmt.Sprintf("want 1..%d", limits.MaxSpares)}
	}
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	if !spec.usesSDK() && spec.Spare == nil {
		return nil, &SpecError{Field: "Worker", Value: `""`, Reason: "a hot-standby group's spares link procbridge/worker: set Worker, SDK for an executable that links it, or Spare to stand such a worker by for this program"}
	}
	seg, err := newSegment(spec.name(), segmentConfig{
		Lanes:     spares + 1,
		StateSize: spec.StateSize,
		RingSize:  spec.RingSize,
		Heartbeat: spec.Heartbeat,
	})
	if err != nil {
		return nil, err
	}
	gctx, cancel := context.WithCancel(context.Background())
	g := &Group{
		spec:         spec,
		seg:          seg,
		events:       make(chan Event, 64),
		done:         make(chan struct{}),
		ctx:          gctx,
		cancel:       cancel,
		memberEvents: make(chan memberEvent),
		switches:     make(chan chan error),
		members:      make([]*Process, spares+1),
		retry:        make([]time.Duration, spares+1),
		handled:      map[*Process]bool{},
		dying:        map[*Process]bool{},
		starting:     map[int]chan struct{}{},
		unwarm:       holdWarm(),
	}
	for lane := range g.members {
		p, err := g.startLane(ctx, lane, lane == 0)
		if err != nil {
			g.abort()
			return nil, err
		}
		g.members[lane] = p
		if lane == 0 {
			// The primary's Ready, its first event, is the group's.
			g.emit(<-p.Events())
		}
		g.follow(p)
	}
	go g.run()
	return g, nil
}

// startLane starts a member in lane: the group's first primary, or a spare
// (of spec.Spare when it is set).
func (g *Group) startLane(ctx context.Context, lane int, primary bool) (*Process, error) {
	s := g.spec
	if !primary && s.Spare != nil {
		s = *s.Spare
	}
	s.StateSize, s.RingSize, s.Spare = 0, 0, nil
	return start(ctx, s, startOptions{segment: g.seg, lane: lane, plain: primary})
}

// follow forwards p's events to the group's loop.
func (g *Group) follow(p *Process) {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		for e := range p.Events() {
			select {
			case g.memberEvents <- memberEvent{p, e}:
			case <-g.ctx.Done():
				// Stopping: drain without forwarding.
			}
		}
	}()
}

// abort kills whatever StartGroup started.
func (g *Group) abort() {
	defer g.unwarm()
	g.cancel()
	for _, p := range g.members {
		if p != nil {
			p.Kill()
			<-p.Done()
		}
	}
	g.wg.Wait()
	g.seg.close()
}

// Events returns the group's events: its first primary's Ready, then
// Promoted, SpareReady and SpareDown, then, last, the Exited of its primary,
// after which the channel is closed. The group ends when its primary ends with no spare ready to take
// over, or ends cleanly (exit 0: its work is done, nothing to fail over
// from), or when it is stopped.
func (g *Group) Events() <-chan Event { return g.events }

// Done is closed when the group has stopped, every goroutine of it
// returned and the segment's descriptor is closed (its mapping stays: the
// Segment of its processes still reads the state).
func (g *Group) Done() <-chan struct{} { return g.done }

// Primary returns the primary as the group has reported it: the first
// process, then the To of the last Promoted event. It agrees with the
// events a caller has read, not with the control word: a spare the kernel
// woke runs as primary some microseconds before the group has handled the
// old primary's death and said so. [Segment.Control] tells the lane the
// control word names now.
func (g *Group) Primary() *Process {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.members[g.primary]
}

// Spares returns the spares that are running now, as the group knows them
// (see Primary).
func (g *Group) Spares() []*Process {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []*Process
	for i, p := range g.members {
		if p != nil && i != g.primary {
			out = append(out, p)
		}
	}
	return out
}

// run is the group's loop: it owns failover decisions.
func (g *Group) run() {
	defer close(g.done)
	defer g.unwarm()
	defer close(g.events)
	for {
		select {
		case <-g.ctx.Done():
			g.wg.Wait()
			g.seg.close()
			g.emitPrimaryEnd()
			return
		case reply := <-g.switches:
			reply <- g.switchOver()
		case me := <-g.memberEvents:
			if g.handle(me) {
				// The primary is gone for good: kill the rest and end. A
				// spare has no work to finish, and one the kernel woke must
				// not run on, untracked, while the child restarts cold.
				g.cancel()
				g.killAll()
				g.wg.Wait()
				g.seg.close()
				return
			}
		}
	}
}

// handle reacts to one member event; it reports whether the group is down.
func (g *Group) handle(me memberEvent) bool {
	g.mu.Lock()
	lane := g.laneOf(me.p)
	// The group's own idea of the primary: a spare the kernel woke may
	// have promoted itself already, moving the control word on.
	isPrimary := lane == g.primary
	g.mu.Unlock()
	if lane < 0 {
		return false // a member already replaced
	}
	switch e := me.e.(type) {
	case Dying, Hung, Violated:
		if isPrimary && !g.handled[me.p] {
			return g.failover(me.p, lane, e, eventMono(e))
		}
		g.mu.Lock()
		g.dying[me.p] = true // a spare on its way out: never promote it
		g.mu.Unlock()
	case Exited:
		if isPrimary && !g.handled[me.p] && e.Exit.Kind == ExitClean {
			// The primary finished its work: the child ended, nothing failed.
			g.handled[me.p] = true
			g.emit(e)
			return true
		}
		if isPrimary && !g.handled[me.p] {
			if down := g.failover(me.p, lane, e, mono.Of(e.Exit.Time)); down {
				return true
			}
		}
		g.mu.Lock()
		wasSpare := !g.handled[me.p]
		delete(g.handled, me.p)
		delete(g.dying, me.p)
		g.members[lane] = nil
		var retry time.Duration
		if wasSpare {
			if lived := time.Duration(mono.Of(e.Exit.Time) - me.p.readyMono.Load()); lived < spareStable {
				g.retry[lane] = nextRetry(g.retry[lane])
			} else {
				g.retry[lane] = 0
			}
			retry = g.retry[lane]
		} else {
			g.retry[lane] = 0 // a primary's lane, freed by a failover
		}
		g.mu.Unlock()
		if wasSpare {
			exit := e.Exit
			g.emit(SpareDown{Pid: me.p.Pid(), Lane: lane, Exit: &exit, Retry: retry})
		}
		g.replace(lane, retry)
	}
	return false
}

func eventMono(e Event) int64 {
	switch e := e.(type) {
	case Dying:
		return mono.Of(e.Time)
	case Hung:
		return mono.Of(e.Time)
	case Violated:
		return mono.Of(e.Time)
	case Exited:
		return mono.Of(e.Exit.Time)
	}
	return mono.Now()
}

// emitPrimaryEnd reports, as the group's last event, how its primary
// ended, once the group was stopped.
func (g *Group) emitPrimaryEnd() {
	g.mu.Lock()
	p := g.members[g.primary]
	g.mu.Unlock()
	if p == nil {
		return
	}
	<-p.exited // its events are closed: it ends in a moment, if not yet
	g.emit(Exited{Pid: p.Pid(), Exit: p.exit, Err: p.err, Dropped: p.dropped.Load()})
}

// failover promotes a spare in place of the primary p (lane from). With no
// spare it reports the group down.
//
// Every lane it indexes comes from the segment's own record, never from
// the control word as read: a control word that no promotion leaves is
// overwritten, and blamed on the primary, which is the only member that
// runs application code against the segment (parked spares sleep).
func (g *Group) failover(p *Process, from int, cause Event, detect int64) (down bool) {
	g.mu.Lock()
	g.handled[p] = true
	to := -1
	for i, q := range g.members {
		if g.candidate(q, i, from) {
			to = i
			break
		}
	}
	if to < 0 {
		// A replacement spare the kernel woke may have promoted itself
		// before its Start returned: take it if its Start is in flight.
		if _, l := g.seg.Control(); l != from && g.starting[l] != nil {
			to = l
		}
	}
	g.mu.Unlock()
	if to >= 0 && g.seg.soundRings(!isDeath(cause)) != nil && cause == nil {
		// A switch found the rings scribbled: the primary's violation,
		// which soundRings reported, is what gave it away.
		if v := p.violation.Load(); v != nil {
			cause = Violated{Pid: p.pid, Time: mono.Time(mono.Now()), Err: v}
		}
	}
	why := killReason(cause)
	if to < 0 {
		if seen, bad := g.seg.controlCorrupt(); bad {
			p.violate("control word", controlWord(seen), "a value a promotion leaves")
		}
		p.kill(why)
		exit, err := p.Wait(context.Background())
		g.emit(Exited{Pid: p.Pid(), Exit: exit, Err: err, Dropped: p.dropped.Load()})
		return true
	}
	epoch, lane, won, err := g.seg.failover(from, to)
	switched := mono.Now()
	var ce *controlError
	if errors.As(err, &ce) {
		cause = p.violate("control word", controlWord(ce.seen), fmt.Sprintf("epoch %d lane %d, or a spare's promotion to epoch %d", ce.want>>8, ce.want&0xff, ce.want>>8+1))
	} else {
		p.kill(why) // fenced already; a hung primary must not wake up and work
	}
	next := g.memberOf(lane)
	if next == nil || next == p {
		// The word names a lane no live process of the group serves: not
		// a promotion any member made. Fence it off and promote to.
		if _, isViolation := cause.(Violated); !isViolation {
			cause = p.violate("control word", fmt.Sprintf("epoch %d lane %d", epoch, lane), "a lane of a ready spare")
		}
		if next = g.memberOf(to); next == nil {
			// to was a replacement whose Start failed: no spare is left.
			exit, err := p.Wait(context.Background())
			g.emit(Exited{Pid: p.Pid(), Exit: exit, Err: err, Dropped: p.dropped.Load()})
			return true
		}
		epoch, lane = g.seg.force(to)
		won = true
	}
	g.mu.Lock()
	g.primary = lane
	g.mu.Unlock()
	g.emit(Promoted{
		From: p.Pid(), To: next.Pid(), Epoch: epoch, Cause: cause,
		Detected: mono.Time(detect), Switched: mono.Time(switched),
		ByKernel: !won,
	})
	return false
}

// memberOf returns the process serving lane, waiting for a replacement
// whose Start is in flight there (it said Ready, so that takes
// microseconds; at most its ready timeout). It returns nil when the lane
// has none, or when its process has ended.
func (g *Group) memberOf(lane int) *Process {
	g.mu.Lock()
	q, wait := g.members[lane], g.starting[lane]
	g.mu.Unlock()
	if q == nil && wait != nil {
		t := time.NewTimer(g.spec.readyTimeout())
		select {
		case <-wait:
		case <-t.C:
		}
		t.Stop()
		g.mu.Lock()
		q = g.members[lane]
		g.mu.Unlock()
	}
	if q == nil {
		return nil
	}
	select {
	case <-q.dead:
		return nil
	default:
		return q
	}
}

// isDeath reports whether cause says the process is ending on its own.
func isDeath(cause Event) bool {
	switch cause.(type) {
	case Dying, Exited:
		return true
	}
	return false
}

// killReason is the reason recorded when a failover kills the primary it
// fails over from, by what gave it away: a dying primary (a death notice)
// is ending on its own, and its status tells how; a switch is our stop.
func killReason(cause Event) int32 {
	switch cause.(type) {
	case nil:
		return reasonStopped
	case Hung:
		return reasonHung
	case Violated:
		return reasonViolation
	}
	return reasonNone
}

// replace starts a new spare in a free lane after the wait after, off the
// failover path, and tries again, backing off, until one starts or the
// group stops.
func (g *Group) replace(lane int, after time.Duration) {
	g.mu.Lock()
	if g.stopped {
		g.mu.Unlock()
		return
	}
	g.wg.Add(1)
	g.mu.Unlock()
	go func() {
		defer g.wg.Done()
		var p *Process
		var headerErr error // the header as the last try found it
		retried := false    // the last try was an immediate retry
		for {
			if after > 0 {
				t := time.NewTimer(after)
				select {
				case <-t.C:
				case <-g.ctx.Done():
					t.Stop()
					return
				}
			}
			// The header is the supervisor's: a member that scribbled on
			// it would make every replacement refuse the segment. Restore
			// it, and blame the primary once the replacement is up.
			headerErr = g.seg.seg.Validate()
			if headerErr != nil {
				g.seg.seg.RestoreHeader()
			}
			var err error
			started := make(chan struct{})
			g.mu.Lock()
			g.starting[lane] = started
			g.mu.Unlock()
			p, err = g.startLane(g.ctx, lane, false)
			g.mu.Lock()
			if err == nil && !g.stopped {
				g.members[lane] = p
			}
			delete(g.starting, lane)
			g.mu.Unlock()
			close(started)
			// A spare that refused the header may have found it changed
			// while it started: then another member changed it, the
			// spare was not at fault, and it is tried again at once.
			again := false
			if headerErr == nil && err != nil && refusedHeader(err) {
				if headerErr = g.seg.seg.Validate(); headerErr != nil {
					g.seg.seg.RestoreHeader()
					again = true
				}
			}
			if err == nil {
				break // the primary is blamed once the spare is told ready
			}
			if headerErr != nil {
				g.blameHeader(headerErr)
			}
			if g.ctx.Err() != nil {
				return
			}
			g.mu.Lock()
			if again && !retried {
				after, retried = 0, true // once: a member that keeps at it is backed off
			} else {
				retried = false
				g.retry[lane] = nextRetry(g.retry[lane])
				after = g.retry[lane]
			}
			g.mu.Unlock()
			g.emit(SpareDown{Lane: lane, Err: err, Retry: after})
		}
		g.mu.Lock()
		if g.stopped {
			g.mu.Unlock()
			p.Kill()
			<-p.Done()
			return
		}
		g.members[lane] = p
		g.mu.Unlock()
		g.follow(p)
		g.emit(SpareReady{Pid: p.Pid(), Lane: lane, Time: mono.Time(p.readyMono.Load())})
		if headerErr != nil {
			// After SpareReady: the failover the blame brings may promote
			// this spare, and its Promoted comes after it was told ready.
			g.blameHeader(headerErr)
		}
	}()
}

// blameHeader reports the primary for a header that changed under the
// group: the primary is the only member that runs application code against
// the segment. Its violation fails the group over.
func (g *Group) blameHeader(err error) {
	g.mu.Lock()
	p := g.members[g.primary]
	g.mu.Unlock()
	if p != nil {
		p.violate("header", err.Error(), "the header the supervisor wrote")
	}
}

// candidate reports whether member q (lane i) can take over from lane from:
// a ready spare that is not the primary failed over from, and shows no sign
// of dying, even one whose event the loop has not handled yet.
func (g *Group) candidate(q *Process, i, from int) bool {
	if q == nil || i == from || q.readyMono.Load() == 0 || g.dying[q] || g.handled[q] {
		return false
	}
	select {
	case <-q.dead:
		return false
	default:
	}
	return atomic.LoadUint32(q.lane.RobustWord(0))&shm.FutexOwnerDied == 0
}

func (g *Group) laneOf(p *Process) int {
	for i, q := range g.members {
		if q == p {
			return i
		}
	}
	return -1
}

// emit never blocks the loop: the channel is large, and a reader that falls
// that far behind loses events rather than stalling a failover.
func (g *Group) emit(e Event) {
	select {
	case g.events <- e:
	default:
	}
}

// Stop stops every process of the group (SIGTERM, grace, SIGKILL) and waits
// for them and for the group's goroutines, or for ctx.
func (g *Group) Stop(ctx context.Context) error {
	g.mu.Lock()
	g.stopped = true
	g.mu.Unlock()
	g.cancel()
	g.stopAll(ctx)
	select {
	case <-g.done:
	case <-ctx.Done():
		return context.Cause(ctx)
	}
	return nil
}

// killAll kills every member and waits for them.
func (g *Group) killAll() {
	g.mu.Lock()
	g.stopped = true
	members := append([]*Process(nil), g.members...)
	g.mu.Unlock()
	for _, p := range members {
		if p != nil {
			p.Kill()
		}
	}
	for _, p := range members {
		if p != nil {
			<-p.exited
		}
	}
}

func (g *Group) stopAll(ctx context.Context) {
	g.mu.Lock()
	g.stopped = true
	members := append([]*Process(nil), g.members...)
	g.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range members {
		if p != nil {
			wg.Go(func() { p.Stop(ctx) })
		}
	}
	wg.Wait()
}

// Switch fails over on purpose: the primary is fenced and killed and a
// spare takes over, as if the primary had died (a supervisor uses it when a
// sibling's failure takes this child down under one-for-all or
// rest-for-one). It returns ErrNoSpare when no spare is ready (the primary
// is left running), and ErrGroupDown when the group has ended.
func (g *Group) Switch(ctx context.Context) error {
	reply := make(chan error, 1)
	select {
	case g.switches <- reply:
	case <-g.done:
		return ErrGroupDown
	case <-ctx.Done():
		return context.Cause(ctx)
	}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// switchOver is Switch, on the group's loop.
func (g *Group) switchOver() error {
	g.mu.Lock()
	from := g.primary
	p := g.members[from]
	ready := false
	for i, q := range g.members {
		if g.candidate(q, i, from) {
			ready = true
		}
	}
	g.mu.Unlock()
	if p == nil || !ready {
		return ErrNoSpare
	}
	g.failover(p, from, nil, mono.Now())
	return nil
}

// ErrNoSpare: no spare is ready to take over.
var ErrNoSpare = errors.New("procbridge: no spare ready")

// ErrGroupDown: the group's primary is gone and no spare took over.
var ErrGroupDown = errors.New("procbridge: group down")
