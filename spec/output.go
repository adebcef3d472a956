package spec

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"

	"github.com/understudy/understudy/internal/hooks"
	"github.com/understudy/understudy/procbridge"
	"github.com/understudy/understudy/supervision"
)

// The bounds of an output file's rotation: the rotated files it keeps when
// its spec gives max_size but not max_files, at most, and the smallest
// max_size.
const (
	defaultMaxFiles = 5
	maxRotateFiles  = 1000
	minRotateSize   = 4 << 10
)

// fileOutput is a worker's output stream appended to a file: what a spec
// file's `stdout: ./logs/web.log` declares, as the writer of a
// procbridge.ToWriter; its String method returns the file's path. The file
// is opened (created, mode 0644, appended to) at the first write, and is
// shared by the child's restarts. Close it when the tree has ended
// (File.Close closes every one of a loaded file).
//
// With MaxSize, the file rotates before a write would take it past MaxSize
// bytes: path.N-1 becomes path.N, ..., path becomes path.1, and a new path
// is started; at most MaxFiles rotated files are kept. A write is cut after
// its last newline so that lines stay whole where the write allows: a
// file passes MaxSize only by a line longer than MaxSize itself. Reopen
// closes the file so that the next write opens the path again: what a
// logrotate that renames the file expects on SIGHUP.
type fileOutput struct {
	Path     string
	MaxSize  int64 // bytes; 0: the file grows without bound
	MaxFiles int   // rotated files kept, with MaxSize

	mu     sync.Mutex
	f      *os.File
	size   int64
	err    error
	closed bool
}

// String returns the file's path.
func (o *fileOutput) String() string { return o.Path }

// Write appends p to the file, rotating it first when p would take it past
// MaxSize.
func (o *fileOutput) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return 0, os.ErrClosed
	}
	done := 0
	for len(p) > 0 {
		if err := o.open(); err != nil {
			return done, err
		}
		chunk := p
		if o.MaxSize > 0 && o.size+int64(len(p)) > o.MaxSize {
			room := max(0, min(int64(len(p)), o.MaxSize-o.size))
			switch i := bytes.LastIndexByte(p[:room], '\n'); {
			case i >= 0: // the whole lines that fit
				chunk = p[:i+1]
			case o.size > 0: // none fits: start a new file
				chunk = nil
			default: // a line longer than MaxSize, alone in its file
				if j := bytes.IndexByte(p, '\n'); j >= 0 {
					chunk = p[:j+1]
				}
			}
		}
		n, err := o.f.Write(chunk)
		o.size += int64(n)
		done += n
		p = p[n:]
		if err != nil {
			return done, err
		}
		if len(p) > 0 {
			if err := o.rotate(); err != nil {
				return done, err
			}
		}
	}
	return done, nil
}

// open opens the file when it is not open, and learns its size.
func (o *fileOutput) open() error {
	if o.f != nil || o.err != nil {
		return o.err
	}
	o.f, o.err = os.OpenFile(o.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if o.err != nil {
		return o.err
	}
	o.size = 0
	if st, err := o.f.Stat(); err == nil {
		o.size = st.Size()
	}
	return nil
}

// rotate closes the file and shifts it and its rotated files up by one,
// dropping the oldest past MaxFiles; the next write starts the path anew.
func (o *fileOutput) rotate() error {
	if err := o.f.Close(); err != nil {
		return err
	}
	o.f, o.size = nil, 0
	keep := o.MaxFiles
	if keep == 0 {
		if err := os.Remove(o.Path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return nil
	}
	if err := os.Remove(o.Path + "." + strconv.Itoa(keep)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	for i := keep - 1; i >= 0; i-- {
		from := o.Path
		if i > 0 {
			from += "." + strconv.Itoa(i)
		}
		err := os.Rename(from, o.Path+"."+strconv.Itoa(i+1))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("rotating %s: %w", o.Path, err)
		}
	}
	return nil
}

// Reopen closes the file; the next write opens the path again, creating
// it if something moved it away. A failed open is retried too.
func (o *fileOutput) Reopen() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.err = nil
	if o.f == nil {
		return nil
	}
	err := o.f.Close()
	o.f = nil
	return err
}

// Close closes the file; later writes fail. Closing twice does nothing.
func (o *fileOutput) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.closed = true
	if o.f == nil {
		return nil
	}
	err := o.f.Close()
	o.f = nil
	return err
}

// Close closes the output files of the file's tree (see fileOutput). Call
// it once the tree has ended.
func (f *File) Close() error {
	var first error
	f.eachOutput(func(fo *fileOutput) {
		if err := fo.Close(); err != nil && first == nil {
			first = err
		}
	})
	return first
}

// eachOutput calls fn for each output file of the file's tree.
func (f *File) eachOutput(fn func(*fileOutput)) {
	if f.Tree == nil {
		return
	}
	walkProcesses(f.Tree, "", func(_ string, _ *supervision.ChildSpec, p *procbridge.Spec) {
		for _, o := range []procbridge.Output{p.Stdout, p.Stderr} {
			if fo, ok := hooks.OutputWriter(o).(*fileOutput); ok {
				fn(fo)
			}
		}
	})
}

// walkProcesses calls fn for every process child of s and its nested
// supervisors, in start order, with the child's Go field path.
func walkProcesses(s *supervision.Spec, goPath string, fn func(field string, c *supervision.ChildSpec, p *procbridge.Spec)) {
	for i := range s.Children {
		c := &s.Children[i]
		field := joinGo(goPath, "Children["+strconv.Itoa(i)+"]")
		switch {
		case c.Process != nil:
			fn(field, c, c.Process)
		case c.Supervisor != nil:
			walkProcesses(c.Supervisor, field+".Supervisor", fn)
		}
	}
}
