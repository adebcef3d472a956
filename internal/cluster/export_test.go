package cluster

import "testing"

// DropGrantsForTest makes this program's grant servers answer no claim
// sent by datagram until the test ends, and returns how many they have
// read and dropped so far.
func DropGrantsForTest(t testing.TB) (dropped func() int64) {
	dropGrants.Store(true)
	t.Cleanup(func() { dropGrants.Store(false) })
	base := droppedCount()
	return func() int64 { return droppedCount() - base }
}

func droppedCount() int64 { return dropped.Load() }

// OverRemoteForTest returns how many claims and events this program's
// clients have taken over the remote so far.
func OverRemoteForTest() int64 { return overRemote.Load() }

// DropRemoteEventsForTest makes this program's clients drop the events
// that come over the remote until the test ends.
func DropRemoteEventsForTest(t testing.TB) {
	dropRemoteEvents.Store(true)
	t.Cleanup(func() { dropRemoteEvents.Store(false) })
}

// DropEventDatagramsForTest makes this program's grant servers drop the
// events that come by datagram until the test ends.
func DropEventDatagramsForTest(t testing.TB) {
	dropEventDatagrams.Store(true)
	t.Cleanup(func() { dropEventDatagrams.Store(false) })
}
