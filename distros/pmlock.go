package distros

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/aadsshlogin-extension-linux/distros/release"
	"github.com/Azure/aadsshlogin-extension-linux/handler/run"
)

// A package-manager lock can change hands between any two of our
// commands (apt-daily, unattended-upgrades, cloud-init, dnf-makecache, the
// RHUI client, SUSE's registration all run at first boot). So every
// command that takes a lock goes through lockedRun: it waits until the
// locks are free, lets the manager wait on its own where it can (apt's
// DPkg::Lock::Timeout from apt 1.9.11, zypper's ZYPP_LOCK_TIMEOUT), and
// when the command still fails on a lock (taken between our probe and
// the command's start, or by a manager without a waiting option), waits
// and runs it again, all within ctx's deadline. A lock still held at the
// end is failure.PackageManagerBusy naming the holder.

// lockRetryPause is the pause before re-running a command that failed on
// a lock the probe no longer sees (the holder let go in between).
const lockRetryPause = 2 * time.Second

// lockMargin is kept out of the wait a manager does on its own, so that
// it gives up (and we can name the holder) before our deadline.
const lockMargin = 15 * time.Second

// takesLock reports whether c takes a package-manager lock (read-only
// queries such as dpkg-query, rpm -q and apt-cache do not).
func takesLock(c run.Cmd) bool {
	switch c.Path {
	case "apt-get", "apt-mark", "dnf", "yum", "tdnf", "zypper":
		return true
	case "dpkg":
		return !slices.Contains(c.Args, "--print-architecture") && !slices.Contains(c.Args, "--audit")
	case "rpm":
		return slices.Contains(c.Args, "--import")
	}
	return false
}

// aptHasLockTimeout reports whether the release's apt knows
// DPkg::Lock::Timeout (apt 1.9.11 and later: Debian 11+, Ubuntu 20.04+;
// Debian 9/10 and Ubuntu 16.04/18.04 ship 1.4, 1.8, 1.2 and 1.6).
func aptHasLockTimeout(r release.Release) bool {
	major, err := strconv.Atoi(r.Major())
	if err != nil {
		return false
	}
	switch release.Family(r.ID) {
	case release.Debian:
		return major >= 11
	case release.Ubuntu:
		return major >= 20
	}
	return false
}

// withNativeWait adds the manager's own lock-wait option for wait seconds.
func (in *Installer) withNativeWait(c run.Cmd, wait time.Duration) run.Cmd {
	secs := strconv.Itoa(int(wait / time.Second))
	switch {
	case c.Path == "apt-get" && aptHasLockTimeout(in.Platform.Release):
		// Last, so the command line starts as the backend wrote it.
		c.Args = append(slices.Clone(c.Args), "-o", "DPkg::Lock::Timeout="+secs)
	case c.Path == "zypper":
		c.Env = append(slices.Clone(c.Env), "ZYPP_LOCK_TIMEOUT="+secs)
	}
	return c
}

// lockedRun runs a lock-taking package-manager command (see the comment
// at the top of this file). Other commands go straight to runCmd.
func (in *Installer) lockedRun(ctx context.Context, c run.Cmd) (run.Result, error) {
	if !takesLock(c) {
		return in.runCmd(ctx, c)
	}
	files := managerLockFiles(in.Platform.Manager)
	deadline, hasDeadline := ctx.Deadline()
	if !hasDeadline {
		deadline = in.Clock.Now().Add(defaultLockWait)
	}
	start := in.Clock.Now()
	for {
		if err := in.waitForLocks(ctx, files); err != nil {
			return run.Result{ExitCode: -1}, err
		}
		cc := c
		if hasDeadline {
			cc = in.withNativeWait(c, max(deadline.Sub(in.Clock.Now())-lockMargin, 0))
		}
		res, err := in.runCmd(ctx, cc)
		if err == nil {
			return res, nil
		}
		holder, isLock := lockFailure(c, res)
		if !isLock {
			return res, err
		}
		busyFile := strings.Join(files, ", ")
		switch f, who := in.probeHolder(files); {
		case who != "":
			holder, busyFile = who, f
		case holder == "":
			holder = "another process"
		default:
			holder = in.nameHolder(holder)
		}
		in.progress("waiting for the package manager: %s took its lock before `%s` could; trying again", holder, c)
		now := in.Clock.Now()
		if !now.Add(lockRetryPause).Before(deadline) {
			return res, in.busy(busyFile, holder, now.Sub(start))
		}
		if err := in.Clock.Sleep(ctx, lockRetryPause); err != nil {
			return res, in.busy(busyFile, holder, in.Clock.Now().Sub(start))
		}
	}
}

// probeHolder finds a held lock among files and names its holder.
func (in *Installer) probeHolder(files []string) (file, holder string) {
	probe := in.lockProbe()
	for _, f := range files {
		if held, who := probe.Holder(f); held {
			return f, who
		}
	}
	return "", ""
}

// nameHolder turns a bare "pid N" from a manager's message into
// "comm (pid N)" when the process still exists.
func (in *Installer) nameHolder(h string) string {
	if p, ok := strings.CutPrefix(h, "pid "); ok {
		if pid, err := strconv.Atoi(p); err == nil {
			return SysLocks{Root: in.Root}.describe(pid)
		}
	}
	return h
}

// managerLockFiles are the lock files of a manager kind.
func managerLockFiles(k release.ManagerKind) []string {
	switch k {
	case release.Apt:
		return (&aptBackend{}).lockFiles()
	case release.Dnf, release.Yum, release.Tdnf:
		return newDnfFamily(nil, k).lockFiles()
	case release.Zypper:
		return (&zypperBackend{}).lockFiles()
	}
	return nil
}

// zypperExitLocked is zypper's ZYPPER_EXIT_ZYPP_LOCKED.
const zypperExitLocked = 7

// lockMessages are what the managers print when a lock is held
// (lower case), with the holder's pid (and name) when they give it.
var lockMessages = []*regexp.Regexp{
	// apt ≥ 1.9: "E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 812 (unattended-upgr)"
	regexp.MustCompile(`could not get lock [^ ]+?\.? it is held by process (\d+)(?: \(([^)]+)\))?`),
	regexp.MustCompile(`could not get lock`),
	regexp.MustCompile(`unable to acquire the dpkg frontend lock`),
	regexp.MustCompile(`unable to lock (?:the administration |the )?directory`),
	// dpkg: "dpkg frontend lock was locked by another process with pid 812"
	regexp.MustCompile(`lock (?:was|is) locked by another process with pid (\d+)`),
	regexp.MustCompile(`dpkg (?:status database|frontend lock) is locked by another process`),
	// zypper: "System management is locked by the application with pid 812 (zypper)."
	regexp.MustCompile(`system management is locked by the application with pid (\d+)(?: \(([^)]+)\))?`),
	// dnf 4: "Waiting for process with pid 812 to finish."
	regexp.MustCompile(`waiting for process with pid (\d+) to finish`),
	// rpm: "error: can't create transaction lock on /var/lib/rpm/.rpm.lock (Resource temporarily unavailable)"
	regexp.MustCompile(`can't create transaction lock`),
	// yum: "Existing lock /var/run/yum.pid: another copy is running as pid 812."
	regexp.MustCompile(`another copy is running as pid (\d+)`),
	regexp.MustCompile(`another app is currently holding the yum lock`),
	// tdnf: "waiting for tdnf_instance lock on /var/run/.tdnf-instance-lockfile", "Failed to acquire tdnf lock"
	regexp.MustCompile(`tdnf_instance lock|acquire tdnf lock|tdnf is locked`),
}

// lockFailure reports whether a failed run of c failed on a lock and, if
// the output names it, the holder ("unattended-upgr (pid 812)", "pid 812").
func lockFailure(c run.Cmd, res run.Result) (holder string, ok bool) {
	out := strings.ToLower(string(res.Stderr) + "\n" + string(res.Stdout))
	for _, re := range lockMessages {
		m := re.FindStringSubmatch(out)
		if m == nil {
			continue
		}
		if len(m) > 1 && m[1] != "" {
			holder = "pid " + m[1]
			if len(m) > 2 && m[2] != "" {
				holder = fmt.Sprintf("%s (pid %s)", m[2], m[1])
			}
		}
		return holder, true
	}
	return "", c.Path == "zypper" && res.ExitCode == zypperExitLocked
}
