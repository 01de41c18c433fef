package release_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/Azure/aadsshlogin-extension-linux/distros/internal/fixture"
	"github.com/Azure/aadsshlogin-extension-linux/distros/release"
	"github.com/Azure/aadsshlogin-extension-linux/handler/failure"
)

// pinnedSUSE is the aadsshlogin version SUSE releases before 15.6 stay on.
const pinnedSUSE = "1.0.027980001"

// supportedRows lists every row of the support matrix, in matrix order,
// with the testdata os-release files of the releases it must admit (one
// per version range, plus extra versions inside a range).
var supportedRows = []struct {
	row     string // Name + " " + Versions of the row
	family  release.Family
	manager release.ManagerKind
	files   []string
	pinned  []string // the files on which aadsshlogin is pinned to pinnedSUSE
}{
	{"AlmaLinux 8, 9", release.AlmaLinux, release.Dnf, []string{"almalinux-8", "almalinux-9"}, nil},
	{"CBL-Mariner 2.0", release.Mariner, release.Tdnf, []string{"mariner-2.0"}, nil},
	{"Azure Linux 3.0", release.AzureLinux, release.Tdnf, []string{"azurelinux-3.0"}, nil},
	{"Debian 9–12", release.Debian, release.Apt, []string{"debian-9", "debian-10", "debian-11", "debian-12"}, nil},
	{"openSUSE Leap 42.3", release.OpenSUSELeap, release.Zypper, []string{"opensuse-leap-42.3"}, []string{"opensuse-leap-42.3"}},
	{"openSUSE Leap 15.1+", release.OpenSUSELeap, release.Zypper, []string{"opensuse-leap-15.5", "opensuse-leap-15.6"}, []string{"opensuse-leap-15.5"}},
	{"Oracle Linux 8, 9", release.Oracle, release.Dnf, []string{"ol-8", "ol-9"}, nil},
	{"RHEL 7.4–7.9", release.RHEL, release.Yum, []string{"rhel-7.9"}, nil},
	{"RHEL 8.3+", release.RHEL, release.Dnf, []string{"rhel-8.10"}, nil},
	{"RHEL 9.0+", release.RHEL, release.Dnf, []string{"rhel-9.4"}, nil},
	{"Rocky Linux 8, 9", release.Rocky, release.Dnf, []string{"rocky-8", "rocky-9"}, nil},
	{"SLES 12", release.SLES, release.Zypper, []string{"sles-12.5"}, []string{"sles-12.5"}},
	{"SLES 15.1+", release.SLES, release.Zypper, []string{"sles-15.5", "sles-15.6"}, []string{"sles-15.5"}},
	{"Ubuntu 16.04, 18.04, 20.04, 22.04, 24.04", release.Ubuntu, release.Apt, []string{"ubuntu-16.04", "ubuntu-18.04", "ubuntu-20.04", "ubuntu-22.04", "ubuntu-24.04"}, nil},
}

// matrixCase is one testdata release with what Resolve must make of it.
type matrixCase struct {
	file    string
	family  release.Family
	manager release.ManagerKind
	pinned  string
	row     string // Name + " " + Versions of the admitting row
}

// supportedCases flattens supportedRows: one case per testdata release.
var supportedCases = func() []matrixCase {
	var cs []matrixCase
	for _, r := range supportedRows {
		for _, f := range r.files {
			c := matrixCase{f, r.family, r.manager, "", r.row}
			if slices.Contains(r.pinned, f) {
				c.pinned = pinnedSUSE
			}
			cs = append(cs, c)
		}
	}
	return cs
}()

func TestResolveSupported(t *testing.T) {
	for _, tc := range supportedCases {
		t.Run(tc.file, func(t *testing.T) {
			p, err := release.Resolve(fixture.Release(t, tc.file))
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			got := matrixCase{tc.file, p.Family, p.Manager, p.PinnedVersion, p.Support.Name + " " + p.Support.Versions}
			if diff := cmp.Diff(tc, got, cmp.AllowUnexported(matrixCase{})); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	var matrixRows, testRows []string
	for _, row := range release.SupportMatrix() {
		matrixRows = append(matrixRows, row.Name+" "+row.Versions)
	}
	for _, r := range supportedRows {
		testRows = append(testRows, r.row)
	}
	if diff := cmp.Diff(matrixRows, testRows); diff != "" {
		t.Errorf("every matrix row needs test releases, in matrix order (-matrix +test):\n%s", diff)
	}
}

func TestResolveUnsupported(t *testing.T) {
	tests := []struct {
		name string
		rel  release.Release
		want []string // substrings of the message
	}{
		{"fedora", fixture.Release(t, "unsupported-fedora-40"), []string{"Fedora Linux 40 (Cloud Edition)", `ID="fedora"`, `VERSION_ID="40"`}},
		{"debian 13", fixture.Release(t, "unsupported-debian-13"), []string{"Debian GNU/Linux 13 (trixie)", `VERSION_ID="13"`}},
		{"ubuntu 24.10", fixture.Release(t, "unsupported-ubuntu-24.10"), []string{"Ubuntu 24.10"}},
		{"arch", fixture.Release(t, "unsupported-arch"), []string{"Arch Linux", `VERSION_ID=""`}},
		{"alpine", fixture.Release(t, "unsupported-alpine-3.20"), []string{"Alpine Linux v3.20"}},
		{"rhel 7.3", fixture.Release(t, "unsupported-rhel-7.3"), []string{"7.3"}},
		{"sles 11", fixture.Release(t, "unsupported-sles-11.4"), []string{"SUSE Linux Enterprise Server 11 SP4"}},
		{"rhel 10", release.Release{ID: "rhel", VersionID: "10.0", PrettyName: "RHEL 10"}, []string{"RHEL 10"}},
		{"rhel 8.2", release.Release{ID: "rhel", VersionID: "8.2"}, []string{`VERSION_ID="8.2"`}},
		{"ubuntu without codename", release.Release{ID: "ubuntu", VersionID: "22.04"}, []string{"VERSION_CODENAME"}},
		{"linux mint (ID_LIKE ubuntu)", release.Release{ID: "linuxmint", IDLike: []string{"ubuntu", "debian"}, VersionID: "21.3", Codename: "virginia"}, []string{"linuxmint"}},
		{"centos stream 9", release.Release{ID: "centos", VersionID: "9"}, []string{`ID="centos"`}},
		{"centos 7 (not in the public doc)", fixture.Release(t, "centos-7"), []string{"CentOS Linux 7"}},
		{"empty", release.Release{}, []string{"unknown Linux"}},
		{"sles with bad VERSION_ID", release.Release{ID: "sles", VersionID: "15-SP5"}, []string{"not a version number"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := release.Resolve(tt.rel)
			if failure.CodeOf(err) != failure.UnsupportedOS || !errors.Is(err, release.ErrUnsupported) {
				t.Fatalf("err = %v, want UnsupportedOS wrapping ErrUnsupported", err)
			}
			msg := err.Error()
			for _, w := range append(tt.want, "Ubuntu 16.04, 18.04, 20.04, 22.04, 24.04", "RHEL 7.4–7.9, 8.3+, 9.0+", "SLES 12, 15.1+") {
				if !strings.Contains(msg, w) {
					t.Errorf("message lacks %q: %s", w, msg)
				}
			}
		})
	}
}

// TestResolveUbuntuLTSOnly: aadsshlogin is published for Ubuntu's LTS
// releases only, so an interim release (or a VERSION_ID whose codename is
// not that LTS's) is refused by the support check (51) with the nearest LTS
// named, instead of passing it and failing later on the repository (52).
func TestResolveUbuntuLTSOnly(t *testing.T) {
	tests := []struct {
		name string
		rel  release.Release
		want []string // substrings of the message; nil: supported
	}{
		{"16.10 file", fixture.Release(t, "unsupported-ubuntu-16.10"), []string{"Ubuntu 16.10", "interim release", "Ubuntu 16.04 LTS (xenial)"}},
		{"20.10 file", fixture.Release(t, "unsupported-ubuntu-20.10"), []string{"Ubuntu 20.10", "interim release", "Ubuntu 20.04 LTS (focal)"}},
		{"23.10 file", fixture.Release(t, "unsupported-ubuntu-23.10"), []string{"Ubuntu 23.10", "interim release", "Ubuntu 24.04 LTS (noble)"}},
		{"24.10 file", fixture.Release(t, "unsupported-ubuntu-24.10"), []string{"Ubuntu 24.10", "interim release", "Ubuntu 24.04 LTS (noble)"}},
		{"14.04 file (older LTS)", fixture.Release(t, "unsupported-ubuntu-14.04"), []string{"14.04", "Ubuntu 16.04 LTS (xenial)"}},
		{"17.04", release.Release{ID: "ubuntu", VersionID: "17.04", Codename: "zesty"}, []string{"interim release", "Ubuntu 18.04 LTS (bionic)"}},
		{"19.04 (tie: the newer LTS)", release.Release{ID: "ubuntu", VersionID: "19.04", Codename: "disco"}, []string{"interim release", "Ubuntu 20.04 LTS (focal)"}},
		{"21.10", release.Release{ID: "ubuntu", VersionID: "21.10", Codename: "impish"}, []string{"interim release", "Ubuntu 22.04 LTS (jammy)"}},
		{"23.04 (tie: the newer LTS)", release.Release{ID: "ubuntu", VersionID: "23.04", Codename: "lunar"}, []string{"interim release", "Ubuntu 24.04 LTS (noble)"}},
		{"26.04 (not published yet)", release.Release{ID: "ubuntu", VersionID: "26.04", Codename: "resolute"}, []string{"Ubuntu 24.04 LTS (noble)"}},
		{"LTS version with another codename", release.Release{ID: "ubuntu", VersionID: "22.04", Codename: "noble"}, []string{`codename "noble"`, "Ubuntu 22.04 LTS (jammy)"}},
		{"LTS version spelled 22.4", release.Release{ID: "ubuntu", VersionID: "22.4", Codename: "jammy"}, []string{`VERSION_ID="22.4"`}},
		{"jammy", release.Release{ID: "ubuntu", VersionID: "22.04", Codename: "jammy"}, nil},
		{"xenial", release.Release{ID: "ubuntu", VersionID: "16.04", Codename: "xenial"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := release.Resolve(tt.rel)
			if tt.want == nil {
				if err != nil || p.Family != release.Ubuntu {
					t.Fatalf("Resolve = %+v, %v; want supported Ubuntu", p, err)
				}
				return
			}
			if failure.CodeOf(err) != failure.UnsupportedOS || !errors.Is(err, release.ErrUnsupported) {
				t.Fatalf("err = %v (platform %+v), want UnsupportedOS wrapping ErrUnsupported", err, p)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("message lacks %q: %s", w, err)
				}
			}
		})
	}
}

func TestSupportedSummary(t *testing.T) {
	want := "AlmaLinux 8, 9; CBL-Mariner 2.0; Azure Linux 3.0; Debian 9–12; openSUSE Leap 42.3, 15.1+; Oracle Linux 8, 9; " +
		"RHEL 7.4–7.9, 8.3+, 9.0+; Rocky Linux 8, 9; SLES 12, 15.1+; Ubuntu 16.04, 18.04, 20.04, 22.04, 24.04"
	if diff := cmp.Diff(want, release.SupportedSummary()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestMarkdownTable(t *testing.T) {
	md := release.MarkdownTable()
	lines := strings.Split(strings.TrimSuffix(md, "\n"), "\n")
	rows := release.SupportMatrix()
	if len(lines) != len(rows)+2 {
		t.Fatalf("table has %d lines, want header+separator+%d rows:\n%s", len(lines), len(rows), md)
	}
	for i, row := range rows {
		l := lines[i+2]
		if !strings.HasPrefix(l, "| "+row.Name+" | "+row.Versions+" | "+string(row.Manager)+" | ") || strings.Count(l, "|") != 6 {
			t.Errorf("row %d = %q", i, l)
		}
	}
}

func TestMatrixConstraintsParse(t *testing.T) {
	for _, row := range release.SupportMatrix() {
		rel := release.Release{ID: string(row.Family), VersionID: "0", Codename: "x"}
		if _, err := release.Resolve(rel); err == nil {
			t.Errorf("%s: version 0 accepted", row.Name)
		}
		if row.Flavor == "" || row.Manager == "" || row.Repo == "" {
			t.Errorf("%s %s: incomplete row", row.Name, row.Versions)
		}
	}
}
