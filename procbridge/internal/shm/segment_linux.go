//go:build linux

package shm

import (
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"

	"github.com/understudy/understudy/internal/linux"
)

// Create makes a new segment: a sealed memfd of the planned size, mapped
// shared, with its header written. The memfd is close-on-exec; a child gets
// it only through an explicit inherited descriptor.
func Create(name string, c Config) (*Segment, error) {
	l, err := Plan(c)
	if err != nil {
		return nil, err
	}
	fd, err := linux.NewMemfd("understudy:"+name, l.Total, true)
	if err != nil {
		return nil, fmt.Errorf("shm: %w", err)
	}
	mem, err := linux.Map(fd, l.Total, false)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("shm: %w", err)
	}
	s := newSegment(mem, l, fd)
	s.writeHeader()
	return s, nil
}

// Open maps the segment behind an inherited memfd and validates its header
// against the real size of the file. On a bad header it returns the verdict
// to record, and the mapping (when there is one) so the verdict can be
// written into it.
func Open(fd int) (*Segment, AttachVerdict, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, AttachBadSize, fmt.Errorf("shm: fd %d: %w", fd, err)
	}
	if st.Size < HeaderSize || st.Size > 1<<40 {
		return nil, AttachBadSize, fmt.Errorf("%w: fd %d is %d bytes", ErrLayout, fd, st.Size)
	}
	mem, err := linux.Map(fd, int(st.Size), false)
	if err != nil {
		return nil, AttachBadSize, fmt.Errorf("shm: fd %d: %w", fd, err)
	}
	l, verdict, err := ParseHeader(mem)
	if err != nil {
		SetAttachVerdict(mem, verdict)
		linux.Unmap(mem)
		return nil, verdict, err
	}
	return newSegment(mem, l, fd), AttachOK, nil
}

func newSegment(mem []byte, l Layout, fd int) *Segment {
	s := &Segment{mem: mem, layout: l, fd: fd}
	// The mapping outlives any explicit owner: it is released when nothing
	// refers to the segment any more, so no reader can touch unmapped memory.
	runtime.AddCleanup(s, func(m []byte) { linux.Unmap(m) }, mem)
	return s
}

// CloseFd closes the memfd (the mapping stays until the segment is
// unreachable). Safe to call twice.
func (s *Segment) CloseFd() error {
	if s.fd < 0 {
		return nil
	}
	fd := s.fd
	s.fd = -1
	return unix.Close(fd)
}
