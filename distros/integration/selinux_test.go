package integration

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/Azure/aadsshlogin-extension-linux/distros/release"
	"github.com/Azure/aadsshlogin-extension-linux/test/fixtures"
)

// selinuxPkg is the package carrying the aad_permissions policy module.
const selinuxPkg = "aadsshlogin-selinux"

// selinuxInstallRemove: with the distribution's SELinux policy package
// installed, Ensure installs aadsshlogin-selinux, then aadsshlogin (as the
// package manager's own log records it), semodule -l lists aad_permissions,
// a second Ensure changes nothing; Remove removes aadsshlogin, then
// aadsshlogin-selinux, the module is gone, and repoFiles too.
func selinuxInstallRemove(pose *fixtures.Pose, repoFiles ...string) func(*testing.T, *env) {
	return func(t *testing.T, e *env) {
		s := e.scenario(t, pose)
		s.installSELinuxPolicy()
		s.ensureInstalls(fixtures.LatestVersion)
		s.wantModule(true)
		s.ensureUnchanged()
		s.removeTwice(repoFiles...)
		s.wantModule(false)
		want := []string{"install " + selinuxPkg, "install aadsshlogin", "remove aadsshlogin", "remove " + selinuxPkg}
		// The removal refused while an Entra user was logged in (removeTwice)
		// shows as a first "remove aadsshlogin" in dpkg's and dnf's logs.
		if diff := cmp.Diff(want, slices.Compact(s.pmEvents())); diff != "" {
			t.Errorf("package manager's record of installs and removals (-want +got):\n%s", diff)
		}
	}
}

// selinuxModuleNotLoaded: aadsshlogin-selinux installs but registers no
// module (its semodule call failed quietly) → code 57 naming semodule and
// aad_permissions.
func selinuxModuleNotLoaded(pose *fixtures.Pose) func(*testing.T, *env) {
	return func(t *testing.T, e *env) {
		s := e.scenario(t, pose)
		s.installSELinuxPolicy()
		s.touch(fixtures.SkipSEModuleMarker)
		s.ensureFails(wantFailure{why: "aad_permissions is not loaded", code: 57, allOf: []string{"semodule", "aad_permissions"}})
		if got := s.version(selinuxPkg); got == "" {
			t.Errorf("%s is not installed; the failure should come from the module check", selinuxPkg)
		}
		s.wantModule(false)
	}
}

// selinuxPolicyName is the distribution's SELinux policy package whose
// presence makes aadsshlogin-selinux necessary (facts §3a).
func (s *scenario) selinuxPolicyName() string {
	switch p := s.in.Platform; {
	case p.Manager == release.Apt:
		return "selinux-policy-default"
	case p.Manager == release.Zypper && p.Release.Major() != "15":
		return "selinux-policy-minimum"
	}
	return "selinux-policy-targeted"
}

// installSELinuxPolicy installs the fake policy package (with its listing
// semodule) with dpkg or rpm, outside the Installer's view.
func (s *scenario) installSELinuxPolicy() {
	s.t.Helper()
	pkg := fixtures.SELinuxPolicy(s.selinuxPolicyName())
	build, args := fixtures.BuildRPM, []string{"rpm", "-i", "--nosignature"}
	if s.in.Platform.Manager == release.Apt {
		build, args = fixtures.BuildDeb, []string{"dpkg", "-i"}
	}
	file, err := build(s.t.TempDir(), pkg)
	if err != nil {
		s.t.Fatal(err)
	}
	s.mustRun(args[0], append(args[1:], s.copyIn(file))...)
	if got := s.version(pkg.Name); got == "" {
		s.t.Fatalf("precondition: %s not installed", pkg.Name)
	}
	s.selinux = true
}

// wantModule checks whether semodule -l lists aad_permissions.
func (s *scenario) wantModule(want bool) {
	s.t.Helper()
	out := s.mustRun("semodule", "-l")
	got := false
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] == "aad_permissions" {
			got = true
		}
	}
	if got != want {
		s.t.Errorf("semodule -l lists aad_permissions = %v, want %v:\n%s", got, want, out)
	}
}

// pmEvents returns, in order, the installs and removals of aadsshlogin and
// aadsshlogin-selinux as the package manager itself logged them ("install
// <name>", "remove <name>"): dpkg's /var/log/dpkg.log, zypper's
// /var/log/zypp/history, dnf's /var/log/dnf.rpm.log.
func (s *scenario) pmEvents() []string {
	s.t.Helper()
	logFile, parse := "/var/log/dnf.rpm.log", dnfLogEvent
	switch s.in.Platform.Manager {
	case release.Apt:
		logFile, parse = "/var/log/dpkg.log", dpkgLogEvent
	case release.Zypper:
		logFile, parse = "/var/log/zypp/history", zyppHistoryEvent
	}
	b, err := os.ReadFile(s.c.Path(logFile))
	if err != nil {
		s.t.Fatalf("package manager log: %v", err)
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		verb, name := parse(l)
		if verb != "" && (name == "aadsshlogin" || name == selinuxPkg) {
			out = append(out, verb+" "+name)
		}
	}
	return out
}

// dpkgLogEvent parses "2026-11-29 23:00:00 install aadsshlogin:all <none> 1.0".
func dpkgLogEvent(l string) (verb, name string) {
	f := strings.Fields(l)
	if len(f) < 4 || (f[2] != "install" && f[2] != "remove") {
		return "", ""
	}
	name, _, _ = strings.Cut(f[3], ":")
	return f[2], name
}

// zyppHistoryEvent parses "2026-11-29 23:00:00|install|aadsshlogin|1.0-1|noarch|…"
// (removals are "remove ").
func zyppHistoryEvent(l string) (verb, name string) {
	f := strings.Split(l, "|")
	if len(f) < 3 || strings.HasPrefix(l, "#") {
		return "", ""
	}
	switch v := strings.TrimSpace(f[1]); v {
	case "install", "remove":
		return v, f[2]
	}
	return "", ""
}

// dnfLogEvent parses "… SUBDEBUG Installed: aadsshlogin-1.0-1.noarch" and
// "… SUBDEBUG Erase: aadsshlogin-1.0-1.noarch".
func dnfLogEvent(l string) (verb, name string) {
	for tag, v := range map[string]string{" Installed: ": "install", " Erase: ": "remove"} {
		_, nevra, ok := strings.Cut(l, tag)
		if !ok {
			continue
		}
		// name-version-release.arch: drop the last two dash-separated parts.
		f := strings.Split(strings.TrimSpace(nevra), "-")
		if len(f) < 3 {
			return "", ""
		}
		return v, strings.Join(f[:len(f)-2], "-")
	}
	return "", ""
}
