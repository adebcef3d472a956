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

// WaitFile needs inotify: elsewhere it skips the test.
func WaitFile(t testing.TB, path string, ok func(content string) bool) string {
	t.Skip("WaitFile needs Linux")
	return ""
}
