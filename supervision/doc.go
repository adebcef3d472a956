// Package supervision supervises worker processes the way Erlang/OTP's
// supervisor supervises processes: trees of supervisors, each restarting
// its children under a strategy and within an intensity limit, escalating
// to its own supervisor when the limit is exceeded.
//
// # A tree
//
// A [Spec] describes a supervisor: its [Strategy], its [Intensity], its
// [AutoShutdown] and its children, each a [ChildSpec] with a name, a
// process (a [procbridge.Spec]) or a nested supervisor (a Spec), a
// [Restart] type, a shutdown policy (a grace period, [BrutalKill] or
// [Infinity]), whether it is significant, and a [Backoff]. Specs are plain
// data, so they can be written in code or loaded from a file; the zero
// value of every field is OTP's default. [Spec.Validate] reports every
// field that cannot work, naming it (a *procbridge.SpecError matching
// [ErrInvalid]). [Start] starts the tree:
//
//	tree, err := supervision.Start(ctx, supervision.Spec{
//		Strategy: supervision.OneForOne, // the zero value
//		Children: []supervision.ChildSpec{
//			{Name: "db", Process: &procbridge.Spec{Worker: "db"}},
//			{Name: "web", Supervisor: &supervision.Spec{...}},
//		},
//	}, supervision.Options{Logger: logger, OnEvent: onEvent})
//	...
//	late, err := tree.Stop(ctx) // the ChildStopped of each child that did not stop in time
//
// Children start in order, each ready before the next starts; they stop in
// reverse order, each within its shutdown policy. [Tree.Wait] returns when
// the tree ends: nil after a stop, or the reason the root gave up.
//
// # What a supervisor does when a child ends
//
// It applies OTP's rules, in OTP's order (the cases of OTP's own
// supervisor_SUITE that apply to processes are among this package's
// tests; docs/comparison.md lists the differences). The child's [Restart] type says
// whether it restarts; if not, its [AutoShutdown] says whether the
// supervisor ends too. A restart counts against the supervisor's
// [Intensity], across all its children (OTP's default, and this package's
// zero value: 1 restart within 5 seconds; protoactor-go counts per child).
// Past the limit the supervisor gives up: it stops every child in reverse
// start order and fails to its own supervisor with an [*EscalationError],
// whose chain of causes ends with the process's *procbridge.ExitError or
// *procbridge.HangError. As in OTP, where such a supervisor exits with
// reason shutdown, its supervisor restarts it only if it is Permanent: a
// Transient one stays terminated (ending its supervisor too if it is
// significant), a Temporary one is dropped. Within the limit, the child's [Backoff] may delay
// the restart (exponentially, with a cap, jitter and a reset after stable
// uptime; every restart still counts), and the [Strategy] says which
// children restart with it: one_for_one just the child, one_for_all all,
// rest_for_one the child and those started after it, each stopped in
// reverse order and started again in order (those that were not running
// too, as in OTP; Temporary ones are dropped). A simple_one_for_one
// supervisor starts its children on demand from one template
// ([Supervisor.StartSimpleChild]).
//
// Under one_for_one and simple_one_for_one, where one child's restart
// does not wait for another's, different children restart concurrently: a
// child slow to be ready holds up no other, and StartSimpleChild requests
// made together start their children together, each answered when its
// child is ready. Failures are still decided one at a time, in the order
// they come, so the intensity counts exactly as OTP's; at most 4 ×
// GOMAXPROCS children of one supervisor start at once. one_for_all and
// rest_for_one restart in OTP's order, one child ready before the next.
//
// # Hot standby
//
// A child with [ChildSpec.Standby] runs as a procbridge.Group: a primary
// and pre-warmed spares. When the primary dies or hangs a spare takes over
// (a [ChildProcess] carrying procbridge's Promoted); that failover counts
// against the intensity like a restart. When a sibling's failure takes the
// child down (one_for_all, rest_for_one), it is not stopped: at its turn
// in the start order, once the siblings before it are ready again, the
// supervisor switches it to a spare, so that its new primary begins only
// after the siblings it depends on are back. That switch is part of the
// sibling's restart, which counted once; it does not count again (its
// ChildProcess has the sibling's failure as Cause). With no spare ready
// then, the child restarts cold in its place ([ChildRestarting] says why
// in NotSwitched). [ChildInfo] gives the child's running group and the
// pids of its parked spares; ChildProcess events carry procbridge's
// SpareReady and SpareDown.
//
// These decisions are plain functions over plain data (which children a
// strategy restarts, whether a restart type restarts, whether an automatic
// shutdown is due, the intensity window, the next backoff), with time
// passed in or read from a [Clock] (supervisiontest.FakeClock in tests), so
// they are tested without processes.
//
// # On protoactor-go
//
// Each supervisor is an actor that implements protoactor's
// SupervisorStrategy itself; each process child is an actor whose
// process's death or hang is the actor's failure, with the typed reason.
// protoactor's own strategies are not used. A failed child is never
// resumed: the supervisor restarts it or stops it. The fastest restart, for
// a one_for_one child with nothing else under way, starts the replacement process as soon as
// the exit is reported and lets protoactor restart the actor around it;
// the others stop the failed actor and spawn a new one. The root
// supervisor never crashes the program: it ends the tree instead of
// escalating, and a guardian that only stops it catches anything else.
// Nothing blocks a supervisor's mailbox but a stop protoactor forces on it.
// The actors are the tree's own business; the one way in is the actor
// system a caller passes in Options.System.
//
// # Watching a tree
//
// Every lifecycle change is an [Event] (a closed set: [ChildStarted],
// [ChildReady], [ChildExited], [ChildProcess], [ChildRestarting],
// [ChildStopped], [ChildTerminated], [GaveUp]; the events of a child's
// processes are procbridge's, carried inside them), delivered in order for
// each supervisor to Options.OnEvent, to every channel of [Tree.Subscribe]
// and onto the actor system's EventStream. Each prints as one line. The
// same events are logged through the *slog.Logger in Options (none by
// default; protoactor's own logger is silenced unless
// Options.ProtoactorLogs asks for it), and so is the output of every
// process child whose Stdout or Stderr is procbridge.Lines, a record per
// line (without a Logger it is discarded). Package metrics turns the
// events into Prometheus metrics: pass its Observe as Options.OnEvent.
//
// At run time a [Supervisor] handle ([Tree.Supervisor]; with no path, the
// root) is OTP's API: [Supervisor.Children] (a [ChildInfo] per child: its state,
// pid, parked spares, since when it runs, its heartbeat's age, its last
// exit), [Supervisor.Count] (OTP's count_children),
// [Supervisor.StartChild], [Supervisor.TerminateChild],
// [Supervisor.RestartChild], [Supervisor.DeleteChild] and
// [Supervisor.StartSimpleChild]. [Tree.Kill] ends a tree the fast way,
// every process SIGKILLed at once.
package supervision
