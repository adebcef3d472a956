package supervision

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/understudy/understudy/procbridge"
)

// TestStopAllSumsStopBounds: a remote subtree with no Shutdown of its own
// is given, to stop, the sum of the bounds its supervisor waits for its
// children with, nested subtrees included, so that its node does not kill
// it while its supervisor is still within them.
func TestStopAllSumsStopBounds(t *testing.T) {
	worker := ChildSpec{Name: "w", Process: &procbridge.Spec{Path: "/bin/true", StopGrace: 2 * time.Second}}
	brutal := ChildSpec{Name: "b", Process: &procbridge.Spec{Path: "/bin/true"}, Shutdown: BrutalKill}
	inner := Spec{Children: []ChildSpec{worker}}
	bounded := ChildSpec{Name: "s1", Supervisor: &inner, Shutdown: 3 * time.Second}
	unbounded := ChildSpec{Name: "s2", Supervisor: &inner, Shutdown: Infinity}
	s := Spec{Children: []ChildSpec{worker, brutal, bounded, unbounded}}

	want := worker.stopBound() + brutal.stopBound() + 3*time.Second + worker.stopBound()
	require.Equal(t, want, s.stopAll())
	require.Equal(t, 2*time.Second+killWait+time.Second, worker.stopBound(), "a worker's bound: its grace, the kill's wait and the margin")
	require.Equal(t, time.Second, (&Spec{}).stopAll(), "no children: the floor")
}
