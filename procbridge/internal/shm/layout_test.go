//go:build linux

package shm

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPlan(t *testing.T) {
	l, err := Plan(Config{Lanes: 2, StateSize: 100, RingSize: 4096})
	require.NoError(t, err)
	assert.Equal(t, HeaderSize, l.LanesOff)
	assert.Equal(t, HeaderSize+2*LaneSize, l.StateOff)
	assert.Equal(t, l.StateOff+2*(64+2*(64+128)), l.RingsOff)
	assert.Zero(t, l.Total%4096)
	assert.GreaterOrEqual(t, l.Total, l.RingsOff+2*(3*64+4096))

	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Lanes: 0}, "lanes = 0"},
		{Config{Lanes: MaxLanes + 1}, "lanes = 16"},
		{Config{Lanes: 1, StateSize: -1}, "state size = -1"},
		{Config{Lanes: 1, RingSize: 1000}, "ring size = 1000"},
	} {
		_, err := Plan(c.cfg)
		assert.ErrorIs(t, err, ErrLayout)
		assert.ErrorContains(t, err, c.want)
	}
}

func TestHeaderRoundTrip(t *testing.T) {
	s, err := Create("test", Config{Lanes: 3, StateSize: 1000, RingSize: 1 << 12, HeartbeatInterval: 2e6, HeartbeatTimeout: 5e6})
	require.NoError(t, err)
	defer s.CloseFd()
	opened, verdict, err := Open(s.Fd())
	require.NoError(t, err)
	assert.Equal(t, AttachOK, verdict)
	assert.Equal(t, s.Layout(), opened.Layout())
	require.NoError(t, s.Validate())

	// A peer that scribbles on the header is caught.
	binary.LittleEndian.PutUint32(s.Bytes()[offStateSize:], 1<<20)
	assert.ErrorIs(t, s.Validate(), ErrLayout)
}

func TestParseHeaderRejects(t *testing.T) {
	s, err := Create("test", Config{Lanes: 1})
	require.NoError(t, err)
	defer s.CloseFd()
	good := append([]byte(nil), s.Bytes()...)
	cases := []struct {
		name    string
		mutate  func(b []byte) []byte
		verdict AttachVerdict
	}{
		{"short", func(b []byte) []byte { return b[:100] }, AttachBadSize},
		{"magic", func(b []byte) []byte { b[0] ^= 1; return b }, AttachBadMagic},
		{"version", func(b []byte) []byte { binary.LittleEndian.PutUint32(b[offVersion:], 2); return b }, AttachBadVersion},
		{"lanes", func(b []byte) []byte { binary.LittleEndian.PutUint32(b[offLanes:], 1000); return b }, AttachBadSize},
		{"offset", func(b []byte) []byte { binary.LittleEndian.PutUint64(b[offStateOff:], 1<<40); return b }, AttachBadSize},
		{"total", func(b []byte) []byte { binary.LittleEndian.PutUint64(b[offTotalSize:], 1<<50); return b }, AttachBadSize},
		{"truncated mapping", func(b []byte) []byte { return b[:len(b)-4096+HeaderSize] }, AttachBadSize},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, verdict, err := ParseHeader(c.mutate(append([]byte(nil), good...)))
			assert.ErrorIs(t, err, ErrLayout)
			assert.Equal(t, c.verdict, verdict)
		})
	}
}

// FuzzParseHeader: whatever a peer wrote, parsing never panics, and a layout
// it accepts fits the mapping.
func FuzzParseHeader(f *testing.F) {
	s, err := Create("fuzz", Config{Lanes: 2, StateSize: 64, RingSize: 256})
	require.NoError(f, err)
	f.Add(append([]byte(nil), s.Bytes()...))
	s.CloseFd()
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		l, verdict, err := ParseHeader(b)
		if err != nil {
			assert.NotEqual(t, AttachOK, verdict)
			return
		}
		assert.Equal(t, len(b), l.Total)
		assert.LessOrEqual(t, l.RingsOff, l.Total)
		assert.LessOrEqual(t, l.LanesOff+l.Lanes*LaneSize, l.StateOff)
	})
}
