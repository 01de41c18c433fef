package state

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/Azure/aadsshlogin-extension-linux/handler/clock/clocktest"
)

func TestLockSerialisesAndTimesOut(t *testing.T) {
	clk := clocktest.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	d := Dir{Path: filepath.Join(t.TempDir(), "state"), Clock: clk}
	unlock, err := d.Lock(context.Background(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// A second holder (another process in real life: flock locks are per
	// open file description, so a second open in this process contends).
	_, err = d.Lock(context.Background(), 5*time.Second)
	if !errors.Is(err, ErrLockTimeout) {
		t.Fatalf("second lock: err = %v, want ErrLockTimeout", err)
	}
	if got := clk.Slept(); got < 5*time.Second || got > 6*time.Second {
		t.Errorf("waited %s on the fake clock, want about 5s", got)
	}
	unlock()
	unlock2, err := d.Lock(context.Background(), 0)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	unlock2()
	st, _ := os.Stat(d.Path)
	if st.Mode().Perm() != 0o700 {
		t.Errorf("state folder mode %v", st.Mode().Perm())
	}
}

func TestLockConcurrent(t *testing.T) {
	d := Dir{Path: t.TempDir(), Clock: clocktest.Real()}
	var mu sync.Mutex
	inside, maxInside := 0, 0
	var wg sync.WaitGroup
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			unlock, err := d.Lock(context.Background(), 10*time.Second)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			inside++
			maxInside = max(maxInside, inside)
			mu.Unlock()
			time.Sleep(5 * time.Millisecond)
			mu.Lock()
			inside--
			mu.Unlock()
			unlock()
		}()
	}
	wg.Wait()
	if maxInside != 1 {
		t.Errorf("%d holders at once", maxInside)
	}
}

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
