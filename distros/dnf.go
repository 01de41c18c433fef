package distros

import (
	"context"

	"github.com/Azure/aadsshlogin-extension-linux/distros/release"
	"github.com/Azure/aadsshlogin-extension-linux/handler/run"
)

// dnfFamily drives the managers with dnf's command line: dnf (EL 8/9 and
// derivatives), tdnf (CBL-Mariner 2.0, Azure Linux 3.0) and yum (EL 7).
// They differ only in what the fields hold and in yum having no --refresh.
type dnfFamily struct {
	rpmTools
	mgr release.ManagerKind
	// locks are the lock files (see backend.lockFiles).
	locks []string
	// policies are the SELinux policy packages (see backend.selinuxPolicyPackages).
	policies []string
	// upgradeVerb is the subcommand that upgrades one package.
	upgradeVerb string
}

// newDnfFamily is the backend for k (Dnf, Tdnf or Yum); in may be nil when
// only the lock files are wanted.
func newDnfFamily(in *Installer, k release.ManagerKind) *dnfFamily {
	d := &dnfFamily{rpmTools: rpmTools{in: in, bin: string(k)}, mgr: k,
		policies: rpmTools{}.selinuxPolicyPackages(), upgradeVerb: "upgrade"}
	switch k {
	case release.Dnf:
		d.locks = []string{"/var/lib/rpm/.rpm.lock", "/var/run/dnf.pid", "/var/cache/dnf/rpmdb_lock.pid", "/var/cache/dnf/metadata_lock.pid"}
	case release.Tdnf:
		d.locks = []string{"/var/lib/rpm/.rpm.lock", "/var/run/.tdnf-instance-lockfile"}
		d.policies = []string{"selinux-policy"}
	case release.Yum:
		d.locks = []string{"/var/lib/rpm/.rpm.lock", "/var/run/yum.pid"}
		d.upgradeVerb = "update"
	}
	return d
}

func (d *dnfFamily) kind() release.ManagerKind { return d.mgr }

func (d *dnfFamily) lockFiles() []string { return d.locks }

func (d *dnfFamily) selinuxPolicyPackages() []string { return d.policies }

// refresh forces the metadata stale: dnf and tdnf with --refresh, yum (which
// has no --refresh) by expiring the cached metadata first.
func (d *dnfFamily) refresh(ctx context.Context, t *repoTarget) error {
	if d.mgr != release.Yum {
		return d.dnfRefresh(ctx, t, "--refresh")
	}
	args := []string{"-y"}
	if t != nil {
		args = append(args, "--disablerepo=*", "--enablerepo="+t.ID)
	}
	args = append(args, "clean", "expire-cache")
	if res, err := d.in.lockedRun(ctx, run.Cmd{Path: d.bin, Args: args}); err != nil {
		return d.in.pmFailure("expiring the yum metadata cache", res, err)
	}
	return d.dnfRefresh(ctx, t)
}

func (d *dnfFamily) available(ctx context.Context, pkg string) (string, error) {
	return d.dnfAvailable(ctx, pkg)
}

func (d *dnfFamily) install(ctx context.Context, pkg string, upgrade bool) error {
	if upgrade {
		return d.transaction(ctx, "upgrading "+pkg, "-y", d.upgradeVerb, pkg)
	}
	return d.transaction(ctx, "installing "+pkg, "-y", "install", pkg)
}

func (d *dnfFamily) installPinned(ctx context.Context, pkg, version string) error {
	return d.transaction(ctx, "installing "+pkg+" "+version, "-y", "install", pkg+"-"+version)
}

func (d *dnfFamily) remove(ctx context.Context, pkgs ...string) error {
	return d.transaction(ctx, "removing packages", append([]string{"-y", "remove"}, pkgs...)...)
}
