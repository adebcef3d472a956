//go:build jack

package jack

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/understudy/understudy/audio"
	"github.com/understudy/understudy/internal/mono"
)

// writeTrace writes, with UNDERSTUDY_JACK_TRACE set to a directory, what
// a run through faults did block by block, to name there: each failover
// (the node, the fault or the watchdog's verdict, the block, when the new
// primary's block was put against the block's deadline), each block lost
// (the engine's cause, whether the callback played silence, how late the
// callbacks around it ran, the server's xruns near it), and a summary
// that tells blocks lost to a failover from blocks lost to the machine.
func writeTrace(name string, p played, frames, slack int, blocks uint64, floorXruns uint64) error {
	dir := os.Getenv("UNDERSTUDY_JACK_TRACE")
	if dir == "" || p.trace == nil {
		return nil
	}
	f, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		return err
	}
	defer f.Close()
	writeTraceTo(f, p, frames, slack, blocks, floorXruns)
	return nil
}

func writeTraceTo(w io.Writer, p played, frames, slack int, blocks uint64, floorXruns uint64) {
	tr := p.trace
	period := int64(frames) * int64(time.Second) / 48000
	margin := p.margin
	at := func(v []int64, b uint64) int64 { return v[b%traceLen] }
	// The deadline as the driver and the callback have it: from the
	// period's start by the server's clock.
	deadline := func(b uint64) int64 { return at(tr.nominal, b) + int64(1+slack)*period - margin }
	us := func(ns int64) string { return fmt.Sprintf("%.0fµs", float64(ns)/1e3) }
	// lateness of the callback that started cycle b, against the
	// server's own period start.
	lag := func(b uint64) int64 {
		if at(tr.nominal, b) == 0 || at(tr.tick, b) == 0 {
			return 0
		}
		return at(tr.tick, b) - at(tr.nominal, b)
	}
	xrunNear := func(b uint64) []int64 {
		var near []int64
		for _, x := range tr.xrunCycle {
			if d := x - int64(b); d >= -1 && d <= int64(slack)+2 {
				near = append(near, d)
			}
		}
		return near
	}
	missing := map[uint64][]string{}
	for _, ev := range p.events {
		if l, ok := ev.(audio.Late); ok && l.Missing {
			missing[l.Cycle] = append(missing[l.Cycle], l.Node+":"+l.Cause)
		}
	}
	faultAt := map[uint64]audio.Failover{}
	fmt.Fprintf(w, "%d frames, slack %d, period %s, margin %s, watchdog %v\n", frames, slack, us(period), us(margin), p.rep.Watchdog)
	fmt.Fprintf(w, "\nfailovers (block: the first the new primary published; put and played vs the block's deadline; lag: the callback's start past the server's period start)\n")
	for _, fo := range p.rep.Failovers {
		b := fo.Cycle
		faultAt[b] = fo
		kind := fo.Fault
		if kind == "" {
			kind = "none"
		}
		if fo.Watchdog {
			kind += "/" + fo.Verdict
		}
		put := "never"
		if v := at(tr.put, b); v != 0 {
			put = us(v - deadline(b))
		}
		played := "played"
		if at(tr.played, b) < 0 {
			played = "SILENT"
		}
		fmt.Fprintf(w, "  %-4s fault=%-14s watchdog=%-5v block %6d detect %9v switch %9v recovered-deadline %9s put-deadline %9s %s lag %s/%s xruns%v\n",
			fo.Node, kind, fo.Watchdog, b, fo.Detect.Round(time.Microsecond), fo.Switch.Round(time.Microsecond),
			us(mono.Of(fo.Recovered)-deadline(b)), put, played, us(lag(b)), us(lag(b+uint64(slack))), xrunNear(b))
	}
	fmt.Fprintf(w, "\nblocks lost (engine: missing with its causes; callback: played silence)\n")
	var ours, machine, unexplained int
	for b := uint64(1); b <= blocks; b++ {
		silent := at(tr.played, b) < 0
		causes, miss := missing[b]
		if !silent && !miss {
			continue
		}
		// The nearest failover at or after b (its first block).
		near := ""
		isOurs := false
		for d := uint64(0); d <= 2; d++ {
			if fo, ok := faultAt[b+d]; ok {
				near = fmt.Sprintf("failover of %s (%s, watchdog %v) at +%d", fo.Node, fo.Fault, fo.Watchdog, d)
				isOurs = true
				break
			}
		}
		xr := xrunNear(b)
		put := "never"
		if v := at(tr.put, b); v != 0 {
			put = us(v - deadline(b))
		}
		class := "unexplained"
		stall := slices.ContainsFunc(causes, func(s string) bool { return strings.Contains(s, "stall") })
		switch {
		case isOurs && !stall:
			class = "OURS"
			ours++
		case stall || len(xr) > 0 || lag(b) > margin || lag(b+uint64(slack)) > margin:
			class = "machine"
			machine++
		default:
			unexplained++
		}
		fmt.Fprintf(w, "  block %6d %-11s engine%v callback-silent=%v put-deadline %9s lag %s/%s xruns%v %s\n",
			b, class, causes, silent, put, us(lag(b)), us(lag(b+uint64(slack))), xr, near)
	}
	var lags, wakes, room []int64
	for b := uint64(1); b <= blocks; b++ {
		lags = append(lags, lag(b))
		// The callback that plays b waited for it: how long it took to
		// wake once b was put, and how much of the period it left.
		pl, put, next := at(tr.played, b), at(tr.put, b), at(tr.nominal, b+uint64(slack))
		if pl > 0 && put != 0 && next != 0 && put > at(tr.tick, b+uint64(slack)) {
			wakes = append(wakes, pl-put)
			room = append(room, next+period-pl)
		}
	}
	slices.Sort(lags)
	slices.Sort(wakes)
	slices.Sort(room)
	if n := len(wakes); n > 0 {
		fmt.Fprintf(w, "\nthe callback waited for %d blocks: woke after the put p50 %s p99 %s max %s; left of its period p50 %s min %s\n",
			n, us(wakes[n/2]), us(wakes[n*99/100]), us(wakes[n-1]), us(room[n/2]), us(room[0]))
	}
	fmt.Fprintf(w, "\nsummary: failovers %d, blocks lost: ours %d, machine %d, unexplained %d; xruns %d (floor %d); callback lag p50 %s p99 %s max %s\n",
		len(p.rep.Failovers), ours, machine, unexplained, len(tr.xrunCycle), floorXruns,
		us(lags[len(lags)/2]), us(lags[len(lags)*99/100]), us(lags[len(lags)-1]))
	fmt.Fprintf(w, "xruns at cycles %v\n", tr.xrunCycle)
	var over []string
	for b := uint64(1); b <= blocks; b++ {
		// Those that waited for a block: they played it (or silence)
		// well after they began.
		pl := at(tr.played, b-uint64(slack))
		waited := max(pl, -pl) > at(tr.tick, b)+int64(20*time.Microsecond)
		if e, n := at(tr.ended, b), at(tr.nominal, b); e != 0 && n != 0 && e > n+period && waited {
			over = append(over, fmt.Sprintf("%d(+%s)", b, us(e-n-period)))
		}
	}
	fmt.Fprintf(w, "callbacks that waited for a block and returned past their period (cycle, by): %d %v\n", len(over), over)
	fmt.Fprintf(w, "\n%v\n", p.rep)
}
