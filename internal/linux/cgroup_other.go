//go:build !linux

package linux

import (
	"fmt"
	"time"
)

// Cgroup is a directory of the cgroup v2 hierarchy; there is none here.
type Cgroup struct{ Path string }

// CgroupHome needs Linux.
func CgroupHome() (own Cgroup, mount string, hybrid bool, err error) {
	return Cgroup{}, "", false, fmt.Errorf("cgroup2 mount: %w", ErrNotSupported)
}

// Sub needs Linux.
func (c Cgroup) Sub(name string) (Cgroup, error) {
	return Cgroup{}, fmt.Errorf("cgroup: %w", ErrNotSupported)
}

// Open needs Linux.
func (c Cgroup) Open() (int, error) { return -1, fmt.Errorf("cgroup: %w", ErrNotSupported) }

// CanKill reports false.
func (c Cgroup) CanKill() bool { return false }

// Kill needs Linux.
func (c Cgroup) Kill() error { return fmt.Errorf("cgroup: kill: %w", ErrNotSupported) }

// Populated needs Linux.
func (c Cgroup) Populated() (bool, error) { return false, fmt.Errorf("cgroup: %w", ErrNotSupported) }

// WaitEmpty needs Linux.
func (c Cgroup) WaitEmpty(timeout time.Duration) error {
	return fmt.Errorf("cgroup: %w", ErrNotSupported)
}

// Remove needs Linux.
func (c Cgroup) Remove() error { return fmt.Errorf("cgroup: %w", ErrNotSupported) }

// RemoveAll needs Linux.
func (c Cgroup) RemoveAll() error { return fmt.Errorf("cgroup: %w", ErrNotSupported) }

// MakeDomain needs Linux.
func MakeDomain(name string) (Cgroup, error) {
	return Cgroup{}, fmt.Errorf("cgroup: %w", ErrNotSupported)
}
