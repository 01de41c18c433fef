package distros

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/Azure/aadsshlogin-extension-linux/handler/failure"
	"github.com/Azure/aadsshlogin-extension-linux/handler/sysroot"
)

// LockProbe tells whether a package-manager lock is held, without taking
// it. Tests substitute a fake; SysLocks is the real one.
type LockProbe interface {
	// Holder reports whether the lock at the system path p is held and, if
	// it can tell, by whom ("unattended-upgr (pid 812)").
	Holder(p string) (held bool, holder string)
}

// lockPoll is how often a held lock is probed again.
const lockPoll = 5 * time.Second

// defaultLockWait bounds the wait when ctx has no deadline.
const defaultLockWait = 5 * time.Minute

// SysLocks probes real lock files below Root. Files ending in ".pid" are
// pid files (zypper, yum, dnf): held while the process they name runs.
// Other files are fcntl/flock lock files (dpkg, apt, rpm): probed with
// F_GETLK (non-intrusive: it never takes the lock) and /proc/locks, which
// also names the holder of flock locks.
type SysLocks struct{ Root sysroot.Root }

// Holder implements LockProbe.
func (s SysLocks) Holder(p string) (bool, string) {
	if strings.HasSuffix(p, ".pid") {
		return s.pidFileHolder(p)
	}
	f, err := os.Open(s.Root.Path(p))
	if err != nil {
		return false, "" // absent or unreadable: nobody can hold it
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return false, ""
	}
	lk := syscall.Flock_t{Type: syscall.F_WRLCK, Whence: 0, Start: 0, Len: 0}
	held, pid := false, 0
	if err := syscall.FcntlFlock(f.Fd(), syscall.F_GETLK, &lk); err == nil && lk.Type != syscall.F_UNLCK {
		held, pid = true, int(lk.Pid)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		if lpid, found := s.procLocksHolder(uint64(st.Dev), st.Ino); found {
			held = true
			if pid <= 0 {
				pid = lpid
			}
		}
	}
	if !held {
		return false, ""
	}
	return true, s.describe(pid)
}

func (s SysLocks) pidFileHolder(p string) (bool, string) {
	data, err := s.Root.ReadFile(p)
	if err != nil {
		return false, ""
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 || pid == os.Getpid() {
		return false, ""
	}
	if !s.Root.Exists("/proc/" + strconv.Itoa(pid)) {
		return false, "" // stale pid file
	}
	return true, s.describe(pid)
}

// procLocksHolder finds an active lock on dev/ino in /proc/locks, e.g.
// "1: POSIX  ADVISORY  WRITE 812 08:01:1234 0 EOF" or "2: FLOCK ...".
func (s SysLocks) procLocksHolder(dev, ino uint64) (int, bool) {
	data, err := s.Root.ReadFile("/proc/locks")
	if err != nil {
		return 0, false
	}
	major := (dev>>8)&0xfff | (dev>>32)&^uint64(0xfff)
	minor := dev&0xff | (dev>>12)&^uint64(0xff)
	want := fmt.Sprintf("%02x:%02x:%d", major, minor, ino)
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 || f[1] == "->" { // "->" marks a waiter, not a holder
			continue
		}
		if f[5] == want {
			pid, _ := strconv.Atoi(f[4])
			return pid, true
		}
	}
	return 0, false
}

// describe names a process: "comm (pid N)", or "pid N", or "another process".
func (s SysLocks) describe(pid int) string {
	if pid <= 0 {
		return "another process"
	}
	comm, err := s.Root.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	if err != nil || len(strings.TrimSpace(string(comm))) == 0 {
		return fmt.Sprintf("pid %d", pid)
	}
	return fmt.Sprintf("%s (pid %d)", strings.TrimSpace(string(comm)), pid)
}

// errLockWait is wrapped by the PackageManagerBusy error.
var errLockWait = errors.New("package-manager lock held too long")

// waitForLocks waits until none of the lock files is held, reporting each
// new holder through Progress. The wait ends at ctx's deadline (or after
// defaultLockWait without one) with failure.PackageManagerBusy.
func (in *Installer) waitForLocks(ctx context.Context, files []string) error {
	probe := in.lockProbe()
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = in.Clock.Now().Add(defaultLockWait)
	}
	start := in.Clock.Now()
	lastHolder := ""
	for {
		busyPath, holder := "", ""
		for _, f := range files {
			if held, who := probe.Holder(f); held {
				busyPath, holder = f, who
				break
			}
		}
		if busyPath == "" {
			return nil
		}
		if desc := holder + " holds " + busyPath; desc != lastHolder {
			lastHolder = desc
			in.progress("waiting for the package manager: %s", desc)
		}
		now := in.Clock.Now()
		if !now.Add(lockPoll).Before(deadline) {
			return in.busy(busyPath, holder, now.Sub(start))
		}
		if err := in.Clock.Sleep(ctx, lockPoll); err != nil {
			return in.busy(busyPath, holder, in.Clock.Now().Sub(start))
		}
	}
}

func (in *Installer) lockProbe() LockProbe {
	if in.Locks == nil {
		return SysLocks{Root: in.Root}
	}
	return in.Locks
}

func (in *Installer) busy(p, holder string, waited time.Duration) error {
	return failure.Wrap(failure.PackageManagerBusy, errLockWait,
		"the package manager is busy: %s has held %s for %s (at first boot usually automatic updates, cloud-init or the image's registration, which end on their own); "+
			"once it has finished, "+failure.SetAgain,
		holder, p, waited.Round(time.Second))
}
