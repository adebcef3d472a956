package testproc

import (
	"context"
	"os"
	"os/signal"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/understudy/understudy/procbridge/worker"
)

// offControl is the segment's control word (docs/protocol.md): epoch << 8
// | active lane.
const offControl = 128

func init() {
	// violate-when-told is ready and beats at its heartbeat interval;
	// told to go on (SIGUSR1), it writes into its own segment, as a
	// hostile worker would, a control word naming lane 200 (a lane no
	// segment has) and stops beating. A restarted one is never told.
	worker.Register("violate-when-told", func(ctx context.Context, w *worker.Worker) error {
		usr1 := make(chan os.Signal, 1)
		signal.Notify(usr1, syscall.SIGUSR1)
		defer signal.Stop(usr1)
		w.Ready()
		t := time.NewTicker(w.HeartbeatInterval())
		defer t.Stop()
		for {
			w.Beat()
			select {
			case <-ctx.Done():
				return nil
			case <-usr1:
				if err := scribbleControl(200); err != nil {
					return err
				}
				<-ctx.Done()
				return nil
			case <-t.C:
			}
		}
	})
}

// scribbleControl maps the worker's segment from $UNDERSTUDY_SEGMENT_FD,
// the way a worker in C would, and writes its control word to name lane
// at the current epoch.
func scribbleControl(lane uint64) error {
	fd, err := strconv.Atoi(os.Getenv("UNDERSTUDY_SEGMENT_FD"))
	if err != nil {
		return err
	}
	mem, err := unix.Mmap(fd, 0, os.Getpagesize(), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return err
	}
	word := (*uint64)(unsafe.Pointer(&mem[offControl]))
	atomic.StoreUint64(word, atomic.LoadUint64(word)>>8<<8|lane)
	return nil
}
