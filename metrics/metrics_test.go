//go:build linux

package metrics_test

import (
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/understudy/understudy/internal/testproc"
	"github.com/understudy/understudy/metrics"
	"github.com/understudy/understudy/procbridge"
	"github.com/understudy/understudy/supervision"
)

// TestTemplateAndNotReady: the children of a simple_one_for_one supervisor
// count under their template's name, and a process that ends before it is
// ready counts as a not-ready exit.
func TestTemplateAndNotReady(t *testing.T) {
	ctx := testproc.Context(t)
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg)
	require.NoError(t, err)
	exited := make(chan supervision.ChildExited, 16)
	tree, err := supervision.Start(ctx, supervision.Spec{Children: []supervision.ChildSpec{{
		Name: "pool", Supervisor: &supervision.Spec{
			Strategy: supervision.SimpleOneForOne,
			Children: []supervision.ChildSpec{{Name: "job", Process: &procbridge.Spec{Worker: "die-before-ready"}, Restart: supervision.Temporary}},
		},
	}}}, supervision.Options{OnEvent: func(ev supervision.Event) {
		m.Observe(ev)
		if e, ok := ev.(supervision.ChildExited); ok {
			exited <- e
		}
	}})
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = tree.Stop(testproc.Context(t)) })

	for range 2 {
		_, err := tree.Supervisor("pool").StartSimpleChild(ctx)
		require.Error(t, err, "it dies before it is ready")
	}
	for range 2 {
		select {
		case e := <-exited:
			assert.Equal(t, "job", e.Template)
		case <-time.After(testproc.Deadline):
			t.Fatal("no ChildExited for the job")
		}
	}
	assert.Equal(t, 2.0, count(t, reg, "understudy_child_exits_total", map[string]string{"supervisor": "root/pool", "child": "job", "kind": "not-ready"}),
		"both under the template's name, as not ready")
	n, err := testutil.GatherAndCount(reg, "understudy_child_exits_total")
	require.NoError(t, err)
	assert.Equal(t, 1, n, "one series, however many children start")
}

// TestStopped: a process stopped as asked counts as a "stopped" exit.
func TestStopped(t *testing.T) {
	ctx := testproc.Context(t)
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg)
	require.NoError(t, err)
	tree, err := supervision.Start(ctx, supervision.Spec{Children: []supervision.ChildSpec{
		{Name: "w", Process: &procbridge.Spec{Worker: "wait"}},
	}}, supervision.Options{OnEvent: m.Observe})
	require.NoError(t, err)
	_, err = tree.Stop(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1.0, count(t, reg, "understudy_child_exits_total", map[string]string{"supervisor": "root", "child": "w", "kind": "stopped"}))
}

// TestOOM: a process the OOM killer ended, past its MemoryMax, is an exit
// of the kind "oom", in the supervisor's event and in the metrics.
func TestOOM(t *testing.T) {
	ctx := testproc.Context(t)
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg)
	require.NoError(t, err)
	exited := make(chan supervision.ChildExited, 1)
	tree, err := supervision.Start(ctx, supervision.Spec{Children: []supervision.ChildSpec{
		{Name: "hog", Process: &procbridge.Spec{Worker: "hog", MemoryMax: 64 << 20}, Restart: supervision.Temporary},
	}}, supervision.Options{OnEvent: func(ev supervision.Event) {
		m.Observe(ev)
		if e, ok := ev.(supervision.ChildExited); ok {
			exited <- e
		}
	}})
	if errors.Is(err, procbridge.ErrNotSupported) {
		t.Skipf("this host cannot limit memory: %v", err)
	}
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = tree.Stop(testproc.Context(t)) })
	select {
	case e := <-exited:
		require.NotNil(t, e.Exited)
		assert.Equal(t, procbridge.ExitOOM, e.Exited.Exit.Kind, "%v", e)
	case <-time.After(testproc.Deadline):
		t.Fatal("no ChildExited for the hog")
	}
	assert.Equal(t, 1.0, count(t, reg, "understudy_child_exits_total", map[string]string{"supervisor": "root", "child": "hog", "kind": "oom"}))
}

// TestShareARegistry: several Metrics may register on one registry, and
// a nil one is an error.
func TestShareARegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	_, err := metrics.New(reg)
	require.NoError(t, err)
	_, err = metrics.New(reg)
	require.NoError(t, err)
	_, err = metrics.New(nil)
	assert.Error(t, err)
}

// count returns the value of the counter name with exactly labels.
func count(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	v, _ := testproc.Sample(t, reg, name, labels)
	return v
}

// TestKilledViolation: a process killed for breaking its segment's
// protocol counts as an exit of the kind "killed-violation".
func TestKilledViolation(t *testing.T) {
	ctx := testproc.Context(t)
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg)
	require.NoError(t, err)
	exited := make(chan supervision.ChildExited, 16)
	tree, err := supervision.Start(ctx, supervision.Spec{Children: []supervision.ChildSpec{
		{Name: "bad", Process: &procbridge.Spec{Worker: "violate-when-told",
			Heartbeat: procbridge.Heartbeat{Interval: 10 * time.Millisecond, Timeout: 200 * time.Millisecond}}},
	}}, supervision.Options{OnEvent: func(ev supervision.Event) {
		m.Observe(ev)
		if e, ok := ev.(supervision.ChildExited); ok {
			exited <- e
		}
	}})
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = tree.Stop(testproc.Context(t)) })
	children, err := tree.Root().Children(ctx)
	require.NoError(t, err)
	require.NoError(t, syscall.Kill(children[0].Pid, syscall.SIGUSR1))
	select {
	case e := <-exited:
		require.NotNil(t, e.Exited)
		require.Equal(t, procbridge.ExitKilledViolation, e.Exited.Exit.Kind)
	case <-time.After(testproc.Deadline):
		t.Fatal("no ChildExited")
	}
	assert.Equal(t, 1.0, count(t, reg, "understudy_child_exits_total",
		map[string]string{"supervisor": "root", "child": "bad", "kind": string(procbridge.ExitKilledViolation)}))
}
