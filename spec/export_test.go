package spec

import (
	"strconv"

	"github.com/understudy/understudy/procbridge"
)

// Pos returns where field was written in f's file, as "file:line:column"
// (see position).
func (f *File) Pos(field string) (string, bool) {
	p, ok := f.position(field)
	return f.Path + ":" + strconv.Itoa(p.Line) + ":" + strconv.Itoa(p.Column), ok
}

// FileOutput returns the output a file's `stdout: path` declares.
func FileOutput(path string) procbridge.Output { return procbridge.ToWriter(&fileOutput{Path: path}) }

// NewFileOutput returns the writer of a file's output.
func NewFileOutput(path string) interface {
	Write([]byte) (int, error)
	Close() error
} {
	return &fileOutput{Path: path}
}

// RotatedOutput returns the output a file's `stdout: {path, max_size,
// max_files}` declares.
func RotatedOutput(path string, maxSize int64, maxFiles int) procbridge.Output {
	return procbridge.ToWriter(&fileOutput{Path: path, MaxSize: maxSize, MaxFiles: maxFiles})
}

// NewRotatedOutput returns the writer of a rotated output file, with the
// Reopen that `understudy run` calls on SIGHUP.
func NewRotatedOutput(path string, maxSize int64, maxFiles int) interface {
	Write([]byte) (int, error)
	Reopen() error
	Close() error
} {
	return &fileOutput{Path: path, MaxSize: maxSize, MaxFiles: maxFiles}
}
