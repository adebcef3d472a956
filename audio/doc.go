// Package audio runs real-time audio graphs whose DSP nodes each live in
// their own supervised worker process with a hot spare, so that a node that is
// SIGKILLed, hangs, overruns or crashes does not change the output by a
// single sample. It also holds the process-free building blocks the engine
// is made of, each usable and testable alone:
//
//   - DSP kernels ([Processor]) whose whole changing state is a fixed-size
//     byte slice, committed to shared memory at every block boundary. A
//     standby holding an equal Processor resumes from the last committed
//     state bit for bit. Process never allocates.
//   - Processor kinds by name, with typed, checked parameters ([Params],
//     [ParamSpec]): sine, gain, mixer, delay, lowpass, highpass, bandpass,
//     peak and testsignal are built in. Kinds of your own ([Kind]) are
//     added with [RegisterKind], called while the program initialises
//     (init or a package-level var): node processes are the program
//     re-executed, and know the kinds its initialisation registers. A
//     node of kind exec is served by an executable of any language
//     (Node.Path; the C library sdk/c/understudy_node.h, the protocol in
//     docs/node-protocol.md).
//   - [Graph]: nodes, ports and edges, with [Graph.Validate] (every
//     problem at once, each a *procbridge.SpecError naming the field and
//     value; a cycle with its path).
//   - [WriteWAV] and [ReadWAV] for 32-bit float WAV streams, any rate and
//     channel count.
//   - [Render], the fault-free reference: the graph run in this process.
//   - [Compare], the glitch check: two renders are bit-identical or where
//     they first differ, whether the test signal's frame counter runs on
//     unbroken, and the latency between them.
//   - The [Engine]: the graph in processes, driven in real time or offline,
//     with fault injection ([Fault]) and a [Report] of every late or
//     missing block and every failover.
//
// # Walk-through
//
// A program that starts an engine calls worker.Main first (the node
// processes are the program itself, re-executed), then:
//
//	sink := []audio.Port{{Node: "src"}, {Node: "amp"}} // the ports recorded, one channel each
//	e, err := audio.Start(ctx, audio.Config{
//		Graph:    g, // validated: errors before any process starts
//		Sink:     sink,
//		WAV:      "out.wav",
//		RealTime: true,
//		Priority: 10, // SCHED_FIFO, when permitted
//	})
//	rep, err := e.Run(ctx, 3750)            // 10 s of 128-frame blocks at 48 kHz
//	e.Close(ctx)                            // completes out.wav
//	f, _ := os.Open("out.wav")
//	_, _, got, _ := audio.ReadWAV(f)        // what the engine played
//	want, _ := audio.Render(&g, sink, 3750) // the fault-free reference
//	cmp, _ := audio.Compare(want, got, 2, audio.CompareOptions{})
//
// [Engine.Events] tells failovers, late and missing blocks as they happen,
// each printing as one line; Run's [Report] sums them up per node.
// [Engine.Tree] is the supervision tree of the node processes: its
// ChildInfo gives their pids, its events their spares.
// examples/audiograph is this, with a node knocked out every second.
//
// # How the engine works
//
// The bus. The engine creates one memfd, the bus, and hands it to every
// node process (procbridge Spec.ExtraFiles). For each node it holds an
// activation record — the cycle the node is asked for (a 64-bit word and a
// 32-bit futex word beside it), when it was woken, and a fault plan for
// tests — and one lane record per process that may serve the node (the
// primary and its spares, lane for lane as in the node's procbridge
// segment): that process's pid and processing thread, its start, finish
// and promotion times, the last cycle it published, and its own output
// blocks (float32, BlockSize frames per port). Fan-out shares a buffer: a
// successor reads the predecessor's block in place. Fan-in is summed by the
// reader, in edge order, in float32, into a buffer of its own (the same
// rule [Render] uses, so the bits agree). The layout is a pure function of
// the graph and the number of lanes, which every node process computes from
// the graph it gets in its arguments; the bus header records it and each
// process checks it.
//
// (What follows says "node" for a node process; nodes that share one,
// Node.Process, go through the same steps together: see Design choices
// below.)
//
// A node process (a worker of this package) builds its kernel, warms it up on
// private buffers and says it is ready; a spare then parks in
// worker.WaitActive. The primary pins its loop to its thread
// (runtime.LockOSThread), switches the collector off (the loop allocates
// nothing) and loops: sleep on its futex word until asked for cycle C;
// compute block C from its state after C−1 into its lane's outputs; commit
// the state, tagged with C and its lane, through procbridge's atomic
// double-buffered commit; stamp the finish time and publish C in its lane;
// then wake every successor whose predecessors have all published C (a
// compare-and-swap on the successor's cycle word: of two predecessors that
// finish at once, one wakes it). Nodes that feed nothing add one to the
// driver's futex word. The driver wakes only the sources; the nodes wake
// each other, so a chain of N nodes costs N wake-ups, not 2N.
//
// The commit protocol, and why output stays bit-identical whatever instant
// a primary dies at: outputs are written before the state commit, the
// commit is tagged with the cycle, and the publication comes after the
// commit. A spare promoted while cycle C is asked for adopts the latest
// committed state. Tagged C−1, the block was not committed: the spare
// computes C again, from the same state and the same inputs (which stay in
// place, since cycle C+1 starts only when C is complete), into the same
// bits. Tagged C, the block is complete in the lane the tag names: the
// spare copies it into its own lane and publishes it, without computing it
// again (which it could not: the state after C−1 is gone). Kernels are
// deterministic, so the two cases cannot be told apart in the output. Tests
// inject each fault at each point of the protocol (Fault.Point), and kill
// primaries from outside at random instants.
//
// Failover comes two ways. A death (SIGKILL, SIGSEGV, anything) is the
// kernel's business: the spare is parked on the primary's robust futex, and
// the kernel wakes it as the primary's threads exit, before the address
// space is torn down; it promotes itself, with no supervisor round trip
// (docs/performance.md has the figures). A hang or an overrun is the
// driver's: it sleeps on its futex word with a timeout at the earliest
// watchdog deadline (a node's wake time plus Config.Watchdog). A node not
// finished by then is judged, by the verdict procbridge's hang monitor
// uses, over the scheduler's own accounting of its loop's thread
// (/proc/PID/task/TID/stat and schedstat): stopped, asleep or gone, it is
// fenced at once; runnable or blocked in the kernel in SCHED_FIFO at its
// priority (Config.Priority), it is overrunning — nothing of normal
// priority can keep it off a CPU — and fenced at once too; runnable or
// blocked in the kernel in normal scheduling, it is watched window by
// window (a quarter of the watchdog, 100µs to 2ms) and fenced once it
// spent half a window on a CPU (an overrun), left alone while it did not
// (held up, waiting for a CPU or in the kernel) until its silence reaches
// a cap of four watchdogs or 1+Slack periods, whichever is longer; then it
// is fenced. The kernel updates a running thread's CPU time only at
// scheduler ticks, so without SCHED_FIFO an overrun takes up to a tick
// longer to tell. Fencing is procbridge's promotion, as in Group.Switch:
// a new epoch makes the primary's commits void, the spare wakes and takes
// over as above, and the old primary is killed. procbridge's group then starts a
// replacement spare, off the hot path.
//
// The node processes are children of the engine's own supervision tree
// ([Engine.Tree]; Config.Intensity and Config.Name): a one-for-one
// supervisor with one hot-standby child per node process. It observes
// failovers (ChildProcess events carrying a procbridge.Promoted, counted
// against its intensity) without taking part in them, restarts a
// node process lost with no spare ready cold (a new group and segment,
// the nodes' state from zero: [NodeDown], then [Restarted], and the blocks
// missed meanwhile reported), and past its intensity stops them all and
// fails the Run ([ErrNodeDown] wrapping the *supervision.EscalationError).
//
// Why outputs are per lane: a fenced primary can still run for a while —
// an overrun until the SIGKILL lands, a killed process for the
// microseconds its other threads take to die. Its late writes go to its
// own lane's buffers, which nobody reads once another lane has published
// the block, and a lane is reused only after its old process is reaped. So
// "lane L's done word says C" always means "lane L's outputs hold block C",
// whoever wrote it, and readers need no epoch check: they read any lane
// that published C.
//
// No allocation in a node's loop, checked across processes: an engine
// can ask its node processes (a knob the tests set) to count their own
// heap allocations with runtime.ReadMemStats (exact: it flushes every P's
// allocation cache) once the loop has computed a warm-up of blocks, and
// every 100 blocks after, into their lane records in the bus;
// TestNodeLoopAllocatesNothing asserts zero for every built-in kind,
// fan-in and a custom kind, fault-free and in promoted spares. A goroutine
// locked to its thread that the scheduler preempts hands its P to another
// thread, and the runtime allocates a new thread when none is idle, so a
// node process has the runtime make four idle threads more than it needs
// before it says it is ready.
//
// The driver runs on the caller's goroutine, locked to its thread, and
// allocates nothing per cycle: failover and late-block records go into a
// fixed ring that a goroutine turns into [Event]s every 5 ms, and the sink's
// blocks into a ring that a goroutine writes to the WAV file, so the
// driver's system calls are the futex waits and wakes, in real time a
// sleep until each cycle's start, and, only for a node past its watchdog,
// the /proc reads and the fence. Offline, it starts each cycle when the
// last one completes. In real time, cycle k starts k periods after Run
// began, and block k is due Slack periods after its own period ends; a
// block not complete by then is missing — the sink records silence in its
// place, as a sound card would play — and the cycle still completes (later
// blocks need its state), so every later block is on the same grid.
//
// # Design choices
//
//   - Outputs per lane rather than per node, and publication by cycle
//     number alone: see above; one buffer per node would need the driver to
//     wait for a fenced primary to be dead before the next cycle.
//   - One driver futex word for the whole graph, bumped by the nodes that
//     feed nothing, instead of a done word per node: the driver needs to
//     know when the cycle is complete, and every node feeds a terminal one.
//   - The watchdog asks the scheduler before it fences: a node that is only
//     waiting for a CPU is not fenced (a spare would wait for the CPU just
//     the same, and each fence starts a replacement process, which loads
//     the machine more).
//   - The sink is the list of ports Config.Sink records, not a node kind:
//     the WAV file is written by the engine's process, off the driver's
//     thread.
//   - The committed state carries the lane that holds its block, so that a
//     spare can republish a committed block instead of recomputing it.
//   - Light nodes can share one process (Node.Process). The bus keeps one
//     record per node (fault plan, per-lane outputs and done words), and
//     one per host — the procbridge group that runs one node or the
//     nodes sharing a process — with the activation word a host sleeps on
//     and the process facts the watchdog reads (pid, thread, state). A
//     host is woken once its inputs from outside are all published; it
//     computes its nodes in the graph's order (a node reads a fellow's
//     block from its own lane, unpublished), commits the state of all of
//     them once, tagged with the block, then publishes each. So a spare
//     resumes every node of the process from the same block, and the
//     watchdog, fencing, failover and fault injection work per process
//     (a fault names a node; it strikes that node's point of the
//     process's cycle). A process cannot wait for its own output through
//     another process, so the processes must form a DAG: Graph.Validate
//     rejects a chain of edges that leaves a process and comes back,
//     naming the process, the hops and the edges.
//
// # Real time: what to set
//
// Before the first cycle, in real time, Start looks at the machine
// ([Engine.Preflight], Report.Machine, and a warning through
// Config.Logger): whether the driver and every node process got their
// SCHED_FIFO levels, the kernel's RT throttling (and a cgroup that refuses
// SCHED_FIFO), whether memory is locked, a hypervisor, and a 300ms
// wake-latency canary: a sleeper at the driver's level pinned to each
// CPU, woken every millisecond. When the canary was held up longer than
// the slack, or real-time priority is not had, it says so before the
// first cycle.
//
// What is promised. With SCHED_FIFO granted on a machine whose canary
// passes, every block is on time and bit-exact, through the faults the
// engine fails over from. Without real-time priority, or on a machine
// whose canary fails (a virtual machine its host pauses, say), every
// block delivered is bit-exact and a node's state carries across
// failovers, but timeliness is not promised: a block not complete at its
// deadline is missing (silence in the WAV), reported with its cause
// (Late.Cause): the node was late, its process was fenced, or a machine
// stall (the driver, the highest thread of all, was not run for the
// block's slack). The driver records its own wake-up lateness: a node's
// watch is moved by any such stall before the node is judged, so that no
// node is fenced for time the machine did not run it. Report.String
// prints the stalls apart.
//
// Config.Priority runs the node loops in SCHED_FIFO, each node one level
// above its predecessors (so that a node woken by its predecessor
// preempts it at once on the same CPU instead of waiting to be pushed to
// another), and the driver above them all (so that its watchdog preempts
// an overrunning node); it needs CAP_SYS_NICE or an RLIMIT_RTPRIO that
// allows it, and the report says when it was refused. On a loaded machine
// it is what keeps blocks on time (docs/performance.md has the figures). The
// kernel's RT throttling (sched_rt_runtime_us, 95% by default) keeps a
// runaway SCHED_FIFO node from locking a CPU for good. Node processes turn
// their collector off themselves (GOGC has no effect on them) since their
// loop allocates nothing; the engine's own process allocates nothing per
// cycle either, but does between runs, so leave its GOGC alone or raise it.
// With Priority, a node process also runs every other thread of its own
// in SCHED_FIFO 1 and has GOMAXPROCS = CPUs+4: a loop preempted by the Go
// runtime's sysmon hands its P to another thread, and back, and that
// thread must not wait behind the machine's other work. It locks its
// memory (mlockall, present and future) when CAP_IPC_LOCK or an unlimited
// RLIMIT_MEMLOCK allows; Report.ThreadsRaised and Report.MemoryLocked say
// what every node process got. The bus is mapped with MAP_POPULATE and
// each node touches its state slots before the first block, so no page
// faults come in steady state even unlocked. The driver runs in the
// engine's own process, whose other threads stay in normal scheduling:
// when the runtime preempts the driver's thread, the thread that hands
// its P back may wait behind other work, which the report counts as a
// machine stall. Pinning the driver and nodes to isolated CPUs (isolcpus,
// taskset) and a fixed CPU frequency take out most of what is left.
//
// The engine needs Linux (memfd, futexes, pidfds, /proc); elsewhere Start
// returns an error wrapping procbridge.ErrNotSupported.
package audio
