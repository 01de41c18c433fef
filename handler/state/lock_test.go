package state

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/Azure/aadsshlogin-extension-linux/handler/clock/clocktest"
)

// TestLockErrorsTellHeldFromBroken: a lock held by another process is a
// *LockHeldError naming its PID (also when the context ends the wait);
// a lock that cannot be taken at all is not ErrLockTimeout.
func TestLockErrorsTellHeldFromBroken(t *testing.T) {
	clk := clocktest.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	path := filepath.Join(t.TempDir(), "state")
	holder := Dir{Path: path, Clock: clk, PID: 77}
	unlock, err := holder.Lock(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	waiter := Dir{Path: path, Clock: clk, PID: 88}
	var held *LockHeldError
	if _, err := waiter.Lock(context.Background(), time.Second); !errors.As(err, &held) || held.PID != 77 || !errors.Is(err, ErrLockTimeout) {
		t.Fatalf("held lock: err = %v, want a LockHeldError naming pid 77", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := waiter.Lock(ctx, time.Minute); !errors.As(err, &held) || held.PID != 77 || !errors.Is(err, context.Canceled) {
		t.Fatalf("held lock, context ended: err = %v, want a LockHeldError naming pid 77 wrapping context.Canceled", err)
	}

	broken := Dir{Path: filepath.Join(t.TempDir(), "state"), Clock: clk}
	if err := os.MkdirAll(filepath.Join(broken.Path, "lock"), 0o700); err != nil {
		t.Fatal(err)
	}
	var pe *os.PathError
	if _, err := broken.Lock(context.Background(), time.Second); err == nil || errors.Is(err, ErrLockTimeout) || !errors.As(err, &pe) || pe.Op != "open" {
		t.Fatalf("lock file is a folder: err = %v, want an open PathError, not ErrLockTimeout", err)
	}
}
