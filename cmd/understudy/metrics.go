package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metricsServer serves a registry at /metrics on a mux of its own (never
// http.DefaultServeMux).
type metricsServer struct {
	addr string
	srv  *http.Server
	wg   sync.WaitGroup
}

// serveMetrics listens on addr first, so a bad or busy address is an error
// before the tree starts, registers the Go runtime's and this process's
// collectors on reg, and serves it.
func serveMetrics(addr string, reg *prometheus.Registry) (*metricsServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	m := &metricsServer{addr: ln.Addr().String(), srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		if err := m.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			_ = err // the listener failed; the tree runs on without metrics
		}
	}()
	return m, nil
}

// stop closes the server and waits for it.
func (m *metricsServer) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := m.srv.Shutdown(ctx); err != nil {
		m.srv.Close()
	}
	m.wg.Wait()
}

// heartbeatAges collects each running child's heartbeat age from the
// control's snapshot of the tree, at every scrape:
//
//	understudy_child_heartbeat_age_seconds{supervisor, child}  gauge
//
// child is the child's own name (a simple_one_for_one supervisor's
// children each have theirs). A child that does not beat, or is not
// running, has no series.
type heartbeatAges struct{ c *control }

var heartbeatAgeDesc = prometheus.NewDesc("understudy_child_heartbeat_age_seconds",
	"Time since the child's process last beat (since it was ready, when it never beat).",
	[]string{"supervisor", "child"}, nil)

func (h heartbeatAges) Describe(ch chan<- *prometheus.Desc) { ch <- heartbeatAgeDesc }

func (h heartbeatAges) Collect(ch chan<- prometheus.Metric) {
	st := h.c.status(context.Background())
	for _, row := range st.Children {
		if row.Heartbeat == nil {
			continue
		}
		i := strings.LastIndexByte(row.Path, '/')
		if i < 0 {
			continue
		}
		ch <- prometheus.MustNewConstMetric(heartbeatAgeDesc, prometheus.GaugeValue, *row.Heartbeat, row.Path[:i], row.Path[i+1:])
	}
}
