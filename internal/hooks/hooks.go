// Package hooks reaches, for this module's own packages, tests and
// benchmarks, what the public API keeps inside: a timestamp a worker leaves
// in its lane of the shared segment, for its supervisor to read, so that a
// latency across processes (from the instant before a crash to the
// supervisor noticing it) can be measured on one clock; the writer behind a
// procbridge.Output, for the file format and the runner; and a promotion
// in a procbridge.Segment, for the audio engine, which keeps its own spares.
package hooks

import (
	"io"
	"sync/atomic"
)

var mark atomic.Pointer[func(ns int64)]

// Mark leaves ns, CLOCK_MONOTONIC nanoseconds (internal/mono.Now), in this
// worker process's lane, where its supervisor reads it (procbridge's
// tests: MarkOf). In a process that is not an attached worker it does
// nothing.
func Mark(ns int64) {
	if f := mark.Load(); f != nil {
		(*f)(ns)
	}
}

// SetMark installs what Mark does; procbridge/worker calls it when it
// attaches.
func SetMark(f func(ns int64)) { mark.Store(&f) }

var outputWriter atomic.Pointer[func(output any) io.Writer]

// OutputWriter returns the writer of a procbridge.Output made by ToWriter,
// else nil.
func OutputWriter(output any) io.Writer {
	if f := outputWriter.Load(); f != nil {
		return (*f)(output)
	}
	return nil
}

// SetOutputWriter installs what OutputWriter does; procbridge calls it
// when it initialises.
func SetOutputWriter(f func(output any) io.Writer) { outputWriter.Store(&f) }

var promote atomic.Pointer[func(seg any, from, to int) (uint64, int, error)]

// Promote fences the primary of seg, a *procbridge.Segment, on lane from
// and makes lane to the primary under a new epoch, waking the process
// parked there; it returns the epoch and lane primary now (procbridge's
// promote says more).
func Promote(seg any, from, to int) (epoch uint64, lane int, err error) {
	return (*promote.Load())(seg, from, to)
}

// SetPromote installs what Promote does; procbridge calls it when it
// initialises.
func SetPromote(f func(seg any, from, to int) (uint64, int, error)) { promote.Store(&f) }
