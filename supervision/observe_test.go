//go:build linux

package supervision_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"syscall"
	"testing"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/understudy/understudy/internal/testproc"
	"github.com/understudy/understudy/metrics"
	"github.com/understudy/understudy/procbridge"
	"github.com/understudy/understudy/procbridge/worker"
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
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return slog.New(slog.DiscardHandler) }))
	defer system.Shutdown()
	tree, rec := start(t, supervision.Spec{Children: children("w")}, supervision.Options{OnEvent: observe(t, reg), Logger: logger, System: system})

	subCtx, unsubscribe := context.WithCancel(context.Background())
	defer unsubscribe()
	sub := tree.Subscribe(subCtx, 64)
	fromStream := make(chan supervision.Event, 64)
	es := system.EventStream
	s := es.Subscribe(func(evt any) {
		if ev, ok := evt.(supervision.Event); ok {
			fromStream <- ev
		}
	})
	defer es.Unsubscribe(s)

	require.NoError(t, syscall.Kill(childPid(t, tree.Supervisor(), "w"), syscall.SIGKILL))
	next[supervision.ChildReady](t, rec, "root", "w")

	var viaSub, viaStream []string
	for len(viaSub) < 5 {
		viaSub = append(viaSub, kind(recvEvent(t, sub)))
	}
	for len(viaStream) < 5 {
		viaStream = append(viaStream, kind(recvEvent(t, fromStream)))
	}
	want := []string{"dying", "exited", "restarting", "started", "ready"}
	assert.Equal(t, want, viaSub)
	assert.Equal(t, want, viaStream)

	restarts, _ := testproc.Sample(t, reg, "understudy_child_restarts_total", map[string]string{"supervisor": "root", "child": "w"})
	assert.Equal(t, 1.0, restarts)
	exits, _ := testproc.Sample(t, reg, "understudy_child_exits_total", map[string]string{"supervisor": "root", "child": "w", "kind": "signal"})
	assert.Equal(t, 1.0, exits)
	_, detections := testproc.Sample(t, reg, "understudy_failure_detection_seconds", map[string]string{"supervisor": "root"})
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
	_, open := <-sub
	for open {
		_, open = <-sub
	}
}

// TestSubscribeEndsWithItsContext: a subscription's channel is closed when
// its context ends, and one made with an ended context is closed at once;
// a full buffer drops events rather than delaying the tree.
func TestSubscribeEndsWithItsContext(t *testing.T) {
	tree, rec := start(t, supervision.Spec{Children: children("w")}, supervision.Options{})
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	_, open := <-tree.Subscribe(ended, 1)
	assert.False(t, open, "an ended context: closed at once")

	ctx, stop := context.WithCancel(context.Background())
	sub := tree.Subscribe(ctx, 1)
	require.NoError(t, syscall.Kill(childPid(t, tree.Supervisor(), "w"), syscall.SIGKILL))
	next[supervision.ChildReady](t, rec, "root", "w") // five events, one kept
	stop()
	var got []supervision.Event
	for ev := range sub {
		got = append(got, ev)
	}
	assert.Len(t, got, 1, "the buffer's room, the rest dropped")
}

func init() {
	// chatter writes two lines on its standard output and one on its
	// standard error, then is ready and waits to be stopped.
	worker.Register("chatter", func(ctx context.Context, w *worker.Worker) error {
		fmt.Println("one")
		fmt.Println("two")
		fmt.Fprintln(os.Stderr, "oops")
		w.Ready()
		<-ctx.Done()
		return nil
	})
}

// recordHandler sends the records of a logger on a channel.
type recordHandler struct{ c chan slog.Record }

func (h recordHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h recordHandler) Handle(_ context.Context, r slog.Record) error {
	h.c <- r.Clone()
	return nil
}
func (h recordHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h recordHandler) WithGroup(string) slog.Handler      { return h }

// TestOutputLines: a process child whose output is procbridge.Lines has
// each line logged through Options.Logger, one record per line; with no
// logger, its output is discarded and it runs all the same.
func TestOutputLines(t *testing.T) {
	spec := supervision.Spec{Children: []supervision.ChildSpec{{Name: "c", Process: &procbridge.Spec{
		Worker: "chatter", Stdout: procbridge.Lines, Stderr: procbridge.Lines}}}}
	records := make(chan slog.Record, 256)
	start(t, spec, supervision.Options{Logger: slog.New(recordHandler{records})})
	var got []string
	for len(got) < 3 {
		select {
		case r := <-records:
			if r.Message != "output" {
				continue
			}
			attrs := map[string]string{}
			r.Attrs(func(a slog.Attr) bool {
				attrs[a.Key] = a.Value.String()
				return true
			})
			got = append(got, fmt.Sprintf("%s/%s %s: %s", attrs["supervisor"], attrs["child"], attrs["stream"], attrs["line"]))
		case <-ctxT(t).Done():
			t.Fatalf("output records: %q", got)
		}
	}
	assert.ElementsMatch(t, []string{"root/c stdout: one", "root/c stdout: two", "root/c stderr: oops"}, got)

	tree, _ := start(t, spec, supervision.Options{Name: "quiet"})
	pid := childPid(t, tree.Supervisor(), "c")
	assert.Positive(t, pid)
}

// TestProtoactorLogsOnRequest: with ProtoactorLogs, protoactor's own log
// lines go to the caller's logger, tagged.
func TestProtoactorLogsOnRequest(t *testing.T) {
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	tree, rec := start(t, supervision.Spec{Children: children("w")}, supervision.Options{Logger: logger, ProtoactorLogs: true})
	require.NoError(t, syscall.Kill(childPid(t, tree.Supervisor(), "w"), syscall.SIGKILL))
	next[supervision.ChildReady](t, rec, "root", "w")
	assert.Contains(t, logs.String(), "lib=protoactor")
}

// TestMetricsShareARegistry: two trees may register on one registry.
func TestMetricsShareARegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return slog.New(slog.DiscardHandler) }))
	start(t, supervision.Spec{Children: children("w")}, supervision.Options{Name: "one", System: system, OnEvent: observe(t, reg)})
	start(t, supervision.Spec{Children: children("w")}, supervision.Options{Name: "two", System: system, OnEvent: observe(t, reg)})
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

// observe returns the Observe of new metrics on reg, for Options.OnEvent.
func observe(t testing.TB, reg prometheus.Registerer) func(supervision.Event) {
	t.Helper()
	m, err := metrics.New(reg)
	require.NoError(t, err)
	return m.Observe
}
