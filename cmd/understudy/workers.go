package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/understudy/understudy/procbridge/worker"
)

// The Go workers this program hosts, for trees that name them with
// `worker:`. Importing the audio package registers its node worker
// as well, which render's engine runs, one process per node.
func init() {
	worker.Register("counter", counter)
}

// counter counts, once per interval (its first argument, default 1s), and
// prints each count ("count 7 (pid 4242)") to its stdout. It commits the
// count to its state (state_size 8 or more) and resumes from the last
// committed count, so a hot-standby spare that takes over goes on where the
// primary stopped: the smallest stateful worker, to watch a failover from a
// spec file. It beats at its heartbeat interval when one is set.
func counter(ctx context.Context, w *worker.Worker) error {
	interval := time.Second
	if args := os.Args[1:]; len(args) > 0 {
		d, err := time.ParseDuration(args[0])
		if err != nil || d <= 0 {
			return fmt.Errorf("counter: interval %q: want a positive duration such as 500ms", args[0])
		}
		interval = d
	}
	w.Ready()
	if err := w.WaitActive(ctx); err != nil { // at once for a primary; a spare parks
		return nil // stopped while parked
	}
	var n uint64
	state := make([]byte, 8)
	if k, err := w.State(state); err == nil && k == len(state) {
		n = binary.LittleEndian.Uint64(state)
		fmt.Printf("resuming at count %d (pid %d)\n", n, os.Getpid())
	}
	tick := interval
	if hb := w.HeartbeatInterval(); hb > 0 && hb < tick {
		tick = hb
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	next := time.Now().Add(interval)
	for {
		w.Beat()
		if now := time.Now(); !now.Before(next) {
			next = next.Add(interval)
			n++
			binary.LittleEndian.PutUint64(state, n)
			if err := w.Commit(state); errors.Is(err, worker.ErrFenced) {
				return nil // a spare took over
			}
			fmt.Printf("count %d (pid %d)\n", n, os.Getpid())
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
