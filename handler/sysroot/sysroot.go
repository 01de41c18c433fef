// Package sysroot is the seam for the machine's filesystem: every absolute
// system path the handler reads or writes (/etc, /proc, /var/lib/waagent…)
// is resolved through a Root, so tests can point it at a temporary tree.
package sysroot

import (
	"io/fs"
	"os"
	"path/filepath"
)

// Root is the directory that stands for "/". The empty Root is the real one.
type Root string

// Path maps an absolute system path into the root.
func (r Root) Path(p string) string {
	if r == "" || r == "/" {
		return filepath.Clean(p)
	}
	return filepath.Join(string(r), filepath.Clean("/"+p))
}

// ReadFile reads a system file.
func (r Root) ReadFile(p string) ([]byte, error) { return os.ReadFile(r.Path(p)) }

// Exists reports whether a system path exists (without following a final symlink).
func (r Root) Exists(p string) bool {
	_, err := os.Lstat(r.Path(p))
	return err == nil
}

// ReadDir lists the names of the regular files and symlinks in a system
// directory (subdirectories and other special files are left out).
func (r Root) ReadDir(dir string) ([]string, error) {
	entries, err := os.ReadDir(r.Path(dir))
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		if e.Type().IsRegular() || e.Type()&fs.ModeSymlink != 0 {
			names = append(names, e.Name())
		}
	}
	return names, nil
}
