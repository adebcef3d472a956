//go:build !linux

package linux

import "fmt"

// EpollWait needs Linux.
func EpollWait(ep int, fds []int32, raw bool, idleMs int) ([]int32, error) {
	return fds, fmt.Errorf("epoll_wait: %w", ErrNotSupported)
}
