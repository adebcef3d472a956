package testproc

import (
	"errors"
	"fmt"
	"os"
)

// CountStart records one more start of a worker in the file at path (a
// byte appended, so concurrent starts never lose one) and returns how many
// starts the file has seen, this one included.
func CountStart(path string) (int, error) {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return 0, err
	}
	_, werr := f.Write([]byte{1})
	if err := f.Close(); err != nil || werr != nil {
		return 0, fmt.Errorf("testproc: count a start in %s: %w", path, errors.Join(werr, err))
	}
	st, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	return int(st.Size()), nil
}
