// Package deathwatch is the kernel's early word that a process is ending,
// for any process: four small eBPF programs, written with cilium/ebpf's
// asm package (no C compiler, nothing generated), on raw tracepoints,
// that push a notice into one ring buffer when a process whose tgid is in
// the watch's map
//
//   - is sent a signal that will kill it (signal_generate): SIGKILL; a
//     signal whose default action ends the process with a core dump
//     (SIGSEGV, SIGABRT, SIGBUS, ...) while that action is in force, the
//     signal unblocked and the process not traced; any other signal once
//     the kernel has begun the group's exit for it (an unhandled SIGTERM);
//   - begins its exit (sched_process_exit, which runs before the address
//     space is torn down, for the thread that ends the group or once the
//     group's exit began);
//   - is chosen by the OOM killer (oom:mark_victim).
//
// The fourth (sched_process_fork) puts in the map the child of a thread
// that Watch.Expect names, before the child first runs, so that a process
// is watched from its fork rather than from the Add after it.
//
// Each notice carries the tgid, the signal and its sender, the wait status
// of an exit, the kernel's CLOCK_MONOTONIC time, and the cookie the tgid
// was added with, so that a notice read after its tgid was removed and
// added again is not taken for the new process's. An exit notice, and an
// OOM notice, take the tgid out of the map: one is enough.
//
// Loading needs root, or CAP_BPF with CAP_PERFMON, the kernel's BTF (the
// programs read task_struct at the offsets it gives), ring buffers (5.8)
// and the tracepoints; sched_process_exit runs before the teardown from
// Linux 6.16. Where any of it is missing Load returns an error wrapping
// ErrNotSupported, and the caller does without. The programs declare the
// license License, "Dual BSD/GPL": bpf_probe_read_kernel, which they read
// task_struct with, is lent only to GPL-compatible programs.
//
// The programs run for every signal and every exit on the machine while
// a Session is attached: a lookup in a hash map, and a kernel read, for
// processes nobody watches. A Session is read by one goroutine (Read) or
// by several threads, each waiting with a Waiter of its own (Waiter says
// why); a waiter waits in slices when its user asks (Session.SetSlice;
// Session.Read says why).
package deathwatch
