package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/understudy/understudy/spec"
)

// maxSocketPath is the longest path a Unix socket can be bound to
// (sockaddr_un's sun_path holds 108 bytes with its terminating zero).
const maxSocketPath = 107

// socketDir is where `understudy run` serves its control socket by
// default, and where `understudy ctl` looks for it: $XDG_RUNTIME_DIR/understudy
// (empty without $XDG_RUNTIME_DIR).
func socketDir() string {
	d := os.Getenv("XDG_RUNTIME_DIR")
	if d == "" {
		return ""
	}
	return filepath.Join(d, "understudy")
}

// defaultSocket is the control socket of the tree f declares: NAME.sock
// in socketDir, or, without $XDG_RUNTIME_DIR, beside the file (tree.yaml:
// tree.sock).
func defaultSocket(f *spec.File) string {
	if d := socketDir(); d != "" {
		return filepath.Join(d, rootName(f)+".sock")
	}
	p := f.Path
	if abs, err := filepath.Abs(p); err == nil {
		p = abs
	}
	return strings.TrimSuffix(p, filepath.Ext(p)) + ".sock"
}

// controlServer serves the control handler on a Unix socket.
type controlServer struct {
	path string
	srv  *http.Server
	wg   sync.WaitGroup
}

// serveControl listens on the Unix socket at path (mode 0600; its
// directory is created 0700 when missing), replacing a stale socket that
// no process serves, and serves h, each request checked by onlyOwner.
func serveControl(path string, h http.Handler) (*controlServer, error) {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	if len(path) > maxSocketPath {
		return nil, fmt.Errorf("%s: %d bytes, and a Unix socket's path holds at most %d: pass --socket with a shorter one", path, len(path), maxSocketPath)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != os.ModeSocket {
			return nil, fmt.Errorf("%s exists and is not a socket: remove it or pass --socket", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("%s: another understudy serves it: pass --socket to serve another", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("%s: a stale socket that cannot be removed: %w", path, err)
		}
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(true)
	s := &controlServer{path: path, srv: &http.Server{Handler: onlyOwner(h), ConnContext: connContext, ReadHeaderTimeout: 10 * time.Second}}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			_ = err // the listener failed; the tree runs on without its control socket
		}
	}()
	return s, nil
}

// stop closes the socket, ends the requests in flight (an events stream
// too) and waits for the server.
func (s *controlServer) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		s.srv.Close()
	}
	s.wg.Wait()
}
