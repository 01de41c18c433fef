package distros

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	version "github.com/hashicorp/go-version"

	"github.com/Azure/aadsshlogin-extension-linux/distros/release"
	"github.com/Azure/aadsshlogin-extension-linux/distros/repo"
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
	if in.Progress != nil {
		in.Progress(msg) // the caller logs it
		return
	}
	in.log("event", "progress", "msg", msg)
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
// refresh Azure's RHUI client on RHEL pay-as-you-go images (rhui.go),
// configure the Microsoft repository (or reuse an existing definition of
// it), refresh it, install aadsshlogin-selinux when SELinux is in use, then
// install, upgrade or pin aadsshlogin, and check that the packages wired
// themselves into SELinux, nsswitch, PAM and sshd. Repository files this
// run changed are restored if a step up to the installation fails, unless
// the budget ended while a transaction of ours still runs (see running.go).
func (in *Installer) Ensure(ctx context.Context) (res Result, err error) {
	if err := in.check(); err != nil {
		return res, err
	}
	b, err := in.backend()
	if err != nil {
		return res, err
	}
	if err := in.awaitOwnTransaction(ctx); err != nil {
		return res, err
	}
	if err := in.waitForLocks(ctx, b.lockFiles()); err != nil {
		return res, err
	}
	if err := b.recover(ctx); err != nil {
		return res, err
	}
	rhuiWarn, err := in.refreshRHUI(ctx)
	if err != nil {
		return res, err
	}
	if rhuiWarn != "" {
		res.Warnings = append(res.Warnings, rhuiWarn)
		defer func() { err = withRHUIHint(err, rhuiWarn) }()
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
		// A transaction still running uses the repository: leave it.
		if !keep && !isStillRunning(err) {
			if rbErr := tx.rollback(); rbErr != nil {
				in.log("event", "repository-rollback-failed", "err", rbErr)
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
	if err = in.verifyWiring(ctx, &res); err != nil {
		return res, err
	}
	res.Installed, err = b.query(ctx, pkgMain, pkgSELinux)
	if err != nil {
		return res, err
	}
	res.Changed = changed
	res.Warnings = append(tx.warnings, res.Warnings...)
	if in.Platform.PinnedVersion != "" {
		res.Warnings = append(res.Warnings, fmt.Sprintf(
			"%s is pinned to aadsshlogin %s: newer versions are incompatible with SUSE releases before 15.6", in.Platform.Release.PrettyName, in.Platform.PinnedVersion))
	}
	return res, nil
}

// prepareRepo configures (or reuses) the repository, refreshes it and
// returns the newest aadsshlogin version it offers beyond the installed one.
func (in *Installer) prepareRepo(ctx context.Context, b backend, tx *fileTx, installed bool, res *Result) (string, error) {
	if in.Platform.Support.Repo == release.RepoAzureLx {
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
		in.log("event", "adding-microsoft-repository", "reason", "aadsshlogin not in the distro repositories", "refreshErr", errF)
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
	if in.Platform.Manager == release.Apt {
		res, err := in.runCmd(ctx, run.Cmd{Path: "dpkg", Args: []string{"--print-architecture"}})
		if err != nil {
			return nil, in.pmFailure("asking dpkg for the architecture", res, err)
		}
		arch = strings.TrimSpace(string(res.Stdout))
	}
	c, err := repo.Build(in.Platform, in.Source, arch)
	if err != nil {
		return nil, err
	}
	disowned, err := tx.disown()
	if err != nil {
		return nil, failure.Wrap(failure.Dependency, err, "cannot read the repository configuration this extension wrote")
	}
	// Our files (recorded, or carrying our header without a record) are
	// rewritten, not reused as someone else's definition.
	own := tx.state.paths()
	for _, p := range []string{c.ListFile(), repo.AltPath(c.ListFile())} {
		if cur, ok, _ := readOptional(in.Root, p); ok && ourHeader(cur) {
			own[p] = true
		}
	}
	if ex, found := repo.FindExisting(in.Root, in.Platform, c, own); found {
		if slices.Contains(disowned, ex.File) {
			tx.warn("%s was rewritten by another program (for example packages-microsoft-prod, Defender for Endpoint or the azure-cli instructions) after this extension wrote it; "+
				"the extension leaves it as it is and installs from it, since it still points at %s", ex.File, c.URL)
		}
		in.progress("using the existing definition of %s in %s", c.URL, ex.File)
		return &repoTarget{File: ex.File, ID: ex.ID}, nil
	}
	if err := in.placeOwnFiles(tx, &c, disowned); err != nil {
		return nil, err
	}
	if alt := repo.AltPath(c.ListFile()); alt != c.ListFile() {
		// Back at the usual name: a definition of ours beside it is stale.
		if mine, err := tx.ours(alt); err == nil && mine {
			if err := tx.remove(alt); err != nil {
				return nil, failure.Wrap(failure.Dependency, err, "cannot remove the stale repository definition %s", alt)
			}
		}
	}
	skip := map[string]bool{c.ListFile(): true}
	if c.ID != "" && repo.IDTaken(in.Root, in.Platform, c.ID, skip) {
		c.Files[0].Data = bytes.Replace(c.Files[0].Data, []byte("["+c.ID+"]"), []byte("["+repo.IDAlt+"]"), 1)
		c.ID = repo.IDAlt
	}
	// Keys first, so the repository file never points at a missing key.
	for i := len(c.Files) - 1; i >= 0; i-- {
		if c.Files[i].Data == nil {
			continue // someone else's key file (see placeOwnFiles)
		}
		if _, err := tx.write(c.Files[i].Path, c.Files[i].Data); err != nil {
			return nil, failure.Wrap(failure.Dependency, err, "cannot write the repository configuration %s; check that the file system is writable", c.Files[i].Path)
		}
	}
	if err := b.importKeys(ctx, c.ImportKeys); err != nil {
		return nil, err
	}
	in.progress("configured the repository %s in %s", c.URL, c.ListFile())
	return &repoTarget{File: c.ListFile(), ID: c.ID}, nil
}

// placeOwnFiles moves our repository definition to repo.AltPath when its
// usual name holds someone else's file (one that does not define our
// repository, or FindExisting would have reused it), and leaves a key file
// that is someone else's alone (Data nil) unless it already holds the key.
func (in *Installer) placeOwnFiles(tx *fileTx, c *repo.Config, disowned []string) error {
	for i := range c.Files {
		f := &c.Files[i]
		mine, err := tx.ours(f.Path)
		if err != nil {
			return failure.Wrap(failure.Dependency, err, "cannot read %s", f.Path)
		}
		if mine {
			continue
		}
		whose := "belongs to another program"
		if slices.Contains(disowned, f.Path) {
			whose = "was rewritten by another program (for example packages-microsoft-prod, Defender for Endpoint or the azure-cli instructions) after this extension wrote it"
		}
		if i > 0 {
			if cur, _, _ := readOptional(in.Root, f.Path); !bytes.Equal(cur, f.Data) {
				tx.warn("the key file %s %s and differs from the key this extension trusts; the extension leaves it as it is", f.Path, whose)
			}
			f.Data = nil
			continue
		}
		alt := repo.AltPath(f.Path)
		if mine, err := tx.ours(alt); err != nil || !mine {
			return failure.New(failure.Dependency,
				"%s and %s both belong to other programs and neither defines %s for %s; the extension does not overwrite them. Remove the one you no longer need (or install packages-microsoft-prod for this distribution), "+failure.SetAgain,
				f.Path, alt, c.URL, in.Platform.Release.String())
		}
		tx.warn("%s %s and does not define %s for %s; the extension leaves it as it is and writes its own definition to %s", f.Path, whose, c.URL, in.Platform.Release.String(), alt)
		f.Path = alt
	}
	return nil
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
	in.log("event", "full-refresh", "reason", "targeted refresh insufficient", "err", errT)
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
	if err := in.awaitOwnTransaction(ctx); err != nil {
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
