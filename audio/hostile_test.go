//go:build linux

package audio

// Node processes that write into the bus words the engine's driver reads,
// as a buggy or hostile node in any language could.

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// busFd is the bus's descriptor in a node process: its first ExtraFile.
const busFd = 6

func init() {
	if err := RegisterKind(wakeLiarKind); err != nil {
		panic(err)
	}
}

// wake-liar passes its input through; at its process's 50th block, the
// first of its processes to get there writes a time an hour ahead into its
// host's wake time (the word the driver's watchdog counts from), then
// hangs.
var wakeLiarKind = Kind{
	Name: "wake-liar",
	Doc:  "a node that lies about when it was woken, then hangs",
	New:  func(int, Params) (Processor, error) { return &wakeLiar{}, nil },
}

type wakeLiar struct{ blocks int }

func (*wakeLiar) Inputs() int    { return 1 }
func (*wakeLiar) Outputs() int   { return 1 }
func (*wakeLiar) StateSize() int { return 0 }
func (w *wakeLiar) Process(_ []byte, in, out [][]float32) {
	copy(out[0], in[0])
	if w.blocks++; w.blocks != 50 {
		return
	}
	// Only the first process to get here: its spares stay honest.
	mark := filepath.Join(os.TempDir(), "wake-liar-"+strconv.Itoa(os.Getppid()))
	if f, err := os.OpenFile(mark, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600); err != nil {
		return
	} else {
		f.Close()
	}
	// The node worker's arguments: graph, host, lanes, …
	host, _ := strconv.Atoi(os.Args[2])
	lanes, _ := strconv.Atoi(os.Args[3])
	var st unix.Stat_t
	if unix.Fstat(busFd, &st) != nil {
		return
	}
	mem, err := unix.Mmap(busFd, 0, int(st.Size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return
	}
	// The bus layout: a 256-byte header, then each host's record (a
	// 64-byte line, then 128 bytes per lane); its wake time at +16.
	off := 256 + host*(64+lanes*128) + 16
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	atomic.StoreInt64((*int64)(unsafe.Pointer(&mem[off])), min(ts.Nano()+int64(time.Hour), math.MaxInt64))
	time.Sleep(time.Hour) // hung
}

// TestHostileWakeTime: a node that writes a wake time still to come into
// its host's record, and then hangs, is fenced by the driver's watchdog all
// the same: the driver counts from the block's start, and its spare takes
// over.
func TestHostileWakeTime(t *testing.T) {
	g := Graph{
		Rate: 48000, BlockSize: 128,
		Nodes: []Node{
			{Name: "src", Kind: "testsignal"},
			{Name: "liar", Kind: "wake-liar"},
		},
		Edges: []Edge{{From: Port{"src", 1}, To: Port{"liar", 0}}},
	}
	cfg := Config{Graph: g, Sink: []Port{{"src", 0}, {"liar", 0}}, Watchdog: 50 * time.Millisecond,
		WAV: filepath.Join(t.TempDir(), "out.wav")}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	mark := filepath.Join(os.TempDir(), "wake-liar-"+strconv.Itoa(os.Getpid()))
	os.Remove(mark) // one a process of the same pid left
	defer os.Remove(mark)
	e, err := Start(ctx, cfg)
	require.NoError(t, err)
	defer e.Close(context.Background())
	start := time.Now()
	rep, err := e.Run(ctx, 200)
	require.NoError(t, err, "the render ends")
	t.Logf("%v in %v", rep, time.Since(start))
	require.NotEmpty(t, rep.Failovers, "%v", rep)
	f := rep.Failovers[0]
	assert.Equal(t, "liar", f.Node)
	assert.True(t, f.Watchdog, "failed over by the watchdog")
	assert.Less(t, time.Since(start), 30*time.Second)
}
