package precheck

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
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

// checkMessage fails t when msg (a message the user reads) lacks any of
// want or has any of not, naming all of them at once.
func checkMessage(t testing.TB, msg string, want, not []string) {
	t.Helper()
	lacks := slices.DeleteFunc(slices.Clone(want), func(w string) bool { return strings.Contains(msg, w) })
	has := slices.DeleteFunc(slices.Clone(not), func(n string) bool { return !strings.Contains(msg, n) })
	if len(lacks) > 0 || len(has) > 0 {
		t.Errorf("message lacks %q, has %q:\n%s", lacks, has, msg)
	}
}
