// Package metrics keeps Prometheus metrics of supervision trees, from their
// events: pass (*Metrics).Observe as supervision.Options.OnEvent, or call
// it from your own OnEvent. The metrics are registered on the Registerer
// the caller passes, never on the global registry; trees may share one
// Metrics, and several Metrics may share one registry.
//
//	understudy_child_restarts_total{supervisor, child}                  counter
//	understudy_child_exits_total{supervisor, child, kind}               counter
//	understudy_child_failovers_total{supervisor, child, kind}           counter
//	understudy_child_spare_failures_total{supervisor, child, kind}      counter
//	understudy_failure_detection_seconds{supervisor}                    histogram
//	understudy_child_state{supervisor, child, state}                    gauge
//	understudy_child_spares_ready{supervisor, child}                    gauge
//	understudy_child_last_restart_timestamp_seconds{supervisor, child}  gauge
//
// A child's series exist from its first start: its restarts at 0, its
// state, and for a hot-standby child its failovers of kind "failover" at 0
// and its spares ready, so that a healthy child and one never started do
// not look alike.
//
// Restarts count every ChildRestarting and every failover of a hot-standby
// child to its spare (a ChildProcess carrying a procbridge.Promoted). For
// exits (ChildExited, and ChildStopped with its Exit for a process that
// ended as asked), kind is the procbridge.ExitKind of the process's
// exit ("signal", "code", "killed-hung", "killed-violation", "oom",
// "clean", "stopped"), "not-ready" for a process that ended before it was ready,
// "escalated" or "shutdown" for a nested supervisor. A failover is a
// failure like any other: it counts as an exit of the primary, of the
// kind its cause tells ("killed-hung", "killed-violation", the exit's own
// kind, or "died" for a primary whose death the spare took over from
// before the kernel reported its end), and in the detection latency. A
// failover's kind is "failover" (its primary died or hung) or "switch"
// (the supervisor switched it because a sibling failed; a switch is part
// of the sibling's failure and counts as no exit). A parked spare that
// ended (procbridge.SpareDown with an Exit) is a spare failure of kind
// "lost", a replacement spare that could not be started (SpareDown with
// an Err) one of kind "start". The detection latency runs from the
// bridge's first sign of a failure (the time of the child's Dying or Hung
// event, else of its exit) to the supervisor's report of it (Observe's
// call with the ChildExited or the Promoted, which supervision makes as it
// handles the failure).
//
// The state gauge counts the children of that name in each state (the
// values of supervision.ChildState: "starting", "running", "restarting",
// "backing off", "terminated"), as the events tell them: 1 or 0 for a
// child, and for a simple_one_for_one supervisor's children, which are
// counted under their template's name so that the number of series does
// not grow with the children started, how many are in each. Spares ready
// counts a hot-standby child's parked spares. The last restart's time is
// that of its latest restart or failover, in seconds since the epoch.
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
	state     *prometheus.GaugeVec
	ready     *prometheus.GaugeVec
	restarted *prometheus.GaugeVec

	mu       sync.Mutex
	children map[childKey]*childState
}

type childKey struct{ supervisor, child string }

// childState is what Observe remembers of a child between its events.
type childState struct {
	label      string    // the child's name, or its template's
	supervisor bool      // a nested supervisor (its ChildReady carries no Ready)
	ready      bool      // the current incarnation was ready
	sign       time.Time // the first sign of the current failure
	state      string    // where the state gauge counts it; "" before its start
	spares     int       // parked spares the spares gauge counts for it
}

// states are the values of the state gauge's state label.
var states = []supervision.ChildState{
	supervision.StateStarting, supervision.StateRunning, supervision.StateRestarting,
	supervision.StateBackingOff, supervision.StateTerminated,
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
		state: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "understudy_child_state",
			Help: "Children of that name (or template) in each state: starting, running, restarting, backing off, terminated.",
		}, []string{"supervisor", "child", "state"}),
		ready: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "understudy_child_spares_ready",
			Help: "Parked spares of hot-standby children, ready to take over.",
		}, []string{"supervisor", "child"}),
		restarted: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "understudy_child_last_restart_timestamp_seconds",
			Help: "When the child last restarted or failed over, in seconds since the epoch.",
		}, []string{"supervisor", "child"}),
		children: map[childKey]*childState{},
	}
	var err error
	register(reg, &m.restarts, &err)
	register(reg, &m.exits, &err)
	register(reg, &m.failovers, &err)
	register(reg, &m.spares, &err)
	register(reg, &m.detection, &err)
	register(reg, &m.state, &err)
	register(reg, &m.ready, &err)
	register(reg, &m.restarted, &err)
	if err != nil {
		return nil, err
	}
	return m, nil
}

// register registers *c, or puts in its place the equal collector already
// registered (so that several Metrics can share one registry). Once *err
// is set, by this call or an earlier one, it does nothing more.
func register[C prometheus.Collector](reg prometheus.Registerer, c *C, err *error) {
	if *err != nil {
		return
	}
	e := reg.Register(*c)
	if e == nil {
		return
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(e, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			*c = existing
			return
		}
	}
	*err = fmt.Errorf("metrics: register: %w", e)
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
		c = &childState{label: label}
		m.children[key] = c
	}
	switch e := ev.(type) {
	case supervision.ChildStarted:
		if c.state == "" {
			m.restarts.WithLabelValues(h.Supervisor, label).Add(0)
			for _, st := range states {
				m.state.WithLabelValues(h.Supervisor, label, string(st)).Add(0)
			}
		}
		c.ready, c.sign = false, time.Time{}
		m.move(h.Supervisor, c, supervision.StateStarting)
	case supervision.ChildReady:
		c.ready, c.supervisor = true, e.Ready == nil
		if e.Spares > 0 {
			m.failovers.WithLabelValues(h.Supervisor, label, "failover").Add(0)
			m.ready.WithLabelValues(h.Supervisor, label).Add(0)
		}
		m.setSpares(h.Supervisor, c, e.Spares)
		m.move(h.Supervisor, c, supervision.StateRunning)
	case supervision.ChildRestarting:
		m.restarts.WithLabelValues(h.Supervisor, label).Inc()
		m.restarted.WithLabelValues(h.Supervisor, label).Set(unixSeconds(h.Time))
		m.setSpares(h.Supervisor, c, 0)
		if e.Delay > 0 {
			m.move(h.Supervisor, c, supervision.StateBackingOff)
		} else {
			m.move(h.Supervisor, c, supervision.StateRestarting)
		}
	case supervision.ChildProcess:
		switch p := e.Event.(type) {
		case procbridge.Dying:
			c.signAt(p.Time)
		case procbridge.Hung:
			c.signAt(p.Time)
		case procbridge.Violated:
			c.signAt(p.Time)
		case procbridge.SpareReady:
			m.setSpares(h.Supervisor, c, c.spares+1)
		case procbridge.Promoted:
			m.promoted(h, c, p, e.Cause)
		case procbridge.SpareDown:
			kind := "start"
			if p.Exit != nil {
				kind = "lost"
				m.setSpares(h.Supervisor, c, c.spares-1)
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
			m.detected(h.Supervisor, c)
		}
		c.sign, c.ready = time.Time{}, false
		m.setSpares(h.Supervisor, c, 0)
		m.move(h.Supervisor, c, supervision.StateTerminated)
	case supervision.ChildStopped:
		// A process that ended as asked is reported here, not by a
		// ChildExited.
		if e.Exit != nil {
			m.exits.WithLabelValues(h.Supervisor, label, string(e.Exit.Kind)).Inc()
		}
		c.sign, c.ready = time.Time{}, false
		m.setSpares(h.Supervisor, c, 0)
		m.move(h.Supervisor, c, supervision.StateTerminated)
	case supervision.ChildTerminated:
		m.setSpares(h.Supervisor, c, 0)
		if e.Removed {
			m.move(h.Supervisor, c, "")
			delete(m.children, key)
		} else {
			m.move(h.Supervisor, c, supervision.StateTerminated)
		}
	}
}

// promoted counts a spare that took over. A failover (no cause: the
// primary died, hung or broke the protocol, or the group was switched
// directly) is a failure of the primary: an exit of the kind its end
// tells, and a detection. A switch is part of a sibling's failure.
func (m *Metrics) promoted(h supervision.Header, c *childState, p procbridge.Promoted, cause error) {
	kind := "failover"
	if cause != nil {
		kind = "switch"
	}
	m.restarts.WithLabelValues(h.Supervisor, c.label).Inc()
	m.failovers.WithLabelValues(h.Supervisor, c.label, kind).Inc()
	m.restarted.WithLabelValues(h.Supervisor, c.label).Set(unixSeconds(h.Time))
	m.setSpares(h.Supervisor, c, c.spares-1)
	if cause == nil && p.Cause != nil {
		end := "died"
		switch pc := p.Cause.(type) {
		case procbridge.Hung:
			end = string(procbridge.ExitKilledHung)
		case procbridge.Violated:
			end = string(procbridge.ExitKilledViolation)
		case procbridge.Exited:
			end = string(pc.Exit.Kind)
		}
		m.exits.WithLabelValues(h.Supervisor, c.label, end).Inc()
		c.signAt(p.Detected)
		m.detected(h.Supervisor, c)
	}
	c.sign = time.Time{}
}

// detected observes the detection latency of c's current failure.
func (m *Metrics) detected(supervisor string, c *childState) {
	if c.sign.IsZero() {
		return
	}
	if d := time.Since(c.sign); d >= 0 {
		m.detection.WithLabelValues(supervisor).Observe(d.Seconds())
	}
}

// move counts c in state st instead of its previous one ("" for none).
func (m *Metrics) move(supervisor string, c *childState, st supervision.ChildState) {
	if c.state == string(st) {
		return
	}
	if c.state != "" {
		m.state.WithLabelValues(supervisor, c.label, c.state).Dec()
	}
	if st != "" {
		m.state.WithLabelValues(supervisor, c.label, string(st)).Inc()
	}
	c.state = string(st)
}

// setSpares counts n parked spares for c (none below zero).
func (m *Metrics) setSpares(supervisor string, c *childState, n int) {
	n = max(n, 0)
	if n == c.spares {
		return
	}
	m.ready.WithLabelValues(supervisor, c.label).Add(float64(n - c.spares))
	c.spares = n
}

// unixSeconds is t in seconds since the epoch.
func unixSeconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// signAt records t as the first sign of the current failure, unless one is
// recorded already.
func (c *childState) signAt(t time.Time) {
	if c.sign.IsZero() && !t.IsZero() {
		c.sign = t
	}
}
