//go:build linux

package procbridge_test

// The hostile-worker suite: helper workers that map their own segment
// descriptor and write into it, as a buggy or hostile worker in any
// language could, and tests that the supervisor stays up, responsive and
// truthful. Offsets are the segment's layout (procbridge/internal/shm):
// the control word at 128, lane L at 256+512·L (ready word +64, pid +68,
// robust word i at +200+16i).

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/understudy/understudy/procbridge"
	"github.com/understudy/understudy/procbridge/worker"
)

const (
	hOffControl = 128
	hLaneBase   = 256
	hLaneSize   = 512
	hLaneReady  = 64
	hLanePid    = 68
)

// hostileSegment maps $UNDERSTUDY_SEGMENT_FD read-write, the way a worker
// written in C would.
func hostileSegment() []byte {
	fd, err := strconv.Atoi(os.Getenv("UNDERSTUDY_SEGMENT_FD"))
	if err != nil {
		panic(err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		panic(err)
	}
	mem, err := unix.Mmap(fd, 0, int(st.Size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		panic(err)
	}
	return mem
}

func hU64(mem []byte, off int) *uint64 { return (*uint64)(unsafe.Pointer(&mem[off])) }
func hU32(mem []byte, off int) *uint32 { return (*uint32)(unsafe.Pointer(&mem[off])) }

// hostileControl is the control word value attack names for a segment at
// epoch e with lanes lanes.
func hostileControl(attack string, e uint64, lanes int) uint64 {
	switch attack {
	case "lane-200":
		return e<<8 | 200
	case "lane-count":
		return e<<8 | uint64(lanes)
	case "epoch-max":
		return (1<<56 - 1) << 8 // lane 0
	case "epoch-skip":
		return (e+2)<<8 | 1
	case "one":
		return 1
	}
	panic("unknown attack " + attack)
}

func init() {
	// h-control writes its control word (Args[0] names the value) and then
	// dies once a spare is ready (Args[1] "die") or lives on ("live"). As a
	// spare, once promoted it commits "primary <pid>".
	worker.Register("h-control", func(ctx context.Context, w *worker.Worker) error {
		if !w.Active() {
			w.Ready()
			if err := w.WaitActive(ctx); err != nil {
				return nil
			}
			if err := w.Commit([]byte(fmt.Sprintf("primary %d", os.Getpid()))); err != nil {
				return err
			}
			<-ctx.Done()
			return nil
		}
		seg := hostileSegment()
		lanes := int(binary.LittleEndian.Uint32(seg[28:]))
		e := atomic.LoadUint64(hU64(seg, hOffControl)) >> 8
		atomic.StoreUint64(hU64(seg, hOffControl), hostileControl(os.Args[1], e, lanes))
		w.Ready()
		if os.Args[2] == "die" {
			// Once a spare is ready, die.
			for atomic.LoadUint32(hU32(seg, hLaneBase+hLaneSize+hLaneReady)) != 1 {
				time.Sleep(time.Millisecond)
			}
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
		}
		<-ctx.Done()
		return nil
	})
}

// awaitPrimaryCommit waits until the group's segment holds the commit of
// the process pid as primary.
func awaitPrimaryCommit(t *testing.T, seg *procbridge.Segment, pid int) {
	t.Helper()
	want := fmt.Sprintf("primary %d", pid)
	buf := make([]byte, 64)
	waitFor(t, "the new primary's commit", func() bool {
		n, _, err := seg.State(buf)
		return err == nil && string(buf[:n]) == want
	})
}

// TestHostileControlWord: a primary that writes a control word no
// promotion leaves (a lane that does not exist, an epoch out of turn) and
// then dies, or lives on while the group switches, crashes neither the
// supervisor nor the spare: the spare takes over, the word names it, and
// the primary is blamed.
func TestHostileControlWord(t *testing.T) {
	for _, attack := range []string{"lane-200", "lane-count", "epoch-max", "epoch-skip"} {
		for _, then := range []string{"die", "live"} {
			t.Run(attack+"/"+then, func(t *testing.T) {
				g, err := procbridge.StartGroup(ctxT(t), procbridge.Spec{Worker: "h-control", Args: []string{attack, then}, StateSize: 64}, 1)
				require.NoError(t, err)
				defer g.Stop(context.Background())
				primary, spare := g.Primary(), g.Spares()[0]
				seg, _ := primary.Segment()
				if then == "live" {
					require.NoError(t, g.Switch(ctxT(t)))
				}
				p := nextGroupEvent[procbridge.Promoted](t, g)
				assert.Equal(t, primary.Pid(), p.From)
				assert.Equal(t, spare.Pid(), p.To)
				if then == "live" {
					require.NotNil(t, p.Cause, "the switch found the word corrupt")
					assert.Contains(t, p.Cause.String(), "broke the segment protocol")
					assert.Contains(t, p.Cause.String(), "control word")
				}
				epoch, lane := seg.Control()
				assert.Equal(t, 1, lane, "the word names the spare")
				assert.Equal(t, p.Epoch, epoch)
				assert.Equal(t, spare.Pid(), g.Primary().Pid())
				awaitPrimaryCommit(t, seg, spare.Pid())
				exit := exitedEventOf(t, primary)
				assert.NotEqual(t, procbridge.ExitStopped, exit.Kind, "a violation is not a stop")
			})
		}
	}
}
