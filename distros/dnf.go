package distros

import "context"

// dnfBackend drives dnf (EL 8/9 and derivatives).
type dnfBackend struct{ rpmTools }

func (d *dnfBackend) kind() ManagerKind { return Dnf }

func (d *dnfBackend) lockFiles() []string {
	return []string{"/var/lib/rpm/.rpm.lock", "/var/run/dnf.pid", "/var/cache/dnf/rpmdb_lock.pid", "/var/cache/dnf/metadata_lock.pid"}
}

func (d *dnfBackend) refresh(ctx context.Context, t *repoTarget) error {
	return d.dnfRefresh(ctx, t, "--refresh")
}

func (d *dnfBackend) available(ctx context.Context, pkg string) (string, error) {
	return d.dnfAvailable(ctx, pkg)
}

func (d *dnfBackend) install(ctx context.Context, pkg string, upgrade bool) error {
	if upgrade {
		return d.transaction(ctx, "upgrading "+pkg, "-y", "upgrade", pkg)
	}
	return d.transaction(ctx, "installing "+pkg, "-y", "install", pkg)
}

func (d *dnfBackend) installPinned(ctx context.Context, pkg, version string) error {
	return d.transaction(ctx, "installing "+pkg+" "+version, "-y", "install", pkg+"-"+version)
}

func (d *dnfBackend) remove(ctx context.Context, pkgs ...string) error {
	return d.transaction(ctx, "removing packages", append([]string{"-y", "remove"}, pkgs...)...)
}
