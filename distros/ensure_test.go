package distros

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/Azure/aadsshlogin-extension-linux/distros/internal/fixture"
	"github.com/Azure/aadsshlogin-extension-linux/distros/release"
	"github.com/Azure/aadsshlogin-extension-linux/distros/repo"
	"github.com/Azure/aadsshlogin-extension-linux/handler/failure"
	"github.com/Azure/aadsshlogin-extension-linux/handler/run"
	"github.com/Azure/aadsshlogin-extension-linux/handler/run/runtest"
)

func TestNewer(t *testing.T) {
	tests := []struct {
		avail, installed string
		want             bool
	}{
		{"1.0.034210009-1", "1.0.027980001-1", true},
		{"1.0.027980001-1", "1.0.034210009-1", false},
		{"1.0.034210009-1", "1.0.034210009-1", false},
		{"1.0.034210009-2", "1.0.034210009-1", true},
		{"1.0.034210009", "1.0.027980001", true},
		// Unreadable versions: differing means "let the package manager decide".
		{"1:1.0~rc1", "1:1.0~rc0", true},
		{"1:1.0~rc1", "1:1.0~rc1", false},
	}
	for _, tt := range tests {
		if got := newer(tt.avail, tt.installed); got != tt.want {
			t.Errorf("newer(%q, %q) = %v, want %v", tt.avail, tt.installed, got, tt.want)
		}
	}
}

func TestEnsureAptFresh(t *testing.T) {
	h := newHarness(t, "debian-12", repo.Source{})
	h.aptDefaults()
	h.installs()
	res, err := h.in.Ensure(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Concat([]string{"dpkg --audit", dpkgQueryMain, "dpkg --print-architecture", aptUpdatePMC}, aptInstallTail)
	if diff := cmp.Diff(want, h.fake.Lines()); diff != "" {
		t.Errorf("commands (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(Result{Installed: map[string]string{"aadsshlogin": "1.0.034210009"}, Changed: true}, res); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}
	for _, c := range h.fake.Calls {
		isTx := strings.HasPrefix(c.String(), "apt-get install")
		if c.Detach != isTx {
			t.Errorf("%s: Detach = %v", c, c.Detach)
		}
		if strings.HasPrefix(c.Path, "apt") && !cmp.Equal(c.Env, []string{"DEBIAN_FRONTEND=noninteractive"}) {
			t.Errorf("%s: Env = %v", c, c.Env)
		}
	}
	list, err := h.root.ReadFile(aptListPath)
	if err != nil || !strings.Contains(string(list), "deb [arch=amd64 signed-by=/usr/share/keyrings/microsoft-aadsshlogin.gpg] https://packages.microsoft.com/repos/microsoft-debian-bookworm-prod bookworm main") {
		t.Errorf("list = %q, %v", list, err)
	}
	if !h.root.Exists(aptKeyringPath) {
		t.Error("keyring not written")
	}

	// Second run: everything in place, nothing changes.
	h.fake.Calls = nil
	h.on("apt-cache policy aadsshlogin", runtest.Response{Stdout: "aadsshlogin:\n  Installed: 1.0.034210009\n  Candidate: 1.0.034210009\n"})
	res, err = h.in.Ensure(context.Background())
	if err != nil || res.Changed {
		t.Fatalf("second Ensure: changed=%v err=%v", res.Changed, err)
	}
	for _, l := range h.fake.Lines() {
		if strings.HasPrefix(l, "apt-get install") {
			t.Errorf("second run installed: %s", l)
		}
	}

	// Remove deletes what we wrote; a second Remove is a no-op.
	h.fake.Calls = nil
	h.after(aptPurgeMain, dpkgQueryMain, runtest.Response{ExitCode: 1})
	if err := h.in.Remove(context.Background()); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{dpkgQueryMain, aptPurgeMain}, h.fake.Lines()); diff != "" {
		t.Errorf("remove commands (-want +got):\n%s", diff)
	}
	if h.root.Exists(aptListPath) || h.root.Exists(aptKeyringPath) {
		t.Error("repository files left behind")
	}
	h.fake.Calls = nil
	if err := h.in.Remove(context.Background()); err != nil {
		t.Fatalf("second Remove: %v", err)
	}
	if diff := cmp.Diff([]string{dpkgQueryMain}, h.fake.Lines()); diff != "" {
		t.Errorf("second remove (-want +got):\n%s", diff)
	}
}

func TestEnsureBackends(t *testing.T) {
	tests := []struct {
		name    string
		osFile  string
		setup   func(h *harness) // beyond the manager's defaults
		want    []string
		changed bool
	}{
		{
			name: "dnf with SELinux enforcing", osFile: "rhel-9.4",
			setup: func(h *harness) {
				fixture.WriteFile(t, h.root.Path("/sys/fs/selinux/enforce"), "1")
				fixture.WriteFile(t, h.root.Path("/usr/sbin/semodule"), "")
				h.on("/usr/sbin/semodule -l", runtest.Response{Stdout: "aad_permissions\nabrt\n"})
			},
			want: []string{
				rpmQueryMain,
				rpmImport,
				"dnf -y --refresh --disablerepo=* --enablerepo=packages-microsoft-com-prod makecache",
				"dnf -q list available aadsshlogin",
				"dnf -y install aadsshlogin-selinux",
				"dnf -y install aadsshlogin",
				"/usr/sbin/semodule -l",
				rpmQueryMain,
			},
			changed: true,
		},
		{
			name: "yum upgrade with policy package", osFile: "rhel-7.9",
			setup: func(h *harness) {
				h.on(rpmQueryMain, runtest.Response{Stdout: "aadsshlogin\t1.0.020810001-1\naadsshlogin-selinux\t1.0.020810001-1\n"})
				h.on(rpmQueryPrefix+" selinux-policy-targeted", runtest.Response{Stdout: "selinux-policy-targeted\t3.13.1-268.el7\n"})
				h.on("yum -q list available aadsshlogin-selinux", runtest.Response{ExitCode: 1, Stderr: "Error: No matching Packages to list\n"})
			},
			want: []string{
				rpmQueryMain,
				rpmImport,
				"yum -y --disablerepo=* --enablerepo=packages-microsoft-com-prod clean expire-cache",
				"yum -y --disablerepo=* --enablerepo=packages-microsoft-com-prod makecache",
				"yum -q list available aadsshlogin",
				rpmQueryPrefix + " selinux-policy-targeted",
				"yum -q list available aadsshlogin-selinux",
				"yum -y update aadsshlogin",
				rpmQueryMain,
			},
			changed: true,
		},
		{
			name: "zypper pinned on SLES 15 SP5", osFile: "sles-15.5",
			setup: func(h *harness) {
				h.on("zypper --non-interactive --no-refresh search", runtest.Response{Stdout: "S | Name        | Type    | Version         | Arch   | Repository\n--+-------------+---------+-----------------+--------+-----------\n  | aadsshlogin | package | 1.0.034210009-1 | x86_64 | packages-microsoft-com-prod\n"})
			},
			want: slices.Concat(zypperPMC, []string{
				rpmQueryPrefix + " selinux-policy-targeted",
				"zypper --non-interactive install --oldpackage aadsshlogin=1.0.027980001",
				"zypper --non-interactive addlock aadsshlogin",
				rpmQueryMain,
			}),
			changed: true,
		},
		{
			name: "zypper SLES 12 already pinned and locked", osFile: "sles-12.5",
			setup: func(h *harness) {
				h.on(rpmQueryMain, runtest.Response{ExitCode: 1, Stdout: "aadsshlogin\t1.0.027980001-1\npackage aadsshlogin-selinux is not installed\n"})
				h.on("zypper --non-interactive --no-refresh search", runtest.Response{ExitCode: 104})
				fixture.WriteFile(t, h.root.Path(zypperLocksFile), "type: package\nmatch_type: glob\ncase_sensitive: on\nsolvable_name: aadsshlogin\n")
				h.repoInPlace(t)
			},
			want:    []string{rpmQueryMain, zypperRefresh, zypperSearch, rpmQueryPrefix + " selinux-policy-minimum", rpmQueryMain},
			changed: false,
		},
		{
			name: "zypper SLES 15 SP6 latest", osFile: "sles-15.6",
			setup: func(h *harness) {
				h.on("zypper --non-interactive --no-refresh search", runtest.Response{Stdout: "  | aadsshlogin | package | 1.0.034210009-1 | x86_64 | packages-microsoft-com-prod\n"})
			},
			want:    slices.Concat(zypperPMC, []string{rpmQueryPrefix + " selinux-policy-targeted", "zypper --non-interactive install aadsshlogin", rpmQueryMain}),
			changed: true,
		},
		{
			// zypper marks the older version "v": not an upgrade.
			name: "zypper SLES 15 SP6 latest already installed", osFile: "sles-15.6",
			setup: func(h *harness) {
				h.on(rpmQueryMain, runtest.Response{ExitCode: 1, Stdout: "aadsshlogin\t1.0.034210009-1\npackage aadsshlogin-selinux is not installed\n"})
				h.on("zypper --non-interactive --no-refresh search", runtest.Response{Stdout: "i+ | aadsshlogin | package | 1.0.034210009-1 | x86_64 | packages-microsoft-com-prod\n" +
					"v  | aadsshlogin | package | 1.0.027980001-1 | x86_64 | packages-microsoft-com-prod\n"})
				h.repoInPlace(t)
			},
			want:    []string{rpmQueryMain, zypperRefresh, zypperSearch, rpmQueryPrefix + " selinux-policy-targeted", rpmQueryMain},
			changed: false,
		},
		{
			name: "tdnf mariner extras", osFile: "mariner-2.0",
			want: slices.Concat([]string{
				rpmQueryMain,
				rpmImport,
				"tdnf -y --refresh --disablerepo=* --enablerepo=mariner-official-extras makecache",
				"tdnf -q list available aadsshlogin",
			}, tdnfInstallTail),
			changed: true,
		},
		{
			name: "azure linux from distro repositories", osFile: "azurelinux-3.0",
			want:    slices.Concat([]string{rpmQueryMain, "tdnf -y --refresh makecache", "tdnf -q list available aadsshlogin"}, tdnfInstallTail),
			changed: true,
		},
		{
			name: "azure linux falls back to PMC", osFile: "azurelinux-3.0",
			setup: func(h *harness) {
				h.on("tdnf -q list available aadsshlogin", runtest.Response{ExitCode: 1})
				h.after("tdnf -y --refresh --disablerepo=*", "tdnf -q list available aadsshlogin",
					runtest.Response{Stdout: "aadsshlogin.x86_64 1.0.034210009-1 packages-microsoft-com-prod\n"})
			},
			want: slices.Concat([]string{
				rpmQueryMain,
				"tdnf -y --refresh makecache",
				"tdnf -q list available aadsshlogin",
				rpmImport,
				"tdnf -y --refresh --disablerepo=* --enablerepo=packages-microsoft-com-prod makecache",
				"tdnf -q list available aadsshlogin",
			}, tdnfInstallTail),
			changed: true,
		},
		{
			name: "apt targeted refresh fails, full refresh finds it", osFile: "ubuntu-22.04",
			setup: func(h *harness) {
				h.on("apt-get update -q -o", runtest.Response{ExitCode: 100, Stderr: "E: Failed to fetch x"})
				h.on("dpkg --audit", runtest.Response{Stdout: "The following packages are only half configured\n"})
				h.on("dpkg --force-confold", runtest.Response{})
			},
			want: slices.Concat([]string{"dpkg --audit", dpkgConfigure, dpkgQueryMain, "dpkg --print-architecture", aptUpdatePMC, "apt-get update -q"},
				aptInstallTail),
			changed: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newDefaultHarness(t, tt.osFile, tt.setup)
			res, err := h.in.Ensure(context.Background())
			if err != nil {
				t.Fatalf("Ensure: %v\ncommands: %q", err, h.fake.Lines())
			}
			if diff := cmp.Diff(tt.want, h.fake.Lines()); diff != "" {
				t.Errorf("commands (-want +got):\n%s", diff)
			}
			if res.Changed != tt.changed {
				t.Errorf("Changed = %v, want %v", res.Changed, tt.changed)
			}
			for _, c := range h.fake.Calls {
				l := c.String()
				tx := strings.Contains(l, " install ") || strings.Contains(l, " update aadsshlogin") || strings.Contains(l, "--configure -a") ||
					strings.Contains(l, " upgrade ") || strings.Contains(l, " remove ")
				if c.Detach != tx {
					t.Errorf("%s: Detach = %v, want %v", l, c.Detach, tx)
				}
				if strings.Contains(l, "gpg-auto-import-keys") || strings.Contains(l, "--nogpgcheck") {
					t.Errorf("forbidden option: %s", l)
				}
			}
		})
	}
}

func TestEnsurePinnedRemoveLiftsLock(t *testing.T) {
	h := newHarness(t, "opensuse-leap-15.5", repo.Source{})
	h.rpmDefaults("zypper")
	h.on("zypper --non-interactive --no-refresh search", runtest.Response{ExitCode: 104})
	h.after("zypper --non-interactive addlock", rpmQueryMain, runtest.Response{ExitCode: 1, Stdout: "aadsshlogin\t1.0.027980001-1\n"})
	h.fake.Hook = chainLockFile(t, h, h.fake.Hook)
	if _, err := h.in.Ensure(context.Background()); err != nil {
		t.Fatal(err)
	}
	h.fake.Calls = nil
	if err := h.in.Remove(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := []string{
		rpmQueryMain,
		"zypper --non-interactive removelock aadsshlogin",
		"zypper --non-interactive remove aadsshlogin",
	}
	if diff := cmp.Diff(want, h.fake.Lines()); diff != "" {
		t.Errorf("remove (-want +got):\n%s", diff)
	}
	if h.root.Exists(zypperRepoPath) {
		t.Error("zypper repo file left behind")
	}
}

// chainLockFile makes `zypper addlock` create the locks file like zypper.
func chainLockFile(t *testing.T, h *harness, prev func(run.Cmd)) func(run.Cmd) {
	return func(c run.Cmd) {
		prev(c)
		switch {
		case strings.HasPrefix(c.String(), "zypper --non-interactive addlock"):
			fixture.WriteFile(t, h.root.Path(zypperLocksFile), "type: package\nsolvable_name: aadsshlogin\n")
		case strings.HasPrefix(c.String(), "zypper --non-interactive removelock"):
			os.Remove(h.root.Path(zypperLocksFile))
		}
	}
}

func TestEnsureRollbackOnFailure(t *testing.T) {
	foreign := "deb [signed-by=/usr/share/keyrings/other.gpg] https://example.com/other jammy main\n"
	h := newHarness(t, "ubuntu-22.04", repo.Source{})
	h.aptDefaults()
	fixture.WriteFile(t, h.root.Path(aptListPath), foreign)
	h.on("apt-get install", runtest.Response{ExitCode: 100, Stderr: strings.Repeat("x", 1000) + "\nE: Sub-process /usr/bin/dpkg returned an error code (1)"})
	_, err := h.in.Ensure(context.Background())
	if failure.CodeOf(err) != failure.Dependency {
		t.Fatalf("err = %v, want Dependency", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "dpkg returned an error code (1)") || strings.Count(msg, "x") > 700 {
		t.Errorf("message lacks the output tail or is too long: %d bytes", len(msg))
	}
	got, _ := h.root.ReadFile(aptListPath)
	if string(got) != foreign {
		t.Errorf("list not restored: %q", got)
	}
	if h.root.Exists(aptKeyringPath) {
		t.Error("keyring not removed")
	}
	if _, err := os.Stat(h.in.StateDir + "/" + stateFileName); !os.IsNotExist(err) {
		t.Errorf("state file left: %v", err)
	}
}

// A file of our name that someone else wrote (here a definition of
// another repository id's URL) is never overwritten: ours goes beside it,
// and Remove leaves theirs byte-identical.
func TestEnsureWritesBesideForeignFile(t *testing.T) {
	foreign := "[packages-microsoft-com-prod]\nbaseurl=https://packages.microsoft.com/rhel/8/prod/\n"
	alt := "/etc/yum.repos.d/microsoft-aadsshlogin.repo"
	h := newHarness(t, "rhel-9.4", repo.Source{})
	h.rpmDefaults("dnf")
	fixture.WriteFile(t, h.root.Path(yumRepoPath), foreign)
	h.installs()
	res, err := h.in.Ensure(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := h.root.ReadFile(alt); !strings.Contains(string(got), "rhel/9/prod") || !strings.Contains(string(got), "["+repo.IDAlt+"]") {
		t.Fatalf("own repo not written beside the foreign one: %q", got)
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], yumRepoPath) || !strings.Contains(res.Warnings[0], alt) {
		t.Errorf("warnings = %q", res.Warnings)
	}
	if err := h.in.Remove(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, _ := h.root.ReadFile(yumRepoPath); string(got) != foreign {
		t.Errorf("foreign repo file changed: %q", got)
	}
	if h.root.Exists(alt) || h.root.Exists("/etc/pki/rpm-gpg/microsoft-prod.asc") {
		t.Error("own files left behind")
	}
}

// Another product rewrites our repository file after we installed: enable
// and uninstall leave it byte-identical, say so, and install from it when
// it still defines the repository for this distribution.
func TestEnsureForeignRewriteAfterInstall(t *testing.T) {
	tests := []struct {
		name, osFile, file, foreign, alt string
		reused                           bool
	}{
		{"packages-microsoft-prod (same repository)", "debian-12", aptListPath,
			"deb [arch=amd64,arm64,armhf signed-by=/usr/share/keyrings/microsoft-prod.gpg] https://packages.microsoft.com/debian/12/prod bookworm main\n", "", true},
		{"another distribution's repository", "debian-12", aptListPath,
			"deb [arch=amd64] https://packages.microsoft.com/debian/11/prod bullseye main insiders-fast\n", "/etc/apt/sources.list.d/microsoft-aadsshlogin.list", false},
		{"dnf: packages-microsoft-prod", "rhel-9.4", yumRepoPath,
			"[packages-microsoft-com-prod]\nname=packages-microsoft-com-prod\nbaseurl=https://packages.microsoft.com/rhel/9/prod/\nenabled=1\ngpgcheck=1\ngpgkey=https://packages.microsoft.com/keys/microsoft.asc\n", "", true},
		{"zypper: another repository", "sles-15.6", zypperRepoPath,
			"[packages-microsoft-com-prod]\nbaseurl=https://packages.microsoft.com/sles/12/prod/\nenabled=1\n", "/etc/zypp/repos.d/microsoft-aadsshlogin.repo", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.osFile, repo.Source{})
			h.defaults()
			if h.in.Platform.Manager == release.Zypper {
				h.on("zypper", runtest.Response{})
				h.on(zypperSearch, runtest.Response{Stdout: "S | Name | Type | Version | Arch | Repository\n  | aadsshlogin | package | 1.0.034210009-1 | x86_64 | x\n"})
			}
			h.installs()
			if _, err := h.in.Ensure(context.Background()); err != nil {
				t.Fatal(err)
			}
			fixture.WriteFile(t, h.root.Path(tt.file), tt.foreign)

			h.fake.Calls = nil
			res, err := h.in.Ensure(context.Background())
			if err != nil {
				t.Fatalf("enable after the rewrite: %v", err)
			}
			if got, _ := h.root.ReadFile(tt.file); string(got) != tt.foreign {
				t.Errorf("enable changed the foreign file: %q", got)
			}
			if len(res.Warnings) == 0 || !strings.Contains(res.Warnings[0], tt.file) || !strings.Contains(res.Warnings[0], "another program") {
				t.Errorf("warnings = %q", res.Warnings)
			}
			if tt.reused != strings.Contains(strings.Join(res.Warnings, " "), "installs from it") {
				t.Errorf("reused = %v, warnings %q", !tt.reused, res.Warnings)
			}
			if tt.alt != "" && !h.root.Exists(tt.alt) {
				t.Errorf("own definition not written to %s", tt.alt)
			}

			h.after("apt-get purge", dpkgQueryMain, runtest.Response{ExitCode: 1})
			if err := h.in.Remove(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got, _ := h.root.ReadFile(tt.file); string(got) != tt.foreign {
				t.Errorf("uninstall changed the foreign file: %q", got)
			}
			if tt.alt != "" && h.root.Exists(tt.alt) {
				t.Errorf("%s left behind", tt.alt)
			}
		})
	}
}

func TestEnsureCoexistence(t *testing.T) {
	tests := []struct {
		name, osFile, file, content, refresh string
	}{
		{"packages-microsoft-prod list", "debian-12", "/etc/apt/sources.list.d/microsoft-prod.list",
			"deb [arch=amd64,arm64,armhf signed-by=/usr/share/keyrings/microsoft-prod.gpg] https://packages.microsoft.com/debian/12/prod bookworm main\n",
			aptUpdatePMC},
		{"deb822 sources", "ubuntu-24.04", "/etc/apt/sources.list.d/microsoft-prod.sources",
			"Types: deb\nURIs: https://packages.microsoft.com/ubuntu/24.04/prod/\nSuites: noble\nComponents: main\nSigned-By: /usr/share/keyrings/microsoft-prod.gpg\n",
			"apt-get update -q -o Dir::Etc::sourcelist=/etc/apt/sources.list.d/microsoft-prod.sources -o Dir::Etc::sourceparts=- -o APT::Get::List-Cleanup=0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.osFile, repo.Source{})
			h.aptDefaults()
			fixture.WriteFile(t, h.root.Path(tt.file), tt.content)
			if _, err := h.in.Ensure(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got, _ := h.root.ReadFile(tt.file); string(got) != tt.content {
				t.Errorf("existing file changed: %q", got)
			}
			if h.root.Exists(aptKeyringPath) || (tt.file != aptListPath && h.root.Exists(aptListPath)) {
				t.Error("duplicate source or keyring written")
			}
			lines := h.fake.Lines()
			if len(lines) < 4 || lines[3] != tt.refresh {
				t.Errorf("refresh = %q", lines)
			}
		})
	}
}

func TestEnsureNotWiredIn(t *testing.T) {
	tests := []struct {
		name  string
		setup func(h *harness)
		want  string // in the message
	}{
		{"pam_aad missing from pam.d/sshd", func(h *harness) { os.Remove(h.root.Path("/etc/pam.d/sshd")) }, "pam-auth-update"},
		{"sshd -T rejects the configuration", func(h *harness) {
			fixture.WriteFile(t, h.root.Path("/usr/sbin/sshd"), "")
			h.on("/usr/sbin/sshd -T", runtest.Response{ExitCode: 255, Stderr: "/etc/ssh/sshd_config line 9: Bad Match condition"})
		}, "Bad Match condition"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, "debian-11", repo.Source{})
			h.aptDefaults()
			tt.setup(h)
			_, err := h.in.Ensure(context.Background())
			if failure.CodeOf(err) != failure.NotWiredIn || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want NotWiredIn naming %q", err, tt.want)
			}
			if !h.root.Exists(aptListPath) {
				t.Error("repository rolled back although the package was installed")
			}
		})
	}
}

func TestEnsureSEModuleMissing(t *testing.T) {
	h := newHarness(t, "rhel-8.10", repo.Source{})
	h.rpmDefaults("dnf")
	fixture.WriteFile(t, h.root.Path("/sys/fs/selinux/enforce"), "1")
	fixture.WriteFile(t, h.root.Path("/usr/sbin/semodule"), "")
	h.on("/usr/sbin/semodule -l", runtest.Response{Stdout: "abrt\n"})
	_, err := h.in.Ensure(context.Background())
	if failure.CodeOf(err) != failure.NotWiredIn || !strings.Contains(err.Error(), "aad_permissions") {
		t.Fatalf("err = %v", err)
	}
}

// Without semodule the module cannot be checked: success with a warning.
func TestEnsureSEModuleUncheckable(t *testing.T) {
	h := newHarness(t, "rhel-8.10", repo.Source{})
	h.rpmDefaults("dnf")
	fixture.WriteFile(t, h.root.Path("/sys/fs/selinux/enforce"), "1")
	res, err := h.in.Ensure(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !res.SELinux {
		t.Error("SELinux not detected")
	}
	want := []string{"semodule (policycoreutils) is not installed"}
	var got []string
	for _, w := range res.Warnings {
		if strings.Contains(w, want[0]) {
			got = append(got, want[0])
		}
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("warnings (-want +got):\n%s\nall: %q", d, res.Warnings)
	}
}

func TestEnsureRepoErrors(t *testing.T) {
	tests := []struct {
		name, stderr, want string
	}{
		{"404", "E: Failed to fetch https://packages.microsoft.com/repos/x/dists/bookworm/InRelease  404  Not Found [IP: 1.2.3.4 443]", "not found (404)"},
		{"403", "E: Failed to fetch https://m/x  403  Forbidden", "denied (401/403)"},
		{"tls", "E: Failed to fetch https://m/x  Certificate verification failed: The certificate is NOT trusted.", "TLS connection"},
		{"gpg", "W: GPG error: https://m bookworm InRelease: The following signatures couldn't be verified because the public key is not available: NO_PUBKEY EB3E94ADBE1229CF", "BC528686B50D79E339D3721CEB3E94ADBE1229CF"},
		{"dns", "E: Failed to fetch https://m/x  Temporary failure resolving 'packages.microsoft.com'", "walinuxagent.service"},
		{"429", "E: Failed to fetch https://m/x  429  Too Many Requests [IP: 1.2.3.4 443]", "throttling requests (429"},
		{"503", "E: Failed to fetch https://m/x  503  Service Unavailable [IP: 1.2.3.4 443]", "server error (5xx)"},
		{"500 dnf", "Status code: 500 for https://m/rhel/9/prod/repodata/repomd.xml", "server error (5xx)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, "debian-12", repo.Source{})
			h.aptDefaults()
			h.on("apt-get update -q -o", runtest.Response{ExitCode: 100, Stderr: tt.stderr})
			h.on("apt-cache policy aadsshlogin", runtest.Response{Stdout: "aadsshlogin:\n  Installed: (none)\n  Candidate: (none)\n"})
			_, err := h.in.Ensure(context.Background())
			if failure.CodeOf(err) != failure.Dependency {
				t.Fatalf("err = %v", err)
			}
			msg := err.Error()
			for _, w := range []string{tt.want, "https://packages.microsoft.com", tt.stderr[len(tt.stderr)-20:]} {
				if !strings.Contains(msg, w) {
					t.Errorf("message lacks %q: %s", w, msg)
				}
			}
			if h.root.Exists(aptListPath) {
				t.Error("repository file not rolled back")
			}
		})
	}
}

func TestQuery(t *testing.T) {
	tests := []struct {
		name, osFile, prefix string
		out                  runtest.Response
		pkgs                 []string
		want                 map[string]string
		commands             []string
	}{
		{"dpkg", "ubuntu-20.04", "dpkg-query",
			runtest.Response{ExitCode: 1, Stdout: "aadsshlogin\tinstall ok installed\t1.0.1\naadsshlogin-selinux\tdeinstall ok config-files\t1.0.1\n", Stderr: "dpkg-query: no packages found matching x\n"},
			[]string{"aadsshlogin", "aadsshlogin-selinux", "x"}, map[string]string{"aadsshlogin": "1.0.1"},
			[]string{dpkgQueryPrefix + " aadsshlogin aadsshlogin-selinux x"}},
		{"rpm", "rocky-9", "rpm -q",
			runtest.Response{ExitCode: 1, Stdout: "aadsshlogin\t1.0.2-1\npackage aadsshlogin-selinux is not installed\n"},
			[]string{"aadsshlogin", "aadsshlogin-selinux"}, map[string]string{"aadsshlogin": "1.0.2-1"},
			[]string{rpmQueryMain}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.osFile, repo.Source{})
			h.on(tt.prefix, tt.out)
			got, err := h.in.Query(context.Background(), tt.pkgs...)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("installed (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.commands, h.fake.Lines()); diff != "" {
				t.Errorf("commands (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseRPMList(t *testing.T) {
	tests := []struct{ name, out, want string }{
		{"dnf4 available", "Available Packages\naadsshlogin.x86_64    1.0.034210009-1    packages-microsoft-com-prod\n", "1.0.034210009-1"},
		{"installed only", "Installed Packages\naadsshlogin.x86_64    1.0.1-1    @packages-microsoft-com-prod\n", ""},
		{"dnf5 lower case", "Available packages\naadsshlogin.aarch64 0:1.0.2-1 pmc\n", "1.0.2-1"},
		{"tdnf system repo", "aadsshlogin.x86_64 1.0.1-1.cm2 @System\n", ""},
		{"other package", "aadsshlogin-selinux.noarch 1.0.1-1 pmc\n", ""},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, parseRPMList(tt.out, "aadsshlogin")); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, diff)
		}
	}
}

func TestRemoveSequences(t *testing.T) {
	both := runtest.Response{Stdout: "aadsshlogin\t1.0.1-1\naadsshlogin-selinux\t1.0.1-1\n"}
	tests := []struct {
		osFile string
		bin    string
	}{
		{"rocky-8", "dnf"},
		{"rhel-7.9", "yum"},
		{"azurelinux-3.0", "tdnf"},
	}
	for _, tt := range tests {
		t.Run(tt.osFile, func(t *testing.T) {
			h := newHarness(t, tt.osFile, repo.Source{})
			h.on(rpmQueryMain, both)
			h.on(tt.bin+" -y remove", runtest.Response{})
			if err := h.in.Remove(context.Background()); err != nil {
				t.Fatal(err)
			}
			want := []string{rpmQueryMain, tt.bin + " -y remove aadsshlogin", tt.bin + " -y remove aadsshlogin-selinux"}
			if diff := cmp.Diff(want, h.fake.Lines()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			for _, c := range h.fake.Calls[1:] {
				if !c.Detach {
					t.Errorf("%s not detached", c)
				}
			}
		})
	}
	// A failing removal (Entra user logged in) is a Dependency error with
	// the package manager's words.
	h := newHarness(t, "ol-9", repo.Source{})
	h.on(rpmQueryMain, both)
	h.on("dnf -y remove aadsshlogin", runtest.Response{ExitCode: 1, Stderr: "aaduserdel: user me@contoso.com is currently used by process 4711\nerror: %preun(aadsshlogin-1.0.1-1.x86_64) scriptlet failed, exit status 8"})
	err := h.in.Remove(context.Background())
	if failure.CodeOf(err) != failure.Dependency || !strings.Contains(err.Error(), "currently used by process 4711") {
		t.Fatalf("err = %v", err)
	}
}

func TestEnsureTdnfListsInstalledVersion(t *testing.T) {
	h := newHarness(t, "mariner-2.0", repo.Source{})
	h.rpmDefaults("tdnf")
	h.on(rpmQueryMain, runtest.Response{ExitCode: 1, Stdout: "aadsshlogin\t1.0.034210009-1\n"})
	res, err := h.in.Ensure(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range h.fake.Lines() {
		if strings.Contains(l, "upgrade") || strings.Contains(l, "install aadsshlogin") {
			t.Errorf("unexpected transaction %s", l)
		}
	}
	// The repository file was written by this run, so something changed.
	if !res.Changed {
		t.Error("Changed = false although the repository was configured")
	}
}

func TestEnsureDpkgUpdatesDirTriggersRecovery(t *testing.T) {
	h := newHarness(t, "ubuntu-24.04", repo.Source{})
	h.aptDefaults()
	h.on("dpkg --force-confold", runtest.Response{})
	fixture.WriteFile(t, h.root.Path("/var/lib/dpkg/updates/0001"), "Package: aadsshlogin\n")
	if _, err := h.in.Ensure(context.Background()); err != nil {
		t.Fatal(err)
	}
	lines := h.fake.Lines()
	if len(lines) < 2 || lines[1] != dpkgConfigure || !h.fake.Calls[1].Detach {
		t.Errorf("no detached dpkg --configure -a after an empty audit: %q", lines)
	}
	h.on("dpkg --force-confold", runtest.Response{ExitCode: 1, Stderr: "dpkg: error processing package aadsshlogin (--configure)"})
	_, err := h.in.Ensure(context.Background())
	if failure.CodeOf(err) != failure.Dependency || !strings.Contains(err.Error(), "error processing package aadsshlogin") {
		t.Errorf("err = %v", err)
	}
}

func TestEnsureInstalledRepoBrokenWarns(t *testing.T) {
	h := newHarness(t, "ubuntu-20.04", repo.Source{})
	h.aptDefaults()
	h.on("dpkg-query -W", runtest.Response{Stdout: "aadsshlogin\tinstall ok installed\t1.0.1\n"})
	h.on("apt-get update -q -o", runtest.Response{ExitCode: 100, Stderr: "E: Failed to fetch https://packages.microsoft.com/x  Temporary failure resolving 'packages.microsoft.com'"})
	h.on("apt-cache policy aadsshlogin", runtest.Response{Stdout: "aadsshlogin:\n  Installed: 1.0.1\n  Candidate: 1.0.1\n"})
	res, err := h.in.Ensure(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "cannot be reached") {
		t.Errorf("warnings = %q", res.Warnings)
	}
}

// The state folder is lost (or the mirror moved) while our files stay:
// files carrying our header are still ours, rewritten in place (no second
// definition beside them) and removed by Remove.
func TestEnsureOwnFilesWithoutRecord(t *testing.T) {
	for _, moved := range []bool{false, true} {
		h := newHarness(t, "debian-12", repo.Source{})
		h.aptDefaults()
		h.installs()
		if _, err := h.in.Ensure(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(h.in.StateDir + "/" + stateFileName); err != nil {
			t.Fatal(err)
		}
		if moved {
			h.in.Source.BaseURL = "https://mirror.example.com/pmc"
		}
		res, err := h.in.Ensure(context.Background())
		if err != nil {
			t.Fatalf("moved=%v: %v", moved, err)
		}
		if len(res.Warnings) > 0 || h.root.Exists("/etc/apt/sources.list.d/microsoft-aadsshlogin.list") {
			t.Errorf("moved=%v: own file taken for someone else's: warnings %q", moved, res.Warnings)
		}
		if got, _ := h.root.ReadFile(aptListPath); moved != strings.Contains(string(got), "mirror.example.com") {
			t.Errorf("moved=%v: list = %q", moved, got)
		}
		h.after(aptPurgeMain, dpkgQueryMain, runtest.Response{ExitCode: 1})
		if err := h.in.Remove(context.Background()); err != nil {
			t.Fatal(err)
		}
		if h.root.Exists(aptListPath) {
			t.Errorf("moved=%v: Remove left (or restored) our own list: %q", moved, func() []byte { b, _ := h.root.ReadFile(aptListPath); return b }())
		}
	}
}

// A kill between saving the record and writing the file leaves our
// previous content: still ours.
func TestOwnedContent(t *testing.T) {
	oldKey, newKey := []byte("old keyring"), []byte("new keyring")
	f := managedFile{Path: aptKeyringPath, SHA256: contentHash(newKey), PrevSHA256: contentHash(oldKey)}
	for _, tt := range []struct {
		cur  []byte
		want bool
	}{{newKey, true}, {oldKey, true}, {[]byte("someone else's"), false}, {[]byte(repo.Header + "deb x y z\n"), true}} {
		if got := f.ownedContent(tt.cur); got != tt.want {
			t.Errorf("ownedContent(%q) = %v, want %v", tt.cur, got, tt.want)
		}
	}
}
