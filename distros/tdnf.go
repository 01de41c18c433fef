package distros

import "context"

// tdnfBackend drives tdnf (CBL-Mariner 2.0, Azure Linux 3.0).
type tdnfBackend struct{ rpmTools }

func (d *tdnfBackend) kind() ManagerKind { return Tdnf }

func (d *tdnfBackend) lockFiles() []string {
	return []string{"/var/lib/rpm/.rpm.lock", "/var/run/.tdnf-instance-lockfile"}
}

func (d *tdnfBackend) selinuxPolicyPackages() []string { return []string{"selinux-policy"} }

func (d *tdnfBackend) refresh(ctx context.Context, t *repoTarget) error {
	return d.dnfRefresh(ctx, t, "--refresh")
}

func (d *tdnfBackend) available(ctx context.Context, pkg string) (string, error) {
	return d.dnfAvailable(ctx, pkg)
}

func (d *tdnfBackend) install(ctx context.Context, pkg string, upgrade bool) error {
	if upgrade {
		return d.transaction(ctx, "upgrading "+pkg, "-y", "upgrade", pkg)
	}
	return d.transaction(ctx, "installing "+pkg, "-y", "install", pkg)
}

func (d *tdnfBackend) installPinned(ctx context.Context, pkg, version string) error {
	return d.transaction(ctx, "installing "+pkg+" "+version, "-y", "install", pkg+"-"+version)
}

func (d *tdnfBackend) remove(ctx context.Context, pkgs ...string) error {
	return d.transaction(ctx, "removing packages", append([]string{"-y", "remove"}, pkgs...)...)
}
