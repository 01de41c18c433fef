package distros

import (
	"context"
	"strings"

	"github.com/Azure/aadsshlogin-extension-linux/handler/run"
)

// rpmTools are the parts dnf, yum, tdnf and zypper share: the rpm database
// and the dnf-style command line of bin.
type rpmTools struct {
	in  *Installer
	bin string
}

func (r rpmTools) selinuxPolicyPackages() []string { return []string{"selinux-policy-targeted"} }

func (r rpmTools) recover(context.Context) error { return nil }

// query uses rpm; it exits with the number of missing packages.
func (r rpmTools) query(ctx context.Context, names ...string) (map[string]string, error) {
	args := append([]string{"-q", "--qf", "%{NAME}\t%{VERSION}-%{RELEASE}\n"}, names...)
	res, err := r.in.lockedRun(ctx, run.Cmd{Path: "rpm", Args: args})
	if ce, ok := err.(*cmdError); ok && ce.err != nil {
		return nil, r.in.pmFailure("querying installed packages (rpm -q)", res, err)
	}
	m := map[string]string{}
	for _, l := range strings.Split(string(res.Stdout), "\n") {
		name, ver, ok := strings.Cut(strings.TrimSpace(l), "\t")
		if ok && name != "" && ver != "" {
			m[name] = ver
		}
	}
	return m, nil
}

func (r rpmTools) importKeys(ctx context.Context, paths []string) error {
	for _, p := range paths {
		res, err := r.in.lockedRun(ctx, run.Cmd{Path: "rpm", Args: []string{"--import", p}})
		if err != nil {
			return r.in.pmFailure("importing the repository signing key "+p+" (rpm --import)", res, err)
		}
	}
	return nil
}

// dnfRefresh runs `<bin> -y [--disablerepo=* --enablerepo=id] makecache`
// with metadata forced stale by refreshArgs.
func (r rpmTools) dnfRefresh(ctx context.Context, t *repoTarget, refreshArgs ...string) error {
	args := append([]string{"-y"}, refreshArgs...)
	if t != nil {
		args = append(args, "--disablerepo=*", "--enablerepo="+t.ID)
	}
	args = append(args, "makecache")
	res, err := r.in.lockedRun(ctx, run.Cmd{Path: r.bin, Args: args})
	if err != nil {
		return r.in.pmFailure("refreshing the repository metadata ("+r.bin+" makecache)", res, err)
	}
	return nil
}

// dnfAvailable lists `<bin> -q list available <pkg>`; no match is "".
func (r rpmTools) dnfAvailable(ctx context.Context, pkg string) (string, error) {
	res, err := r.in.lockedRun(ctx, run.Cmd{Path: r.bin, Args: []string{"-q", "list", "available", pkg}})
	if ce, ok := err.(*cmdError); isBusy(err) || ok && ce.err != nil {
		return "", r.in.pmFailure("looking up "+pkg, res, err)
	}
	return parseRPMList(string(res.Stdout), pkg), nil
}

// parseRPMList returns the last version listed for pkg outside the
// installed section ("aadsshlogin.x86_64  1.0.034210009-1  repo").
func parseRPMList(out, pkg string) string {
	installed, ver := false, ""
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		low := strings.ToLower(strings.TrimSpace(l))
		switch {
		case strings.HasPrefix(low, "installed packages"):
			installed = true
		case strings.HasPrefix(low, "available packages"), strings.HasPrefix(low, "available upgrades"):
			installed = false
		case len(f) >= 3 && strings.HasPrefix(f[0], pkg+".") && !installed && !strings.HasPrefix(f[2], "@"):
			ver = f[1]
			if i := strings.IndexByte(ver, ':'); i >= 0 && i < len(ver)-1 && ver[:i] == "0" {
				ver = ver[i+1:]
			}
		}
	}
	return ver
}

func (r rpmTools) transaction(ctx context.Context, what string, args ...string) error {
	res, err := r.in.lockedRun(ctx, run.Cmd{Path: r.bin, Args: args, Detach: true})
	if err != nil {
		return r.in.pmFailure(what+" ("+r.bin+" "+args[1]+")", res, err)
	}
	return nil
}
