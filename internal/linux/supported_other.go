//go:build !linux

package linux

// Supported reports whether this system has what the package wraps.
const Supported = false
