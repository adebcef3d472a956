package testproc

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// Sample returns the value of a counter, or the sample count of a
// histogram, with exactly these labels, from what reg gathers. It fails
// the test when there is none.
func Sample(t testing.TB, reg prometheus.Gatherer, name string, labels map[string]string) (float64, uint64) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
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
