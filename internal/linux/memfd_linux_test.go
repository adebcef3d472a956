package linux

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestMemfd: two mappings of a memfd share their bytes; a sealed memfd
// cannot be resized, an unsealed one can.
func TestMemfd(t *testing.T) {
	for _, sealed := range []bool{true, false} {
		fd, err := NewMemfd("test", 8192, sealed)
		require.NoError(t, err)
		a, err := Map(fd, 8192, true)
		require.NoError(t, err)
		b, err := Map(fd, 8192, false)
		require.NoError(t, err)
		a[4096] = 42
		assert.Equal(t, byte(42), b[4096])
		err = unix.Ftruncate(fd, 4096)
		if sealed {
			assert.ErrorIs(t, err, unix.EPERM, "shrinking a sealed memfd")
		} else {
			assert.NoError(t, err)
		}
		require.NoError(t, Unmap(a))
		require.NoError(t, Unmap(b))
		require.NoError(t, unix.Close(fd))
	}
}

// TestMemfdModeZero: a memfd is created mode 0, so that only descriptions
// handed down reach it (not an open through /proc/<pid>/fd).
func TestMemfdModeZero(t *testing.T) {
	fd, err := NewMemfd("test", 4096, true)
	require.NoError(t, err)
	defer unix.Close(fd)
	var st unix.Stat_t
	require.NoError(t, unix.Fstat(fd, &st))
	assert.Zero(t, st.Mode&0o777)
}
