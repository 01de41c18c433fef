package state

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

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
