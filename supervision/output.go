package supervision

import (
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/understudy/understudy/procbridge"
)

// lines returns where the stream out of the process child of supervisor
// (a path) goes: when it is procbridge.Lines, to the tree's logger, a
// record per line, or nowhere without one; else out itself.
func (sh *shared) lines(out procbridge.Output, supervisor, child, stream string) procbridge.Output {
	switch {
	case out != procbridge.Lines:
		return out
	case !sh.output:
		return procbridge.Discard
	}
	return procbridge.ToWriter(&lineLogger{log: sh.log, supervisor: supervisor, child: child, stream: stream})
}

// lineLogger logs what a child writes, a record per line.
type lineLogger struct {
	log        *slog.Logger
	supervisor string
	child      string
	stream     string

	mu  sync.Mutex
	buf []byte
}

// maxLogLine bounds a line; a longer one is logged in pieces.
const maxLogLine = 16 << 10

func (l *lineLogger) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := slices.Index(l.buf, '\n')
		if i < 0 {
			if len(l.buf) >= maxLogLine {
				l.emit(l.buf[:maxLogLine])
				l.buf = append(l.buf[:0], l.buf[maxLogLine:]...)
				continue
			}
			return len(p), nil
		}
		l.emit(l.buf[:i])
		l.buf = append(l.buf[:0], l.buf[i+1:]...)
	}
}

func (l *lineLogger) emit(line []byte) {
	text := strings.TrimSuffix(string(line), "\r")
	l.log.Info("output", "supervisor", l.supervisor, "child", l.child, "stream", l.stream, "line", text)
}
