package metrics_test

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/understudy/understudy/metrics"
	"github.com/understudy/understudy/procbridge"
	"github.com/understudy/understudy/supervision"
)

// TestDashboard: the example Grafana dashboard in docs/ parses, and every
// metric its queries name is one this package registers.
func TestDashboard(t *testing.T) {
	data, err := os.ReadFile("../docs/grafana-dashboard.json")
	require.NoError(t, err)
	var dash struct {
		Title  string `json:"title"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
	}
	require.NoError(t, json.Unmarshal(data, &dash))
	require.NotEmpty(t, dash.Panels)

	// Every series exists once a hot-standby child started, lost a spare
	// and failed over.
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg)
	require.NoError(t, err)
	h := supervision.Header{Supervisor: "root", Child: "c", Incarnation: 1, Time: time.Now()}
	for _, ev := range []supervision.Event{
		supervision.ChildStarted{Header: h},
		supervision.ChildReady{Header: h, Ready: &procbridge.Ready{Pid: 1, Time: h.Time}, Spares: 1},
		supervision.ChildProcess{Header: h, Event: procbridge.SpareDown{Pid: 2, Exit: &procbridge.Exit{Kind: procbridge.ExitSignal}}},
		supervision.ChildProcess{Header: h, Event: procbridge.Promoted{From: 1, To: 2, Cause: procbridge.Dying{Pid: 1, Time: h.Time}, Detected: h.Time}},
	} {
		m.Observe(ev)
	}
	mfs, err := reg.Gather()
	require.NoError(t, err)
	var known []string
	for _, mf := range mfs {
		known = append(known, mf.GetName())
	}
	assert.Len(t, known, 8, "every metric the package documents: %v", known)

	used := regexp.MustCompile(`understudy_[a-z_]+`)
	var exprs []string
	for _, p := range dash.Panels {
		require.NotEmpty(t, p.Targets, p.Title)
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	for _, v := range dash.Templating.List {
		if v.Definition != "" {
			exprs = append(exprs, v.Definition)
		}
	}
	for _, e := range exprs {
		names := used.FindAllString(e, -1)
		assert.NotEmpty(t, names, "a query that names no metric of ours: %s", e)
		for _, n := range names {
			base := n
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if b, ok := strings.CutSuffix(n, suffix); ok && slices.Contains(known, b) {
					base = b
				}
			}
			assert.Contains(t, known, base, "%s in %s", n, e)
		}
	}
}
