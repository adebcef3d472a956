//go:build linux

package procbridge_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/understudy/understudy/internal/hooks"
	"github.com/understudy/understudy/internal/mono"
	"github.com/understudy/understudy/procbridge"
	"github.com/understudy/understudy/procbridge/worker"
)

func init() {
	// mark-ready stamps the time, says it is ready, and waits.
	worker.Register("mark-ready", func(ctx context.Context, w *worker.Worker) error {
		hooks.Mark(mono.Now())
		w.Ready()
		<-ctx.Done()
		return nil
	})
}

// BenchmarkNotify measures a daemon that speaks sd_notify (no SDK: a
// datagram per message) beside an SDK worker, in one run:
//
//   - ready: from just before the child says it is ready (READY=1 sent;
//     worker.Ready called) to the bridge's Ready.
//
//   - hang: from the deadline a missed beat sets (the last beat, WATCHDOG=1
//     received or worker.Beat, plus the timeout) to the Hung verdict, for a
//     child that beats every 2 ms for 120 ms, then sleeps.
//
//     go test -run '^$' -bench Notify -benchtime 200x ./procbridge/
func BenchmarkNotify(b *testing.B) {
	// A start on a machine this loaded can take longer than the default
	// ready timeout; what is measured starts after it.
	const benchReadyTimeout = time.Minute
	b.Run("ready/sdk", func(b *testing.B) {
		var lat latencies
		for b.Loop() {
			p := benchStart(b, procbridge.Spec{Worker: "mark-ready", ReadyTimeout: benchReadyTimeout})
			e, _ := benchEvent(b, p)
			lat = append(lat, mono.Of(e.(procbridge.Ready).Time)-procbridge.MarkOf(p))
			benchStop(b, p)
		}
		lat.report(b, "")
	})
	b.Run("ready/notify", func(b *testing.B) {
		var lat latencies
		for b.Loop() {
			spec := notifySpec(b, "readymark", "sleep")
			spec.Stdout, spec.ReadyTimeout = procbridge.Lines, benchReadyTimeout
			p := benchStart(b, spec)
			e, _ := benchEvent(b, p)
			var sent int64
			select {
			case l := <-p.Lines():
				sent, _ = strconv.ParseInt(strings.TrimSpace(l.Text), 10, 64)
			case <-time.After(deadline):
				b.Fatal("no stamp from the daemon")
			}
			lat = append(lat, mono.Of(e.(procbridge.Ready).Time)-sent)
			benchStop(b, p)
		}
		lat.report(b, "")
	})
	hb := procbridge.Heartbeat{Interval: 2 * time.Millisecond, Timeout: 5 * time.Millisecond}
	for _, kind := range []string{"sdk", "notify"} {
		b.Run("hang/"+kind, func(b *testing.B) {
			spec := procbridge.Spec{Worker: "beat-then-stall", Args: []string{"60", "sleep"}, Heartbeat: hb}
			if kind == "notify" {
				spec = notifySpec(b, "ready", "beat:60:2ms", "sleep")
				spec.Heartbeat = hb
			}
			spec.ReadyTimeout = benchReadyTimeout
			var lat latencies
			for b.Loop() {
				p := benchStart(b, spec)
				var hung procbridge.Hung
				for got := false; !got; {
					e, _ := benchEvent(b, p)
					switch e := e.(type) {
					case procbridge.Hung:
						hung, got = e, true
					case procbridge.Exited:
						b.Fatalf("exited without a Hung event: %v", e.Exit)
					}
				}
				_, last := procbridge.Beats(p)
				p.Kill()
				<-p.Done()
				lat = append(lat, mono.Of(hung.Time)-(last+int64(hb.Timeout)))
			}
			lat.report(b, "")
		})
	}
}
