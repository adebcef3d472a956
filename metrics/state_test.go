//go:build linux

package metrics_test

import (
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/understudy/understudy/internal/testproc"
	"github.com/understudy/understudy/metrics"
	"github.com/understudy/understudy/procbridge"
	"github.com/understudy/understudy/supervision"
)

// TestWhatIs: a child's series exist at zero from its start; the state
// gauge, spares ready and the last restart's time follow its life; a
// failover counts as an exit of its primary and in the detection latency.
func TestWhatIs(t *testing.T) {
	ctx := testproc.Context(t)
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg)
	require.NoError(t, err)
	events := make(chan supervision.Event, 256)
	tree, err := supervision.Start(ctx, supervision.Spec{Children: []supervision.ChildSpec{
		{Name: "w", Process: &procbridge.Spec{Worker: "wait"}},
		{Name: "hot", Process: &procbridge.Spec{Worker: "standby"}, Standby: 1},
	}}, supervision.Options{OnEvent: func(ev supervision.Event) {
		m.Observe(ev)
		events <- ev
	}})
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = tree.Stop(testproc.Context(t)) })
	waitSpareReady := func() {
		t.Helper()
		for {
			select {
			case ev := <-events:
				if e, ok := ev.(supervision.ChildProcess); ok {
					if _, ok := e.Event.(procbridge.SpareReady); ok {
						return
					}
				}
			case <-time.After(testproc.Deadline):
				t.Fatal("no SpareReady")
			}
		}
	}
	w := map[string]string{"supervisor": "root", "child": "w"}
	hot := map[string]string{"supervisor": "root", "child": "hot"}
	assert.Equal(t, 0.0, sample(t, reg, "understudy_child_restarts_total", w), "at zero from the start")
	assert.Equal(t, 0.0, sample(t, reg, "understudy_child_failovers_total", with(hot, "kind", "failover")))
	assert.Equal(t, 1.0, sample(t, reg, "understudy_child_state", with(w, "state", "running")))
	assert.Equal(t, 0.0, sample(t, reg, "understudy_child_state", with(w, "state", "restarting")))
	assert.Equal(t, 1.0, sample(t, reg, "understudy_child_spares_ready", hot))

	children, err := tree.Supervisor().Children(ctx)
	require.NoError(t, err)
	require.NoError(t, syscall.Kill(children[1].Pid, syscall.SIGKILL))
	var promoted supervision.ChildProcess
	for promoted.Event == nil {
		select {
		case ev := <-events:
			if e, ok := ev.(supervision.ChildProcess); ok {
				if _, ok := e.Event.(procbridge.Promoted); ok {
					promoted = e
				}
			}
		case <-time.After(testproc.Deadline):
			t.Fatal("no failover")
		}
	}
	assert.Equal(t, 1.0, sample(t, reg, "understudy_child_failovers_total", with(hot, "kind", "failover")))
	assert.Equal(t, 1.0, sample(t, reg, "understudy_child_restarts_total", hot))
	assert.Equal(t, 0.0, sample(t, reg, "understudy_child_spares_ready", hot), "the spare is the primary now")
	assert.InDelta(t, float64(promoted.Time.UnixNano())/1e9, sample(t, reg, "understudy_child_last_restart_timestamp_seconds", hot), 1e-3)
	_, detections := testproc.Sample(t, reg, "understudy_failure_detection_seconds", map[string]string{"supervisor": "root"})
	assert.Equal(t, uint64(1), detections, "a failover is detected like any failure")
	end := "died" // the spare took over at the primary's death notice
	if ex, ok := promoted.Event.(procbridge.Promoted).Cause.(procbridge.Exited); ok {
		end = string(ex.Exit.Kind) // or once its exit was seen
	}
	assert.Equal(t, 1.0, sample(t, reg, "understudy_child_exits_total", with(hot, "kind", end)), "the primary's end counts as an exit")
	assert.Equal(t, 1.0, sample(t, reg, "understudy_child_state", with(hot, "state", "running")), "a failover is no restart")
	waitSpareReady()
	assert.Equal(t, 1.0, sample(t, reg, "understudy_child_spares_ready", hot), "the replacement spare")

	_, err = tree.Stop(ctx)
	require.NoError(t, err)
	for _, c := range []map[string]string{w, hot} {
		assert.Equal(t, 1.0, sample(t, reg, "understudy_child_state", with(c, "state", "terminated")), c["child"])
		assert.Equal(t, 0.0, sample(t, reg, "understudy_child_state", with(c, "state", "running")), c["child"])
	}
	assert.Equal(t, 0.0, sample(t, reg, "understudy_child_spares_ready", hot))
}

// sample returns the value of the series name with exactly labels, failing
// the test when there is none.
func sample(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, mt := range mf.GetMetric() {
			if len(mt.GetLabel()) != len(labels) {
				continue
			}
			match := true
			for _, l := range mt.GetLabel() {
				match = match && labels[l.GetName()] == l.GetValue()
			}
			if !match {
				continue
			}
			switch {
			case mt.Counter != nil:
				return mt.GetCounter().GetValue()
			case mt.Gauge != nil:
				return mt.GetGauge().GetValue()
			}
		}
	}
	t.Fatalf("no series %s%v", name, labels)
	return 0
}

// with returns labels and one more.
func with(labels map[string]string, k, v string) map[string]string {
	out := map[string]string{k: v}
	for lk, lv := range labels {
		out[lk] = lv
	}
	return out
}
