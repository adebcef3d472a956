//go:build linux

package spec_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/understudy/understudy/procbridge"
	"github.com/understudy/understudy/spec"
)

// TestNotifyKeys: notify and notification_fd load into the process spec
// and write back as they were.
func TestNotifyKeys(t *testing.T) {
	f, err := spec.Parse("t.yaml", []byte(`children:
  - {name: d, command: /bin/sh, args: [-c, 'exec sleep 1'], notify: true, heartbeat: {interval: 1s, timeout: 3s}}
  - {name: s6, command: /bin/sh, notification_fd: 7}
`))
	require.NoError(t, err)
	d, s6 := f.Tree.Children[0].Process, f.Tree.Children[1].Process
	assert.True(t, d.Notify)
	assert.Equal(t, procbridge.Heartbeat{Interval: time.Second, Timeout: 3 * time.Second}, d.Heartbeat)
	assert.Equal(t, 7, s6.NotificationFD)

	out, err := spec.Marshal(f)
	require.NoError(t, err)
	assert.Contains(t, string(out), "notify: true")
	assert.Contains(t, string(out), "notification_fd: 7")
	again, err := spec.Parse("t.yaml", out)
	require.NoError(t, err)
	assert.Equal(t, f.Tree.Children[0].Process.Notify, again.Tree.Children[0].Process.Notify)
	assert.Equal(t, 7, again.Tree.Children[1].Process.NotificationFD)
}

// TestNotifyKeyErrors: a bad value names the key and the value.
func TestNotifyKeyErrors(t *testing.T) {
	for _, tt := range []struct{ name, yaml, want string }{
		{"notify with a worker", `children:
  - {name: a, worker: wait, notify: true}
`, "children[0].notify: true"},
		{"fd taken", `children:
  - {name: a, command: sleep, notification_fd: 4}
`, "children[0].notification_fd: 4"},
		{"fd not a number", `children:
  - {name: a, command: sleep, notification_fd: three}
`, "children[0].notification_fd"},
		{"heartbeat without notify", `children:
  - {name: a, command: sleep, notification_fd: 9, heartbeat: {interval: 1s, timeout: 2s}}
`, "children[0].heartbeat"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := spec.Parse("t.yaml", []byte(tt.yaml))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			t.Log(err)
		})
	}
}
