package supervision

import (
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The metrics a tree keeps on the Registerer the user passes
// (Options.Metrics); nothing is ever registered on the global registry.
//
//	understudy_child_restarts_total{supervisor, child}              counter
//	understudy_child_exits_total{supervisor, child, kind}           counter
//	understudy_child_failovers_total{supervisor, child, kind}       counter
//	understudy_child_spare_failures_total{supervisor, child, kind}  counter
//	understudy_failure_detection_seconds{supervisor}                histogram
//
// For exits, kind is a procbridge.ExitKind ("signal", "code",
// "killed-hung", "not-ready", "clean", "stopped") for a process,
// "escalated" or "shutdown" for a nested supervisor. A hot-standby child's
// spare taking over (a ChildProcess carrying a procbridge.Promoted) counts
// as a restart, and as a failover of kind "failover" (its primary died or
// hung) or "switch" (the supervisor switched it because a sibling failed).
// A parked spare that ended (procbridge.SpareDown with an Exit) is a spare
// failure of kind "lost", a replacement spare that could not be started
// (SpareDown with an Err) one of kind "start". The detection latency is
// the time from the bridge's first sign of a failure (the Dying, Hung or
// Exited event's time) to the
// supervisor's handling of it: the cost of the actor and supervision
// layers on top of procbridge's own detection. For a simple_one_for_one
// supervisor, child is the template's name, so the number of series does
// not grow with the children started.
type metrics struct {
	restarts  *prometheus.CounterVec
	exits     *prometheus.CounterVec
	failovers *prometheus.CounterVec
	spares    *prometheus.CounterVec
	detection *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	if reg == nil {
		return nil, nil
	}
	m := &metrics{
		restarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "understudy_child_restarts_total",
			Help: "Restarts of supervised children.",
		}, []string{"supervisor", "child"}),
		exits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "understudy_child_exits_total",
			Help: "Ends of supervised children, by kind of end.",
		}, []string{"supervisor", "child", "kind"}),
		failovers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "understudy_child_failovers_total",
			Help: "Spares of hot-standby children that took over, by kind: failover (the primary died or hung) or switch (a sibling's failure).",
		}, []string{"supervisor", "child", "kind"}),
		spares: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "understudy_child_spare_failures_total",
			Help: "Spares of hot-standby children lost while parked (kind lost) or that could not be started (kind start).",
		}, []string{"supervisor", "child", "kind"}),
		detection: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "understudy_failure_detection_seconds",
			Help:    "From the bridge's first sign of a child's failure to the supervisor's handling of it.",
			Buckets: prometheus.ExponentialBuckets(5e-6, 2, 18), // 5us to about 0.65s
		}, []string{"supervisor"}),
	}
	var err error
	if m.restarts, err = register(reg, m.restarts); err != nil {
		return nil, err
	}
	if m.exits, err = register(reg, m.exits); err != nil {
		return nil, err
	}
	if m.failovers, err = register(reg, m.failovers); err != nil {
		return nil, err
	}
	if m.spares, err = register(reg, m.spares); err != nil {
		return nil, err
	}
	if m.detection, err = register(reg, m.detection); err != nil {
		return nil, err
	}
	return m, nil
}

// register registers c, or returns the equal collector already registered
// (so that several trees can share one registry).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	err := reg.Register(c)
	if err == nil {
		return c, nil
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	return c, fmt.Errorf("supervision: register metrics: %w", err)
}

func (m *metrics) restart(sup, child string) {
	if m != nil {
		m.restarts.WithLabelValues(sup, child).Inc()
	}
}

func (m *metrics) exit(sup, child, kind string) {
	if m != nil {
		m.exits.WithLabelValues(sup, child, kind).Inc()
	}
}

func (m *metrics) failover(sup, child, kind string) {
	if m != nil {
		m.failovers.WithLabelValues(sup, child, kind).Inc()
	}
}

func (m *metrics) spareFailure(sup, child, kind string) {
	if m != nil {
		m.spares.WithLabelValues(sup, child, kind).Inc()
	}
}

func (m *metrics) detected(sup string, latency time.Duration) {
	if m != nil && latency >= 0 {
		m.detection.WithLabelValues(sup).Observe(latency.Seconds())
	}
}
