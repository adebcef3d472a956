//go:build linux

package procbridge_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"
)

// BenchmarkRestartStorm: n workers beating every 10 ms with a 100 ms
// timeout, SIGKILLed together once per iteration, each started again as
// soon as its end is reported. It reports the time from the SIGKILL to
// each worker's Ready again (p50, p99: the last ones back), the hung
// verdicts on the storm's workers (false: none of them hangs), and the
// machine's CPU pressure over the run.
//
//	go test -run '^$' -bench 'RestartStorm/256' -benchtime 4x -timeout 30m ./procbridge/
func BenchmarkRestartStorm(b *testing.B) {
	for _, n := range []int{64, 256} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			s := &storm{ctx: context.Background(), log: b.Logf}
			defer s.stop()
			started := time.Now()
			if err := s.start(n); err != nil {
				b.Fatal(err)
			}
			b.Logf("%d workers started in %v", n, time.Since(started))
			var all []time.Duration
			psi0, _ := cpuPressureTotal()
			at0 := time.Now()
			for b.Loop() {
				if err := s.kill(); err != nil {
					b.Fatal(err)
				}
				all = append(all, s.restarts...)
			}
			// The last storm's verdicts come within its deadlines.
			<-time.After(time.Second)
			psi1, _ := cpuPressureTotal()
			slices.Sort(all)
			b.ReportMetric(float64(all[len(all)/2]), "p50-restart-ns")
			b.ReportMetric(float64(all[len(all)*99/100]), "p99-restart-ns")
			b.ReportMetric(float64(s.falseHangs()), "false-hangs")
			b.ReportMetric(100*float64(psi1-psi0)/float64(time.Since(at0)), "psi-some-%")
		})
	}
}

// cpuPressureTotal reads the machine's CPU pressure, "some" total (ns since
// boot), or reports false where the kernel keeps none.
func cpuPressureTotal() (int64, bool) {
	b, err := os.ReadFile("/proc/pressure/cpu")
	if err != nil {
		return 0, false
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	_, total, ok := bytes.Cut(line, []byte(" total="))
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(string(bytes.TrimSpace(total)), 10, 64)
	return n * 1000, err == nil
}
