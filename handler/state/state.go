// Package state keeps the handler's version-independent state in one folder
// outside the versioned extension folder (the agent deletes that folder on
// update and removal): the lock that serialises invocations, the update
// marker that stops an old version's uninstall from removing the packages,
// and the record of the last successful enable.
package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/Azure/aadsshlogin-extension-linux/handler/atomicfile"
	"github.com/Azure/aadsshlogin-extension-linux/handler/clock"
)

// DefaultDir is the state folder on a real machine.
const DefaultDir = "/var/lib/aadsshlogin-extension"

// UpdateMarkerTTL bounds how long an update marker protects the packages:
// the agent runs the old uninstall within minutes of the new update.
const UpdateMarkerTTL = time.Hour

// Dir is the state folder.
type Dir struct {
	Path  string
	Clock clock.Clock
	// PID is written into the lock file while we hold it, so that a run
	// waiting for the lock can name the holder.
	PID int
}

// ErrLockTimeout is returned when another invocation holds the lock too long.
var ErrLockTimeout = errors.New("another invocation of the handler still holds the lock")

// LockHeldError says the lock is held by another process for longer than
// we could wait. It matches ErrLockTimeout with errors.Is. Every other
// error from Lock means the lock could not be taken at all (folder, file or
// flock failed) and names what failed.
type LockHeldError struct {
	// PID is the holder's, as it wrote it into the lock file (0: unknown,
	// for example a version that did not write it).
	PID    int
	Waited time.Duration
	// Err is the context's error when the wait was cut short.
	Err error
}

func (e *LockHeldError) Error() string {
	holder := "another invocation of the handler"
	if e.PID > 0 {
		holder += fmt.Sprintf(" (pid %d)", e.PID)
	}
	msg := fmt.Sprintf("%s still holds the lock (waited %s)", holder, e.Waited.Round(time.Second))
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Is makes errors.Is(err, ErrLockTimeout) true.
func (e *LockHeldError) Is(target error) bool { return target == ErrLockTimeout }

func (e *LockHeldError) Unwrap() error { return e.Err }

// lockHolder reads the PID the holder wrote into the lock file (0: none).
func lockHolder(f *os.File) int {
	b := make([]byte, 32)
	n, _ := f.ReadAt(b, 0)
	var pid int
	if _, err := fmt.Sscanf(string(b[:n]), "%d", &pid); err != nil || pid < 0 {
		return 0
	}
	return pid
}

// Ensure creates the folder with mode 0700.
func (d Dir) Ensure() error {
	if err := os.MkdirAll(d.Path, 0o700); err != nil {
		return fmt.Errorf("state folder: %w", err)
	}
	return os.Chmod(d.Path, 0o700)
}

// Lock takes the exclusive handler lock, waiting at most wait. The lock is
// an flock on a file, so it is released by the kernel if we are killed.
//
// A lock held by another process past wait (or past ctx) is a
// *LockHeldError naming the holder's PID; failing to create the folder, open
// the file or flock it is a different error naming what failed.
func (d Dir) Lock(ctx context.Context, wait time.Duration) (unlock func(), err error) {
	if err := d.Ensure(); err != nil {
		return nil, err
	}
	path := filepath.Join(d.Path, "lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	start := d.Clock.Now()
	deadline := start.Add(wait)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			if d.PID > 0 {
				// Best effort: only the message of a waiting run depends on it.
				_ = f.Truncate(0)
				_, _ = f.WriteAt([]byte(fmt.Sprintf("%d\n", d.PID)), 0)
			}
			return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, &os.PathError{Op: "flock", Path: path, Err: err}
		}
		if !d.Clock.Now().Before(deadline) {
			defer f.Close()
			return nil, &LockHeldError{PID: lockHolder(f), Waited: wait}
		}
		if err := d.Clock.Sleep(ctx, 250*time.Millisecond); err != nil {
			defer f.Close()
			return nil, &LockHeldError{PID: lockHolder(f), Waited: d.Clock.Now().Sub(start), Err: err}
		}
	}
}

// UpdateMarker says that version From is being replaced by version To.
type UpdateMarker struct {
	From string    `json:"from"`
	To   string    `json:"to"`
	Time time.Time `json:"time"`
}

func (d Dir) markerPath() string { return filepath.Join(d.Path, "update-in-progress.json") }

// WriteUpdateMarker records an update in progress.
func (d Dir) WriteUpdateMarker(m UpdateMarker) error {
	if err := d.Ensure(); err != nil {
		return err
	}
	return writeJSON(d.markerPath(), m)
}

// ActiveUpdate returns the marker when one exists and is younger than
// UpdateMarkerTTL.
func (d Dir) ActiveUpdate() (UpdateMarker, bool) {
	var m UpdateMarker
	if readJSON(d.markerPath(), &m) != nil {
		return m, false
	}
	age := d.Clock.Now().Sub(m.Time)
	return m, age >= -time.Minute && age < UpdateMarkerTTL
}

// ClearUpdateMarker removes the marker; a missing marker is fine.
func (d Dir) ClearUpdateMarker() error {
	if err := os.Remove(d.markerPath()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// Record describes the last successful enable.
type Record struct {
	Version string    `json:"version"`
	Seq     int       `json:"seq"`
	Time    time.Time `json:"time"`
}

func (d Dir) recordPath() string { return filepath.Join(d.Path, "last-success.json") }

// WriteRecord stores the last successful enable.
func (d Dir) WriteRecord(r Record) error {
	if err := d.Ensure(); err != nil {
		return err
	}
	return writeJSON(d.recordPath(), r)
}

// LastSuccess returns the record of the last successful enable, if any.
func (d Dir) LastSuccess() (Record, bool) {
	var r Record
	return r, readJSON(d.recordPath(), &r) == nil
}

// Forget removes the record (after uninstall).
func (d Dir) Forget() error {
	if err := os.Remove(d.recordPath()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

func writeJSON(path string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, data, 0o600)
}

// readJSON decodes a state file of at most 64 KiB; a larger one fails to
// decode (it is cut off), so it counts as absent like any corrupt file.
func readJSON(path string, v any) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return json.NewDecoder(io.LimitReader(f, 64<<10)).Decode(v)
}
