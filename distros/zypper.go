package distros

import (
	"context"
	"strings"

	"github.com/Azure/aadsshlogin-extension-linux/distros/release"
	"github.com/Azure/aadsshlogin-extension-linux/handler/run"
)

// zypperBackend drives zypper (SLES, openSUSE Leap). Keys are trusted by
// importing them into the rpm database beforehand; --gpg-auto-import-keys
// is never used, so an unknown key makes zypper fail instead of trusting it.
type zypperBackend struct{ rpmTools }

// zypperLocksFile holds zypper's package locks.
const zypperLocksFile = "/etc/zypp/locks"

func (z *zypperBackend) kind() release.ManagerKind { return release.Zypper }

func (z *zypperBackend) lockFiles() []string {
	return []string{"/var/run/zypp.pid", "/var/lib/rpm/.rpm.lock"}
}

// selinuxPolicyPackages follows Microsoft's installer: SLES 15 ships
// selinux-policy-targeted, older SUSE selinux-policy-minimum.
func (z *zypperBackend) selinuxPolicyPackages() []string {
	if z.in.Platform.Release.Major() == "15" {
		return []string{"selinux-policy-targeted"}
	}
	return []string{"selinux-policy-minimum"}
}

func (z *zypperBackend) zypper(ctx context.Context, what string, detach bool, args ...string) (run.Result, error) {
	args = append([]string{"--non-interactive"}, args...)
	res, err := z.in.lockedRun(ctx, run.Cmd{Path: "zypper", Args: args, Detach: detach})
	if err != nil {
		return res, z.in.pmFailure(what+" (zypper "+args[1]+")", res, err)
	}
	return res, nil
}

func (z *zypperBackend) refresh(ctx context.Context, t *repoTarget) error {
	args := []string{"refresh"}
	if t != nil {
		args = append(args, t.ID)
	}
	_, err := z.zypper(ctx, "refreshing the repository metadata", false, args...)
	return err
}

// available parses `zypper search --details --match-exact`; exit 104
// means no match.
func (z *zypperBackend) available(ctx context.Context, pkg string) (string, error) {
	args := []string{"--non-interactive", "--no-refresh", "search", "--details", "--match-exact", pkg}
	res, err := z.in.lockedRun(ctx, run.Cmd{Path: "zypper", Args: args})
	if ce, ok := err.(*cmdError); isBusy(err) || ok && (ce.err != nil || ce.code != 104) {
		return "", z.in.pmFailure("looking up "+pkg+" (zypper search)", res, err)
	}
	return parseZypperSearch(string(res.Stdout), pkg), nil
}

// parseZypperSearch returns the newest version of pkg not marked installed
// ("S | Name | Type | Version | Arch | Repository").
func parseZypperSearch(out, pkg string) string {
	best := ""
	for _, l := range strings.Split(out, "\n") {
		f := strings.Split(l, "|")
		if len(f) < 6 {
			continue
		}
		for i := range f {
			f[i] = strings.TrimSpace(f[i])
		}
		// "v" marks every version other than the installed one, older ones
		// included, and the order follows the repositories: keep the newest.
		if f[1] == pkg && f[2] == "package" && !strings.HasPrefix(f[0], "i") && (best == "" || newer(f[3], best)) {
			best = f[3]
		}
	}
	return best
}

func (z *zypperBackend) install(ctx context.Context, pkg string, upgrade bool) error {
	verb := "install"
	if upgrade {
		verb = "update"
	}
	_, err := z.zypper(ctx, "installing "+pkg, true, verb, pkg)
	return err
}

// installPinned installs exactly version and adds a zypper lock so a later
// `zypper update` never moves past it. An existing lock is lifted first
// (a locked package cannot be changed).
func (z *zypperBackend) installPinned(ctx context.Context, pkg, version string) error {
	if z.locked(pkg) {
		if _, err := z.zypper(ctx, "unlocking "+pkg, false, "removelock", pkg); err != nil {
			return err
		}
	}
	if _, err := z.zypper(ctx, "installing "+pkg+" "+version, true, "install", "--oldpackage", pkg+"="+version); err != nil {
		return err
	}
	_, err := z.zypper(ctx, "locking "+pkg+" at "+version, false, "addlock", pkg)
	return err
}

// locked reports whether /etc/zypp/locks names pkg.
func (z *zypperBackend) locked(pkg string) bool {
	data, err := z.in.Root.ReadFile(zypperLocksFile)
	if err != nil {
		return false
	}
	for _, l := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(l, ":")
		if ok && strings.TrimSpace(k) == "solvable_name" && strings.TrimSpace(v) == pkg {
			return true
		}
	}
	return false
}

func (z *zypperBackend) remove(ctx context.Context, pkgs ...string) error {
	_, err := z.zypper(ctx, "removing packages", true, append([]string{"remove"}, pkgs...)...)
	return err
}
