// Package supervision decides how a supervisor reacts when one of its
// children fails, the way Erlang/OTP's supervisor does.
//
// The decisions are plain functions over plain data, so they can be tested
// without processes or actors:
//
//   - [Affected] says which children a [Strategy] restarts when one fails,
//     and in which order they are stopped and started again.
//   - [ShouldRestart] applies a child's [Restart] type to the way it exited.
//   - [ShouldAutoShutdown] says whether a supervisor with an [AutoShutdown]
//     mode ends itself after a significant child terminated.
//   - [IntensityTracker] counts restarts across the whole supervisor and
//     reports when its [Intensity] (by default 1 restart in 5 seconds) is
//     exceeded, at which point the supervisor gives up and escalates.
//   - [BackoffState] turns a child's [Backoff] policy into the delay before
//     its next restart.
//
// When a child terminates on its own the supervisor asks: should it restart
// (ShouldRestart)? If not, should the supervisor itself shut down
// (ShouldAutoShutdown)? If it should restart, would that exceed the
// intensity (IntensityTracker.Add)? If not, how long to wait
// (BackoffState.Next), and which children to stop and start again
// (Affected)?
//
// Time is passed in, never read: the functions take a now argument, and code
// that needs timers uses a [Clock] ([SystemClock] in production, [FakeClock]
// in tests).
package supervision
