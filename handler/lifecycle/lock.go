package lifecycle

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/Azure/aadsshlogin-extension-linux/handler/failure"
	"github.com/Azure/aadsshlogin-extension-linux/handler/state"
)

// lockFailure classifies a failure to take the handler's own lock. Only a
// lock actually held by another run is 56 (busy); a folder or file that
// cannot be created, opened or locked is a broken prerequisite of the
// machine, 52, with a message naming what failed and how to fix it. (Not 1:
// it is no bug of ours; not 81: the status can still be written.) The next
// step depends on the operation op: a disable or uninstall runs when the
// extension is being deleted, so setting it again is not the answer there.
func lockFailure(err error, dir, op string) error {
	var held *state.LockHeldError
	if errors.As(err, &held) {
		who, check := "another run of this extension", "`ps -ef | grep aadsshlogin`"
		if held.PID > 0 {
			who += fmt.Sprintf(" (pid %d)", held.PID)
			check = fmt.Sprintf("`ps -fp %d`", held.PID)
		}
		return failure.Wrap(failure.PackageManagerBusy, err,
			"%s is still in progress; wait for it to finish (%s); if its status is not what you expect, %s", who, check, failure.NextStep(op))
	}
	what := "create the handler's state folder " + dir
	var pe *os.PathError
	if errors.As(err, &pe) {
		switch pe.Op {
		case "open":
			what = "open the handler's lock file " + pe.Path
		case "flock":
			what = "lock the handler's lock file " + pe.Path
		}
	}
	return failure.Wrap(failure.Dependency, err, "cannot %s: %s; %s", what, lockFailureHint(err), failure.NextStep(op))
}

// lockFailureHint says what to do about an error creating or locking the
// state folder's lock file.
func lockFailureHint(err error) string {
	switch {
	case errors.Is(err, syscall.EROFS):
		return "the file system holding /var/lib is read-only; remount it read-write (check `mount`)"
	case errors.Is(err, syscall.ENOSPC):
		return "the disk is full; free space (check `df -h /var/lib` and `df -i /var/lib`)"
	case errors.Is(err, syscall.EDQUOT):
		return "a disk quota is exhausted; free space or raise the quota (check `df -h /var/lib`)"
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return "permission denied although the handler runs as root; check immutable attributes (`lsattr`) and SELinux/AppArmor labels of " + state.DefaultDir
	case errors.Is(err, syscall.ENOTDIR), errors.Is(err, syscall.EISDIR), errors.Is(err, syscall.EEXIST):
		return "something else is in the way; " + state.DefaultDir + " must be a writable folder with a lock file in it (move the other file or folder away)"
	default:
		return "check the file system holding " + state.DefaultDir
	}
}
