// Package procbridge starts OS worker processes and turns what the kernel
// says about them into a typed stream of events: [Ready], [Hung], [Dying],
// [Exited], each printing as one line. A [Group] runs a primary with hot
// spares over one shared [Segment] and adds [Promoted], [SpareReady] and
// [SpareDown] to the same vocabulary. It knows nothing of actors or
// supervision; the supervision package builds on it, and its events carry
// these as they are.
//
// # Starting
//
// A Spec names an executable (Path) or a Go worker function registered in
// this binary with worker.Register (Worker): the binary re-executes itself to
// run it, so every program that uses Worker calls worker.Main first thing in
// main (and in TestMain under go test). Start forks from one thread that
// never exits (so the parent-death signal means this process's death), puts
// the child in a process group of its own, hands it a shared-memory segment
// and the read end of a lifeline pipe, and returns once the worker says it is
// ready (or kills it and returns an error: ErrStartTimeout,
// ErrExitedBeforeReady, ErrBadSegment). A Spec that cannot work is refused
// before anything starts, with a *SpecError naming the field and value.
//
// A process has started once it was ready: an SDK worker when it called
// worker.Ready, a program with Spec.Notify when it sent sd_notify's READY=1
// (and with Spec.NotificationFD when it wrote a newline there, as under
// s6), any other program when its exec succeeded. Only an error
// from Start is a failed start; a program that exits in its first instant
// was started (Ready comes first, then its Exited).
//
// A worker's standard output and error go, by default (the zero Output),
// where this process's go: the terminal's. Discard sends them to
// /dev/null, ToWriter to an io.Writer, and Lines to Process.Lines, a line
// at a time (a supervision tree logs them instead).
//
// # Watching
//
// Death is an event, not a poll. A pidfd waits in the Go netpoller; where the
// kernel has no pidfds, a pipe whose write end only the child holds does.
// A worker that links the SDK also keeps a robust futex
// whose owner-died notice comes before the kernel tears the address space
// down: a Dying event that precedes Exited, for a worker with a large heap by
// tens of milliseconds. Where the supervisor may load BPF programs (root, or
// CAP_BPF with CAP_PERFMON), an eBPF watch gives the same notice for any
// worker, SDK or not: a fatal signal sent to it, its exit beginning, the OOM
// killer's choice (Dying.Source says which notice came first). With every
// worker healthy and no heartbeat, nothing in this package wakes up.
//
// With Spec.Heartbeat, the worker's own loop calls worker.Beat, which also
// re-arms the worker's watchdog, a timerfd handed down with the segment, to
// expire shortly before its deadline. One monitor sleeps on every
// watchdog, so while workers beat it does not wake at all. A worker whose
// Timeout leaves 250 ms or more after its Interval is watched in batch
// instead: no watchdog; the monitor's own timer wakes at the earliest
// deadline of all such workers, about once per Timeout-Interval however
// many they are, and reads their heartbeats from memory, with no system
// call for a healthy one (a thousand workers beating every 100 ms with a
// 1 s timeout cost it about one wake a second). When one fires,
// the monitor watches the worker's threads for the window (their state and
// their CPU, exactly where perf events allow) and judges at the deadline:
// a worker that was merely held up, waiting for a CPU or blocked in the
// kernel, gets more time; one that slept or spun through the window is
// hung: Hung, and it is killed. HangError.Kind says what it saw: asleep,
// spinning, or held up past a cap of silence.
//
// A process that is dying (every thread a zombie or exiting, not yet
// reaped) is never hung: Exited says how it ended. A worker is young for
// 100 ms after Ready: its deadline is no earlier than 100 ms plus Timeout
// after Ready. And where the monitor cannot tell a starved worker from a
// hung one, it waits rather than kills. A worker that is asleep or runnable
// past its deadline is looked at every max(Timeout/2, Interval, 4ms) and
// killed, "held up", only once it has been silent for ten timeouts (at
// least 250ms) while /proc/pressure/cpu shows tasks waiting for a CPU a
// quarter of the watch and of the last 10 s, or for max(10*Timeout, 30s)
// while the machine is saturated (at least 4 workers, and one in twenty,
// overdue at once, or CPU pressure while the worker waits for a CPU) or
// stalled (the monitor's own wake came more than 4 ms late, or at least 3
// workers, and half of them, went half a timeout without a beat at once):
// max(10*Timeout, 30s) is the longest the monitor waits on a held-up
// worker. A worker asleep after the machine held it up is granted a
// Timeout from the last look that found it held up, and so is one whose
// threads last ran on a CPU that has not run a thread of the monitor's
// within 4 ms of its wake at the watch's opening (a CPU the host stopped,
// which fires none of their timers).
// A spinning worker, or one stopped by a signal, is hung at once all the
// same.
//
// The threads that wait for these signals, the monitor and the death-notice
// waiters, take the lowest real-time priority where the process may
// (CAP_SYS_NICE or RLIMIT_RTPRIO), else a short scheduler slice, so that a
// busy or dying worker holding the CPUs does not delay them. (The
// monitor's goroutine is not locked to its thread: it raises whichever
// thread it runs on, and gives the one it leaves its scheduling back.)
//
// A worker's start runs boosted: from the fork until Ready, the end of the
// start or a second, whichever comes first, the thread the program starts
// on runs at nice -20, ahead of the workers that beat and of whatever else
// holds the CPUs. It has reset-on-fork, so the threads and processes it
// creates start at nice 0, as they would have; at Ready it gets nice 0
// back, or keeps a nice of 0 or more it chose meanwhile. Only a supervisor
// at nice 0 that may raise another's thread (CAP_SYS_NICE) boosts, and not
// a hot-standby spare. A worker asked to stop (SIGTERM) runs at nice -20,
// every thread of its process group, for a second at most, then at nice 0.
// A worker whose end is certain (its death notice, the eBPF watch's exit
// notice, or the bridge's SIGKILL) is raised too: each of its threads must
// get a CPU to exit, and the last tears the memory down, before the pidfd
// tells the end, and none of them runs the program again. One the bridge
// stops has every thread at SCHED_FIFO 1; any other, whose end races a
// spare or a restart for the CPUs, its first thread at nice -20.
//
// # Limits
//
// Spec.MemoryMax, CPUMax and PidsMax cap what a worker and its descendants
// use together, through cgroups of the worker's own that it is in from its
// first instruction. Each controller's caps go through cgroup v2 (into the
// worker's leaf, in cgroup mode) when the controller can be enabled below
// the domain, else through cgroup v1, in a group per worker per
// controller below understudy.<pid> beside this process's own group: the
// forker's thread enters the worker's v1 groups for the fork and leaves
// them after, since a v1 group holds threads and a child starts in its
// forking thread's. Where neither works, Start fails with an error
// wrapping ErrNotSupported; `understudy check` says which this host gives.
// When the worker ends, whatever is left in its groups is killed and the
// groups removed. A worker killed by the OOM killer (the oom_kill count of
// its memory group) ends with the kind ExitOOM.
//
// # Ending
//
// Every end is classified (Exit.Kind): a clean exit, an exit code, a signal
// (and whether it dumped core), killed by the OOM killer, stopped by us,
// killed by us for a hang, or never ready. Stop sends SIGTERM to the process group, waits the grace
// period, then SIGKILLs the group, so grandchildren go too; a worker that
// dies on its own takes its group with it. Stop and Kill are idempotent and
// safe to call concurrently.
//
// # Descriptors
//
// Everything this package opens is close-on-exec; a child receives only
// stdin, stdout, stderr, its own segment (fd 3), the lifeline (fd 4), in
// sentinel mode its sentinel (fd 5), its Spec.ExtraFiles (fd 6 on) and,
// with a heartbeat, its watchdog (the next number); the SDK marks the
// inherited ones close-on-exec so a worker's own children do not hold
// them. (Descriptors
// this process inherited without close-on-exec pass to every child, as with
// any fork.)
//
// # Goroutines
//
// Each Process owns the goroutines that watch it; all have returned when
// Done is closed. The forkers (procbridge.forkLoop, one per GOMAXPROCS) live
// for the life of the program by design; tests using goleak ignore them with
// goleak.IgnoreAnyFunction("github.com/understudy/understudy/procbridge.forkLoop").
package procbridge
