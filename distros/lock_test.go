package distros

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/Azure/aadsshlogin-extension-linux/distros/internal/fixture"
	"github.com/Azure/aadsshlogin-extension-linux/handler/clock/clocktest"
	"github.com/Azure/aadsshlogin-extension-linux/handler/failure"
	"github.com/Azure/aadsshlogin-extension-linux/handler/sysroot"
)

// scriptedLocks reports a lock held for the first `busy` probes.
type scriptedLocks struct {
	path, holder string
	busy         int
	probes       int
}

func (s *scriptedLocks) Holder(p string) (bool, string) {
	if p != s.path {
		return false, ""
	}
	s.probes++
	return s.probes <= s.busy, s.holder
}

func TestWaitForLocks(t *testing.T) {
	// The fake clock starts at the real time, so that ctx's deadline (real
	// time) is ahead of it; only the fake clock advances while waiting.
	start := time.Now()
	tests := []struct {
		name     string
		busy     int
		deadline time.Duration // 0: ctx without deadline
		wantCode failure.Code
		wantLine []string
		wantTime time.Duration // fake time spent
	}{
		{name: "free", busy: 0, deadline: time.Minute, wantTime: 0},
		{name: "freed after three polls", busy: 3, deadline: time.Minute, wantTime: 3 * lockPoll,
			wantLine: []string{"waiting for the package manager: unattended-upgr (pid 812) holds /var/lib/dpkg/lock-frontend"}},
		{name: "deadline passes", busy: 1000, deadline: 30 * time.Second, wantCode: failure.PackageManagerBusy, wantTime: 25 * time.Second,
			wantLine: []string{"waiting for the package manager: unattended-upgr (pid 812) holds /var/lib/dpkg/lock-frontend"}},
		{name: "no deadline uses the default bound", busy: 1000, wantCode: failure.PackageManagerBusy, wantTime: defaultLockWait - lockPoll,
			wantLine: []string{"waiting for the package manager: unattended-upgr (pid 812) holds /var/lib/dpkg/lock-frontend"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := clocktest.New(start)
			var lines []string
			probe := &scriptedLocks{path: "/var/lib/dpkg/lock-frontend", holder: "unattended-upgr (pid 812)", busy: tt.busy}
			in := &Installer{Clock: clk, Locks: probe, Progress: func(s string) { lines = append(lines, s) }}
			ctx := context.Background()
			if tt.deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithDeadline(ctx, start.Add(tt.deadline))
				defer cancel()
			}
			err := in.waitForLocks(ctx, []string{"/var/lib/dpkg/lock", "/var/lib/dpkg/lock-frontend"})
			if got := failure.CodeOf(err); got != tt.wantCode {
				t.Fatalf("code %d (%v), want %d", got, err, tt.wantCode)
			}
			if err != nil && (!strings.Contains(err.Error(), "unattended-upgr (pid 812)") || !errors.Is(err, errLockWait)) {
				t.Errorf("message does not name the holder: %v", err)
			}
			if diff := cmp.Diff(tt.wantLine, lines); diff != "" {
				t.Errorf("progress (-want +got):\n%s", diff)
			}
			if got := clk.Now().Sub(start); got != tt.wantTime {
				t.Errorf("waited %v, want %v", got, tt.wantTime)
			}
		})
	}
}

func TestWaitForLocksCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	in := &Installer{Clock: clocktest.New(time.Unix(1e9, 0)), Locks: &scriptedLocks{path: "/x", holder: "pid 1", busy: 1}}
	if err := in.waitForLocks(ctx, []string{"/x"}); failure.CodeOf(err) != failure.PackageManagerBusy {
		t.Fatalf("err = %v", err)
	}
}

// fOFDSetLK is F_OFD_SETLK on Linux: an open-file-description lock, which
// conflicts with the prober's F_GETLK even inside one process.
const fOFDSetLK = 37

func TestSysLocksReal(t *testing.T) {
	dir := t.TempDir()
	root := sysroot.Root("") // real /proc is needed to see our own locks
	probe := SysLocks{Root: root}
	lockPath := filepath.Join(dir, "lock")
	if err := os.WriteFile(lockPath, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if held, _ := probe.Holder(lockPath); held {
		t.Fatal("free lock reported held")
	}
	if held, _ := probe.Holder(filepath.Join(dir, "absent")); held {
		t.Fatal("absent lock reported held")
	}

	t.Run("fcntl OFD lock", func(t *testing.T) {
		f, err := os.OpenFile(lockPath, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		lk := syscall.Flock_t{Type: syscall.F_WRLCK}
		if err := syscall.FcntlFlock(f.Fd(), fOFDSetLK, &lk); err != nil {
			t.Skipf("OFD locks unavailable: %v", err)
		}
		held, who := probe.Holder(lockPath)
		if !held || who == "" {
			t.Errorf("held=%v who=%q", held, who)
		}
	})
	t.Run("flock named via /proc/locks", func(t *testing.T) {
		if _, err := os.Stat("/proc/locks"); err != nil {
			t.Skip("no /proc/locks")
		}
		f, err := os.Open(lockPath)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			t.Fatal(err)
		}
		held, who := probe.Holder(lockPath)
		want := "(pid " + strconv.Itoa(os.Getpid()) + ")"
		if !held || !strings.Contains(who, want) {
			t.Errorf("held=%v who=%q, want it to contain %q", held, who, want)
		}
	})
}

func TestSysLocksPidFile(t *testing.T) {
	root := sysroot.Root(t.TempDir())
	fixture.WriteFile(t, root.Path("/proc/4242/comm"), "zypper\n")
	tests := []struct {
		content string
		held    bool
		who     string
	}{
		{"4242\n", true, "zypper (pid 4242)"},
		{"4343\n", false, ""}, // stale: no such process
		{"", false, ""},
		{"garbage", false, ""},
	}
	for _, tt := range tests {
		fixture.WriteFile(t, root.Path("/var/run/zypp.pid"), tt.content)
		held, who := SysLocks{Root: root}.Holder("/var/run/zypp.pid")
		if held != tt.held || who != tt.who {
			t.Errorf("%q: held=%v who=%q, want %v %q", tt.content, held, who, tt.held, tt.who)
		}
	}
}
