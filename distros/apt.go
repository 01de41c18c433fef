package distros

import (
	"context"
	"strings"

	"github.com/Azure/aadsshlogin-extension-linux/distros/release"
	"github.com/Azure/aadsshlogin-extension-linux/handler/run"
)

// aptBackend drives apt-get and dpkg (Debian, Ubuntu).
type aptBackend struct{ in *Installer }

// aptEnv is the environment of every apt and dpkg run.
func aptEnv() []string { return []string{"DEBIAN_FRONTEND=noninteractive"} }

// aptDpkgOpts keep locally changed configuration files without asking.
func aptDpkgOpts() []string {
	return []string{"-o", "Dpkg::Options::=--force-confold", "-o", "Dpkg::Options::=--force-confdef"}
}

func (a *aptBackend) kind() release.ManagerKind { return release.Apt }

func (a *aptBackend) lockFiles() []string {
	return []string{"/var/lib/dpkg/lock-frontend", "/var/lib/dpkg/lock", "/var/lib/apt/lists/lock", "/var/cache/apt/archives/lock"}
}

func (a *aptBackend) selinuxPolicyPackages() []string { return []string{"selinux-policy-default"} }

// recover runs `dpkg --configure -a` when dpkg reports half-configured
// packages or has unprocessed updates (an interrupted transaction).
func (a *aptBackend) recover(ctx context.Context) error {
	res, err := a.in.lockedRun(ctx, run.Cmd{Path: "dpkg", Args: []string{"--audit"}, Env: aptEnv()})
	pending := strings.TrimSpace(string(res.Stdout)) != ""
	if ce, ok := err.(*cmdError); ok && ce.err != nil {
		return a.in.pmFailure("checking dpkg's state (dpkg --audit)", res, err)
	}
	if names, _ := a.in.Root.ReadDir("/var/lib/dpkg/updates"); len(names) > 0 {
		pending = true
	}
	if !pending {
		return nil
	}
	a.in.progress("finishing an interrupted package installation (dpkg --configure -a)")
	args := []string{"--force-confold", "--force-confdef", "--configure", "-a"}
	res, err = a.in.lockedRun(ctx, run.Cmd{Path: "dpkg", Args: args, Env: aptEnv(), Detach: true})
	if err != nil {
		return a.in.pmFailure("finishing an interrupted dpkg transaction (dpkg --configure -a); run it by hand to see the problem", res, err)
	}
	return nil
}

func (a *aptBackend) refresh(ctx context.Context, t *repoTarget) error {
	args := []string{"update", "-q"}
	if t != nil {
		args = append(args, "-o", "Dir::Etc::sourcelist="+t.File, "-o", "Dir::Etc::sourceparts=-", "-o", "APT::Get::List-Cleanup=0")
	}
	res, err := a.in.lockedRun(ctx, run.Cmd{Path: "apt-get", Args: args, Env: aptEnv()})
	if err == nil && t != nil && aptUpdateFailed(res) {
		err = &cmdError{cmd: run.Cmd{Path: "apt-get", Args: args}, code: 0}
	}
	if err != nil {
		return a.in.pmFailure("refreshing the package lists (apt-get update)", res, err)
	}
	return nil
}

// aptUpdateFailed spots fetch errors older apt reports with exit status 0.
func aptUpdateFailed(res run.Result) bool {
	out := string(res.Stderr) + string(res.Stdout)
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "E:") || strings.HasPrefix(l, "W: Failed to fetch") || strings.HasPrefix(l, "W: GPG error") ||
			strings.HasPrefix(l, "Err:") || strings.HasPrefix(l, "W: The repository") {
			return true
		}
	}
	return false
}

func (a *aptBackend) available(ctx context.Context, pkg string) (string, error) {
	res, err := a.in.lockedRun(ctx, run.Cmd{Path: "apt-cache", Args: []string{"policy", pkg}, Env: aptEnv()})
	if err != nil {
		return "", a.in.pmFailure("looking up "+pkg+" (apt-cache policy)", res, err)
	}
	installed, candidate := "", ""
	for _, l := range strings.Split(string(res.Stdout), "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(l), ":")
		if !ok {
			continue
		}
		switch v = strings.TrimSpace(v); k {
		case "Installed":
			installed = v
		case "Candidate":
			candidate = v
		}
	}
	if candidate == "(none)" || candidate == installed {
		return "", nil
	}
	return candidate, nil
}

func (a *aptBackend) install(ctx context.Context, pkg string, _ bool) error {
	args := append(append([]string{"install", "-y", "-q"}, aptDpkgOpts()...), pkg)
	res, err := a.in.lockedRun(ctx, run.Cmd{Path: "apt-get", Args: args, Env: aptEnv(), Detach: true})
	if err != nil {
		return a.in.pmFailure("installing "+pkg+" (apt-get install)", res, err)
	}
	return nil
}

func (a *aptBackend) installPinned(ctx context.Context, pkg, version string) error {
	args := append(append([]string{"install", "-y", "-q", "--allow-downgrades"}, aptDpkgOpts()...), pkg+"="+version)
	res, err := a.in.lockedRun(ctx, run.Cmd{Path: "apt-get", Args: args, Env: aptEnv(), Detach: true})
	if err == nil {
		res, err = a.in.lockedRun(ctx, run.Cmd{Path: "apt-mark", Args: []string{"hold", pkg}, Env: aptEnv()})
	}
	if err != nil {
		return a.in.pmFailure("installing "+pkg+" "+version, res, err)
	}
	return nil
}

func (a *aptBackend) remove(ctx context.Context, pkgs ...string) error {
	args := append(append([]string{"purge", "-y", "-q"}, aptDpkgOpts()...), pkgs...)
	res, err := a.in.lockedRun(ctx, run.Cmd{Path: "apt-get", Args: args, Env: aptEnv(), Detach: true})
	if err != nil {
		return a.in.pmFailure("removing "+strings.Join(pkgs, ", ")+" (apt-get purge)", res, err)
	}
	return nil
}

// query asks dpkg-query; it exits 1 when a name is unknown, which is not
// an error here.
func (a *aptBackend) query(ctx context.Context, names ...string) (map[string]string, error) {
	args := append([]string{"-W", "-f=${Package}\t${Status}\t${Version}\n"}, names...)
	res, err := a.in.lockedRun(ctx, run.Cmd{Path: "dpkg-query", Args: args})
	if ce, ok := err.(*cmdError); ok && (ce.err != nil || ce.code != 1) {
		return nil, a.in.pmFailure("querying installed packages (dpkg-query)", res, err)
	}
	return parseDpkgQuery(string(res.Stdout)), nil
}

// parseDpkgQuery keeps packages whose status is "install ok installed"
// (or a hold); "deinstall ok config-files" counts as absent.
func parseDpkgQuery(out string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		f := strings.Split(l, "\t")
		if len(f) != 3 || f[0] == "" || f[2] == "" {
			continue
		}
		st := strings.Fields(f[1])
		if len(st) == 3 && st[2] == "installed" {
			m[f[0]] = f[2]
		}
	}
	return m
}

func (a *aptBackend) importKeys(context.Context, []string) error { return nil }
