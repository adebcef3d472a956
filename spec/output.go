package spec

import (
	"os"
	"strconv"
	"sync"

	"github.com/understudy/understudy/procbridge"
	"github.com/understudy/understudy/supervision"
)

// fileOutput is a worker's output stream appended to a file: what a spec
// file's `stdout: ./logs/web.log` declares, as the writer of a
// procbridge.ToWriter; its String method returns the file's path. The file is opened (created, mode 0644, appended
// to) at the first write, and is shared by the child's restarts. Close it
// when the tree has ended (File.Close closes every one of a loaded file).
type fileOutput struct {
	Path string

	mu     sync.Mutex
	f      *os.File
	err    error
	closed bool
}

// String returns the file's path.
func (o *fileOutput) String() string { return o.Path }

// Write appends p to the file.
func (o *fileOutput) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return 0, os.ErrClosed
	}
	if o.f == nil && o.err == nil {
		o.f, o.err = os.OpenFile(o.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	}
	if o.err != nil {
		return 0, o.err
	}
	return o.f.Write(p)
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
	if f.Tree == nil {
		return nil
	}
	var first error
	walkProcesses(f.Tree, "", func(_ string, _ *supervision.ChildSpec, p *procbridge.Spec) {
		for _, o := range []procbridge.Output{p.Stdout, p.Stderr} {
			if fo, ok := o.Writer().(*fileOutput); ok {
				if err := fo.Close(); err != nil && first == nil {
					first = err
				}
			}
		}
	})
	return first
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
