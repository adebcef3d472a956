//go:build !linux

package procbridge

// notifyOS: readiness without the SDK needs Linux, as Start does.
type notifyOS struct{}
