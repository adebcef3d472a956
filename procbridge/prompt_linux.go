//go:build linux

package procbridge

import (
	"sync/atomic"

	"github.com/understudy/understudy/internal/linux"
)

// promptThread raises the calling thread, locked to its goroutine (with
// linux.RaiseOwn): the bridge's watchers, the hang monitor and the
// death-notice waiters, must run as soon as they are woken even while a
// hung worker spins or a dying one's threads tear it down. Their threads
// end with them, so nothing is restored.
func promptThread() {
	if !unraised.Load() {
		linux.RaiseOwn()
	}
}

// unraised, set by benchmarks, leaves the watchers' threads as they are
// (promptThread), to measure what raising them buys.
var unraised atomic.Bool
