//go:build linux

package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// peerKey is the context key of a control connection's peer credentials.
type peerKey struct{}

// peerCred reads the credentials of the process at the other end of a
// Unix socket connection (SO_PEERCRED: who connected, checked by the
// kernel).
func peerCred(conn net.Conn) (*unix.Ucred, error) {
	uc, ok := conn.(*net.UnixConn)
	if !ok {
		return nil, fmt.Errorf("not a Unix socket connection")
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return nil, err
	}
	var cred *unix.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return nil, err
	}
	return cred, credErr
}

// connContext records each connection's peer credentials for onlyOwner.
func connContext(ctx context.Context, c net.Conn) context.Context {
	cred, err := peerCred(c)
	if err != nil {
		return context.WithValue(ctx, peerKey{}, err)
	}
	return context.WithValue(ctx, peerKey{}, cred)
}

// onlyOwner lets through the requests of this process's user and of root,
// and refuses every other (the socket's mode, 0600, is the first guard;
// this one holds when the socket's directory or mode was loosened).
func onlyOwner(next http.Handler) http.Handler {
	me := os.Getuid()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch v := r.Context().Value(peerKey{}).(type) {
		case *unix.Ucred:
			if int(v.Uid) == me || v.Uid == 0 {
				next.ServeHTTP(w, r)
				return
			}
			answer(w, nil, refuse(http.StatusForbidden, "uid %d may not control this tree: only its owner (uid %d) or root", v.Uid, me))
		case error:
			answer(w, nil, refuse(http.StatusForbidden, "the peer's credentials: %v", v))
		default:
			answer(w, nil, refuse(http.StatusForbidden, "no peer credentials"))
		}
	})
}

// parseSignal parses a signal's name ("TERM", "SIGTERM", "term") or number.
func parseSignal(s string) (syscall.Signal, error) {
	if s == "" {
		return 0, fmt.Errorf("no signal: name one, such as TERM or HUP")
	}
	var n int
	if _, err := fmt.Sscanf(s, "%d", &n); err == nil && fmt.Sprint(n) == s {
		if n < 1 || n > 64 {
			return 0, fmt.Errorf("no signal number %d", n)
		}
		return syscall.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("no such signal (want a name such as TERM, HUP, USR1, or a number)")
}

func signalName(s syscall.Signal) string {
	if n := unix.SignalName(s); n != "" {
		return n
	}
	return s.String()
}

// sendSignal sends sig to process pid.
func sendSignal(pid int, sig syscall.Signal) error { return syscall.Kill(pid, sig) }

// ownedByUs says whether fi's file belongs to this process's user.
func ownedByUs(fi os.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) == os.Geteuid()
}
