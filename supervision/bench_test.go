//go:build linux

package supervision_test

import (
	"context"
	"encoding/binary"
	"io"
	"os"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/understudy/understudy/internal/mono"
	"github.com/understudy/understudy/procbridge"
	"github.com/understudy/understudy/supervision"
)

// BenchmarkColdRestart measures a cold restart through the full actor path
// beside the bare procbridge path, in the same loop so that both see the
// same machine.
//
// Each iteration kills two "crash" workers: told to go on, each writes a
// CLOCK_MONOTONIC timestamp to a pipe it was handed (ExtraFiles) and
// SIGKILLs itself:
//
//   - actor: a worker supervised by a tree (one_for_one, no backoff). The
//     sample runs from the worker's timestamp to the supervisor's ChildReady
//     event for its replacement, as OnEvent sees it: procbridge notices the
//     death, the ProcessActor fails, the supervisor decides and restarts
//     it, the actor starts a new process and forwards its Ready.
//   - bare: a worker started with procbridge.Start. The sample runs from its
//     timestamp to the Ready of the replacement the benchmark starts as soon as
//     it reads the old one's Exited event.
//
// Reported: p50 and p99 of both totals (actor-*, bare-*). The totals are
// dominated by the kernel's teardown of the dead worker and by the fork,
// exec and start of the new one (*-spawn-p50, the replacement's
// SpawnToReady), the same work on both paths and the noisiest; so the part
// each path adds on top is also reported (*-rest-*): from the bridge seeing
// the death (Exited) to the fork of the replacement, plus from the bridge
// seeing it ready to the consumer seeing it. layers-p50 is actor-rest-p50
// minus bare-rest-p50: what the actor and supervision layers add.
func BenchmarkColdRestart(b *testing.B) {
	ctx := context.Background()
	type ready struct {
		at int64 // when OnEvent saw it
		ev supervision.ChildReady
	}
	var (
		mu   sync.Mutex
		exit supervision.ChildExited
	)
	readies := make(chan ready, 16)
	actorMarks, bareMarks := markPipe(b), markPipe(b)
	victim := proc("crash")
	victim.ExtraFiles = []*os.File{actorMarks.w}
	spec := supervision.Spec{
		Intensity: supervision.Intensity{MaxRestarts: 1 << 30, Period: time.Second},
		Children:  []supervision.ChildSpec{{Name: "victim", Process: victim, Backoff: supervision.Backoff{Initial: -1}}},
	}
	tree, err := supervision.Start(ctx, spec, supervision.Options{OnEvent: func(ev supervision.Event) {
		switch e := ev.(type) { // the benchmark tells the worker to go on (crash)
		case supervision.ChildReady:
			readies <- ready{mono.Now(), e}
		case supervision.ChildExited:
			mu.Lock() // no channel: waking the benchmark here would cost the path
			exit = e
			mu.Unlock()
		}
	}})
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		if _, err := tree.Stop(ctx); err != nil {
			b.Error(err)
		}
	}()
	pid := (<-readies).ev.Ready.Pid

	bareSpec := procbridge.Spec{Worker: "crash", ExtraFiles: []*os.File{bareMarks.w}}
	bare, err := procbridge.Start(ctx, bareSpec)
	if err != nil {
		b.Fatal(err)
	}
	<-bare.Events() // Ready
	defer func() { _, _ = bare.Stop(ctx) }()

	var actorTotal, actorRest, actorSpawn, bareTotal, bareRest, bareSpawn []time.Duration
	for b.Loop() {
		// The actor path.
		if err := syscall.Kill(pid, syscall.SIGUSR1); err != nil {
			b.Fatal(err)
		}
		r := <-readies
		mu.Lock()
		x := exit
		mu.Unlock()
		mark := actorMarks.next(b)
		if x.Exited == nil || x.Exited.Pid != pid || r.ev.Ready == nil || r.ev.Incarnation < 2 {
			b.Fatalf("exit %v, ready %v", x, r.ev)
		}
		rd := r.ev.Ready
		actorTotal = append(actorTotal, time.Duration(r.at-mark))
		actorRest = append(actorRest, rest(mono.Of(x.Exited.Exit.Time), mono.Of(rd.Time), rd.SpawnToReady, r.at))
		actorSpawn = append(actorSpawn, rd.SpawnToReady)
		pid = rd.Pid

		// The bare path.
		if err := syscall.Kill(bare.Pid(), syscall.SIGUSR1); err != nil {
			b.Fatal(err)
		}
		var ended procbridge.Exited
		for ev := range bare.Events() {
			if e, ok := ev.(procbridge.Exited); ok {
				ended = e
				break
			}
		}
		old := bare
		if bare, err = procbridge.Start(ctx, bareSpec); err != nil {
			b.Fatal(err)
		}
		rd = new((<-bare.Events()).(procbridge.Ready))
		at := mono.Now()
		bareTotal = append(bareTotal, time.Duration(at-bareMarks.next(b)))
		bareRest = append(bareRest, rest(mono.Of(ended.Exit.Time), mono.Of(rd.Time), rd.SpawnToReady, at))
		bareSpawn = append(bareSpawn, rd.SpawnToReady)
		<-old.Done()
	}

	p := func(ds []time.Duration, q int) float64 {
		s := slices.Clone(ds)
		slices.Sort(s)
		return float64(s[min(len(s)*q/100, len(s)-1)])
	}
	b.ReportMetric(p(actorTotal, 50), "actor-p50-ns")
	b.ReportMetric(p(actorTotal, 99), "actor-p99-ns")
	b.ReportMetric(p(bareTotal, 50), "bare-p50-ns")
	b.ReportMetric(p(bareTotal, 99), "bare-p99-ns")
	b.ReportMetric(p(actorRest, 50), "actor-rest-p50-ns")
	b.ReportMetric(p(actorRest, 99), "actor-rest-p99-ns")
	b.ReportMetric(p(bareRest, 50), "bare-rest-p50-ns")
	b.ReportMetric(p(bareRest, 99), "bare-rest-p99-ns")
	b.ReportMetric(p(actorSpawn, 50), "actor-spawn-p50-ns")
	b.ReportMetric(p(bareSpawn, 50), "bare-spawn-p50-ns")
	b.ReportMetric(p(actorRest, 50)-p(bareRest, 50), "layers-p50-ns")
}

// rest is the part of a restart outside the kernel's teardown of the dead
// process and the new one's spawn-to-ready: from the bridge seeing the
// death (exitMono) to the fork, plus from the bridge seeing the new
// process ready (readyMono) to the consumer seeing it (seenMono).
func rest(exitMono, readyMono int64, spawnToReady time.Duration, seenMono int64) time.Duration {
	forkMono := readyMono - int64(spawnToReady)
	return time.Duration(forkMono-exitMono) + time.Duration(seenMono-readyMono)
}

// marks is a pipe "crash" workers write their timestamp to (markCrash).
type marks struct{ r, w *os.File }

func markPipe(b *testing.B) marks {
	r, w, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { r.Close(); w.Close() })
	return marks{r, w}
}

// next reads the next timestamp a worker wrote.
func (m marks) next(b *testing.B) int64 {
	var buf [8]byte
	if _, err := io.ReadFull(m.r, buf[:]); err != nil {
		b.Fatal(err)
	}
	return int64(binary.LittleEndian.Uint64(buf[:]))
}
