package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"
)

// The first-boot machine (Plan.FirstBoot): what a VM looks like while the
// extension is deployed with it, where the calm sandbox is kinder.
//
//   - sshd has not started: no /run/sshd (systemd creates it when sshd
//     starts; socket-activated ssh starts on the first connection), so the
//     real `sshd -T` exits 255;
//   - unattended-upgrades takes the dpkg and apt locks right after each of
//     the handler's apt-get/dpkg commands ends, i.e. between two steps of a
//     run, as apt-daily, unattended-upgrades and cloud-init do at boot;
//   - /proc/meminfo says MemTotal 842 MiB, what a real 1 GiB Azure VM shows
//     (README "Memory"): a file bind-mounted over the chroot's
//     /proc/meminfo, which the handler reads like any program in the VM;
//   - after the first install, another Microsoft product (Defender for
//     Endpoint, packages-microsoft-prod) rewrites microsoft-prod.list.
//
// Not modelled: cloud-init still writing files, sshd host keys being
// generated, a clock jumping at first NTP sync, rpm and zypp locks (the
// sandbox is Debian).

// Check phases of the first-boot plan (Phase.Check), besides "installed"
// and "absent".
const (
	// CheckFirstBoot verifies the machine state above before the first run.
	CheckFirstBoot = "first-boot-machine"
	// CheckLockWaits requires that the lock taker took the locks between
	// the handler's steps and that the handler waited for it, naming it.
	CheckLockWaits = "lock-waits"
	// CheckForeignRepo rewrites microsoft-prod.list as another product does.
	CheckForeignRepo = "foreign-repo"
	// CheckForeignRepoIntact requires that rewrite to be left untouched.
	CheckForeignRepoIntact = "foreign-repo-intact"
)

// firstBootMemTotalKiB is the MemTotal of a real 1 GiB Azure VM: 842 MiB
// (free -h, knkrn5/Programming-Concepts#63).
const firstBootMemTotalKiB = 862208

// foreignRepoList is what packages-microsoft-prod writes for Debian 12.
const foreignRepoList = "deb [arch=amd64,arm64,armhf signed-by=/usr/share/keyrings/microsoft-prod.gpg] https://packages.microsoft.com/debian/12/prod bookworm main\n"

const (
	foreignRepoPath = "/etc/apt/sources.list.d/microsoft-prod.list"
	lockTakerLog    = "/var/log/lock-taker.log"
	handlerLog      = "/var/log/azure/" + HandlerName + "/handler.log"
)

// lockTakerScript runs in the VM as "unattended-upgr" (the process name
// unattended-upgrades has in ps). It watches for apt-get, apt and dpkg
// processes; when one ends it takes the dpkg and apt lists locks with
// fcntl (as apt does) for holdSeconds, unless they are taken already
// (apt-get still running its dpkg), and logs each grab. It starts holding
// the locks, as apt-daily does at boot, and keeps them until the handler's
// log shows it waiting for them (or a minute passes): the first package
// step always meets a held lock, whatever the timing of the later grabs.
const lockTakerScript = `import fcntl, os, sys, time
hold = float(sys.argv[1])
open('/proc/self/comm', 'w').write('unattended-upgr')
locks = ['/var/lib/dpkg/lock-frontend', '/var/lib/dpkg/lock', '/var/lib/apt/lists/lock']
log = open(sys.argv[2], 'a', buffering=1)
boot = []
for l in locks:
    f = open(l, 'a')
    fcntl.lockf(f, fcntl.LOCK_EX)
    boot.append(f)
log.write('started pid %d, holding the dpkg and apt locks as at boot\n' % os.getpid())
end = time.time() + 60
while time.time() < end:
    try:
        if 'waiting for the package manager' in open(sys.argv[3]).read():
            break
    except OSError:
        pass
    time.sleep(0.05)
time.sleep(hold)
for f in boot:
    f.close()
log.write('boot hold released\n')
seen = {}
def scan():
    out = {}
    for p in os.listdir('/proc'):
        if not p.isdigit():
            continue
        try:
            c = open('/proc/%s/comm' % p).read().strip()
        except OSError:
            continue
        if c in ('apt-get', 'apt', 'dpkg'):
            out[p] = c
    return out
while True:
    now = scan()
    gone = [(p, c) for p, c in seen.items() if p not in now]
    seen = now
    if not gone:
        time.sleep(0.005)
        continue
    fs, ok = [], True
    for l in locks:
        f = open(l, 'a')
        try:
            fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fs.append(f)
        except OSError:
            ok = False
            f.close()
            break
    if ok:
        log.write('grab after %s (%s) ended: holding the dpkg and apt locks for %.1fs\n' % (gone[0][1], gone[0][0], hold))
        time.sleep(hold)
    for f in fs:
        f.close()
    seen = scan()
`

// prepareFirstBoot turns the prepared chroot into the first-boot machine.
func prepareFirstBoot(h *Host, workDir string, out io.Writer) error {
	fmt.Fprintln(out, "-- first boot: no /run/sshd, MemTotal 842 MiB, unattended-upgrades taking the dpkg locks between package-manager steps")
	if err := os.RemoveAll(h.Chroot.Path("/run/sshd")); err != nil {
		return err
	}
	host, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return err
	}
	meminfo := regexp.MustCompile(`(?m)^MemTotal:.*$`).ReplaceAll(host, fmt.Appendf(nil, "MemTotal:       %d kB", firstBootMemTotalKiB))
	src := filepath.Join(workDir, "meminfo")
	if err := os.WriteFile(src, meminfo, 0o444); err != nil {
		return err
	}
	dst := h.Chroot.Path("/proc/meminfo")
	if err := syscall.Mount(src, dst, "", syscall.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind-mount meminfo: %w", err)
	}
	h.cleanups = append(h.cleanups, func() { _ = syscall.Unmount(dst, syscall.MNT_DETACH) })
	script := InsideDir + "/lock-taker.py"
	if err := os.MkdirAll(h.Chroot.Path(InsideDir), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(h.Chroot.Path(script), []byte(lockTakerScript), 0o644); err != nil {
		return err
	}
	_, stop, err := h.Chroot.StartBackground("python3", script, "1.5", lockTakerLog, handlerLog)
	if err != nil {
		return err
	}
	h.cleanups = append(h.cleanups, stop)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if b, _ := os.ReadFile(h.Chroot.Path(lockTakerLog)); bytes.Contains(b, []byte("started")) {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("the lock taker did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// runCheck runs a check phase.
func (e *Env) runCheck(ctx context.Context, check string, out io.Writer) error {
	path := func(p string) string { return filepath.Join(e.ChrootDir, p) }
	switch check {
	case CheckFirstBoot:
		if _, err := os.Stat(path("/run/sshd")); !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("/run/sshd exists (%v); a first-boot VM has none", err)
		}
		res, _ := runCmd(ctx, "chroot", e.ChrootDir, "/usr/sbin/sshd", "-T")
		fmt.Fprintf(out, "sshd -T: %s\n", res)
		if !strings.Contains(res, "Missing privilege separation directory: /run/sshd") {
			return errors.New("sshd -T does not stop on the missing /run/sshd")
		}
		mem, _ := runCmd(ctx, "chroot", e.ChrootDir, "grep", "MemTotal", "/proc/meminfo")
		fmt.Fprintf(out, "/proc/meminfo in the VM: %s\n", mem)
		if !strings.Contains(mem, fmt.Sprint(firstBootMemTotalKiB)) {
			return errors.New("the VM's MemTotal is not the 1 GiB VM's")
		}
		return nil
	case CheckLockWaits:
		takes, _ := os.ReadFile(path(lockTakerLog))
		logText, _ := os.ReadFile(path(handlerLog))
		grabs := strings.Count(string(takes), "grab after")
		var waits []string
		for _, l := range strings.Split(string(logText), "\n") {
			if strings.Contains(l, "event=progress") && strings.Contains(l, "waiting for the package manager") {
				waits = append(waits, l)
			}
		}
		fmt.Fprintf(out, "lock taker: %d grab(s) between the handler's package-manager steps; handler: %d wait(s) in its log\n", grabs, len(waits))
		for i, w := range waits {
			if i == 3 {
				fmt.Fprintf(out, "  … %d more\n", len(waits)-3)
				break
			}
			fmt.Fprintf(out, "  %s\n", w)
		}
		if grabs < 2 {
			return fmt.Errorf("the lock taker took the locks %d time(s), want at least 2", grabs)
		}
		if len(waits) == 0 || !strings.Contains(strings.Join(waits, "\n"), "unattended-upgr") {
			return errors.New("the handler's log shows no wait naming unattended-upgr")
		}
		return nil
	case CheckForeignRepo:
		fmt.Fprintf(out, "another Microsoft product writes %s:\n  %s", foreignRepoPath, foreignRepoList)
		return os.WriteFile(path(foreignRepoPath), []byte(foreignRepoList), 0o644)
	case CheckForeignRepoIntact:
		got, err := os.ReadFile(path(foreignRepoPath))
		if err != nil || string(got) != foreignRepoList {
			return fmt.Errorf("%s was changed or removed (%v): %q", foreignRepoPath, err, got)
		}
		fmt.Fprintf(out, "%s is still the other product's, byte for byte\n", foreignRepoPath)
		// Once aadsshlogin is removed, nothing of ours may be left beside it.
		if _, err := runCmd(ctx, "chroot", e.ChrootDir, "dpkg-query", "-W", "aadsshlogin"); err == nil {
			return nil
		}
		left, _ := filepath.Glob(path("/etc/apt/sources.list.d/*"))
		for _, f := range left {
			if rel := strings.TrimPrefix(f, e.ChrootDir); rel != foreignRepoPath {
				return fmt.Errorf("after removal %s is left beside it", rel)
			}
		}
		return nil
	}
	return checkPackage(ctx, e.ChrootDir, check, out)
}
