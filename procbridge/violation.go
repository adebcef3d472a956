package procbridge

import (
	"fmt"
	"time"

	"github.com/understudy/understudy/internal/mono"
)

// A worker shares its segment with its supervisor, and may be buggy or
// hostile: whatever it writes, the supervisor reads each word it acts on
// once, checks it against its own record, and acts on its record. A value
// that breaks the segment's protocol is a violation by the worker that
// owns the word (for a word every member of a group shares, the primary):
// the bridge reports it (Violated, then Exited with the kind
// ExitKilledViolation, whose error matches ErrBadSegment) and kills the
// worker, and its group fails over as from a hang.

// violationError describes a worker that broke the segment's protocol.
type violationError struct {
	name string
	pid  int
	lane int
	word string // which word, such as "control word"
	got  string // what it held
	want string // what the supervisor's record allowed
}

func (e *violationError) Error() string {
	return fmt.Sprintf("procbridge: %s (pid %d, lane %d) broke the segment protocol: %s = %s, want %s", e.name, e.pid, e.lane, e.word, e.got, e.want)
}

// Unwrap makes a violation match ErrBadSegment.
func (e *violationError) Unwrap() error { return ErrBadSegment }

// Violated: the worker broke the segment's protocol (it wrote a value no
// worker may write into a word the supervisor reads); it is being killed.
// It comes before the process's Exited, whose kind is ExitKilledViolation,
// as Hung does before "killed-hung", and is a group's Promoted.Cause when
// the primary broke it. Err matches ErrBadSegment and names the word, what
// it held and what the supervisor's own record allowed.
type Violated struct {
	Pid  int
	Time time.Time
	Err  error
}

func (Violated) isEvent() {}

// String returns "pid 4242 broke the segment protocol: control word =
// 0x1c8 (epoch 1, lane 200), want ...".
func (e Violated) String() string {
	if v, ok := e.Err.(*violationError); ok {
		return fmt.Sprintf("pid %d broke the segment protocol: %s = %s, want %s", e.Pid, v.word, v.got, v.want)
	}
	return fmt.Sprintf("pid %d broke the segment protocol: %v", e.Pid, e.Err)
}

// violate reports that p broke the protocol and kills its group, and
// returns the event it emitted. The first reason to end a process wins:
// one already being ended, or reaped, is left alone, but the event is
// returned all the same, for a group's Promoted.Cause.
func (p *Process) violate(word, got, want string) Violated {
	v := &violationError{name: p.name, pid: p.pid, lane: p.lane.Index(), word: word, got: got, want: want}
	e := Violated{Pid: p.pid, Time: mono.Time(mono.Now()), Err: v}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.reaped {
		return e
	}
	p.setReason(reasonViolation)
	if p.reason.Load() != reasonViolation || p.violation.Load() != nil {
		return e
	}
	p.violation.Store(v)
	p.emit(e)
	p.signalGroupLocked(sigKill)
	return e
}

// controlWord formats a control word for a violation.
func controlWord(v uint64) string {
	return fmt.Sprintf("%#x (epoch %d, lane %d)", v, v>>8, v&0xff)
}
