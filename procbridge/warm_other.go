//go:build !linux

package procbridge

// holdWarm does nothing: the death-notice waiters are Linux's.
func holdWarm() (release func()) { return func() {} }
