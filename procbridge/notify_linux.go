//go:build linux

package procbridge

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/understudy/understudy/internal/linux"
	"github.com/understudy/understudy/internal/mono"
	"github.com/understudy/understudy/procbridge/internal/shm"
)

// Readiness without the SDK, as systemd and s6 do it.
//
// sd_notify: the child gets NOTIFY_SOCKET, the abstract address of a
// datagram socket of its own with SO_PASSCRED set, so that the kernel
// stamps every datagram with its sender's pid. A datagram is a list of
// newline-separated assignments. The bridge acts on them as the SDK would
// in the worker: READY=1 sets the lane's ready word, WATCHDOG=1 beats and
// re-arms the watchdog the hang monitor sleeps on, so the rest of the
// bridge (the ready wait, the monitor) cannot tell the two apart. Only the
// child and the MAINPID it named are heard, as under systemd's
// NotifyAccess=main; descriptors sent along (FDSTORE=1, BARRIER=1) are
// closed at once, which is all a barrier asks.
//
// s6: the child gets the write end of a pipe at Spec.NotificationFD and is
// ready when it writes a newline.

// notifyOS holds the descriptors of a notifier.
type notifyOS struct {
	sock *os.File // the sd_notify socket, or nil
	pipe *os.File // the read end of the s6 notification pipe, or nil
	w    *os.File // its write end, until the child has it
	dog  int      // the watchdog to re-arm on WATCHDOG=1, or -1
	wg   sync.WaitGroup
}

// notifyBufMax is the longest datagram heard, as systemd's (PIPE_BUF).
const notifyBufMax = 4096

// notifySeq tells apart the sockets of one supervising process.
var notifySeq atomic.Uint64

// notifySetup makes the child's socket and pipe, and adds what the child
// gets to env and files. It runs before the fork.
func (p *Process) notifySetup(env *[]string, files *[]uintptr) error {
	spec := &p.spec
	if !spec.notifies() {
		return nil
	}
	n := &notifier{}
	n.os.dog = -1
	if spec.Notify {
		fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
		if err != nil {
			return fmt.Errorf("notify socket: %w", err)
		}
		name := fmt.Sprintf("understudy/notify/%d/%d/%x", os.Getpid(), notifySeq.Add(1), mono.Now())
		if err := unix.Bind(fd, &unix.SockaddrUnix{Name: "@" + name}); err != nil {
			unix.Close(fd)
			return fmt.Errorf("notify socket: bind @%s: %w", name, err)
		}
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PASSCRED, 1); err != nil {
			unix.Close(fd)
			return fmt.Errorf("notify socket: SO_PASSCRED: %w", err)
		}
		n.os.sock = os.NewFile(uintptr(fd), "notify")
		*env = append(*env, "NOTIFY_SOCKET=@"+name)
		if hb := spec.Heartbeat; hb.Interval > 0 {
			*env = append(*env, "WATCHDOG_USEC="+strconv.FormatInt(hb.Timeout.Microseconds(), 10))
		}
	}
	if spec.NotificationFD != 0 {
		r, w, err := os.Pipe()
		if err != nil {
			n.close()
			return fmt.Errorf("notification pipe: %w", err)
		}
		n.os.pipe = r
		for len(*files) < spec.NotificationFD {
			*files = append(*files, ^uintptr(0)) // closed in the child
		}
		*files = append(*files, w.Fd())
		// The child holds the write end once it is forked; ours goes when
		// the fork is done (notifyForked).
		n.os.w = w
	}
	p.note = n
	return nil
}

// notifyArgv wraps the child's program in /bin/sh to give it WATCHDOG_PID,
// its own pid, which only the child knows before its exec: the shell
// exports its $$ and execs the program, which keeps the pid. Without a
// heartbeat or a shell the program runs as it is, and WATCHDOG_PID is
// unset, which sd_watchdog_enabled reads as "this process".
func (p *Process) notifyArgv(path string, argv []string) (string, []string) {
	if !p.spec.Notify || p.spec.Heartbeat.Interval == 0 {
		return path, argv
	}
	const sh = "/bin/sh"
	if st, err := os.Stat(sh); err != nil || st.Mode()&0o111 == 0 {
		return path, argv
	}
	return sh, append([]string{sh, "-c", `WATCHDOG_PID=$$; export WATCHDOG_PID; exec "$@"`, argv[0], path}, argv[1:]...)
}

// notifyForked starts the readers once the child runs (pid known), or
// closes everything when the fork failed.
func (p *Process) notifyForked(ok bool) {
	n := p.note
	if n == nil {
		return
	}
	if n.os.w != nil {
		n.os.w.Close()
		n.os.w = nil
	}
	if !ok {
		n.close()
		return
	}
	n.os.dog = p.os.dog
	if n.os.sock != nil {
		n.os.wg.Add(1)
		go func() {
			defer n.os.wg.Done()
			p.readNotify(false)
		}()
	}
	if n.os.pipe != nil {
		n.os.wg.Add(1)
		go func() {
			defer n.os.wg.Done()
			p.readNotificationFD()
		}()
	}
}

// notifyStop ends the readers once the child is reaped, handling what it
// sent before it died (READY=1 and an exit in one breath is a start), and
// closes the descriptors. It returns before the watchdog is closed.
func (p *Process) notifyStop() {
	n := p.note
	if n == nil {
		return
	}
	for _, f := range []*os.File{n.os.sock, n.os.pipe} {
		if f != nil {
			f.SetReadDeadline(time.Unix(1, 0))
		}
	}
	n.os.wg.Wait()
	if n.os.sock != nil {
		p.readNotify(true) // what is left in the queue
	}
	if n.os.pipe != nil {
		p.drainNotificationFD()
	}
	n.mu.Lock()
	if n.stopKill != nil {
		n.stopKill.Stop()
	}
	n.mu.Unlock()
	n.os.dog = -1
	n.close()
}

func (n *notifier) close() {
	for _, f := range []*os.File{n.os.sock, n.os.pipe, n.os.w} {
		if f != nil {
			f.Close()
		}
	}
}

// readNotify receives datagrams until the socket's deadline passes, or,
// with drain, until none is queued.
func (p *Process) readNotify(drain bool) {
	rc, err := p.note.os.sock.SyscallConn()
	if err != nil {
		return
	}
	buf := make([]byte, notifyBufMax+1)
	oob := make([]byte, unix.CmsgSpace(unix.SizeofUcred)+unix.CmsgSpace(4*253))
	for {
		var n, oobn, flags int
		var rerr error
		recv := func(fd uintptr) bool {
			n, oobn, flags, _, rerr = unix.Recvmsg(int(fd), buf, oob, unix.MSG_CMSG_CLOEXEC|unix.MSG_DONTWAIT)
			return !drain && rerr != unix.EAGAIN
		}
		if drain {
			err = rc.Control(func(fd uintptr) { recv(fd) })
		} else {
			err = rc.Read(recv)
		}
		if err != nil || rerr == unix.EAGAIN {
			return
		}
		if rerr != nil {
			if errors.Is(rerr, unix.EINTR) {
				continue
			}
			return
		}
		p.notifyDatagram(buf[:n], oob[:oobn], flags)
	}
}

// notifyDatagram acts on one datagram: its sender must be the child or its
// MAINPID.
func (p *Process) notifyDatagram(msg, oob []byte, flags int) {
	n := p.note
	sender, hasFds := int32(0), false
	if cmsgs, err := unix.ParseSocketControlMessage(oob); err == nil {
		for i := range cmsgs {
			if fds, err := unix.ParseUnixRights(&cmsgs[i]); err == nil {
				hasFds = hasFds || len(fds) > 0
				for _, fd := range fds {
					unix.Close(fd) // no descriptor store here; a barrier only waits for this
				}
			} else if cred, err := unix.ParseUnixCredentials(&cmsgs[i]); err == nil {
				sender = cred.Pid
			}
		}
	}
	if hasFds && string(bytes.TrimRight(msg, "\n")) == "BARRIER=1" {
		return // anyone may ask for a barrier; closing its descriptor answers it
	}
	if sender == 0 || flags&(unix.MSG_TRUNC|unix.MSG_CTRUNC) != 0 || len(msg) > notifyBufMax ||
		(int(sender) != p.pid && sender != n.mainPid.Load()) {
		n.refused.Add(1)
		return
	}
	// A datagram is one message: what it says is all applied before its
	// READY=1 lets Start return (systemd-notify --ready --status=… sends
	// READY=1 first).
	var ready, beat, trigger, stopping bool
	for line := range bytes.SplitSeq(msg, []byte("\n")) {
		key, value, _ := bytes.Cut(line, []byte("="))
		switch v := string(value); string(key) {
		case "READY":
			ready = ready || v == "1"
		case "WATCHDOG":
			beat = beat || v == "1"
			trigger = trigger || v == "trigger"
		case "STATUS":
			n.status.Store(&v)
		case "STOPPING":
			stopping = stopping || v == "1"
		case "MAINPID":
			p.notifyMainPid(v)
		}
	}
	if stopping {
		p.notifyStopping()
	}
	if beat {
		p.notifyBeat()
	}
	if ready {
		p.notifyReady()
	}
	if trigger {
		p.notifyTrigger()
	}
}

// notifyReady sets the lane's ready word, as worker.Ready does: the ready
// wait sees it. After the start it means nothing (systemd: a reload done).
func (p *Process) notifyReady() {
	word := p.lane.ReadyWord()
	if atomic.CompareAndSwapUint32(word, shm.ReadyNo, shm.ReadyYes) {
		linux.FutexWake(word, 1)
	}
}

// notifyBeat records a beat and moves the watchdog, as worker.Beat does.
func (p *Process) notifyBeat() {
	now := mono.Now()
	p.lane.Beat(now)
	hb := p.spec.Heartbeat
	if dog := p.note.os.dog; dog >= 0 && hb.Interval > 0 {
		linux.SetTimer(dog, now+int64(hb.Timeout)-shm.WatchdogLead(int64(hb.Interval), int64(hb.Timeout)))
	}
}

// notifyTrigger is WATCHDOG=trigger: the child says it is hung. It is
// reported Hung and killed, as systemd kills it with its watchdog signal.
// Before Ready it is ignored: the ready timeout applies.
func (p *Process) notifyTrigger() {
	select {
	case <-p.started:
	default:
		return
	}
	if p.readyMono.Load() == 0 {
		return
	}
	now := mono.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.reaped || !p.reason.CompareAndSwap(reasonNone, reasonHung) {
		return
	}
	_, last := p.lane.Heartbeat()
	last = max(last, p.readyMono.Load())
	err := &HangError{
		Name:    p.name,
		Pid:     p.pid,
		Silence: time.Duration(now - last),
		Timeout: p.spec.Heartbeat.Timeout,
		Kind:    hangTriggered,
	}
	p.emit(Hung{Pid: p.pid, Time: mono.Time(now), Err: err})
	p.signalGroupLocked(sigKill)
}

// notifyStopping is STOPPING=1: the child is on its way out of its own
// accord, as if told to stop. Its silence is no longer judged, and it is
// killed a stop grace later if still there; its exit is told by its
// status.
func (p *Process) notifyStopping() {
	n := p.note
	if n.stopping.Swap(true) {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.stopKill = time.AfterFunc(p.spec.stopGrace(), func() {
		p.setReason(reasonStopped)
		p.signalGroup(sigKill)
	})
}

// notifyMainPid is MAINPID=: a process of the child's group whose messages
// are heard from now on (a daemon that forks its worker, or a shell
// wrapper). A pid outside the group is ignored, as systemd ignores one
// outside the unit's cgroup. The process the bridge watches, and whose
// exit ends the child, stays the one it started.
func (p *Process) notifyMainPid(value string) {
	pid, err := strconv.Atoi(value)
	if err != nil || pid <= 0 || pid > 1<<22 {
		return
	}
	if pid != p.pid {
		if pg, err := unix.Getpgid(pid); err != nil || pg != p.pid {
			return
		}
	}
	p.note.mainPid.Store(int32(pid))
}

// readNotificationFD waits for the newline that says the child is ready,
// then reads and drops whatever else it writes, until the deadline.
func (p *Process) readNotificationFD() {
	buf := make([]byte, 512)
	ready := false
	for {
		k, err := p.note.os.pipe.Read(buf)
		if !ready && bytes.IndexByte(buf[:k], '\n') >= 0 {
			ready = true
			p.notifyReady()
		}
		if err != nil {
			return
		}
	}
}

// drainNotificationFD reads what the child wrote before it died and the
// reader saw: a newline there still makes it ready.
func (p *Process) drainNotificationFD() {
	rc, err := p.note.os.pipe.SyscallConn()
	if err != nil {
		return
	}
	buf := make([]byte, 512)
	for {
		k := 0
		rc.Control(func(fd uintptr) { k, _ = unix.Read(int(fd), buf) })
		if k <= 0 {
			return
		}
		if bytes.IndexByte(buf[:k], '\n') >= 0 {
			p.notifyReady()
		}
	}
}
