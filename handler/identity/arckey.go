package identity

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
)

// HIMDS's challenge (probeArc) names a file whose contents are the secret;
// the handler reads it only where, and as, the Arc agent keeps its keys.

// errArcPath explains why a realm path is refused.
type errArcPath struct{ reason string }

func (e *errArcPath) Error() string { return e.reason }

func refuse(format string, args ...any) error {
	return &errArcPath{reason: fmt.Sprintf(format, args...)}
}

// checkArcKeyPath validates a challenge path syntactically: absolute, clean,
// no "..", directly under ArcTokenDir, named *.key.
func checkArcKeyPath(p string) error {
	if !strings.HasPrefix(p, "/") {
		return refuse("the path is not absolute")
	}
	if strings.ContainsRune(p, 0) {
		return refuse("the path contains a NUL byte")
	}
	// Stricter than needed (a name like "a..key" is harmless), on purpose.
	if strings.Contains(p, "..") {
		return refuse("the path contains \"..\"")
	}
	if path.Clean(p) != p {
		return refuse("the path is not in canonical form")
	}
	if path.Dir(p) != ArcTokenDir {
		return refuse("the file is not directly under %s", ArcTokenDir)
	}
	if base := path.Base(p); !strings.HasSuffix(base, ".key") || len(base) == len(".key") {
		return refuse("the file name does not end in .key")
	}
	return nil
}

// readArcKey validates the challenge file and returns its contents (with a
// trailing newline removed). The file must be a regular file, no component
// of its path (under Root) may be a symlink, and its size is at most
// ArcKeyMaxBytes.
func (s settings) readArcKey(p string) (string, error) {
	if err := checkArcKeyPath(p); err != nil {
		return "", err
	}
	// Lstat every component below the root: /var, /var/opt, ..., the file.
	var final os.FileInfo
	cur := ""
	comps := strings.Split(strings.TrimPrefix(p, "/"), "/")
	for i, c := range comps {
		cur += "/" + c
		fi, err := os.Lstat(s.root.Path(cur))
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return "", refuse("%s does not exist", cur)
			}
			return "", fmt.Errorf("inspecting %s: %w", cur, err)
		}
		if fi.Mode()&os.ModeSymlink != 0 {
			return "", refuse("%s is a symbolic link", cur)
		}
		last := i == len(comps)-1
		if !last && !fi.IsDir() {
			return "", refuse("%s is not a directory", cur)
		}
		if last {
			if !fi.Mode().IsRegular() {
				return "", refuse("%s is not a regular file", cur)
			}
			if fi.Size() > ArcKeyMaxBytes {
				return "", refuse("%s has %d bytes, more than %d", cur, fi.Size(), ArcKeyMaxBytes)
			}
			final = fi
		}
	}
	full := s.root.Path(p)
	// Belt and braces: resolving the path must stay in the token directory.
	resolved, err := filepath.EvalSymlinks(full)
	if err != nil {
		return "", fmt.Errorf("resolving %s: %w", p, err)
	}
	dir, err := filepath.EvalSymlinks(s.root.Path(ArcTokenDir))
	if err != nil {
		return "", fmt.Errorf("resolving %s: %w", ArcTokenDir, err)
	}
	if filepath.Dir(resolved) != dir {
		return "", refuse("%s resolves outside %s", p, ArcTokenDir)
	}
	// O_NOFOLLOW + same-file check close the window between Lstat and open.
	f, err := os.OpenFile(full, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return "", fmt.Errorf("opening %s: %w", p, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("inspecting %s: %w", p, err)
	}
	if !fi.Mode().IsRegular() || !os.SameFile(fi, final) {
		return "", refuse("%s changed while being checked", p)
	}
	data, err := io.ReadAll(io.LimitReader(f, ArcKeyMaxBytes+1))
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", p, err)
	}
	if len(data) > ArcKeyMaxBytes {
		return "", refuse("%s grew beyond %d bytes", p, ArcKeyMaxBytes)
	}
	data = bytes.TrimRight(data, "\r\n")
	if len(data) == 0 {
		return "", refuse("%s is empty", p)
	}
	for _, b := range data {
		if b < 0x20 || b == 0x7f {
			return "", refuse("%s contains control characters", p)
		}
	}
	return string(data), nil
}
