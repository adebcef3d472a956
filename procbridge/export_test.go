//go:build linux

package procbridge

// SetSegmentVersionForTest makes the next segments claim layout version v
// (0 restores the real one), to exercise a worker that refuses its segment.
func SetSegmentVersionForTest(v uint32) { testSegmentVersion = v }

// MonitorIdle reports whether the hang monitor has no goroutine running.
func MonitorIdle() bool {
	monitor.mu.Lock()
	defer monitor.mu.Unlock()
	return !monitor.running
}
