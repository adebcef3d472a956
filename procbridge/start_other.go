//go:build !linux

package procbridge

import (
	"context"
	"fmt"
	"syscall"

	"github.com/understudy/understudy/procbridge/internal/shm"
)

type osProcess struct{}

func signalOf(sig int) syscall.Signal { return syscall.Signal(sig) }

// Start needs Linux (pidfds, memfds, futexes); elsewhere it returns an
// error wrapping ErrNotSupported.
func Start(ctx context.Context, spec Spec) (*Process, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("procbridge: start %s: %w", spec.name(), ErrNotSupported)
}

func (p *Process) signalGroup(syscall.Signal) {}

const (
	sigTerm = syscall.SIGTERM
	sigKill = syscall.SIGKILL
)

func wakeLane(*shm.Lane) {}

func lookForHangs() {}
