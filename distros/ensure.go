package distros

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	version "github.com/hashicorp/go-version"

	"github.com/Azure/aadsshlogin-extension-linux/handler/failure"
	"github.com/Azure/aadsshlogin-extension-linux/handler/run"
)

func (in *Installer) log(kv ...any) {
	if in.Logger != nil {
		_ = in.Logger.Log(kv...)
	}
}

func (in *Installer) progress(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	in.log("msg", "progress", "line", msg)
	if in.Progress != nil {
		in.Progress(msg)
	}
}

func (in *Installer) check() error {
	switch {
	case in.Runner == nil:
		return failure.New(failure.Internal, "distros: Installer.Runner is not set")
	case in.Clock == nil:
		return failure.New(failure.Internal, "distros: Installer.Clock is not set")
	case in.Platform.Manager == "":
		return failure.New(failure.Internal, "distros: Installer.Platform is not resolved")
	}
	_, err := in.statePath()
	return err
}

// Ensure configures the repository and installs or upgrades the packages:
// wait for the package-manager locks, finish an interrupted dpkg run,
// configure the Microsoft repository (or reuse an existing definition of
// it), refresh it, install aadsshlogin-selinux when SELinux is in use, then
// install, upgrade or pin aadsshlogin, and check that the packages wired
// themselves into SELinux, nsswitch, PAM and sshd. Repository files this
// run changed are restored if a step up to the installation fails.
func (in *Installer) Ensure(ctx context.Context) (Result, error) {
	var res Result
	if err := in.check(); err != nil {
		return res, err
	}
	b, err := in.backend()
	if err != nil {
		return res, err
	}
	if err := in.waitForLocks(ctx, b.lockFiles()); err != nil {
		return res, err
	}
	if err := b.recover(ctx); err != nil {
		return res, err
	}
	before, err := b.query(ctx, pkgMain, pkgSELinux)
	if err != nil {
		return res, err
	}
	state, err := in.loadState()
	if err != nil {
		return res, err
	}
	tx := &fileTx{root: in.Root, in: in, state: &state}
	keep := false
	defer func() {
		if !keep {
			if rbErr := tx.rollback(); rbErr != nil {
				in.log("msg", "repository rollback failed", "err", rbErr)
			}
		}
	}()

	avail, err := in.prepareRepo(ctx, b, tx, before[pkgMain] != "", &res)
	if err != nil {
		return res, err
	}
	changed := len(tx.undo) > 0

	// SELinux first: the policy module must be in place before the main
	// package's scripts run under an enforcing policy.
	res.SELinux, err = in.selinuxWanted(ctx, b)
	if err != nil {
		return res, err
	}
	if res.SELinux {
		c, err := in.ensurePackage(ctx, b, pkgSELinux, before[pkgSELinux], "")
		if err != nil {
			return res, err
		}
		changed = changed || c
	}
	c, err := in.ensureMain(ctx, b, before[pkgMain], avail, &state)
	if err != nil {
		return res, err
	}
	changed = changed || c
	keep = true // installed: the repository stays, even if wiring fails

	if res.SELinux {
		warn, err := in.checkSEModule(ctx)
		if err != nil {
			return res, err
		}
		if warn != "" {
			res.Warnings = append(res.Warnings, warn)
		}
	}
	if res.SSHDTest, err = in.verifyWiring(ctx); err != nil {
		return res, err
	}
	res.Installed, err = b.query(ctx, pkgMain, pkgSELinux)
	if err != nil {
		return res, err
	}
	res.Changed = changed
	if in.Platform.PinnedVersion != "" {
		res.Warnings = append(res.Warnings, fmt.Sprintf(
			"%s is pinned to aadsshlogin %s: newer versions are incompatible with SUSE releases before 15.6", in.Platform.Release.PrettyName, in.Platform.PinnedVersion))
	}
	return res, nil
}

// prepareRepo configures (or reuses) the repository, refreshes it and
// returns the newest aadsshlogin version it offers beyond the installed one.
func (in *Installer) prepareRepo(ctx context.Context, b backend, tx *fileTx, installed bool, res *Result) (string, error) {
	if in.Platform.Support.Repo == RepoAzureLx {
		// Azure Linux ships its repositories (azurelinux-repos*); the PMC
		// repository is only added when they do not offer aadsshlogin.
		errF := b.refresh(ctx, nil)
		avail, err := b.available(ctx, pkgMain)
		if err != nil {
			return "", err
		}
		if avail != "" || installed {
			return avail, nil
		}
		in.log("msg", "aadsshlogin not in the distro repositories; adding the Microsoft repository", "refreshErr", errF)
	}
	target, err := in.configureRepo(ctx, b, tx)
	if err != nil {
		return "", err
	}
	return in.refreshAndFind(ctx, b, target, installed, res)
}

// configureRepo writes our repository files unless an enabled definition
// of the same repository exists in a file we did not write.
func (in *Installer) configureRepo(ctx context.Context, b backend, tx *fileTx) (*repoTarget, error) {
	arch := ""
	if in.Platform.Manager == Apt {
		res, err := in.runCmd(ctx, run.Cmd{Path: "dpkg", Args: []string{"--print-architecture"}})
		if err != nil {
			return nil, in.pmFailure("asking dpkg for the architecture", res, err)
		}
		arch = strings.TrimSpace(string(res.Stdout))
	}
	c, err := buildRepo(in.Platform, in.Source, arch)
	if err != nil {
		return nil, err
	}
	ours := tx.state.paths()
	if ex, found := findExisting(in.Root, in.Platform, c, ours); found {
		in.progress("using the existing definition of %s in %s", c.URL, ex.File)
		return &repoTarget{File: ex.File, ID: ex.ID}, nil
	}
	skip := map[string]bool{c.listFile(): true}
	if c.ID != "" && repoIDTaken(in.Root, in.Platform, c.ID, skip) {
		c.Files[0].Data = bytes.Replace(c.Files[0].Data, []byte("["+c.ID+"]"), []byte("["+repoIDAlt+"]"), 1)
		c.ID = repoIDAlt
	}
	// Keys first, so the repository file never points at a missing key.
	for i := len(c.Files) - 1; i >= 0; i-- {
		if _, err := tx.write(c.Files[i].Path, c.Files[i].Data); err != nil {
			return nil, failure.Wrap(failure.Dependency, err, "cannot write the repository configuration %s; check that the file system is writable", c.Files[i].Path)
		}
	}
	if err := b.importKeys(ctx, c.ImportKeys); err != nil {
		return nil, err
	}
	in.progress("configured the repository %s in %s", c.URL, c.listFile())
	return &repoTarget{File: c.listFile(), ID: c.ID}, nil
}

// refreshAndFind refreshes only the Microsoft repository, falling back to
// a full refresh when that fails or the package is still not visible.
// With aadsshlogin already installed, a repository that cannot be
// refreshed is a warning (upgrades are blocked), not a failure.
func (in *Installer) refreshAndFind(ctx context.Context, b backend, t *repoTarget, installed bool, res *Result) (string, error) {
	errT := b.refresh(ctx, t)
	if errT == nil {
		avail, err := b.available(ctx, pkgMain)
		if err != nil || avail != "" || installed {
			return avail, err
		}
	}
	if errT != nil && installed {
		res.Warnings = append(res.Warnings, "aadsshlogin is installed but cannot be upgraded: "+failure.Message(errT))
	}
	in.log("msg", "targeted refresh insufficient; refreshing all repositories", "err", errT)
	errF := b.refresh(ctx, nil)
	avail, err := b.available(ctx, pkgMain)
	if err != nil || avail != "" || installed {
		return avail, err
	}
	if in.Platform.PinnedVersion != "" && errT == nil {
		// `zypper search` hides versions behind a lock; let the pinned
		// install decide.
		return "", nil
	}
	switch {
	case errT != nil:
		return "", errT
	case errF != nil:
		return "", errF
	}
	return "", failure.New(failure.Dependency,
		"the package %s is not offered by %s after refreshing the repositories; check that the endpoint or mirror carries the repository for %s",
		pkgMain, in.Source.BaseURL, in.Platform.Release.String())
}

// selinuxWanted follows Microsoft's installer (the distro's SELinux policy
// package is installed) and also treats a mounted selinuxfs as in use.
func (in *Installer) selinuxWanted(ctx context.Context, b backend) (bool, error) {
	if in.Root.Exists("/sys/fs/selinux/enforce") {
		return true, nil
	}
	policies := b.selinuxPolicyPackages()
	got, err := b.query(ctx, policies...)
	if err != nil {
		return false, err
	}
	for _, p := range policies {
		if got[p] != "" {
			return true, nil
		}
	}
	return false, nil
}

// ensurePackage installs pkg or upgrades it to the newest available.
func (in *Installer) ensurePackage(ctx context.Context, b backend, pkg, installed, avail string) (bool, error) {
	if installed == "" {
		in.progress("installing %s", pkg)
		return true, b.install(ctx, pkg, false)
	}
	if avail == "" {
		var err error
		if avail, err = b.available(ctx, pkg); err != nil {
			return false, err
		}
	}
	if avail == "" || !newer(avail, installed) {
		return false, nil
	}
	in.progress("upgrading %s %s to %s", pkg, installed, avail)
	return true, b.install(ctx, pkg, true)
}

// newer reports whether avail is later than installed. The backends'
// "available" is not always an upgrade: tdnf lists the installed version,
// and zypper marks every other version "v", older ones included. Versions
// this cannot compare count as newer when they differ (the package manager
// then decides).
func newer(avail, installed string) bool {
	a, errA := version.NewVersion(avail)
	i, errI := version.NewVersion(installed)
	if errA != nil || errI != nil {
		return avail != installed
	}
	return a.GreaterThan(i)
}

// ensureMain installs aadsshlogin: pinned on old SUSE, else the newest.
func (in *Installer) ensureMain(ctx context.Context, b backend, installed, avail string, state *repoState) (bool, error) {
	pin := in.Platform.PinnedVersion
	if pin == "" {
		return in.ensurePackage(ctx, b, pkgMain, installed, avail)
	}
	z, isZypper := b.(*zypperBackend)
	// The pin exists for SUSE; on zypper a lock keeps it in place.
	if sameVersion(installed, pin) && (!isZypper || z.locked(pkgMain)) {
		return false, nil
	}
	in.progress("installing %s %s (pinned)", pkgMain, pin)
	if isZypper {
		// Record the lock before adding it, so Remove lifts it even if we
		// are interrupted.
		state.ZypperLock = true
		if err := in.saveState(*state); err != nil {
			return false, err
		}
	}
	return true, b.installPinned(ctx, pkgMain, pin)
}

// sameVersion compares an installed version (maybe with a release suffix)
// with a pinned upstream version.
func sameVersion(installed, pin string) bool {
	return installed == pin || strings.HasPrefix(installed, pin+"-")
}

// checkSEModule verifies aadsshlogin-selinux loaded its policy module.
// Without semodule (policycoreutils) it cannot tell: that is a warning,
// not a failure, since the package itself may have loaded the module.
func (in *Installer) checkSEModule(ctx context.Context) (warning string, err error) {
	path := ""
	for _, p := range []string{"/usr/sbin/semodule", "/sbin/semodule"} {
		if in.Root.Exists(p) {
			path = p
			break
		}
	}
	if path == "" {
		return "SELinux is in use but semodule (policycoreutils) is not installed, so the handler cannot check that the aad_permissions module is loaded; " +
			"if Entra sign-in is denied, install policycoreutils and check `semodule -l`", nil
	}
	res, err := in.runCmd(ctx, run.Cmd{Path: path, Args: []string{"-l"}})
	if err != nil {
		return "", failure.Wrap(failure.NotWiredIn, err, "cannot list the SELinux modules (semodule -l): %s", res.Tail(tailBytes))
	}
	for _, l := range strings.Split(string(res.Stdout), "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] == "aad_permissions" {
			return "", nil
		}
	}
	return "", failure.New(failure.NotWiredIn,
		"%s is installed but the SELinux module aad_permissions is not loaded; Entra logins would be denied. Check `semodule -l` and the package's install log (an old policycoreutils is a known cause), "+failure.SetAgain,
		pkgSELinux)
}

// Remove removes aadsshlogin, then aadsshlogin-selinux, then restores or
// deletes the repository files recorded in StateDir. On zypper the lock we
// added is lifted first (zypper refuses to remove a locked package).
// A second call finds nothing to do and succeeds.
func (in *Installer) Remove(ctx context.Context) error {
	if err := in.check(); err != nil {
		return err
	}
	b, err := in.backend()
	if err != nil {
		return err
	}
	if err := in.waitForLocks(ctx, b.lockFiles()); err != nil {
		return err
	}
	state, err := in.loadState()
	if err != nil {
		return err
	}
	installed, err := b.query(ctx, pkgMain, pkgSELinux)
	if err != nil {
		return err
	}
	if z, ok := b.(*zypperBackend); ok && state.ZypperLock {
		if z.locked(pkgMain) {
			if _, err := z.zypper(ctx, "unlocking "+pkgMain, false, "removelock", pkgMain); err != nil {
				return err
			}
		}
		state.ZypperLock = false
		if err := in.saveState(state); err != nil {
			return err
		}
	}
	for _, pkg := range []string{pkgMain, pkgSELinux} {
		if installed[pkg] == "" {
			continue
		}
		in.progress("removing %s", pkg)
		if err := b.remove(ctx, pkg); err != nil {
			return err
		}
	}
	errFiles := in.removeManaged(&state)
	if err := errors.Join(errFiles, in.saveState(state)); err != nil {
		return failure.Wrap(failure.Dependency, err, "the packages were removed but the repository files could not all be restored; delete them by hand")
	}
	return nil
}

// Query returns the installed versions of the named packages (absent ones are omitted).
func (in *Installer) Query(ctx context.Context, names ...string) (map[string]string, error) {
	if in.Runner == nil {
		return nil, failure.New(failure.Internal, "distros: Installer.Runner is not set")
	}
	b, err := in.backend()
	if err != nil {
		return nil, err
	}
	return b.query(ctx, names...)
}
