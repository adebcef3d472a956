package procbridge

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/understudy/understudy/internal/limits"
	"github.com/understudy/understudy/internal/linux"
	"github.com/understudy/understudy/procbridge/internal/shm"
)

// maxLanes is the most processes one Segment serves at once: a primary and
// up to limits.MaxSpares spares.
const maxLanes = shm.MaxLanes

// The layout's lanes and the limit every layer checks agree (a compile
// error otherwise).
const _ = uint(maxLanes-1-limits.MaxSpares) + uint(limits.MaxSpares+1-maxLanes)

// Errors of shared segments.
var (
	// ErrRingFull: a command does not fit in the ring now (backpressure).
	ErrRingFull = shm.ErrRingFull
	// ErrNoState: nothing was committed yet, or the segment has no state.
	ErrNoState = shm.ErrNoState
)

// segmentConfig sizes a Segment.
type segmentConfig struct {
	// Lanes is how many processes use the segment at once: 1 + spares.
	Lanes int
	// StateSize is the bytes of each state slot; RingSize the bytes of each
	// command ring (a power of two). Zero means none.
	StateSize, RingSize int
	// Heartbeat is handed to every process in the segment.
	Heartbeat Heartbeat
}

// Segment is a process's shared-memory segment: the state it commits (Spec's
// StateSize) and the command rings (Spec's RingSize). A group's processes
// share one, a lane each: the primary and its pre-warmed spares. It holds
// the fencing epoch and which lane is primary. Process.Segment returns it.
type Segment struct {
	name string
	cfg  segmentConfig
	seg  *shm.Segment
	to   *shm.Ring // supervisor → worker
	from *shm.Ring // worker → supervisor

	// The supervisor's own copy of the control word (epoch<<8 | lane):
	// every process maps the word and may write it, so every lane the
	// supervisor indexes comes from here. Written under mu.
	mu   sync.Mutex
	ctl  atomic.Uint64
	hist [maxLanes + 1]uint64 // the last promotions' control words, a ring by epoch

	// members holds, by lane, the process last started there: the one a
	// corrupt ring is blamed on when its lane is the primary's.
	members [maxLanes]atomic.Pointer[Process]
}

// setCtl makes c the supervisor's control word and remembers which lane
// was primary at its epoch (s.mu held).
func (s *Segment) setCtl(c uint64) {
	s.ctl.Store(c)
	s.hist[(c>>8)%uint64(len(s.hist))] = c
}

// primaryAt returns the lane that was primary at epoch e, when the
// supervisor still remembers (s.mu held).
func (s *Segment) primaryAt(e uint64) (int, bool) {
	c := s.hist[e%uint64(len(s.hist))]
	if c>>8 != e {
		return 0, false
	}
	return int(c & 0xff), true
}

// newSegment creates a segment.
func newSegment(name string, c segmentConfig) (*Segment, error) {
	bad := func(field string, v any, why string) error {
		return &SpecError{Field: "Segment." + field, Value: fmt.Sprint(v), Reason: why}
	}
	switch {
	case c.Lanes < 1 || c.Lanes > maxLanes:
		return nil, bad("Lanes", c.Lanes, fmt.Sprintf("want 1..%d", maxLanes))
	case c.StateSize < 0 || c.StateSize > maxStateSize:
		return nil, bad("StateSize", c.StateSize, fmt.Sprintf("want 0..%d", maxStateSize))
	case c.RingSize < 0 || c.RingSize > maxRingSize || c.RingSize&(c.RingSize-1) != 0:
		return nil, bad("RingSize", c.RingSize, fmt.Sprintf("want 0 or a power of two up to %d", maxRingSize))
	}
	if err := validateHeartbeat(c.Heartbeat, true); err != nil {
		return nil, err
	}
	s, err := createSegment(name, c)
	if err != nil {
		return nil, fmt.Errorf("procbridge: segment %s: %w", name, err)
	}
	return s, nil
}

func createSegment(name string, c segmentConfig) (*Segment, error) {
	seg, err := shm.Create(name, shm.Config{
		Lanes:             c.Lanes,
		StateSize:         c.StateSize,
		RingSize:          c.RingSize,
		HeartbeatInterval: int64(c.Heartbeat.Interval),
		HeartbeatTimeout:  int64(c.Heartbeat.Timeout),
	})
	if err != nil {
		return nil, err
	}
	s := &Segment{name: name, cfg: c, seg: seg}
	if c.RingSize > 0 {
		s.to, _ = seg.Ring(shm.ToWorker)
		s.from, _ = seg.Ring(shm.FromWorker)
	}
	return s, nil
}

// close releases the segment's descriptor; the memory goes when nothing
// refers to the segment. Processes already started keep their mapping.
func (s *Segment) close() error { return s.seg.CloseFd() }

// Control returns the fencing epoch and the primary's lane: the control
// word when it holds what a promotion leaves (the supervisor's last
// promotion, or a spare's own promotion after it), else the supervisor's
// own record. The lane is always one of the segment's.
func (s *Segment) Control() (epoch uint64, lane int) {
	c := s.ctl.Load()
	if seen := s.seg.ControlWord(); shm.Reconcile(c, seen, s.cfg.Lanes) != shm.ControlCorrupt {
		c = seen
	}
	return c >> 8, int(c & 0xff)
}

// primaryLane returns the lane the supervisor last made or accepted as
// primary: never the worker's word.
func (s *Segment) primaryLane() int { return int(s.ctl.Load() & 0xff) }

// controlCorrupt reports the control word when it holds nothing a
// promotion leaves.
func (s *Segment) controlCorrupt() (seen uint64, corrupt bool) {
	seen = s.seg.ControlWord()
	return seen, shm.Reconcile(s.ctl.Load(), seen, s.cfg.Lanes) == shm.ControlCorrupt
}

// promote fences the primary on lane from and makes lane to the primary
// under a new epoch, then wakes the process parked in lane to. If another
// promoter got there first (a spare the kernel woke when the primary died),
// it changes nothing. It returns the epoch and lane that are primary now.
// A control word that no promotion leaves (some process of the segment
// wrote it) is overwritten with the promotion, and the error, wrapping
// ErrBadSegment, says what it held. A group promotes through Switch; the
// audio engine's driver, which keeps its own spares, through
// internal/hooks.Promote.
func (s *Segment) promote(from, to int) (epoch uint64, lane int, err error) {
	ringErr := s.soundRings(true)
	epoch, lane, _, err = s.failover(from, to)
	if errors.Is(err, errControlCorrupt) {
		err = fmt.Errorf("%w: %w", ErrBadSegment, err)
	}
	if err == nil && ringErr != nil {
		err = fmt.Errorf("%w: %w", ErrBadSegment, ringErr)
	}
	return epoch, lane, err
}

// errControlCorrupt: the control word held a value no promotion leaves.
var errControlCorrupt = errors.New("control word corrupt")

// controlError says what a corrupt control word held.
type controlError struct {
	seen, want uint64
}

func (e *controlError) Error() string {
	return fmt.Sprintf("control word = %#x (epoch %d, lane %d), want epoch %d lane %d or a spare's promotion to epoch %d",
		e.seen, e.seen>>8, e.seen&0xff, e.want>>8, e.want&0xff, e.want>>8+1)
}

func (e *controlError) Unwrap() error { return errControlCorrupt }

// failover is promote, also saying whether this call made the promotion.
// It never loops on the word: one compare-and-swap against the copy, and a
// word that is neither the copy nor a spare's promotion is overwritten.
func (s *Segment) failover(from, to int) (epoch uint64, lane int, won bool, err error) {
	if to < 0 || to >= s.cfg.Lanes || to == from {
		return 0, 0, false, &SpecError{Field: "lane", Value: fmt.Sprint(to), Reason: fmt.Sprintf("want another lane of 0..%d", s.cfg.Lanes-1)}
	}
	s.mu.Lock()
	auth := s.ctl.Load()
	seen := s.seg.ControlWord()
	switch shm.Reconcile(auth, seen, s.cfg.Lanes) {
	case shm.ControlPromoted:
		auth = seen // a spare the kernel woke promoted itself
		s.setCtl(auth)
	case shm.ControlCorrupt:
		err = &controlError{seen: seen, want: auth}
	}
	authE, authL := auth>>8, int(auth&0xff)
	switch {
	case authL != from:
		// Someone promoted already, or the caller is stale.
		if err != nil {
			s.seg.StoreControl(auth)
		}
	case authE+1 >= shm.MaxEpoch:
		err = fmt.Errorf("%w: epoch %d exhausted", ErrBadSegment, authE)
	case err == nil && s.seg.CompareAndSwapControl(auth, (authE+1)<<8|uint64(to)):
		auth, won = (authE+1)<<8|uint64(to), true
		s.setCtl(auth)
	default:
		// The word changed since it was read, or is corrupt.
		seen = s.seg.ControlWord()
		switch shm.Reconcile(s.ctl.Load(), seen, s.cfg.Lanes) {
		case shm.ControlPromoted:
			auth = seen
		default:
			if err == nil {
				err = &controlError{seen: seen, want: auth}
			}
			auth, won = (authE+1)<<8|uint64(to), true
			s.seg.StoreControl(auth) // fences every process, whatever it believed
		}
		s.setCtl(auth)
	}
	s.mu.Unlock()
	epoch, lane = auth>>8, int(auth&0xff)
	wakeLane(s.seg.Lane(lane))
	lookForHangs() // the new primary's heartbeat clock starts now
	return epoch, lane, won, err
}

// force makes lane to the primary under the next epoch whatever the word
// holds: the word named a lane no process of the group serves. It returns
// the new epoch and lane.
func (s *Segment) force(to int) (epoch uint64, lane int) {
	s.mu.Lock()
	next := (s.ctl.Load()>>8+1)<<8 | uint64(to)
	s.seg.StoreControl(next)
	s.setCtl(next)
	s.mu.Unlock()
	wakeLane(s.seg.Lane(to))
	lookForHangs()
	return next >> 8, to
}

// State copies the committed state into buf (at least StateSize bytes):
// the primary's latest commit at its epoch, or, between a promotion and the
// new primary's first commit, its predecessor's. A fenced primary's late
// commits, and anything a spare writes, are never returned: every process
// of the segment can write every slot, so the supervisor reads the lanes
// its own record of the promotions names, at their epochs.
func (s *Segment) State(buf []byte) (n int, epoch uint64, err error) {
	e, lane := s.Control()
	s.mu.Lock()
	defer s.mu.Unlock()
	n, _, epoch, _, err = s.seg.CommittedState(buf, e, lane, func(back uint64) (int, bool) {
		if c := s.ctl.Load(); back == c>>8 {
			return int(c & 0xff), true
		}
		return s.primaryAt(back)
	})
	if err != nil && !errors.Is(err, shm.ErrNoState) {
		err = fmt.Errorf("%w: %w", ErrBadSegment, err)
	}
	return n, epoch, err
}

// Send puts a command in the ring to the primary. It never blocks: a full
// ring is ErrRingFull. Ring indices that cannot be right (a worker wrote
// its own out of range) are an error wrapping ErrBadSegment.
func (s *Segment) Send(cmd []byte) error {
	if s.to == nil {
		return shm.ErrNoRing
	}
	err := s.to.Send(cmd)
	if errors.Is(err, shm.ErrRingCorrupt) {
		err = s.ringFault(s.to, true, err)
	}
	return err
}

// Recv takes the next reply from the primary into buf (RingSize bytes
// holds any), waiting up to timeout for one (0: do not wait);
// os.ErrDeadlineExceeded when none came. A reply longer than buf is cut
// to len(buf) bytes and leaves the ring; the error then wraps
// io.ErrShortBuffer. Ring indices or a length that cannot be right are an
// error wrapping ErrBadSegment.
func (s *Segment) Recv(buf []byte, timeout time.Duration) (int, error) {
	if s.from == nil {
		return 0, shm.ErrNoRing
	}
	deadline := time.Now().Add(timeout)
	// The waiters word is the worker's to write too: one that keeps it
	// from holding 1 ends every futex wait at once. After a few waits that
	// ended with the ring still empty, sleep instead, backing off.
	empty, nap := 0, recvNapMin
	for {
		n, err := s.from.Recv(buf)
		if !errors.Is(err, shm.ErrRingEmpty) {
			if errors.Is(err, shm.ErrRingCorrupt) {
				err = s.ringFault(s.from, false, err)
			}
			return n, err
		}
		left := time.Until(deadline)
		if left <= 0 {
			return 0, fmt.Errorf("procbridge: no reply within %v: %w", timeout, os.ErrDeadlineExceeded)
		}
		if empty >= recvEmptyWaits {
			time.Sleep(min(nap, left))
			nap = min(2*nap, recvNapMax)
			continue
		}
		word, val := s.from.Prepare()
		if s.from.Empty() {
			linux.FutexWait(word, val, left)
			empty++
		}
	}
}

// ringFault handles a ring whose indices or lengths cannot be right: only
// the worker side writes them wrong, so the primary (as the supervisor last
// recorded it) broke the protocol and is reported Violated and killed, and
// its group fails over. The ring is emptied from the supervisor's side, so
// that the next primary finds it sound. It returns err wrapping
// ErrBadSegment.
func (s *Segment) ringFault(r *shm.Ring, producer bool, err error) error {
	s.blameRing(r, err)
	r.Resync(producer)
	return fmt.Errorf("%w: %w", ErrBadSegment, err)
}

// blameRing reports the primary for a corrupt ring r.
func (s *Segment) blameRing(r *shm.Ring, err error) {
	p := s.members[s.primaryLane()].Load()
	if p == nil || p.pid <= 0 {
		return
	}
	word := "ring to the worker"
	if r == s.from {
		word = "ring from the worker"
	}
	p.violate(word, strings.TrimPrefix(err.Error(), shm.ErrRingCorrupt.Error()+": "),
		fmt.Sprintf("indices multiples of 8 at most %d apart, each message within them", s.cfg.RingSize))
}

// soundRings checks both rings before a promotion wakes a spare, and
// empties a corrupt one from the supervisor's side, blaming the primary
// failed over from when blame says it is still alive (a dying one's end is
// told by its status); the new primary then never inherits, nor is blamed
// for, its predecessor's scribbles. It returns the first ring's error.
func (s *Segment) soundRings(blame bool) error {
	if s.to == nil {
		return nil
	}
	var first error
	for _, r := range []*shm.Ring{s.to, s.from} {
		if err := r.Check(); err != nil {
			if blame {
				s.blameRing(r, err)
			}
			r.Resync(r == s.to)
			if first == nil {
				first = err
			}
		}
	}
	return first
}

// The bound on Recv's waits that end with nothing to read (see Recv): its
// CPU is then a few wakes, plus one each recvNapMax.
const (
	recvEmptyWaits = 4
	recvNapMin     = 100 * time.Microsecond
	recvNapMax     = 5 * time.Millisecond
)

// validateHeartbeat checks a heartbeat config; sdk says the process speaks
// the worker protocol.
func validateHeartbeat(hb Heartbeat, sdk bool) error {
	bad := func(field string, value any, why string) error {
		return &SpecError{Field: field, Value: fmt.Sprint(value), Reason: why}
	}
	switch {
	case hb.Interval < 0:
		return bad("Heartbeat.Interval", hb.Interval, "must not be negative")
	case hb.Interval == 0 && hb.Timeout != 0:
		return bad("Heartbeat.Timeout", hb.Timeout, "set without Heartbeat.Interval")
	case hb.Interval > 0 && hb.Interval < time.Millisecond:
		return bad("Heartbeat.Interval", hb.Interval, "below the 1ms floor")
	case hb.Interval > 0 && hb.Timeout <= hb.Interval:
		return bad("Heartbeat.Timeout", hb.Timeout, fmt.Sprintf("must be above Heartbeat.Interval (%v)", hb.Interval))
	case hb.Interval > 0 && !sdk:
		return bad("Heartbeat.Interval", hb.Interval, "needs a worker that beats (set Worker, SDK for an executable that links procbridge/worker, or Notify for one that speaks sd_notify)")
	}
	return nil
}

// laneState copies the latest state committed by the process in lane (the
// old primary's last word, after a failover) into buf.
func (s *Segment) laneState(lane int, buf []byte) (n int, epoch uint64, err error) {
	l := s.seg.Lane(lane)
	if l == nil {
		return 0, 0, &SpecError{Field: "lane", Value: fmt.Sprint(lane), Reason: fmt.Sprintf("want 0..%d", s.cfg.Lanes-1)}
	}
	n, epoch, _, err = l.ReadState(buf)
	if err != nil && !errors.Is(err, shm.ErrNoState) {
		err = fmt.Errorf("%w: %w", ErrBadSegment, err)
	}
	return n, epoch, err
}
