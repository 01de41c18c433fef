// Package atomicfile writes files so that a reader (or a crash) sees either
// the old content or the new, never a torn file: write a temporary file in the
// same folder, fsync it, rename it over the target, fsync the folder.
package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
)

// WriteFile atomically replaces path with data, with permissions perm.
// The temporary file's name starts with "." and ends in ".tmp", so globbing
// readers (the agent's `*.status`, `^\d+\.json$` events) never pick it up.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".*.tmp")
	if err != nil {
		return fmt.Errorf("atomic write %s: %w", path, err)
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(perm); err != nil {
		return fmt.Errorf("atomic write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("atomic write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("atomic write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("atomic write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("atomic write %s: %w", path, err)
	}
	ok = true
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// SweepTemps removes temporary files WriteFile left in dir when its process
// was killed between creating and renaming them. Call it only while holding
// the lock that serialises writers of dir. It returns how many it removed.
func SweepTemps(dir string) int {
	matches, _ := filepath.Glob(filepath.Join(dir, ".*.tmp"))
	n := 0
	for _, m := range matches {
		if st, err := os.Lstat(m); err == nil && st.Mode().IsRegular() && os.Remove(m) == nil {
			n++
		}
	}
	return n
}
