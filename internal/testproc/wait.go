package testproc

import (
	"context"
	"testing"
	"time"
)

// Deadline is how long a test waits for something before it calls it a
// hang.
const Deadline = 60 * time.Second

// Context returns a context that ends after Deadline, or when t ends.
func Context(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), Deadline)
	t.Cleanup(cancel)
	return ctx
}
