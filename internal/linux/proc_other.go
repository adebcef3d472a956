//go:build !linux

package linux

// ReadSmall reads nothing: there is no /proc.
func ReadSmall(path []byte, buf []byte) []byte { return nil }

// ReadTaskStat reports the thread gone: there is no /proc.
func ReadTaskStat(pid, tid int) (Task, bool) { return Task{CPU: -1}, false }

// ReadTask reports the thread gone: there is no /proc.
func ReadTask(pid, tid int) (Task, bool) { return Task{CPU: -1}, false }

// TaskFiles keeps a thread's /proc files open: none here.
type TaskFiles struct{}

// OpenTask opens nothing.
func OpenTask(pid, tid int) (TaskFiles, bool) { return TaskFiles{}, false }

// Read reads nothing.
func (*TaskFiles) Read() Task { return Task{Voluntary: -1, CPU: -1} }

// Close does nothing.
func (*TaskFiles) Close() {}

// EachTask reports the process gone: there is no /proc.
func EachTask(pid int, fn func(tid int)) bool { return false }

// GroupEnding reports true: without /proc, a death notice is taken as
// given.
func GroupEnding(pid, tid int) bool { return true }
