package linux

import "strconv"

// Task is what the kernel shows of one thread in /proc/PID/task/TID: the
// state and flags of its stat, the first two fields of its schedstat, and,
// read through TaskFiles, its count of voluntary context switches.
type Task struct {
	State byte   // 'R' running or runnable, 'S' asleep, 'D' in the kernel, 'T' stopped, …; 0 unread
	Flags uint64 // the kernel's PF_* flags
	// Pending is the thread's own pending signals (bit n-1 for signal n),
	// from its task stat.
	Pending uint64
	Run     int64 // ns on a CPU (the kernel brings it up to date at the scheduler's tick)
	Wait    int64 // ns waiting on a run queue
	// Voluntary is how many times the thread went to sleep of its own
	// accord (its status's voluntary_ctxt_switches): a thread that ran
	// and kept it unchanged ran without waiting for anything, as a
	// spinning loop does. -1 when unread.
	Voluntary int64
	// Threads is how many threads the thread's process has (its stat's
	// num_threads); 0 when unread.
	Threads int64
	// Slices is how many times the thread was put on a CPU (its
	// schedstat's third field): it moves the moment the thread runs.
	Slices int64
	// CPU is the CPU the thread last ran on (its stat's processor), where
	// a sleeping thread's timers are queued; -1 when unread.
	CPU int
}

// PFExiting is the kernel's PF_EXITING task flag: the thread is in its exit
// path.
const PFExiting = 0x4

// sigkillBit is SIGKILL's bit in Task.Pending.
const sigkillBit = 1 << (9 - 1)

// Killed reports whether the thread has a SIGKILL pending: its process is
// ending (a fatal signal or an exit_group puts SIGKILL in every thread's
// own set before any of them acts on it; see GroupEnding), even while the
// thread has not yet run to its exit path, as on a loaded machine or in a
// frozen cgroup.
func (t Task) Killed() bool { return t.Pending&sigkillBit != 0 }

// statSize is the buffer a stat or schedstat is read into: a stat line
// with the longest command name is about 350 bytes.
const statSize = 512

// parseStat reads a stat line's state letter, which follows the command
// name's closing parenthesis (the name may hold any character), and its
// flags, the sixth field after the state. Either is 0 when the line is cut
// short.
func parseStat(b []byte) (state byte, flags uint64) {
	state, flags, _ = parseStatPending(b)
	return state, flags
}

// parseStatPending is parseStat, also reading the pending signals: the
// 31st field, the 28th after the state.
func parseStatPending(b []byte) (state byte, flags, pending uint64) {
	i := len(b) - 1
	for i >= 0 && b[i] != ')' {
		i--
	}
	if i < 0 || i+2 >= len(b) {
		return 0, 0, 0
	}
	state = b[i+2]
	// Fields after ')': state, ppid, pgrp, session, tty_nr, tpgid, flags.
	flags, ok := unsigned(b[i+1:], 6)
	if !ok {
		return state, 0, 0
	}
	pending, _ = unsigned(b[i+1:], 28)
	return state, flags, pending
}

// parseThreads reads a task stat's num_threads: the 20th field, the 17th
// after the state. 0 when unread.
func parseThreads(b []byte) int64 {
	i := len(b) - 1
	for i >= 0 && b[i] != ')' {
		i--
	}
	if i < 0 {
		return 0
	}
	n, _ := unsigned(b[i+1:], 17)
	return int64(n)
}

// parseCPU reads a task stat's processor: the 39th field, the 36th after
// the state. -1 when unread.
func parseCPU(b []byte) int {
	i := len(b) - 1
	for i >= 0 && b[i] != ')' {
		i--
	}
	if i < 0 {
		return -1
	}
	n, ok := unsigned(b[i+1:], 36)
	if !ok || n > 1<<20 {
		return -1
	}
	return int(n)
}

// unsigned reads field k (0-based) of b as a decimal number.
func unsigned(b []byte, k int) (uint64, bool) {
	f, ok := field(b, k)
	if !ok || len(f) > 20 {
		return 0, false
	}
	var v uint64
	for _, c := range f {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	return v, true
}

// parseSchedstat reads a schedstat line: ns on a CPU, ns waiting on a run
// queue, and how many times the thread was put on a CPU. Each is 0 when
// unread.
func parseSchedstat(b []byte) (run, wait, slices int64) {
	r, ok := field(b, 0)
	if !ok {
		return 0, 0, 0
	}
	w, _ := field(b, 1)
	n, _ := field(b, 2)
	return decimal(r), decimal(w), decimal(n)
}

// statusSize is the buffer a task's status is read into: about 1.5 KB on
// Linux 6, with voluntary_ctxt_switches near its end.
const statusSize = 4096

// parseVoluntary reads the voluntary_ctxt_switches line of a task's
// status, or -1 when it has none.
func parseVoluntary(b []byte) int64 {
	const key = "\nvoluntary_ctxt_switches:"
	i := indexOf(b, key)
	if i < 0 {
		return -1
	}
	v, ok := field(b[i+len(key):], 0)
	if !ok || len(v) == 0 || len(v) > 19 {
		return -1
	}
	for _, c := range v {
		if c < '0' || c > '9' {
			return -1
		}
	}
	return decimal(v)
}

// indexOf is bytes.Index for a string, without the import.
func indexOf(b []byte, s string) int {
	for i := 0; i+len(s) <= len(b); i++ {
		if string(b[i:i+len(s)]) == s {
			return i
		}
	}
	return -1
}

// field returns the space-separated field k (from 0) of b.
func field(b []byte, k int) ([]byte, bool) {
	for {
		for len(b) > 0 && isSpace(b[0]) {
			b = b[1:]
		}
		if len(b) == 0 {
			return nil, false
		}
		end := 0
		for end < len(b) && !isSpace(b[end]) {
			end++
		}
		if k == 0 {
			return b[:end], true
		}
		b, k = b[end:], k-1
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\n' || c == '\t' }

// decimal reads b as a non-negative decimal, 0 when it is not one.
func decimal(b []byte) int64 {
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + int64(c-'0')
	}
	return n
}

// ProcPath appends /proc/PID[/task/TID][/leaf] and a NUL to b; tid 0
// leaves out the task, leaf "" the leaf.
func ProcPath(b []byte, pid, tid int, leaf string) []byte {
	b = append(b, "/proc/"...)
	b = strconv.AppendInt(b, int64(pid), 10)
	if tid != 0 {
		b = append(b, "/task/"...)
		b = strconv.AppendInt(b, int64(tid), 10)
	}
	if leaf != "" {
		b = append(b, '/')
		b = append(b, leaf...)
	}
	return append(b, 0)
}
