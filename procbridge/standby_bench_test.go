//go:build linux

package procbridge_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/understudy/understudy/internal/hooks"
	"github.com/understudy/understudy/internal/mono"
	"github.com/understudy/understudy/procbridge"
	"github.com/understudy/understudy/procbridge/worker"
)

// The hot-standby benchmarks. Like the others they measure
// across processes by subtracting CLOCK_MONOTONIC timestamps, keep every
// sample, and report percentiles in microseconds; ns/op means nothing.
//
//	go test -run '^$' -bench 'Failover|DeathNotice|CommandRoundTrip|ReplacementSpare' -benchtime 200x ./procbridge/
//
// Every death is the worker's own: told "die" over the command ring, the
// sb-standby helper waits benchPause (so that everyone watching it is
// parked), takes a timestamp d, commits d as its last state, leaves d in its
// lane's mark, and SIGKILLs itself. Latencies run from d.

// sbHeap keeps the sb-standby helper's touched heap alive.
var sbHeap []byte

// sbStateSize is the size of the sb-standby helper's committed state: the
// death mark of the primary it took over from (0 for the first) and the
// CLOCK_MONOTONIC time just before its first Commit, little-endian. A dying
// primary commits {its death mark, 0}.
const sbStateSize = 16

func init() {
	// sb-standby touches Args[0] MB of heap (every page written, so the
	// kernel has that much to tear down), says Ready and waits to be the
	// primary (a spare parks in WaitActive). Once primary it commits at once
	// — its first instruction after promotion is WaitActive's own mark —
	// and replies "up" with the time Commit returned. Then it serves
	// commands: "die" marks and SIGKILLs it.
	worker.Register("sb-standby", func(ctx context.Context, w *worker.Worker) error {
		mb, err := strconv.Atoi(os.Args[1])
		if err != nil {
			return err
		}
		sbHeap = make([]byte, mb<<20)
		for i := 0; i < len(sbHeap); i += 4096 {
			sbHeap[i] = 1
		}
		w.Ready()
		if err := w.WaitActive(ctx); err != nil {
			return nil
		}
		var st [sbStateSize]byte
		if n, err := w.State(st[:]); err != nil || n != sbStateSize {
			clear(st[:]) // nothing committed yet: the first primary
		}
		binary.LittleEndian.PutUint64(st[8:], uint64(mono.Now()))
		if err := w.Commit(st[:]); err != nil {
			return err
		}
		committed := mono.Now()
		var up [8]byte
		binary.LittleEndian.PutUint64(up[:], uint64(committed))
		if err := w.Reply(up[:]); err != nil {
			return err
		}
		buf := make([]byte, 64)
		for {
			n, err := w.Recv(ctx, buf)
			if err != nil {
				return nil
			}
			if string(buf[:n]) != "die" {
				continue
			}
			time.Sleep(benchPause) // let the watchers park
			d := mono.Now()
			binary.LittleEndian.PutUint64(st[:], uint64(d))
			binary.LittleEndian.PutUint64(st[8:], 0)
			w.Commit(st[:]) // the last state: the death mark, for a successor
			hooks.Mark(d)
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		}
	})
	// sb-echo replies to every command with the command, and, when it has
	// an extra file (a socket), writes back every byte it reads from it.
	worker.Register("sb-echo", func(ctx context.Context, w *worker.Worker) error {
		if f := worker.ExtraFile(0); f != nil {
			go func() {
				var b [1]byte
				for {
					n, err := f.Read(b[:])
					if err != nil {
						return
					}
					if _, err := f.Write(b[:n]); err != nil {
						return
					}
				}
			}()
		}
		w.Ready()
		buf := make([]byte, 256)
		for {
			n, err := w.Recv(ctx, buf)
			if err != nil {
				return nil
			}
			if err := w.Reply(buf[:n]); err != nil {
				return err
			}
		}
	})
}

// sbSpec is the sb-standby worker with mb MB of heap. A process of its own
// is started watched by a pidfd (benchStart's sbWatch); a group's members
// get one wherever the kernel has them.
func sbSpec(mb int) procbridge.Spec {
	return procbridge.Spec{
		Worker:    "sb-standby",
		Args:      []string{strconv.Itoa(mb)},
		StateSize: sbStateSize,
		RingSize:  4096,
	}
}

// sbWatch is the death signal of an sb-standby worker started alone.
const sbWatch = procbridge.WatchPidfd

// unraise leaves the bridge's watchers' threads at an ordinary priority
// until the returned function undoes it.
func unraise() (undo func()) {
	procbridge.SetPromptThreadsForTest(false)
	return func() { procbridge.SetPromptThreadsForTest(true) }
}

// unraisedSpec is spec for a worker that leaves its parked thread at an
// ordinary priority.
func unraisedSpec(spec procbridge.Spec) procbridge.Spec {
	spec.Env = append(os.Environ(), "UNDERSTUDY_TEST_UNRAISED=1")
	return spec
}

// BenchmarkFailover: a primary marks and SIGKILLs itself; how soon does its
// spare run? Side by side:
//
//   - standby: a group of the primary and one spare. first-instr-* is to the
//     spare's first instruction after promotion (the mark WaitActive leaves
//     in its lane); first-commit-* to the return of its first Commit;
//     detect-* and switch-* are Promoted.DetectMono and .SwitchMono;
//     by-kernel-% is how often the kernel's robust-futex wake promoted the
//     spare before the supervisor did, and by-kernel-first-instr-* and
//     by-supervisor-first-instr-* split first-instr-* by who promoted.
//     After each failover the benchmark waits for the replacement spare
//     before the next.
//   - cold-restart: no spare. On the first sign of the death (Dying, or
//     Exited without it) procbridge.Start starts a new worker; ready-* is to
//     its Ready, first-commit-* to the return of its first Commit.
//   - detection-floor: a lone worker: dying-* is to the Dying event
//     (Dying.Time), exited-* to Exited (Exit.Time, the pidfd).
//   - standby-unraised and detection-floor-unraised (0 MB only): the same
//     with the supervisor's death-notice waiters and the parked spare's
//     thread left at an ordinary priority, to show what raising them buys.
func BenchmarkFailover(b *testing.B) { benchFailover(b, 0) }

// BenchmarkFailoverLargeHeap is BenchmarkFailover with 512 MB of touched
// heap in every worker (a pidfd-only design pays about 40 ms here).
func BenchmarkFailoverLargeHeap(b *testing.B) { benchFailover(b, 512) }

func benchFailover(b *testing.B, mb int) {
	standby := func(b *testing.B, spec procbridge.Spec) {
		var first, commit, detect, switched, firstKernel, firstSuper latencies
		notDying := 0
		runStandby(b, spec, func(s standbySample) {
			first = append(first, s.firstInstr-s.death)
			commit = append(commit, s.firstCommit-s.death)
			detect = append(detect, mono.Of(s.promoted.Detected)-s.death)
			switched = append(switched, mono.Of(s.promoted.Switched)-s.death)
			if _, ok := s.promoted.Cause.(procbridge.Dying); !ok {
				notDying++
			}
			if s.promoted.ByKernel {
				firstKernel = append(firstKernel, s.firstInstr-s.death)
			} else {
				firstSuper = append(firstSuper, s.firstInstr-s.death)
			}
		})
		first.report(b, "first-instr-")
		commit.report(b, "first-commit-")
		detect.report(b, "detect-")
		switched.report(b, "switch-")
		b.ReportMetric(100*float64(len(firstKernel))/float64(max(1, len(first))), "by-kernel-%")
		firstKernel.report(b, "by-kernel-first-instr-")
		firstSuper.report(b, "by-supervisor-first-instr-")
		if notDying > 0 {
			b.Logf("%d of %d promotions were not caused by a Dying event", notDying, len(first))
		}
	}
	b.Run("standby", func(b *testing.B) { standby(b, sbSpec(mb)) })
	if mb == 0 {
		// The same with nothing raised: the supervisor's death-notice
		// waiters and the parked spare's thread at an ordinary priority.
		b.Run("standby-unraised", func(b *testing.B) {
			defer unraise()()
			standby(b, unraisedSpec(sbSpec(mb)))
		})
	}
	b.Run("cold-restart", func(b *testing.B) {
		spec := sbSpec(mb)
		var ready, commit latencies
		p := benchStart(b, spec, sbWatch)
		defer func() { benchStop(b, p) }()
		awaitReady(b, p)
		for b.Loop() {
			seg, _ := p.Segment()
			if err := seg.Send([]byte("die")); err != nil {
				b.Fatal(err)
			}
			firstSign(b, p) // Dying, or Exited when there is no Dying
			q := benchStart(b, spec, sbWatch)
			old := p
			p = q
			awaitReady(b, q)
			drainEvents(b, old)
			d := procbridge.MarkOf(old)
			qseg, _ := q.Segment()
			up := awaitUp(b, qseg)
			ready = append(ready, procbridge.ReadyMono(q)-d)
			commit = append(commit, up-d)
		}
		ready.report(b, "ready-")
		commit.report(b, "first-commit-")
	})
	b.Run("detection-floor", func(b *testing.B) {
		dying, exited := deathNotice(b, sbSpec(mb))
		dying.report(b, "dying-")
		exited.report(b, "exited-")
	})
	if mb != 0 {
		return
	}
	b.Run("detection-floor-unraised", func(b *testing.B) {
		defer unraise()()
		dying, exited := deathNotice(b, unraisedSpec(sbSpec(mb)))
		dying.report(b, "dying-")
		exited.report(b, "exited-")
	})
}

// BenchmarkReplacementSpareReady: after a failover, how long until the
// replacement spare is warm and parked: from-switch-* is SpareReady.Time −
// Promoted.Switched, from-death-* SpareReady.Time − the old primary's
// death mark. spawn-to-ready-* is the replacement's own Start (fork to
// Ready): the part of the wait that is not waiting for the old primary to
// be reaped (the group starts the replacement in the freed lane once the
// old primary has exited).
func BenchmarkReplacementSpareReady(b *testing.B) {
	var fromSwitch, fromDeath, spawn latencies
	runStandby(b, sbSpec(0), func(s standbySample) {
		fromSwitch = append(fromSwitch, mono.Of(s.spareReady.Time)-mono.Of(s.promoted.Switched))
		fromDeath = append(fromDeath, mono.Of(s.spareReady.Time)-s.death)
		if s.spawnMono != 0 {
			spawn = append(spawn, mono.Of(s.spareReady.Time)-s.spawnMono)
		}
	})
	fromSwitch.report(b, "from-switch-")
	fromDeath.report(b, "from-death-")
	spawn.report(b, "spawn-to-ready-")
}

// standbySample is one failover of runStandby.
type standbySample struct {
	death       int64 // the old primary's mark
	firstInstr  int64 // the new primary's mark: WaitActive's return
	firstCommit int64 // when the new primary's first Commit returned
	promoted    procbridge.Promoted
	spareReady  procbridge.SpareReady
	spawnMono   int64 // the replacement's fork (0 when it was not found)
}

// runStandby runs a group of sb-standby workers with mb MB of heap and one
// spare, and fails it over once per b.Loop iteration: it tells the primary
// to die, waits for Promoted, for the new primary's first commit and for
// the replacement spare, and hands each failover to sample.
func runStandby(b *testing.B, spec procbridge.Spec, sample func(standbySample)) {
	g, err := procbridge.StartGroup(b.Context(), spec, 1)
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		defer cancel()
		if err := g.Stop(ctx); err != nil {
			b.Errorf("stop group: %v", err)
		}
	}()
	seg, _ := g.Primary().Segment()
	awaitUp(b, seg) // the first primary's
	st := make([]byte, sbStateSize)
	lost := 0
	for b.Loop() {
		old := g.Primary()
		if err := seg.Send([]byte("die")); err != nil {
			b.Fatal(err)
		}
		pr := awaitGroupEvent[procbridge.Promoted](b, g)
		// Read the mark before the group starts the replacement in this
		// lane (which clears it); the committed state keeps a copy.
		d := procbridge.MarkOf(old)
		up := awaitUp(b, seg)
		n, _, err := seg.State(st)
		if err != nil || n != sbStateSize {
			b.Fatalf("state after failover: %d bytes, %v", n, err)
		}
		committedDeath := int64(binary.LittleEndian.Uint64(st))
		if d == 0 {
			d = committedDeath
			lost++
		} else if d != committedDeath {
			b.Fatalf("the old primary's mark %d is not the death mark its successor adopted (%d)", d, committedDeath)
		}
		neu := g.Primary()
		if pr.From != old.Pid() || pr.To != neu.Pid() {
			b.Fatalf("promoted %d → %d, want %d → %d", pr.From, pr.To, old.Pid(), neu.Pid())
		}
		first := procbridge.MarkOf(neu)
		sr := awaitGroupEvent[procbridge.SpareReady](b, g)
		var spawn int64
		for _, p := range g.Spares() {
			if p.Pid() == sr.Pid {
				spawn = procbridge.SpawnMono(p)
			}
		}
		if d == 0 || first < d || up < first {
			b.Fatalf("timestamps out of order: death %d, first instruction %d, first commit %d", d, first, up)
		}
		sample(standbySample{death: d, firstInstr: first, firstCommit: up, promoted: pr, spareReady: sr, spawnMono: spawn})
	}
	if lost > 0 {
		b.Logf("%d of %d old primaries' lane marks were cleared before they were read; used the committed copy", lost, b.N)
	}
}

// BenchmarkDeathNotice: a worker with 0, 64, 256 or 512 MB of
// touched heap marks and SIGKILLs itself. dying-* is to the Dying event
// (the robust futex), exited-* to Exited (the pidfd), both as the bridge
// stamped them (Dying.Time, Exit.Time), in one run per heap size.
func BenchmarkDeathNotice(b *testing.B) {
	for _, mb := range []int{0, 64, 256, 512} {
		b.Run(fmt.Sprintf("heap-%dMB", mb), func(b *testing.B) {
			dying, exited := deathNotice(b, sbSpec(mb))
			dying.report(b, "dying-")
			exited.report(b, "exited-")
		})
	}
}

// deathNotice starts spec once per b.Loop iteration, tells it to die, and
// collects the latencies of Dying and Exited from its death mark.
func deathNotice(b *testing.B, spec procbridge.Spec) (dying, exited latencies) {
	missing := 0
	for b.Loop() {
		p := benchStart(b, spec, sbWatch)
		awaitReady(b, p)
		seg, _ := p.Segment()
		if err := seg.Send([]byte("die")); err != nil {
			p.Kill()
			<-p.Done()
			b.Fatal(err)
		}
		dy, ex, _ := awaitDeath(b, p)
		d := procbridge.MarkOf(p)
		if d == 0 || ex.Exit.Signal != syscall.SIGKILL {
			b.Fatalf("want a SIGKILL death with a mark, got %v (mark %d)", ex.Exit, d)
		}
		exited = append(exited, mono.Of(ex.Exit.Time)-d)
		if dy != 0 {
			dying = append(dying, dy-d)
		} else {
			missing++
		}
	}
	if missing > 0 {
		b.Logf("%d of %d deaths came without a Dying event", missing, b.N)
		b.ReportMetric(float64(missing), "no-dying")
	}
	return dying, exited
}

// BenchmarkCommandRoundTrip: the supervisor sends 8 bytes and waits for
// them back, between the same two processes: over the segment's command
// rings (Segment.Send → worker Recv → worker Reply → Segment.Recv), and
// over a socketpair (one byte written, read back by a goroutine of the same
// worker, which writes it back). A round trip takes microseconds, so that
// a short burst of load on the machine does not decide the percentiles,
// each iteration is roundTrips round trips, each one a sample.
func BenchmarkCommandRoundTrip(b *testing.B) {
	const roundTrips = 100
	sp, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer unix.Close(sp[0])
	child := os.NewFile(uintptr(sp[1]), "socketpair-worker-end")
	p, err := procbridge.Start(b.Context(), procbridge.Spec{Worker: "sb-echo", RingSize: 4096, ExtraFiles: []*os.File{child}})
	child.Close()
	if err != nil {
		b.Fatal(err)
	}
	defer benchStop(b, p)
	awaitReady(b, p)
	seg, _ := p.Segment()
	b.Run("ring", func(b *testing.B) {
		var lat latencies
		msg, buf := []byte("01234567"), make([]byte, 64)
		for b.Loop() {
			for range roundTrips {
				t0 := mono.Now()
				if err := seg.Send(msg); err != nil {
					b.Fatal(err)
				}
				n, err := seg.Recv(buf, deadline)
				t1 := mono.Now()
				if err != nil || string(buf[:n]) != string(msg) {
					b.Fatalf("reply %q, %v", buf[:n], err)
				}
				lat = append(lat, t1-t0)
			}
		}
		lat.report(b, "")
	})
	b.Run("socketpair", func(b *testing.B) {
		var lat latencies
		one, buf := []byte{'x'}, make([]byte, 1)
		for b.Loop() {
			for range roundTrips {
				t0 := mono.Now()
				if _, err := unix.Write(sp[0], one); err != nil {
					b.Fatal(err)
				}
				n, err := unix.Read(sp[0], buf)
				t1 := mono.Now()
				if err != nil || n != 1 || buf[0] != 'x' {
					b.Fatalf("read back %q, %v", buf[:max(n, 0)], err)
				}
				lat = append(lat, t1-t0)
			}
		}
		lat.report(b, "")
	})
}

// awaitReady consumes p's Ready event.
func awaitReady(b *testing.B, p *procbridge.Process) {
	b.Helper()
	if e, _ := benchEvent(b, p); !isReady(e) {
		p.Kill()
		<-p.Done()
		b.Fatalf("%s: first event %#v, want Ready", procbridge.Name(p), e)
	}
}

// firstSign waits for p's first sign of death: Dying, or Exited.
func firstSign(b *testing.B, p *procbridge.Process) {
	b.Helper()
	for {
		e, _ := benchEvent(b, p)
		switch e.(type) {
		case procbridge.Dying, procbridge.Exited:
			return
		}
	}
}

// drainEvents reads p's events until Exited, and waits for its bridge.
func drainEvents(b *testing.B, p *procbridge.Process) {
	b.Helper()
	for {
		select {
		case _, ok := <-p.Events():
			if ok {
				continue
			}
		case <-time.After(deadline):
			p.Kill()
			<-p.Done()
			b.Fatalf("%s (pid %d): did not end", procbridge.Name(p), p.Pid())
		}
		<-p.Done()
		return
	}
}

// awaitUp waits for an sb-standby worker's "up" reply and returns the time
// its first Commit returned.
func awaitUp(b *testing.B, seg *procbridge.Segment) int64 {
	b.Helper()
	buf := make([]byte, 64)
	n, err := seg.Recv(buf, deadline)
	if err != nil || n != 8 {
		b.Fatalf("no first commit from the primary: %d bytes, %v", n, err)
	}
	return int64(binary.LittleEndian.Uint64(buf))
}

// awaitGroupEvent returns g's next event of type T, skipping others; the
// primary's Exited (the group is down), a spare that failed to start or
// the deadline fail the benchmark.
func awaitGroupEvent[T procbridge.Event](b *testing.B, g *procbridge.Group) T {
	b.Helper()
	timeout := time.NewTimer(deadline)
	defer timeout.Stop()
	for {
		select {
		case e, ok := <-g.Events():
			if !ok {
				b.Fatal("group events closed")
			}
			if x, ok := e.(T); ok {
				return x
			}
			switch e := e.(type) {
			case procbridge.Exited:
				b.Fatalf("group: %v", e)
			case procbridge.SpareDown:
				if e.Exit == nil {
					b.Fatalf("group: %v", e)
				}
			}
		case <-timeout.C:
			var zero T
			b.Fatalf("no %T after %v", zero, deadline)
		}
	}
}
