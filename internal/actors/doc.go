// Package actors mirrors worker processes as protoactor-go actors, for
// package supervision: protoactor's types stay out of the public API.
//
// A ProcessActor owns exactly one worker process at a time, started from a
// [procbridge.Spec]:
//
//   - On *actor.Started it starts the process. The start runs on a goroutine
//     the actor owns (procbridge.Start waits for the worker to be ready), so
//     Receive never blocks on it.
//   - The same goroutine turns the bridge's events into messages: Hung and
//     Exited go to the actor's mailbox (Ready is read from the goroutine's
//     record), and, when Options.Observer is set, the observer gets a
//     [Notification] for every event, straight from there (a supervisor
//     learns of a death one mailbox hop sooner).
//   - The process's death or hang fails the actor through protoactor's own
//     failure path: Receive panics with the typed reason, the
//     *procbridge.ExitError of a crash or the *procbridge.HangError of a
//     hang (or the error of a start that failed). Any protoactor parent can
//     therefore supervise a ProcessActor: its HandleFailure gets that value
//     as reason and can match it with errors.As. A process that exits
//     cleanly (status 0) stops its actor instead; the parent sees
//     *actor.Terminated.
//   - On *actor.Stopping and *actor.Restarting it stops the process within
//     its shutdown policy (SIGTERM, the spec's StopGrace, SIGKILL; or
//     SIGKILL at once with Options.Kill) and waits, bounded, until the
//     process is reaped and the goroutine has returned. This is the one
//     place Receive blocks, and for at most the grace plus Options.KillWait.
//   - It answers a [StatusRequest] with a [Status]: pid, state, incarnation,
//     restarts, last exit, heartbeat age. [QueryStatus] asks with a context.
//   - With Options.Standby it runs a procbridge.Group, a primary and
//     pre-warmed spares, instead of one process: a failover is a
//     [ProcessPromoted], not a failure; spares replaced, lost and failing
//     to start are [ProcessSpareReady] and [ProcessSpareDown];
//     [ProcessReady] and [Status] carry the group. A [SwitchRequest] ([RequestSwitch]) fails
//     over on purpose and is answered with a [SwitchReply]; the observer
//     gets the switch's ProcessPromoted, tagged with the request's token,
//     before the requester gets the answer.
//
// A parent that learns of a failed exit from the notification can start the
// replacement process before the failure reaches it, with the [Restarter]
// NewProps returns; the actor's restart then adopts that process. This is
// how package supervision restarts a one_for_one child fast.
//
// No goroutine or process outlives the actor: when it has stopped, its
// process has been reaped and its goroutine has returned (a process that
// survives even SIGKILL for Options.KillWait is the one exception; it is
// reported with [ProcessStopTimeout]).
//
// A walk-through, with a plain protoactor parent:
//
//	props, _, err := actors.NewProps(procbridge.Spec{Worker: "resampler"}, actors.Options{})
//	if err != nil { ... }                        // a bad spec, naming the field
//	pid, err := system.Root.SpawnNamed(props, "resampler")
//	st, err := actors.QueryStatus(ctx, system, pid) // st.Pid, st.State, st.Incarnation, ...
//	...
//	// in the parent's HandleFailure:
//	var xe *procbridge.ExitError
//	if err, ok := reason.(error); ok && errors.As(err, &xe) {
//		supervisor.RestartChildren(child) // a new process, same PID
//	}
//
// Package supervision builds OTP supervisors on top of this package.
package actors
