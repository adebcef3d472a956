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

// start needs Linux (pidfds, memfds, futexes); elsewhere it returns an
// error wrapping ErrNotSupported.
func start(_ context.Context, spec Spec, o startOptions) (*Process, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	if err := o.validate(&spec); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("procbridge: start %s: %w", spec.name(), ErrNotSupported)
}

func (p *Process) signalGroup(syscall.Signal) {}

func (p *Process) signalGroupLocked(syscall.Signal) {}

// refusedHeader: no worker runs here, so none refused its header.
func refusedHeader(error) bool { return false }

const (
	sigTerm = syscall.SIGTERM
	sigKill = syscall.SIGKILL
)

func wakeLane(*shm.Lane) {}

func lookForHangs() {}
