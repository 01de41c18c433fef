package distros

import (
	"context"
	"errors"
	"path"
	"strconv"
	"strings"

	"github.com/Azure/aadsshlogin-extension-linux/handler/failure"
)

// Package-manager transactions run detached (run.Cmd.Detach), so that the
// agent killing the handler never interrupts dpkg or rpm. When a command's
// budget ends while one is still running, it goes on by itself: the
// repository configuration must stay in place under it, the status must
// say that it is still running, and the next run (only ever started by the
// user or a new goal state: the agent does not re-run a failed command)
// must wait for it and then converge from whatever it left.

// errStillRunning is wrapped by the PackageManagerBusy error for a
// transaction of ours that outlived the budget.
type errStillRunning struct{ tx runningTx }

func (e *errStillRunning) Error() string {
	return "package-manager transaction " + strconv.Itoa(e.tx.Pid) + " still running"
}

// stillRunning records tx in the state folder (for the next run) and
// returns the PackageManagerBusy error the status shows.
func (in *Installer) stillRunning(tx runningTx, cause error) error {
	st, err := in.loadState()
	if err == nil {
		st.Running = &tx
		err = in.saveState(st)
	}
	if err != nil {
		in.log("msg", "cannot record the running transaction", "err", err)
	}
	lock := ""
	if f, who := in.probeHolder(managerLockFiles(in.Platform.Manager)); who != "" && !strings.Contains(who, "(pid "+strconv.Itoa(tx.Pid)+")") {
		lock = " (" + who + " holds " + f + ")"
	}
	return failure.Wrap(failure.PackageManagerBusy, errors.Join(&errStillRunning{tx}, cause),
		"a package-manager transaction started by this extension is still running (pid %d: `%s`)%s; it finishes on its own, and the repository configuration stays in place for it. "+
			"Once it has finished (`ps -p %d` shows nothing), "+failure.SetAgain+" to complete and check the installation (the agent does not run the extension again by itself)",
		tx.Pid, tx.Cmd, lock, tx.Pid)
}

// isStillRunning reports whether err is a transaction of ours that
// outlived the budget.
func isStillRunning(err error) bool {
	var e *errStillRunning
	return errors.As(err, &e)
}

// ownTransactionGone reports whether the recorded transaction has ended:
// no process with its pid, or one running another program (pid reuse).
func (in *Installer) ownTransactionGone(tx runningTx) bool {
	data, err := in.Root.ReadFile("/proc/" + strconv.Itoa(tx.Pid) + "/cmdline")
	if err != nil {
		return true
	}
	// dnf and yum run as "python3 /usr/bin/dnf …": look at the first two words.
	args := strings.Split(strings.TrimRight(string(data), "\x00"), "\x00")
	for i := 0; i < len(args) && i < 2; i++ {
		if path.Base(args[i]) == tx.Program {
			return false
		}
	}
	return true
}

// awaitOwnTransaction waits, within ctx's deadline, for a transaction an
// earlier run of ours left running, then forgets it.
func (in *Installer) awaitOwnTransaction(ctx context.Context) error {
	st, err := in.loadState()
	if err != nil || st.Running == nil {
		return err
	}
	tx := *st.Running
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = in.Clock.Now().Add(defaultLockWait)
	}
	announced := false
	for !in.ownTransactionGone(tx) {
		if !announced {
			in.progress("waiting for the package-manager transaction an earlier run of this extension started (pid %d: %s) to finish", tx.Pid, tx.Cmd)
			announced = true
		}
		if !in.Clock.Now().Add(lockPoll).Before(deadline) {
			return in.stillRunning(tx, errLockWait)
		}
		if err := in.Clock.Sleep(ctx, lockPoll); err != nil {
			return in.stillRunning(tx, err)
		}
	}
	st.Running = nil
	return in.saveState(st)
}
