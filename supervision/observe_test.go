//go:build linux

package supervision_test

import (
	"bytes"
	"log/slog"
	"sync"
	"syscall"
	"testing"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/understudy/understudy/supervision"
)

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestEventsMetricsAndLogs: one crash, seen through every channel the tree
// offers: a subscription, the actor system's EventStream, the metrics on
// the caller's registry and the caller's logger.
func TestEventsMetricsAndLogs(t *testing.T) {
	reg := prometheus.NewRegistry()
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	tree, rec := start(t, supervision.Spec{Children: children("w")}, supervision.Options{Metrics: reg, Logger: logger})

	sub := tree.Subscribe(64)
	defer sub.Close()
	fromStream := make(chan supervision.Event, 64)
	es := tree.System().EventStream
	s := es.Subscribe(func(evt any) {
		if ev, ok := evt.(supervision.Event); ok {
			fromStream <- ev
		}
	})
	defer es.Unsubscribe(s)

	require.NoError(t, syscall.Kill(childPid(t, tree.Root(), "w"), syscall.SIGKILL))
	next[supervision.ChildReady](t, rec, "root", "w")

	var viaSub, viaStream []string
	for len(viaSub) < 4 {
		viaSub = append(viaSub, kind(recvEvent(t, sub.Events())))
	}
	for len(viaStream) < 4 {
		viaStream = append(viaStream, kind(recvEvent(t, fromStream)))
	}
	want := []string{"exited", "restarting", "started", "ready"}
	assert.Equal(t, want, viaSub)
	assert.Equal(t, want, viaStream)
	assert.Zero(t, sub.Dropped())

	restarts, _ := sample(t, reg, "understudy_child_restarts_total", map[string]string{"supervisor": "root", "child": "w"})
	assert.Equal(t, 1.0, restarts)
	exits, _ := sample(t, reg, "understudy_child_exits_total", map[string]string{"supervisor": "root", "child": "w", "kind": "signal"})
	assert.Equal(t, 1.0, exits)
	_, detections := sample(t, reg, "understudy_failure_detection_seconds", map[string]string{"supervisor": "root"})
	assert.Equal(t, uint64(1), detections)
	n, err := testutil.GatherAndCount(reg, "understudy_child_exits_total")
	require.NoError(t, err)
	assert.Equal(t, 1, n, "one series of exits")

	out := logs.String()
	assert.Contains(t, out, "msg=\"child restarting\"")
	assert.Contains(t, out, "level=WARN msg=\"child exited\"")
	assert.Contains(t, out, "supervisor=root child=w")
	assert.NotContains(t, out, "protoactor", "protoactor's own logs stay silent unless asked for")

	_, err = tree.Stop(ctxT(t))
	require.NoError(t, err)
	_, open := <-sub.Events()
	for open {
		_, open = <-sub.Events()
	}
}

// TestProtoactorLogsOnRequest: with ProtoactorLogs, protoactor's own log
// lines go to the caller's logger, tagged.
func TestProtoactorLogsOnRequest(t *testing.T) {
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	tree, rec := start(t, supervision.Spec{Children: children("w")}, supervision.Options{Logger: logger, ProtoactorLogs: true})
	require.NoError(t, syscall.Kill(childPid(t, tree.Root(), "w"), syscall.SIGKILL))
	next[supervision.ChildReady](t, rec, "root", "w")
	assert.Contains(t, logs.String(), "lib=protoactor")
}

// TestMetricsShareARegistry: two trees may register on one registry.
func TestMetricsShareARegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return slog.New(slog.DiscardHandler) }))
	start(t, supervision.Spec{Children: children("w")}, supervision.Options{Name: "one", System: system, Metrics: reg})
	start(t, supervision.Spec{Children: children("w")}, supervision.Options{Name: "two", System: system, Metrics: reg})
	_, err := supervision.Start(ctxT(t), supervision.Spec{Children: children("w")}, supervision.Options{Name: "two", System: system})
	assert.ErrorContains(t, err, "name exists", "a second tree of the same name in one system")
}

func recvEvent(t *testing.T, c <-chan supervision.Event) supervision.Event {
	t.Helper()
	select {
	case ev := <-c:
		return ev
	case <-ctxT(t).Done():
		t.Fatal("no event")
		return nil
	}
}

// sample returns the value of a counter, or the sample count of a
// histogram, with exactly these labels.
func sample(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) (float64, uint64) {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) != len(labels) {
				continue
			}
			for _, l := range m.GetLabel() {
				if labels[l.GetName()] != l.GetValue() {
					continue metrics
				}
			}
			return m.GetCounter().GetValue(), m.GetHistogram().GetSampleCount()
		}
	}
	t.Fatalf("no %s%v in %d families", name, labels, len(mfs))
	return 0, 0
}
