// Package metrics keeps Prometheus metrics of supervision trees, from their
// events: pass (*Metrics).Observe as supervision.Options.OnEvent, or call
// it from your own OnEvent. The metrics are registered on the Registerer
// the caller passes, never on the global registry; trees may share one
// Metrics, and several Metrics may share one registry.
//
//	understudy_child_restarts_total{supervisor, child}              counter
//	understudy_child_exits_total{supervisor, child, kind}           counter
//	understudy_child_failovers_total{supervisor, child, kind}       counter
//	understudy_child_spare_failures_total{supervisor, child, kind}  counter
//	understudy_failure_detection_seconds{supervisor}                histogram
//
// Restarts count every ChildRestarting and every failover of a hot-standby
// child to its spare (a ChildProcess carrying a procbridge.Promoted). For
// exits (ChildExited, and ChildStopped with its Exit for a process that
// ended as asked), kind is the procbridge.ExitKind of the process's
// exit ("signal", "code", "killed-hung", "clean", "stopped"), "not-ready"
// for a process that ended before it was ready, "escalated" or "shutdown"
// for a nested supervisor. A failover's kind is "failover" (its primary
// died or hung) or "switch" (the supervisor switched it because a sibling
// failed). A parked spare that ended (procbridge.SpareDown with an Exit) is
// a spare failure of kind "lost", a replacement spare that could not be
// started (SpareDown with an Err) one of kind "start". The detection
// latency runs from the bridge's first sign of a failure (the time of the
// child's Dying or Hung event, else of its exit) to the supervisor's
// report of it (Observe's call with the ChildExited, which supervision
// makes as it handles the failure). For a child of a simple_one_for_one
// supervisor, child is the template's name, so the number of series does
// not grow with the children started.
package metrics

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/understudy/understudy/procbridge"
	"github.com/understudy/understudy/supervision"
)

// Metrics keeps the metrics of the trees whose events it observes. Its
// methods are safe to call from several goroutines.
type Metrics struct {
	restarts  *prometheus.CounterVec
	exits     *prometheus.CounterVec
	failovers *prometheus.CounterVec
	spares    *prometheus.CounterVec
	detection *prometheus.HistogramVec

	mu       sync.Mutex
	children map[childKey]*childState
}

type childKey struct{ supervisor, child string }

// childState is what Observe remembers of a child between its events.
type childState struct {
	supervisor bool      // a nested supervisor (its ChildReady carries no Ready)
	ready      bool      // the current incarnation was ready
	sign       time.Time // the first sign of the current failure
}

// New registers the metrics on reg (an equal collector already registered
// there is shared) and returns them.
func New(reg prometheus.Registerer) (*Metrics, error) {
	if reg == nil {
		return nil, errors.New("metrics: nil Registerer")
	}
	m := &Metrics{
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
		children: map[childKey]*childState{},
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
// (so that several Metrics can share one registry).
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
	return c, fmt.Errorf("metrics: register: %w", err)
}

// Observe counts what ev tells. Call it with every event of a tree, in
// order, as supervision.Options.OnEvent does.
func (m *Metrics) Observe(ev supervision.Event) {
	h := ev.EventHeader()
	label := h.Child
	if h.Template != "" {
		label = h.Template
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	key := childKey{h.Supervisor, h.Child}
	c := m.children[key]
	if c == nil {
		c = &childState{}
		m.children[key] = c
	}
	switch e := ev.(type) {
	case supervision.ChildStarted:
		c.ready, c.sign = false, time.Time{}
	case supervision.ChildReady:
		c.ready, c.supervisor = true, e.Ready == nil
	case supervision.ChildRestarting:
		m.restarts.WithLabelValues(h.Supervisor, label).Inc()
	case supervision.ChildProcess:
		switch p := e.Event.(type) {
		case procbridge.Dying:
			c.signAt(p.Time)
		case procbridge.Hung:
			c.signAt(p.Time)
		case procbridge.Promoted:
			kind := "failover"
			if e.Cause != nil {
				kind = "switch"
			}
			m.restarts.WithLabelValues(h.Supervisor, label).Inc()
			m.failovers.WithLabelValues(h.Supervisor, label, kind).Inc()
			c.sign = time.Time{}
		case procbridge.SpareDown:
			kind := "start"
			if p.Exit != nil {
				kind = "lost"
			}
			m.spares.WithLabelValues(h.Supervisor, label, kind).Inc()
		}
	case supervision.ChildExited:
		kind := ""
		switch {
		case c.supervisor && e.Err != nil:
			kind = "escalated"
		case c.supervisor:
			kind = "shutdown"
		case !c.ready:
			kind = string(procbridge.ExitNotReady)
		case e.Exited != nil:
			kind = string(e.Exited.Exit.Kind)
		}
		if kind != "" {
			m.exits.WithLabelValues(h.Supervisor, label, kind).Inc()
		}
		if e.Err != nil && e.Exited != nil {
			c.signAt(e.Exited.Exit.Time)
			if !c.sign.IsZero() {
				if d := time.Since(c.sign); d >= 0 {
					m.detection.WithLabelValues(h.Supervisor).Observe(d.Seconds())
				}
			}
		}
		c.sign, c.ready = time.Time{}, false
	case supervision.ChildStopped:
		// A process that ended as asked is reported here, not by a
		// ChildExited.
		if e.Exit != nil {
			m.exits.WithLabelValues(h.Supervisor, label, string(e.Exit.Kind)).Inc()
		}
		c.sign, c.ready = time.Time{}, false
	case supervision.ChildTerminated:
		if e.Removed {
			delete(m.children, key)
		}
	}
}

// signAt records t as the first sign of the current failure, unless one is
// recorded already.
func (c *childState) signAt(t time.Time) {
	if c.sign.IsZero() && !t.IsZero() {
		c.sign = t
	}
}
