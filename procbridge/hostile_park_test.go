//go:build linux

package procbridge_test

import (
	"context"
	"os"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/understudy/understudy/internal/linux"
	"github.com/understudy/understudy/internal/testproc"
	"github.com/understudy/understudy/procbridge"
	"github.com/understudy/understudy/procbridge/worker"
)

// hLanePark is a lane's park word (docs/protocol.md).
const hLanePark = 128

func init() {
	// h-park-storm, as the primary, once its spare is ready, writes values
	// the protocol gives no other process into the spare's park word (its
	// own "give up" value 2, and 7), and 1 (a stale promotion), waking it
	// each time, for a second; then it writes the file Args[0] and waits.
	// As the spare, once promoted, it commits "primary <pid>".
	worker.Register("h-park-storm", func(ctx context.Context, w *worker.Worker) error {
		if !w.Active() {
			w.Ready()
			if err := w.WaitActive(ctx); err != nil {
				return nil
			}
			commitAsPrimary(ctx, w)
			return nil
		}
		w.Ready()
		seg := hostileSegment()
		for atomic.LoadUint32(hU32(seg, hLaneBase+hLaneSize+hLaneReady)) != 1 {
			time.Sleep(time.Millisecond)
		}
		park := hU32(seg, hLaneBase+hLaneSize+hLanePark)
		values := []uint32{2, 7, 1}
		for i, end := 0, time.Now().Add(time.Second); time.Now().Before(end); i++ {
			atomic.StoreUint32(park, values[i%len(values)])
			unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(park)), 1 /* FUTEX_WAKE */, 1<<30, 0, 0, 0)
		}
		atomic.StoreUint32(park, 0)
		if err := os.WriteFile(os.Args[1], []byte("done"), 0o600); err != nil {
			return err
		}
		<-ctx.Done()
		return nil
	})
}

// TestHostileParkStorm: a primary that keeps writing and waking its
// spare's park word does not make the parked spare spin (it runs raised
// above ordinary tasks), and the spare still takes over when the primary
// dies.
func TestHostileParkStorm(t *testing.T) {
	done := t.TempDir() + "/done"
	g, err := procbridge.StartGroup(ctxT(t), procbridge.Spec{Worker: "h-park-storm", Args: []string{done}, StateSize: 64}, 1)
	require.NoError(t, err)
	defer g.Stop(context.Background())
	primary, spare := g.Primary(), g.Spares()[0]
	before := linux.ProcessCPU(spare.Pid())
	testproc.WaitFile(t, done, func(string) bool { return true })
	used := time.Duration(linux.ProcessCPU(spare.Pid()) - before)
	t.Logf("the parked spare used %v of CPU over the 1 s storm", used)
	assert.Less(t, used, 300*time.Millisecond, "the spare spun")
	require.NoError(t, unix.Kill(primary.Pid(), unix.SIGKILL))
	p := nextGroupEvent[procbridge.Promoted](t, g)
	assert.Equal(t, spare.Pid(), p.To)
	seg, _ := spare.Segment()
	awaitPrimaryCommit(t, seg, spare.Pid())
}
