package distros

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/Azure/aadsshlogin-extension-linux/handler/atomicfile"
	"github.com/Azure/aadsshlogin-extension-linux/handler/sysroot"
)

// readOptional reads a system file; a missing file is (nil, false, nil).
func readOptional(root sysroot.Root, p string) ([]byte, bool, error) {
	data, err := root.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return data, true, nil
}

// writeSys atomically writes a system file below root, creating parents.
func writeSys(root sysroot.Root, p string, data []byte) error {
	full := root.Path(p)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		return err
	}
	return atomicfile.WriteFile(full, data, 0o644)
}

// restoreSys puts back what p held before this extension wrote it:
// previous when it existed, no file otherwise.
func restoreSys(root sysroot.Root, p string, existed bool, previous []byte) error {
	if existed {
		return writeSys(root, p, previous)
	}
	return removeSys(root, p)
}

// removeSys removes a system file below root; a missing file is fine.
func removeSys(root sysroot.Root, p string) error {
	err := os.Remove(root.Path(p))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}
