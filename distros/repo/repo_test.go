package repo

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/Azure/aadsshlogin-extension-linux/distros/internal/fixture"
	"github.com/Azure/aadsshlogin-extension-linux/distros/release"
	"github.com/Azure/aadsshlogin-extension-linux/handler/cloud"
	"github.com/Azure/aadsshlogin-extension-linux/handler/sysroot"
)

var update = flag.Bool("update", false, "rewrite testdata/golden files")

// renderRepo renders a Config as text for golden comparison (binary
// keyrings are summarised by size).
func renderRepo(c Config) string {
	var b strings.Builder
	fmt.Fprintf(&b, "id: %s\nurl: %s\nalt: %s\nsuite: %s\nimport: %s\n", c.ID, c.URL, strings.Join(c.AltURLs, " "), c.Suite, strings.Join(c.ImportKeys, " "))
	for _, f := range c.Files {
		if strings.HasSuffix(f.Path, ".gpg") || strings.HasSuffix(f.Path, ".asc") {
			fmt.Fprintf(&b, "=== %s (%d bytes)\n", f.Path, len(f.Data))
			continue
		}
		fmt.Fprintf(&b, "=== %s\n%s", f.Path, f.Data)
	}
	return b.String()
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	p := filepath.Join("testdata/golden", name)
	if *update {
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -update)", err, t.Name())
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", p, diff)
	}
}

func TestRepoGolden(t *testing.T) {
	pmc, err := SourceFor(cloud.ForEnvironment("AzurePublicCloud"), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	// Every release of the fixture that Resolve admits (the unsupported
	// ones are release's tests' business).
	for _, name := range fixture.OSReleaseNames() {
		p, err := release.Resolve(fixture.Release(t, name))
		if errors.Is(err, release.ErrUnsupported) {
			continue
		}
		t.Run(name, func(t *testing.T) {
			if err != nil {
				t.Fatal(err)
			}
			c, err := Build(p, pmc, "amd64")
			if err != nil {
				t.Fatal(err)
			}
			golden(t, name+".txt", renderRepo(c))
		})
	}
}

func TestRepoVariants(t *testing.T) {
	mirror, err := SourceFor(cloud.ForEnvironment(""), "https://mirror.example.com/pmc", mirrorKey(t))
	if err != nil {
		t.Fatal(err)
	}
	ussec, _ := SourceFor(cloud.ForEnvironment("USSec"), "", nil)
	ubuntu18, _ := release.Resolve(fixture.Release(t, "ubuntu-18.04"))
	rhel9, _ := release.Resolve(fixture.Release(t, "rhel-9.4"))
	tests := []struct {
		name string
		p    release.Platform
		src  Source
		arch string
	}{
		{"ubuntu-18.04-arm64-ussec", ubuntu18, ussec, "arm64"},
		{"rhel-9.4-mirror", rhel9, mirror, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Build(tt.p, tt.src, tt.arch)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "variant-"+tt.name+".txt", renderRepo(c))
		})
	}
	if _, err := Build(ubuntu18, ussec, "armhf"); err == nil || !strings.Contains(err.Error(), "armhf") {
		t.Errorf("armhf: err = %v", err)
	}
}

func TestAptKeyringIsDearmored(t *testing.T) {
	p, _ := release.Resolve(fixture.Release(t, "debian-12"))
	src, _ := SourceFor(cloud.ForEnvironment(""), "", nil)
	c, err := Build(p, src, "amd64")
	if err != nil {
		t.Fatal(err)
	}
	fps, err := fingerprintsOf(c.Files[1].Data)
	if err != nil || fps[0] != microsoftFingerprint {
		t.Errorf("keyring fingerprints %v, %v", fps, err)
	}
}

func TestFindExisting(t *testing.T) {
	debian12, _ := release.Resolve(fixture.Release(t, "debian-12"))
	rhel9, _ := release.Resolve(fixture.Release(t, "rhel-9.4"))
	sles15, _ := release.Resolve(fixture.Release(t, "sles-15.6"))
	mariner, _ := release.Resolve(fixture.Release(t, "mariner-2.0"))
	src, _ := SourceFor(cloud.ForEnvironment(""), "", nil)
	// Each case has one repository file; a found source is that file.
	tests := []struct {
		name          string
		p             release.Platform
		file, content string
		found         bool
		id            string // the repository id of a found rpm source
	}{
		{"packages-microsoft-prod list", debian12, "/etc/apt/sources.list.d/microsoft-prod.list", "deb [arch=amd64,arm64,armhf signed-by=/usr/share/keyrings/microsoft-prod.gpg] https://packages.microsoft.com/debian/12/prod bookworm main\n", true, ""},
		{"repos URL in sources.list", debian12, "/etc/apt/sources.list", "deb http://deb.debian.org/debian bookworm main\ndeb https://packages.microsoft.com/repos/microsoft-debian-bookworm-prod/ bookworm main # x\n", true, ""},
		{"deb822 sources", debian12, "/etc/apt/sources.list.d/microsoft.sources", "# pmc\nTypes: deb\nURIs: https://packages.microsoft.com/debian/12/prod\nSuites: bookworm\nComponents: main\nSigned-By: /usr/share/keyrings/microsoft-prod.gpg\n", true, ""},
		{"deb822 disabled", debian12, "/etc/apt/sources.list.d/microsoft.sources", "Types: deb\nURIs: https://packages.microsoft.com/debian/12/prod\nSuites: bookworm\nComponents: main\nEnabled: no\n", false, ""},
		{"commented and other suite", debian12, "/etc/apt/sources.list", "#deb https://packages.microsoft.com/debian/12/prod bookworm main\ndeb https://packages.microsoft.com/debian/12/prod trixie main\ndeb-src https://packages.microsoft.com/debian/12/prod bookworm main\n", false, ""},
		{"rhel packages-microsoft-prod", rhel9, "/etc/yum.repos.d/microsoft-prod.repo", "[packages-microsoft-com-prod]\nname=packages-microsoft-com-prod\nbaseurl=https://packages.microsoft.com/rhel/9/prod/\nenabled=1\ngpgcheck=1\n", true, "packages-microsoft-com-prod"},
		{"rhel disabled", rhel9, "/etc/yum.repos.d/x.repo", "[pmc]\nbaseurl=https://packages.microsoft.com/rhel/9/prod/\nenabled=0\n", false, ""},
		{"rhel other version", rhel9, "/etc/yum.repos.d/x.repo", "[pmc]\nbaseurl=https://packages.microsoft.com/rhel/8/prod/\n", false, ""},
		{"sles zypper", sles15, "/etc/zypp/repos.d/ms.repo", "[ms]\nbaseurl=https://packages.microsoft.com/sles/15/prod\nautorefresh=1\n", true, "ms"},
		{"mariner-repos-extras with $releasever", mariner, "/etc/yum.repos.d/mariner-official-extras.repo", "[mariner-official-extras]\nbaseurl=https://packages.microsoft.com/cbl-mariner/$releasever/prod/extras/$basearch\nenabled=1\n", true, "mariner-official-extras"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			root := sysroot.Root(dir)
			fixture.WriteFile(t, root.Path(tt.file), tt.content)
			c, err := Build(tt.p, src, "amd64")
			if err != nil {
				t.Fatal(err)
			}
			got, found := FindExisting(root, tt.p, c, nil)
			if found != tt.found {
				t.Fatalf("found = %v, want %v", found, tt.found)
			}
			var want Existing
			if tt.found {
				want = Existing{File: tt.file, ID: tt.id}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestRHUIRepoIDs: the RHUI client repositories are found by id in every
// .repo file, enabled or not, each id once.
func TestRHUIRepoIDs(t *testing.T) {
	root := sysroot.Root(t.TempDir())
	fixture.WriteFile(t, root.Path("/etc/yum.repos.d/rh-cloud.repo"), "[rhui-microsoft-azure-rhel9]\n"+
		"baseurl=https://rhui4-1.microsoft.com/pulp/repos/unprotected/microsoft-azure-rhel9\nenabled=1\n\n"+
		"[rhel-9-for-x86_64-baseos-rhui-rpms]\nenabled=1\n[microsoft-azure-rhel9-sap-ha]\nenabled=0\n[packages-microsoft-com-prod]\n")
	fixture.WriteFile(t, root.Path("/etc/yum.repos.d/zz-copy.repo"), "[rhui-microsoft-azure-rhel9]\nenabled=1\n")
	fixture.WriteFile(t, root.Path("/etc/yum.repos.d/microsoft-azure.repo.rpmsave"), "[old-microsoft-azure-rhel8]\n")
	got := RHUIRepoIDs(root)
	if diff := cmp.Diff([]string{"rhui-microsoft-azure-rhel9", "microsoft-azure-rhel9-sap-ha"}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
