//go:build !linux

package audio

import "time"

func tryFIFO(prio int) bool                                     { return false }
func rtThrottling() (runtime, refused string)                   { return "", "" }
func preemptModel() string                                      { return "" }
func underHypervisor() bool                                     { return false }
func wakeCanary(prio int, d time.Duration) (time.Duration, int) { return 0, 0 }
