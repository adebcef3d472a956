package procbridge

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// maxNotificationFD bounds Spec.NotificationFD.
const maxNotificationFD = 1023

// hangTriggered is the HangError.Kind of a child that sent
// WATCHDOG=trigger.
const hangTriggered = "triggered"

// notifier is the bridge's end of a child that says it is ready without
// the SDK: its sd_notify socket (Spec.Notify) and its s6 notification
// pipe (Spec.NotificationFD). A nil notifier is a child with neither.
type notifier struct {
	status   atomic.Pointer[string] // the last STATUS= text
	refused  atomic.Uint64          // datagrams refused: wrong sender, too long, no credentials
	mainPid  atomic.Int32           // MAINPID=, 0 until one is accepted
	stopping atomic.Bool            // STOPPING=1 was received

	mu       sync.Mutex  // guards stopKill
	stopKill *time.Timer // SIGKILL a stop grace after STOPPING=1
	os       notifyOS
}

// Status returns the last STATUS= text a child that speaks sd_notify
// (Spec.Notify) sent, as systemd shows it in "systemctl status"; empty
// before the first, and for every other child.
func (p *Process) Status() string {
	if p.note == nil {
		return ""
	}
	if s := p.note.status.Load(); s != nil {
		return *s
	}
	return ""
}

// stoppingOnItsOwn reports whether the child said STOPPING=1: it is
// shutting down of its own accord, so its silence is not a hang.
func (n *notifier) stoppingOnItsOwn() bool { return n != nil && n.stopping.Load() }

// refusedCount is how many datagrams were refused on the child's socket.
func (n *notifier) refusedCount() uint64 {
	if n == nil {
		return 0
	}
	return n.refused.Load()
}

// notifies reports whether the child says it is ready through sd_notify or
// an s6 notification descriptor rather than once it runs.
func (s *Spec) notifies() bool { return s.Notify || s.NotificationFD != 0 }

// validateNotify checks Notify and NotificationFD.
func (s *Spec) validateNotify() error {
	bad := func(field string, value any, why string) error {
		return &SpecError{Field: field, Value: fmt.Sprint(value), Reason: why}
	}
	if s.Notify && s.usesSDK() {
		field, value := "Worker", fmt.Sprintf("%q", s.Worker)
		if s.Worker == "" {
			field, value = "SDK", "true"
		}
		return bad("Notify", true, fmt.Sprintf("%s is %s: a worker that links procbridge/worker says it is ready with worker.Ready; Notify is for an executable that speaks sd_notify", field, value))
	}
	if s.NotificationFD == 0 {
		return nil
	}
	if s.usesSDK() {
		return bad("NotificationFD", s.NotificationFD, "a worker that links procbridge/worker says it is ready with worker.Ready; NotificationFD is for an executable without the SDK")
	}
	first := firstFreeFD(len(s.ExtraFiles))
	if s.NotificationFD < first || s.NotificationFD > maxNotificationFD {
		return bad("NotificationFD", s.NotificationFD, fmt.Sprintf("descriptors 0..%d are the child's standard streams, segment, lifeline, sentinel and ExtraFiles; want %d..%d", first-1, first, maxNotificationFD))
	}
	return nil
}

// firstFreeFD is the lowest descriptor number a child without the SDK
// does not already receive: after stdin, stdout, stderr, the segment (3),
// the lifeline (4), the sentinel's place (5) and the extra files.
func firstFreeFD(extra int) int { return 6 + extra }
