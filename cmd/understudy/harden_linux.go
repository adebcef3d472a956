//go:build linux

package main

import "golang.org/x/sys/unix"

// nonDumpable makes this process non-dumpable, as a supervisor of workers
// it does not trust should be: a worker running under the same user can
// then neither open this process's descriptors through /proc/<pid>/fd (its
// workers' segments and pipes) nor write its memory through
// /proc/<pid>/mem, nor trace it. It also turns off this process's core
// dumps and makes its /proc files root's. The workers it starts are
// dumpable again: exec resets it.
func nonDumpable() error { return unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0) }
