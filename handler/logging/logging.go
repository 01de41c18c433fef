// Package logging writes the handler's logfmt log to <logFolder>/handler.log
// with a size cap: when the file is larger than the cap it is rotated to
// handler.log.1 (one generation kept), so the log never grows without bound.
package logging

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/go-kit/log"
)

// FileName is the log file's name inside the agent's log folder.
const FileName = "handler.log"

// DefaultMaxSize is the size at which handler.log is rotated.
const DefaultMaxSize = 4 << 20

// Open opens (creating or rotating as needed) the log file in dir.
func Open(dir string, maxSize int64) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("log folder: %w", err)
	}
	path := filepath.Join(dir, FileName)
	if st, err := os.Stat(path); err == nil && st.Size() >= maxSize {
		if err := os.Rename(path, path+".1"); err != nil {
			return nil, fmt.Errorf("rotate log: %w", err)
		}
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	return f, nil
}

// New returns a logfmt logger on w with a UTC timestamp and the given
// stable key/value pairs (op, seq, version, pid).
func New(w io.Writer, keyvals ...any) log.Logger {
	l := log.NewLogfmtLogger(log.NewSyncWriter(w))
	l = log.With(l, "ts", log.DefaultTimestampUTC)
	return log.With(l, keyvals...)
}
