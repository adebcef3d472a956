package protodoc_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/understudy/understudy/internal/protodoc"
)

// TestConstants: the table between the markers is read; a row listed twice,
// a row of the wrong shape and a page without the table are errors.
func TestConstants(t *testing.T) {
	got, err := protodoc.Constants("../../docs/protocol.md")
	require.NoError(t, err)
	assert.Equal(t, "1", got["version"])

	dir := t.TempDir()
	for name, page := range map[string]string{
		"listed twice": "<!-- protocol constants: begin -->\n| `a` | 1 |\n| `a` | 2 |\n<!-- protocol constants: end -->\n",
		"3 cells":      "<!-- protocol constants: begin -->\n| `a` | 1 | x |\n<!-- protocol constants: end -->\n",
		"no table":     "# nothing here\n| `a` | 1 |\n",
	} {
		path := filepath.Join(dir, "p.md")
		require.NoError(t, os.WriteFile(path, []byte(page), 0o644))
		_, err := protodoc.Constants(path)
		assert.Error(t, err, name)
	}
}
