//go:build linux

package metrics_test

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/understudy/understudy/metrics"
	"github.com/understudy/understudy/procbridge"
	"github.com/understudy/understudy/supervision"
)

// A tree's metrics, kept on a registry of the caller's: Observe is the
// tree's OnEvent (or is called from one).
func ExampleMetrics_Observe() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	reg := prometheus.NewRegistry() // serve it with promhttp.HandlerFor
	m, err := metrics.New(reg)
	if err != nil {
		fmt.Println(err)
		return
	}
	tree, err := supervision.Start(ctx, supervision.Spec{Children: []supervision.ChildSpec{
		{Name: "w", Process: &procbridge.Spec{Worker: "wait"}},
	}}, supervision.Options{OnEvent: m.Observe})
	if err != nil {
		fmt.Println(err)
		return
	}
	if _, err := tree.Stop(ctx); err != nil {
		fmt.Println(err)
		return
	}
	n, _ := testutil.GatherAndCount(reg, "understudy_child_exits_total")
	fmt.Println(n, "exit series")
	// Output:
	// 1 exit series
}
