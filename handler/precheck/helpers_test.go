package precheck

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/Azure/aadsshlogin-extension-linux/handler/sysroot"
)

// tree builds a temporary root. Keys are system paths; a value ending the key
// with "/" creates a directory.
func tree(t testing.TB, files map[string]string) sysroot.Root {
	t.Helper()
	root := sysroot.Root(t.TempDir())
	for p, content := range files {
		full := root.Path(p)
		if p[len(p)-1] == '/' {
			if err := os.MkdirAll(full, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}
