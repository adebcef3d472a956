package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/understudy/understudy/spec"
)

// maxSocketPath is the longest path a Unix socket can be bound to
// (sockaddr_un's sun_path holds 108 bytes with its terminating zero).
const maxSocketPath = 107

// socketDir is where `understudy run` serves its control socket by
// default and where `understudy ctl` looks for it, by one rule, the one
// systemd follows for a runtime directory: $XDG_RUNTIME_DIR/understudy;
// without $XDG_RUNTIME_DIR, /run/understudy for root, /run/user/UID/understudy
// for a user whose /run/user/UID exists, else $TMPDIR/understudy-UID. rule
// says which of these applies, for messages.
func socketDir() (dir, rule string) {
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "understudy"), "$XDG_RUNTIME_DIR/understudy"
	}
	uid := os.Geteuid()
	if uid == 0 {
		return "/run/understudy", "root's, without $XDG_RUNTIME_DIR"
	}
	user := filepath.Join("/run/user", strconv.Itoa(uid))
	if privateDir(user) == nil {
		return filepath.Join(user, "understudy"), "/run/user/UID/understudy, without $XDG_RUNTIME_DIR"
	}
	return filepath.Join(os.TempDir(), "understudy-"+strconv.Itoa(uid)), "$TMPDIR/understudy-UID, without $XDG_RUNTIME_DIR or /run/user/UID"
}

// privateDir checks that dir is a directory (not a link to one) of this
// process's user that no one else may enter: a socket in it is nobody
// else's to plant or replace.
func privateDir(dir string) error {
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	switch {
	case !fi.IsDir():
		return fmt.Errorf("%s is not a directory", dir)
	case !ownedByUs(fi):
		return fmt.Errorf("%s belongs to another user", dir)
	case fi.Mode().Perm()&0o077 != 0:
		return fmt.Errorf("%s has mode %04o: others may enter it (want 0700)", dir, fi.Mode().Perm())
	}
	return nil
}

// defaultSocket is the control socket of the tree f declares: NAME.sock
// in socketDir, which it creates (mode 0700) when missing.
func defaultSocket(f *spec.File) (string, error) {
	dir, _ := socketDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	if err := privateDir(dir); err != nil {
		return "", err
	}
	return filepath.Join(dir, rootName(f)+".sock"), nil
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
