// Package audio holds the process-free building blocks of understudy's
// real-time audio graphs, whose DSP nodes will each run in a supervised
// worker process with a hot standby, so that output stays bit-identical when
// a node's process is killed. The engine that runs a graph on top of
// supervision comes later; what is here is plain Go, testable without
// processes:
//
//   - DSP kernels ([Processor]) whose whole changing state is a fixed-size
//     byte slice, meant to live in shared memory and be committed at every
//     block boundary. A standby holding an equal Processor resumes from the
//     last committed state bit for bit. Process never allocates.
//   - A [Registry] of processor kinds by name, with typed, checked
//     parameters ([Params], [ParamSpec]); [Builtin] holds sine, gain, mixer,
//     delay, lowpass, highpass, bandpass, peak and testsignal.
//   - [Graph]: nodes, ports and edges, with [Graph.Validate] (every problem,
//     each naming the field and value, cycles with their path) and
//     [Graph.Schedule] (a topological order, in levels of nodes that may run
//     in parallel).
//   - A WAV writer ([NewWAVWriter]) and reader ([ReadWAV]) for 32-bit float
//     files, any rate and channel count.
//   - [Compare], the glitch check: two renders are bit-identical or where
//     they first differ, whether the test signal's frame counter runs on
//     unbroken, and the latency between them.
//
// # Walk-through
//
// Build a processor and run it block by block, the state in a byte slice:
//
//	p, err := audio.Builtin().New("testsignal", 48000, nil)
//	state := make([]byte, p.StateSize()) // zero: the initial state
//	out := [][]float32{make([]float32, 128), make([]float32, 128), make([]float32, 128)}
//	p.Process(state, nil, out) // frames 0..127; state now at frame 128
//
// Copying state elsewhere and going on there, in the same or another
// Processor built alike, gives the same samples as going on here. Render a
// reference and a run with a fault injected, write both with [WAVWriter],
// and [Compare] them: a glitch-free run is [GlitchReport.GlitchFree].
package audio
