//go:build !linux

package testproc

import "testing"

// WaitGone needs pidfds: elsewhere it skips the test.
func WaitGone(t testing.TB, pid int) { t.Skip("WaitGone needs Linux") }

// OpenFds needs /proc: elsewhere it skips the test.
func OpenFds(t testing.TB) int {
	t.Skip("OpenFds needs Linux")
	return 0
}
