package audio

import (
	"math/bits"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// liveMetrics are the engine's own metrics, counted by the driver as the
// graph plays and read at each scrape of Config.Metrics (beside the
// supervision tree's, whose child is the node's process):
//
//	understudy_audio_node_late_blocks_total{engine, node}            counter
//	understudy_audio_node_missing_blocks_total{engine, node, cause}  counter
//	understudy_audio_node_failovers_total{engine, node}              counter
//	understudy_audio_node_compute_seconds{engine, node}              histogram
//
// engine is the engine's supervisor name (Config.Name, else "audio"); cause
// is a Late's: "node late", "node fenced" or "machine stall". Compute is
// from a node's start on a block to its publication. The driver only adds
// to atomic words: nothing on the cycle's path allocates, locks or calls
// into Prometheus.
type liveMetrics struct {
	names     []string
	late      []atomic.Uint64
	failovers []atomic.Uint64
	missing   [][len(missingCauses)]atomic.Uint64
	compute   []computeHist

	lateDesc, missingDesc, failoverDesc, computeDesc *prometheus.Desc
}

// missingCauses are the values of the missing blocks' cause label.
var missingCauses = [...]string{causeLate, causeFenced, causeStall}

// computeBuckets are the compute histogram's upper bounds: 10 µs doubling
// to about 82 ms.
const (
	computeBase    = 10 * time.Microsecond
	computeBuckets = 14
)

// computeHist is one node's compute histogram, each bucket counted on its
// own (Collect sums them into Prometheus's cumulative form).
type computeHist struct {
	buckets [computeBuckets]atomic.Uint64
	count   atomic.Uint64
	sum     atomic.Int64 // nanoseconds
}

func newLiveMetrics(engine string, nodes []string) *liveMetrics {
	labels := prometheus.Labels{"engine": engine}
	n := len(nodes)
	return &liveMetrics{
		names:     nodes,
		late:      make([]atomic.Uint64, n),
		failovers: make([]atomic.Uint64, n),
		missing:   make([][len(missingCauses)]atomic.Uint64, n),
		compute:   make([]computeHist, n),
		lateDesc: prometheus.NewDesc("understudy_audio_node_late_blocks_total",
			"Blocks the node finished past their deadline.", []string{"node"}, labels),
		missingDesc: prometheus.NewDesc("understudy_audio_node_missing_blocks_total",
			"Blocks the node had not finished when their deadline came, by cause: node late, node fenced, machine stall.", []string{"node", "cause"}, labels),
		failoverDesc: prometheus.NewDesc("understudy_audio_node_failovers_total",
			"Times the node's spare took over from its primary.", []string{"node"}, labels),
		computeDesc: prometheus.NewDesc("understudy_audio_node_compute_seconds",
			"From the node's start on a block to its publication.", []string{"node"}, labels),
	}
}

// missed counts a missing block of node i.
func (m *liveMetrics) missed(i int, cause string) {
	for c, name := range missingCauses {
		if name == cause {
			m.missing[i][c].Add(1)
			return
		}
	}
}

// observe counts node i's compute time d, in nanoseconds.
func (m *liveMetrics) observe(i int, d int64) {
	h := &m.compute[i]
	h.count.Add(1)
	h.sum.Add(d)
	b := 0
	if d > int64(computeBase) {
		b = bits.Len64(uint64((d - 1) / int64(computeBase)))
	}
	if b < computeBuckets {
		h.buckets[b].Add(1)
	}
}

// Describe sends the metrics' descriptions.
func (m *liveMetrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.lateDesc
	ch <- m.missingDesc
	ch <- m.failoverDesc
	ch <- m.computeDesc
}

// Collect sends the metrics' values as they are now.
func (m *liveMetrics) Collect(ch chan<- prometheus.Metric) {
	for i, node := range m.names {
		ch <- prometheus.MustNewConstMetric(m.lateDesc, prometheus.CounterValue, float64(m.late[i].Load()), node)
		ch <- prometheus.MustNewConstMetric(m.failoverDesc, prometheus.CounterValue, float64(m.failovers[i].Load()), node)
		for c, cause := range missingCauses {
			ch <- prometheus.MustNewConstMetric(m.missingDesc, prometheus.CounterValue, float64(m.missing[i][c].Load()), node, cause)
		}
		h := &m.compute[i]
		count := h.count.Load()
		buckets := make(map[float64]uint64, computeBuckets)
		var below uint64
		for b := range computeBuckets {
			below += h.buckets[b].Load()
			buckets[(computeBase << b).Seconds()] = min(below, count)
		}
		ch <- prometheus.MustNewConstHistogram(m.computeDesc, count, time.Duration(h.sum.Load()).Seconds(), buckets, node)
	}
}
