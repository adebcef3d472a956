package audio

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// sinkWriter takes the sink's blocks from the driver through a ring and
// writes them to the WAV file on a goroutine of its own, so that the
// driver's thread makes no write system call. Real time, a full ring drops
// the block (counted); offline, the driver waits for room.
type sinkWriter struct {
	f        *os.File
	ww       *wavWriter
	channels int
	frames   int // per block
	blocks   [][]float32
	head     atomic.Uint64 // next block the driver fills
	tail     atomic.Uint64 // next block the writer writes
	space    chan struct{} // nudged by the writer after it wrote
	nudge    chan struct{} // nudged by flush
	dropped  atomic.Uint64

	mu  sync.Mutex
	err error // the first write error
}

// newSinkWriter creates the WAV file at path ("" writes none).
func newSinkWriter(path string, rate, channels, frames int, offline bool) (*sinkWriter, error) {
	s := &sinkWriter{channels: channels, frames: frames, space: make(chan struct{}, 1), nudge: make(chan struct{}, 1)}
	if path == "" {
		return s, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fieldErr(ErrInvalidConfig, "WAV", path, "cannot be written: %v", err)
	}
	ww, err := newWAVWriter(f, rate, channels)
	if err != nil {
		f.Close()
		return nil, fieldErr(ErrInvalidConfig, "WAV", path, "cannot be written: %v", err)
	}
	// A second of audio, and at least 64 blocks, may wait for the writer.
	n := max(64, (rate+frames-1)/frames)
	s.f, s.ww, s.blocks = f, ww, make([][]float32, n)
	for i := range s.blocks {
		s.blocks[i] = make([]float32, channels*frames)
	}
	return s, nil
}

// slot returns the next block to fill, or nil when there is no file, or
// when the ring is full and wait is false. With wait it waits for room, or
// for ctx.
func (s *sinkWriter) slot(ctx context.Context, wait bool) []float32 {
	if s.ww == nil {
		return nil
	}
	for {
		h := s.head.Load()
		if h-s.tail.Load() < uint64(len(s.blocks)) {
			return s.blocks[h%uint64(len(s.blocks))]
		}
		if !wait {
			s.dropped.Add(1)
			return nil
		}
		select {
		case <-s.space:
		case <-ctx.Done():
			return nil
		}
	}
}

// commit hands the block slot returned to the writer.
func (s *sinkWriter) commit() { s.head.Add(1) }

// run writes blocks as they come, every 10 ms, until ctx ends; then it
// writes what is left.
func (s *sinkWriter) run(ctx context.Context) {
	if s.ww == nil {
		return
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		s.drain()
		select {
		case <-ctx.Done():
			s.drain()
			return
		case <-tick.C:
		case <-s.nudge:
		}
	}
}

func (s *sinkWriter) drain() {
	for t := s.tail.Load(); t < s.head.Load(); t++ {
		if err := s.ww.WriteFrames(s.blocks[t%uint64(len(s.blocks))]); err != nil {
			s.setErr(err)
		}
		s.tail.Store(t + 1)
		select {
		case s.space <- struct{}{}:
		default:
		}
	}
}

func (s *sinkWriter) setErr(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		s.err = fmt.Errorf("audio: engine: writing the WAV file: %w", err)
	}
}

func (s *sinkWriter) error() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// flush waits until the writer has written every block handed over.
func (s *sinkWriter) flush(ctx context.Context) error {
	if s.ww == nil {
		return nil
	}
	for s.tail.Load() < s.head.Load() {
		select {
		case s.nudge <- struct{}{}:
		default:
		}
		select {
		case <-s.space:
		case <-time.After(10 * time.Millisecond):
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
	return s.error()
}

// close completes the WAV header and closes the file; run has returned.
func (s *sinkWriter) close() error {
	if s.ww == nil {
		return nil
	}
	return errors.Join(s.error(), s.ww.Close(), s.f.Close())
}
