package distros

import (
	"strings"
	"testing"
	"time"

	"github.com/Azure/aadsshlogin-extension-linux/distros/internal/fixture"
	"github.com/Azure/aadsshlogin-extension-linux/distros/release"
	"github.com/Azure/aadsshlogin-extension-linux/distros/repo"
	"github.com/Azure/aadsshlogin-extension-linux/handler/clock/clocktest"
	"github.com/Azure/aadsshlogin-extension-linux/handler/cloud"
	"github.com/Azure/aadsshlogin-extension-linux/handler/run"
	"github.com/Azure/aadsshlogin-extension-linux/handler/run/runtest"
	"github.com/Azure/aadsshlogin-extension-linux/handler/sysroot"
)

// Helpers the package's tests share: the Installer harness on a fake
// runner (the os-release files and file helpers are in internal/fixture).

// The repository files Ensure writes (repo.Build).
const (
	aptListPath    = "/etc/apt/sources.list.d/microsoft-prod.list"
	aptKeyringPath = "/usr/share/keyrings/microsoft-aadsshlogin.gpg"
	yumRepoPath    = "/etc/yum.repos.d/microsoft-prod.repo"
	zypperRepoPath = "/etc/zypp/repos.d/microsoft-prod.repo"
)

// noLocks is a LockProbe that finds every lock free.
type noLocks struct{}

func (noLocks) Holder(string) (bool, string) { return false, "" }

const (
	dpkgQueryPrefix = "dpkg-query -W -f=${Package}\t${Status}\t${Version}\n"
	rpmQueryPrefix  = "rpm -q --qf %{NAME}\t%{VERSION}-%{RELEASE}\n"
	rpmQueryMain    = rpmQueryPrefix + " aadsshlogin aadsshlogin-selinux"
	dpkgQueryMain   = dpkgQueryPrefix + " aadsshlogin aadsshlogin-selinux"
	aptInstallOpts  = "-o Dpkg::Options::=--force-confold -o Dpkg::Options::=--force-confdef"
	aptUpdatePMC    = "apt-get update -q -o Dir::Etc::sourcelist=/etc/apt/sources.list.d/microsoft-prod.list -o Dir::Etc::sourceparts=- -o APT::Get::List-Cleanup=0"
	aptInstallMain  = "apt-get install -y -q " + aptInstallOpts + " aadsshlogin"
	aptPurgeMain    = "apt-get purge -y -q " + aptInstallOpts + " aadsshlogin"
	dpkgConfigure   = "dpkg --force-confold --force-confdef --configure -a"
	rpmImport       = "rpm --import /etc/pki/rpm-gpg/microsoft-prod.asc"
	zypperRefresh   = "zypper --non-interactive refresh packages-microsoft-com-prod"
	zypperSearch    = "zypper --non-interactive --no-refresh search --details --match-exact aadsshlogin"
)

// Command sequences several expectations share.
var (
	// aptInstallTail: choose the candidate, look for the SELinux policy,
	// install, query the result.
	aptInstallTail = []string{"apt-cache policy aadsshlogin", dpkgQueryPrefix + " selinux-policy-default", aptInstallMain, dpkgQueryMain}
	// zypperPMC: the first zypper steps when PMC's repository is new.
	zypperPMC = []string{rpmQueryMain, rpmImport, zypperRefresh, zypperSearch}
	// tdnfInstallTail: look for the SELinux policy, install, query.
	tdnfInstallTail = []string{rpmQueryPrefix + " selinux-policy", "tdnf -y install aadsshlogin", rpmQueryMain}
)

// wire creates what a correctly installed aadsshlogin leaves behind.
func wire(t *testing.T, root sysroot.Root) {
	fixture.WriteFile(t, root.Path("/etc/nsswitch.conf"), "passwd:         files aad\ngroup:          files aad\n")
	fixture.WriteFile(t, root.Path("/etc/pam.d/sshd"), "account required pam_aad.so\n")
	fixture.WriteFile(t, root.Path("/etc/ssh/sshd_config"), "Match User *@*,????????-????-????-????-????????????    # Added by aadsshlogin installer\n    AuthorizedKeysCommand /usr/sbin/aad_certhandler %u %k\n")
}

type harness struct {
	in       *Installer
	fake     *runtest.Fake
	root     sysroot.Root
	progress []string
}

func newHarness(t *testing.T, osFile string, src repo.Source) *harness {
	t.Helper()
	p, err := release.Resolve(fixture.Release(t, osFile))
	if err != nil {
		t.Fatal(err)
	}
	if src.BaseURL == "" {
		src, _ = repo.SourceFor(cloud.ForEnvironment(""), "", nil)
	}
	h := &harness{root: sysroot.Root(t.TempDir()), fake: runtest.New(t, nil)}
	h.in = &Installer{
		Root: h.root, Runner: h.fake, Clock: clocktest.New(time.Unix(1e9, 0)), Platform: p, Source: src,
		StateDir: t.TempDir(), Locks: noLocks{}, Progress: func(s string) { h.progress = append(h.progress, s) },
	}
	wire(t, h.root)
	return h
}

// newDefaultHarness is newHarness with the manager's defaults, then setup
// (when not nil) for what the case changes.
func newDefaultHarness(t *testing.T, osFile string, setup func(h *harness)) *harness {
	t.Helper()
	h := newHarness(t, osFile, repo.Source{})
	h.defaults()
	if setup != nil {
		setup(h)
	}
	return h
}

// on sets the fake's answer for a command-line prefix.
func (h *harness) on(prefix string, r runtest.Response) { h.fake.Responses[prefix] = r }

// after makes the fake answer differently once a command has run
// (e.g. the package is installed after `apt-get install`).
func (h *harness) after(trigger, prefix string, r runtest.Response) {
	prev := h.fake.Hook
	h.fake.Hook = func(c run.Cmd) {
		if prev != nil {
			prev(c)
		}
		if strings.HasPrefix(c.String(), trigger) {
			h.fake.Responses[prefix] = r
		}
	}
}

func (h *harness) aptDefaults() {
	h.on("dpkg --audit", runtest.Response{})
	h.on("dpkg --print-architecture", runtest.Response{Stdout: "amd64\n"})
	h.on("dpkg-query -W", runtest.Response{ExitCode: 1})
	h.on("apt-get update", runtest.Response{})
	h.on("apt-get install", runtest.Response{})
	h.on("apt-get purge", runtest.Response{})
	h.on("apt-cache policy aadsshlogin", runtest.Response{Stdout: "aadsshlogin:\n  Installed: (none)\n  Candidate: 1.0.034210009\n"})
}

func (h *harness) rpmDefaults(bin string) {
	h.on("rpm -q", runtest.Response{ExitCode: 2, Stdout: "package aadsshlogin is not installed\n"})
	h.on("rpm --import", runtest.Response{})
	h.on(bin+" ", runtest.Response{})
	h.on(bin+" -q list available aadsshlogin", runtest.Response{Stdout: "Available Packages\naadsshlogin.x86_64   1.0.034210009-1   packages-microsoft-com-prod\n"})
}

// defaults gives the fake the answers of a system without aadsshlogin
// for the platform's package manager.
func (h *harness) defaults() {
	if h.in.Platform.Manager == release.Apt {
		h.aptDefaults()
		return
	}
	h.rpmDefaults(string(h.in.Platform.Manager))
}

// installCmd is how each manager's install transaction starts.
var installCmd = map[release.ManagerKind]string{release.Apt: "apt-get install", release.Dnf: "dnf -y install", release.Yum: "yum -y install", release.Tdnf: "tdnf -y install", release.Zypper: "zypper --non-interactive install"}

// installs makes the package query find aadsshlogin 1.0.034210009 once
// the manager's install transaction has run.
func (h *harness) installs() {
	if h.in.Platform.Manager == release.Apt {
		h.after(installCmd[release.Apt], dpkgQueryMain, runtest.Response{Stdout: "aadsshlogin\tinstall ok installed\t1.0.034210009\n"})
		return
	}
	h.after(installCmd[h.in.Platform.Manager], rpmQueryMain, runtest.Response{Stdout: "aadsshlogin\t1.0.034210009-1\n"})
}

// repoInPlace writes the repository configuration Ensure would write, but
// without our header, as another program would (packages-microsoft-prod),
// so Ensure reuses it as is (no key import, no write).
func (h *harness) repoInPlace(t *testing.T) {
	t.Helper()
	c, err := repo.Build(h.in.Platform, h.in.Source, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range c.Files {
		fixture.WriteFile(t, h.root.Path(f.Path), strings.TrimPrefix(string(f.Data), repo.Header))
	}
}
