package state

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

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

func TestUpdateMarker(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clocktest.New(start)
	d := Dir{Path: filepath.Join(t.TempDir(), "s"), Clock: clk}
	if _, ok := d.ActiveUpdate(); ok {
		t.Fatal("marker active before any update")
	}
	m := UpdateMarker{From: "1.0.0.1", To: "1.0.0.2", Time: start}
	if err := d.WriteUpdateMarker(m); err != nil {
		t.Fatal(err)
	}
	got, ok := d.ActiveUpdate()
	if !ok {
		t.Fatal("fresh marker not active")
	}
	if diff := cmp.Diff(m, got); diff != "" {
		t.Error(diff)
	}
	clk.Advance(UpdateMarkerTTL + time.Second)
	if _, ok := d.ActiveUpdate(); ok {
		t.Error("stale marker still active")
	}
	if err := d.ClearUpdateMarker(); err != nil {
		t.Fatal(err)
	}
	if err := d.ClearUpdateMarker(); err != nil {
		t.Fatalf("second clear: %v", err)
	}
}

func TestRecord(t *testing.T) {
	d := Dir{Path: t.TempDir(), Clock: clocktest.Real()}
	if _, ok := d.LastSuccess(); ok {
		t.Fatal("record before write")
	}
	r := Record{Version: "1.0.0.1", Seq: 4, Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	if err := d.WriteRecord(r); err != nil {
		t.Fatal(err)
	}
	got, ok := d.LastSuccess()
	if !ok || !cmp.Equal(r, got) {
		t.Fatalf("LastSuccess = %+v, %v", got, ok)
	}
	if err := os.WriteFile(d.recordPath(), []byte("{garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, ok := d.LastSuccess(); ok {
		t.Error("corrupt record accepted")
	}
	big := `{"version":"` + strings.Repeat("x", 70<<10) + `","seq":1}`
	if err := os.WriteFile(d.recordPath(), []byte(big), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, ok := d.LastSuccess(); ok {
		t.Error("a record larger than 64 KiB was accepted")
	}
	if err := d.Forget(); err != nil {
		t.Fatal(err)
	}
}
