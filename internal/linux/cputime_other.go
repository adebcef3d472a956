//go:build !linux

package linux

import "fmt"

// ProcessCPU returns 0: it cannot be read.
func ProcessCPU(pid int) int64 { return 0 }

// TaskClocksUsable reports false.
func TaskClocksUsable() bool { return false }

// SetTaskClocksUsable does nothing.
func SetTaskClocksUsable(on bool) {}

// OpenTaskClock needs Linux.
func OpenTaskClock(tid int) (int, error) {
	return -1, fmt.Errorf("perf_event_open: %w", ErrNotSupported)
}

// ReadTaskClock reports nothing read.
func ReadTaskClock(fd int) (int64, bool) { return 0, false }

// CloseTaskClock does nothing.
func CloseTaskClock(fd int) {}

// KeepTaskClocks does nothing.
func KeepTaskClocks() {}

// ReleaseTaskClocks does nothing.
func ReleaseTaskClocks() {}
