//go:build !linux

package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"syscall"
)

// errControlNotSupported: the control socket checks its peers' credentials
// with Linux's SO_PEERCRED, and signals processes by pid.
var errControlNotSupported = errors.New("the control socket needs Linux")

func connContext(ctx context.Context, _ net.Conn) context.Context { return ctx }

// onlyOwner refuses every request: no peer credentials to check.
func onlyOwner(http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		answer(w, nil, refuse(http.StatusForbidden, "%v", errControlNotSupported))
	})
}

func parseSignal(string) (syscall.Signal, error) { return 0, errControlNotSupported }

func signalName(s syscall.Signal) string { return s.String() }

func sendSignal(int, syscall.Signal) error { return errControlNotSupported }

// ownedByUs is true: the control socket is not served here at all.
func ownedByUs(os.FileInfo) bool { return true }
