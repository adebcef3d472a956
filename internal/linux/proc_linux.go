//go:build linux

package linux

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
)

// The /proc reader: what the kernel shows of a thread, read with raw
// system calls into buffers on the stack, so that reading allocates
// nothing and keeps the caller's P (a watchdog reads it while the thread
// it watches may hold the other CPUs).

// ReadSmall reads the start of the file at the NUL-terminated path into
// buf and returns what it read, or nil when the file cannot be read.
func ReadSmall(path []byte, buf []byte) []byte {
	fd, err := openRaw(path, unix.O_RDONLY)
	if err != nil {
		return nil
	}
	n, err := readRaw(fd, buf, -1)
	closeRaw(fd)
	if err != nil || n <= 0 {
		return nil
	}
	return buf[:n]
}

// ReadTaskStat reads thread tid of process pid's stat: its state and
// flags (Task.Run and Task.Wait stay 0, Task.Voluntary -1). It reports
// false when the file cannot be read: the thread is gone.
func ReadTaskStat(pid, tid int) (Task, bool) {
	var pb [64]byte
	var buf [statSize]byte
	b := ReadSmall(ProcPath(pb[:0], pid, tid, "stat"), buf[:])
	if b == nil {
		return Task{CPU: -1}, false
	}
	t := Task{Voluntary: -1}
	t.State, t.Flags, t.Pending = parseStatPending(b)
	t.CPU = parseCPU(b)
	return t, true
}

// GroupEnding reports whether process pid is ending (or replacing itself
// by an exec), as the death notice of its thread tid claims; false when
// the notice is not the truth: tid lives, or it exited alone while the
// process goes on.
//
// A group exit (a fatal signal, exit_group) and an exec put SIGKILL in
// every other thread's own pending set at once, before any of them runs,
// and a SIGKILL is never pending on a thread of a process that is not
// ending: so once tid is gone or exiting, another thread with SIGKILL
// pending, or no live thread at all, means the process is ending. A
// thread merely exiting (PF_EXITING) may be exiting alone, and tells
// nothing.
func GroupEnding(pid, tid int) bool {
	if t, ok := ReadTaskStat(pid, tid); ok && t.State != 'Z' && t.State != 'X' && t.Flags&PFExiting == 0 {
		return false // the thread whose death is claimed lives
	}
	ending, live := false, false
	EachTask(pid, func(other int) {
		if ending || other == tid {
			return
		}
		t, ok := ReadTaskStat(pid, other)
		switch {
		case !ok || t.State == 'Z' || t.State == 'X':
		case t.Pending&sigkillBit != 0:
			ending = true
		case t.Flags&PFExiting != 0:
		default:
			live = true
		}
	})
	return ending || !live
}

// ReadTask reads thread tid of process pid's stat and schedstat. It
// reports false when the stat cannot be read (the thread is gone) or shows
// no state; a schedstat that cannot be read leaves Run and Wait 0.
func ReadTask(pid, tid int) (Task, bool) {
	t, ok := ReadTaskStat(pid, tid)
	if !ok || t.State == 0 {
		return t, false
	}
	var pb [64]byte
	var buf [statSize]byte
	if b := ReadSmall(ProcPath(pb[:0], pid, tid, "schedstat"), buf[:]); b != nil {
		t.Run, t.Wait, t.Slices = parseSchedstat(b)
	}
	return t, true
}

// TaskFiles keeps a thread's stat, schedstat and status open, so that
// each look re-reads them with pread instead of opening them again: tens
// of microseconds a look rather than hundreds.
type TaskFiles struct {
	stat, schedstat, status int // descriptors, -1 when not open
}

// OpenTask opens thread tid of process pid's stat, schedstat and status.
// It reports false, with nothing open, when none opens: the thread is
// gone.
func OpenTask(pid, tid int) (TaskFiles, bool) {
	var pb [64]byte
	f := TaskFiles{stat: -1, schedstat: -1, status: -1}
	f.stat, _ = openRaw(ProcPath(pb[:0], pid, tid, "stat"), unix.O_RDONLY)
	f.schedstat, _ = openRaw(ProcPath(pb[:0], pid, tid, "schedstat"), unix.O_RDONLY)
	f.status, _ = openRaw(ProcPath(pb[:0], pid, tid, "status"), unix.O_RDONLY)
	if f.stat < 0 && f.schedstat < 0 {
		f.Close()
		return f, false
	}
	return f, true
}

// Read reads the thread's files again. What cannot be read stays zero
// (Voluntary -1).
func (f *TaskFiles) Read() Task {
	t := Task{Voluntary: -1, CPU: -1}
	var buf [statSize]byte
	if n, err := readRaw(f.stat, buf[:], 0); err == nil && n > 0 {
		t.State, t.Flags, t.Pending = parseStatPending(buf[:n])
		t.Threads = parseThreads(buf[:n])
		t.CPU = parseCPU(buf[:n])
	}
	if n, err := readRaw(f.schedstat, buf[:], 0); err == nil && n > 0 {
		t.Run, t.Wait, t.Slices = parseSchedstat(buf[:n])
	}
	if f.status >= 0 {
		var sb [statusSize]byte
		if n, err := readRaw(f.status, sb[:], 0); err == nil && n > 0 {
			t.Voluntary = parseVoluntary(sb[:n])
		}
	}
	return t
}

// Close closes the files. Safe to call twice.
func (f *TaskFiles) Close() {
	closeFd(&f.stat)
	closeFd(&f.schedstat)
	closeFd(&f.status)
}

func closeFd(fd *int) {
	if *fd >= 0 {
		closeRaw(*fd)
		*fd = -1
	}
}

// Schedstat is a thread's schedstat kept open, read again and again for
// its time on a CPU alone: one pread a look, where TaskFiles reads three
// files.
type Schedstat struct{ fd int }

// OpenSchedstat opens thread tid of process pid's schedstat. It reports
// false when it cannot: the thread is gone.
func OpenSchedstat(pid, tid int) (Schedstat, bool) {
	var pb [64]byte
	fd, err := openRaw(ProcPath(pb[:0], pid, tid, "schedstat"), unix.O_RDONLY)
	return Schedstat{fd: fd}, err == nil
}

// Run reads the thread's time on a CPU (ns). It reports false when the
// file cannot be read: the thread is gone.
func (s Schedstat) Run() (int64, bool) {
	var buf [statSize]byte
	n, err := readRaw(s.fd, buf[:], 0)
	if err != nil || n <= 0 {
		return 0, false
	}
	run, _, _ := parseSchedstat(buf[:n])
	return run, true
}

// Close closes the file. Safe to call twice.
func (s *Schedstat) Close() { closeFd(&s.fd) }

// EachTask calls fn with the TID of every thread of process pid, as
// /proc/PID/task lists them. It reports false when the directory cannot be
// opened: the process is gone.
func EachTask(pid int, fn func(tid int)) bool {
	var pb [64]byte
	dir, err := openRaw(ProcPath(pb[:0], pid, 0, "task"), unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return false
	}
	var db [2048]byte
	for {
		n, err := getdentsRaw(dir, db[:])
		if err != nil || n <= 0 {
			break
		}
		for b := db[:n]; len(b) >= direntName; {
			// struct linux_dirent64: ino (8), off (8), reclen (2), type
			// (1), then the NUL-terminated name.
			reclen := int(binary.NativeEndian.Uint16(b[16:18]))
			if reclen < direntName || reclen > len(b) {
				break
			}
			if tid := direntTid(b[direntName:reclen]); tid > 0 {
				fn(tid)
			}
			b = b[reclen:]
		}
	}
	closeRaw(dir)
	return true
}

// direntName is the offset of the name in a struct linux_dirent64.
const direntName = 19

// direntTid reads a thread's directory name as its TID; 0 for "." and "..".
func direntTid(name []byte) int {
	tid := 0
	for _, c := range name {
		if c == 0 {
			break
		}
		if c < '0' || c > '9' || tid > 1<<30 {
			return 0
		}
		tid = tid*10 + int(c-'0')
	}
	return tid
}
