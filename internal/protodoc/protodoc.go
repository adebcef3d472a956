// Package protodoc reads the table of constants in docs/protocol.md, the
// worker protocol's reference, so that each implementation's tests can
// check their constants against it.
package protodoc

import (
	"bufio"
	"fmt"
	"os"
	"strings"
)

// Constants returns the table between the page's markers
// ("<!-- protocol constants: begin -->" and "... end -->"): each row's
// name, without its backquotes, and value, as written.
func Constants(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	got := map[string]string{}
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "<!-- protocol constants: begin -->":
			in = true
			continue
		case line == "<!-- protocol constants: end -->":
			in = false
			continue
		case !in || !strings.HasPrefix(line, "| `"):
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if len(cells) != 2 {
			return nil, fmt.Errorf("%s: a row of the constants table has %d cells, not 2: %q", path, len(cells), line)
		}
		name := strings.Trim(strings.TrimSpace(cells[0]), "`")
		if _, dup := got[name]; dup {
			return nil, fmt.Errorf("%s: %s listed twice in the constants table", path, name)
		}
		got[name] = strings.TrimSpace(cells[1])
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(got) == 0 {
		return nil, fmt.Errorf("%s: no constants table", path)
	}
	return got, nil
}
