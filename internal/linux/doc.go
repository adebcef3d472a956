// Package linux is the Linux plumbing of the project, one copy of each
// piece: futexes (wait, wait until a deadline, wake, and the multi-word
// futex_waitv), sealed memfds and their mappings, timerfds, a raw epoll
// wait, an allocation-free reader of a thread's /proc files, raising and
// restoring a thread's scheduling, and the perf task clock.
//
// Several of its calls are raw system calls (RawSyscall): the Go scheduler
// does not hear of them, so the calling goroutine keeps its processor (P)
// throughout. They are the calls that never block for long, made on paths
// where handing the P away and waiting to get it back would cost more than
// the call (the hang monitor's watch, a node's cycle). Each says so.
//
// On other systems every function builds: those whose callers need an
// answer return an error wrapping ErrNotSupported (or report nothing
// found), the others do nothing.
package linux

import "errors"

// ErrNotSupported is wrapped by the errors of this package on a system
// that is not Linux.
var ErrNotSupported = errors.New("not supported on this system")
