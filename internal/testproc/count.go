package testproc

import (
	"context"
	"encoding/binary"

	"github.com/understudy/understudy/procbridge/worker"
)

// ResumeCount is how the counting standby helpers start: it says ready,
// waits until this process is the primary (at once for a primary, on
// promotion for a spare), and returns the count the last primary committed
// (8 bytes, little-endian; 0 when none), with the 8-byte buffer to commit
// the next count from. ok is false when ctx ended first.
func ResumeCount(ctx context.Context, w *worker.Worker) (n uint64, state []byte, ok bool) {
	w.Ready()
	if err := w.WaitActive(ctx); err != nil {
		return 0, nil, false
	}
	state = make([]byte, 8)
	if _, err := w.State(state); err == nil {
		n = binary.LittleEndian.Uint64(state)
	}
	return n, state, true
}
