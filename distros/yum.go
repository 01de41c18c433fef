package distros

import (
	"context"

	"github.com/Azure/aadsshlogin-extension-linux/handler/run"
)

// yumBackend drives yum (EL 7).
type yumBackend struct{ rpmTools }

func (y *yumBackend) kind() ManagerKind { return Yum }

func (y *yumBackend) lockFiles() []string {
	return []string{"/var/lib/rpm/.rpm.lock", "/var/run/yum.pid"}
}

// refresh expires the cached metadata first: yum has no --refresh.
func (y *yumBackend) refresh(ctx context.Context, t *repoTarget) error {
	args := []string{"-y"}
	if t != nil {
		args = append(args, "--disablerepo=*", "--enablerepo="+t.ID)
	}
	args = append(args, "clean", "expire-cache")
	if res, err := y.in.lockedRun(ctx, run.Cmd{Path: "yum", Args: args}); err != nil {
		return y.in.pmFailure("expiring the yum metadata cache", res, err)
	}
	return y.dnfRefresh(ctx, t)
}

func (y *yumBackend) available(ctx context.Context, pkg string) (string, error) {
	return y.dnfAvailable(ctx, pkg)
}

func (y *yumBackend) install(ctx context.Context, pkg string, upgrade bool) error {
	if upgrade {
		return y.transaction(ctx, "upgrading "+pkg, "-y", "update", pkg)
	}
	return y.transaction(ctx, "installing "+pkg, "-y", "install", pkg)
}

func (y *yumBackend) installPinned(ctx context.Context, pkg, version string) error {
	return y.transaction(ctx, "installing "+pkg+" "+version, "-y", "install", pkg+"-"+version)
}

func (y *yumBackend) remove(ctx context.Context, pkgs ...string) error {
	return y.transaction(ctx, "removing packages", append([]string{"-y", "remove"}, pkgs...)...)
}
