package release

import (
	"errors"
	"fmt"
	"strings"

	version "github.com/hashicorp/go-version"

	"github.com/Azure/aadsshlogin-extension-linux/handler/failure"
)

// Family is a normalised distribution family.
type Family string

// ManagerKind names a package-manager backend.
type ManagerKind string

// The backends.
const (
	Apt    ManagerKind = "apt"
	Dnf    ManagerKind = "dnf"
	Yum    ManagerKind = "yum"
	Zypper ManagerKind = "zypper"
	Tdnf   ManagerKind = "tdnf"
)

// Platform is a supported release with everything needed to install on it.
type Platform struct {
	Release Release
	Family  Family
	Manager ManagerKind
	// PinnedVersion, when set, is the only aadsshlogin version allowed
	// (SLES/openSUSE older than 15.6: 1.0.027980001).
	PinnedVersion string
	// Support is the matrix row that admitted the release.
	Support Support
}

// ErrUnsupported is wrapped by Resolve's error for an unsupported release.
var ErrUnsupported = errors.New("unsupported distribution")

// The normalised families (the os-release IDs they stand for), grouped by
// package manager.

// apt.
const (
	Ubuntu Family = "ubuntu"
	Debian Family = "debian"
)

// dnf, or yum on release 7: Enterprise Linux and its derivatives. CentOS has
// no row in the matrix (the public doc does not list it): Resolve rejects it.
const (
	RHEL      Family = "rhel"
	CentOS    Family = "centos"
	AlmaLinux Family = "almalinux"
	Rocky     Family = "rocky"
	Oracle    Family = "ol"
)

// zypper.
const (
	SLES         Family = "sles"
	OpenSUSELeap Family = "opensuse-leap"
)

// tdnf.
const (
	Mariner    Family = "mariner"
	AzureLinux Family = "azurelinux"
)

// suseLastPinned is the aadsshlogin version SUSE releases older than 15.6
// must stay on (public doc: SUSE made an incompatible change in 15.6).
const suseLastPinned = "1.0.027980001"

// RepoKind says how the Microsoft repository is configured.
type RepoKind string

// The repository kinds.
const (
	RepoApt     RepoKind = "apt"     // sources.list.d, codename-based /repos/microsoft-<flavor>-<codename>-prod
	RepoRPM     RepoKind = "rpm"     // yum.repos.d, <flavor>/<major>/prod
	RepoZypper  RepoKind = "zypper"  // zypp/repos.d, sles/<major>/prod
	RepoMariner RepoKind = "mariner" // yum.repos.d, cbl-mariner/2.0/prod/extras/$basearch
	RepoAzureLx RepoKind = "azurelinux"
)

// Support is one row of the support matrix.
type Support struct {
	Family Family
	// Name and Versions are what the public doc and README show.
	Name     string
	Versions string
	// Constraint is a hashicorp/go-version constraint on VERSION_ID.
	Constraint string
	Manager    ManagerKind
	Repo       RepoKind
	// Flavor is the top-level folder on packages.microsoft.com.
	Flavor string
	// PinBelow, when set, pins aadsshlogin to suseLastPinned on releases
	// whose VERSION_ID is lower (SUSE before 15.6; Leap 42.3 always).
	PinBelow string
	// Note explains a deviation or a choice (shown in the README table).
	Note string
	// Releases, when set, are the only releases the row admits, each by
	// its exact VERSION_ID and codename (Ubuntu: the LTS releases Microsoft
	// publishes aadsshlogin for; interim releases in between are not
	// published). Constraint then only selects the row.
	Releases []NamedRelease
}

// NamedRelease is one release admitted by VERSION_ID and codename.
type NamedRelease struct {
	VersionID string
	Codename  string
}

// ubuntuLTS are the Ubuntu releases with a microsoft-ubuntu-<codename>-prod
// repository carrying aadsshlogin (the public doc lists these LTS releases).
var ubuntuLTS = []NamedRelease{
	{"16.04", "xenial"}, {"18.04", "bionic"}, {"20.04", "focal"}, {"22.04", "jammy"}, {"24.04", "noble"},
}

// matrix is the support matrix of the public Entra doc (ms.date 2025-03-07),
// one row per version range. It is the single source of truth for Resolve,
// the unsupported-OS message and the README table.
//
// Derivatives (AlmaLinux, Rocky, Oracle) use PMC's rhel/<major>
// tree: aadsshlogin is one EL build, and rhel/ is the tree every cloud's
// package endpoint (including air-gapped repodepots) replicates, so no
// network probe is needed to choose. Open-ended doc ranges ("9.0+",
// "15.6+") stop before the next major (RHEL 10, SLES/Leap 16): those repos
// are signed with the microsoft-2025 key, which is not shipped yet.
var matrix = [...]Support{
	{Family: AlmaLinux, Name: "AlmaLinux", Versions: "8, 9", Constraint: ">= 8, < 10", Manager: Dnf, Repo: RepoRPM, Flavor: "rhel"},
	{Family: Mariner, Name: "CBL-Mariner", Versions: "2.0", Constraint: ">= 2.0, < 3", Manager: Tdnf, Repo: RepoMariner, Flavor: "cbl-mariner"},
	{Family: AzureLinux, Name: "Azure Linux", Versions: "3.0", Constraint: ">= 3.0, < 4", Manager: Tdnf, Repo: RepoAzureLx, Flavor: "azurelinux",
		Note: "distro repositories first; PMC repo only if aadsshlogin is not available"},
	{Family: Debian, Name: "Debian", Versions: "9–12", Constraint: ">= 9, < 13", Manager: Apt, Repo: RepoApt, Flavor: "debian"},
	{Family: OpenSUSELeap, Name: "openSUSE Leap", Versions: "42.3", Constraint: "= 42.3", Manager: Zypper, Repo: RepoZypper, Flavor: "sles", PinBelow: "43",
		Note: "aadsshlogin pinned to " + suseLastPinned},
	{Family: OpenSUSELeap, Name: "openSUSE Leap", Versions: "15.1+", Constraint: ">= 15.1, < 16", Manager: Zypper, Repo: RepoZypper, Flavor: "sles", PinBelow: "15.6",
		Note: "15.1–15.5: aadsshlogin pinned to " + suseLastPinned},
	{Family: Oracle, Name: "Oracle Linux", Versions: "8, 9", Constraint: ">= 8, < 10", Manager: Dnf, Repo: RepoRPM, Flavor: "rhel"},
	{Family: RHEL, Name: "RHEL", Versions: "7.4–7.9", Constraint: ">= 7.4, < 8", Manager: Yum, Repo: RepoRPM, Flavor: "rhel"},
	{Family: RHEL, Name: "RHEL", Versions: "8.3+", Constraint: ">= 8.3, < 9", Manager: Dnf, Repo: RepoRPM, Flavor: "rhel"},
	{Family: RHEL, Name: "RHEL", Versions: "9.0+", Constraint: ">= 9.0, < 10", Manager: Dnf, Repo: RepoRPM, Flavor: "rhel"},
	{Family: Rocky, Name: "Rocky Linux", Versions: "8, 9", Constraint: ">= 8, < 10", Manager: Dnf, Repo: RepoRPM, Flavor: "rhel"},
	{Family: SLES, Name: "SLES", Versions: "12", Constraint: ">= 12, < 13", Manager: Zypper, Repo: RepoZypper, Flavor: "sles", PinBelow: "15.6",
		Note: "aadsshlogin pinned to " + suseLastPinned},
	{Family: SLES, Name: "SLES", Versions: "15.1+", Constraint: ">= 15.1, < 16", Manager: Zypper, Repo: RepoZypper, Flavor: "sles", PinBelow: "15.6",
		Note: "15 SP1–SP5: aadsshlogin pinned to " + suseLastPinned},
	{Family: Ubuntu, Name: "Ubuntu", Versions: "16.04, 18.04, 20.04, 22.04, 24.04", Constraint: ">= 0", Manager: Apt, Repo: RepoApt, Flavor: "ubuntu",
		Releases: ubuntuLTS, Note: "LTS releases only: interim releases (16.10 … 24.10) have no aadsshlogin packages"},
}

// familyOf maps an os-release ID to a family; IDs not listed are unsupported
// (ID_LIKE is deliberately not used: a derivative we never tested is not
// supported just because it resembles one).
func familyOf(id, versionID string) (Family, bool) {
	switch id {
	case "ubuntu", "debian", "rhel", "centos", "almalinux", "rocky", "ol", "sles", "opensuse-leap", "mariner", "azurelinux":
		return Family(id), true
	case "sles_sap":
		return SLES, true
	case "opensuse":
		// Leap 42.x still said ID=opensuse.
		if strings.HasPrefix(versionID, "42.") {
			return OpenSUSELeap, true
		}
	}
	return "", false
}

// Resolve decides whether rel is supported; the error is a
// failure.UnsupportedOS naming the release and the supported list.
func Resolve(rel Release) (Platform, error) {
	fam, ok := familyOf(rel.ID, rel.VersionID)
	if !ok {
		return Platform{}, unsupported(rel, "")
	}
	v, err := version.NewVersion(rel.VersionID)
	if err != nil || !plainVersion(rel.VersionID) {
		return Platform{}, unsupported(rel, "VERSION_ID is not a version number")
	}
	for i := range matrix {
		row := &matrix[i]
		if row.Family != fam {
			continue
		}
		c, err := version.NewConstraint(row.Constraint)
		if err != nil || !c.Check(v) {
			continue
		}
		if len(row.Releases) > 0 {
			if why := pickRelease(row, rel); why != "" {
				return Platform{}, unsupported(rel, why)
			}
		}
		if row.Repo == RepoApt && rel.Codename == "" {
			return Platform{}, unsupported(rel, "os-release has no VERSION_CODENAME, which names the package repository")
		}
		p := Platform{Release: rel, Family: fam, Manager: row.Manager, Support: *row}
		if row.PinBelow != "" && v.LessThan(version.Must(version.NewVersion(row.PinBelow))) {
			p.PinnedVersion = suseLastPinned
		}
		return p, nil
	}
	return Platform{}, unsupported(rel, "")
}

// pickRelease finds rel among row.Releases by VERSION_ID and codename, or
// says why it is not admitted, naming the nearest admitted release.
func pickRelease(row *Support, rel Release) string {
	for _, r := range row.Releases {
		if r.VersionID != rel.VersionID {
			continue
		}
		if rel.Codename != "" && rel.Codename != r.Codename {
			return fmt.Sprintf("VERSION_ID %s with codename %q is not %s %s LTS (%s); use %s",
				rel.VersionID, rel.Codename, row.Name, r.VersionID, r.Codename, ltsName(row, r))
		}
		return ""
	}
	near := nearestRelease(row.Releases, rel.VersionID)
	if interimUbuntu(rel.VersionID) {
		return fmt.Sprintf("%s %s is an interim release; aadsshlogin is published for LTS releases only, the nearest supported is %s",
			row.Name, rel.VersionID, ltsName(row, near))
	}
	return fmt.Sprintf("aadsshlogin is not published for %s %s; the nearest supported release is %s",
		row.Name, rel.VersionID, ltsName(row, near))
}

func ltsName(row *Support, r NamedRelease) string {
	return fmt.Sprintf("%s %s LTS (%s)", row.Name, r.VersionID, r.Codename)
}

// ubuntuMonths turns an Ubuntu YY.MM version into months, for distances.
func ubuntuMonths(versionID string) (int, bool) {
	var y, m int
	if _, err := fmt.Sscanf(versionID, "%d.%d", &y, &m); err != nil {
		return 0, false
	}
	return y*12 + m, true
}

// interimUbuntu: LTS releases are YY.04 with an even YY, everything else in
// Ubuntu's YY.MM scheme is an interim release.
func interimUbuntu(versionID string) bool {
	var y, m int
	if _, err := fmt.Sscanf(versionID, "%d.%d", &y, &m); err != nil {
		return false
	}
	return y%2 != 0 || m != 4
}

// nearestRelease is the admitted release closest in time to versionID; on a
// tie the newer one (upgrading forward is the way off an interim release).
func nearestRelease(rs []NamedRelease, versionID string) NamedRelease {
	best := rs[len(rs)-1]
	at, ok := ubuntuMonths(versionID)
	if !ok {
		return best
	}
	bestDist := -1
	for _, r := range rs {
		m, _ := ubuntuMonths(r.VersionID)
		d := max(m-at, at-m)
		if bestDist < 0 || d <= bestDist {
			best, bestDist = r, d
		}
	}
	return best
}

// plainVersion accepts dotted decimal numbers only ("8.10", "42.3").
func plainVersion(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	return strings.Trim(s, "0123456789.") == ""
}

func unsupported(rel Release, why string) error {
	msg := "unsupported Linux distribution " + rel.String()
	if why != "" {
		msg += ": " + why
	}
	return failure.Wrap(failure.UnsupportedOS, ErrUnsupported,
		"%s. AADSSHLoginForLinux supports %s. Use a supported image, or remove the extension (https://aka.ms/AADSSHLogin)",
		msg, SupportedSummary())
}

// SupportedSummary lists the supported releases compactly, e.g.
// "AlmaLinux 8, 9; RHEL 7.4–7.9, 8.3+, 9.0+; …".
func SupportedSummary() string {
	var names []string
	versions := map[string][]string{}
	for _, row := range matrix {
		if _, seen := versions[row.Name]; !seen {
			names = append(names, row.Name)
		}
		versions[row.Name] = append(versions[row.Name], row.Versions)
	}
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = n + " " + strings.Join(versions[n], ", ")
	}
	return strings.Join(parts, "; ")
}

// MarkdownTable renders the support matrix as a Markdown table for the README.
func MarkdownTable() string {
	var b strings.Builder
	b.WriteString("| Distribution | Versions | Package manager | Repository on packages.microsoft.com | Notes |\n")
	b.WriteString("|---|---|---|---|---|\n")
	for _, row := range matrix {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", row.Name, row.Versions, row.Manager, repoPathPattern(row), row.Note)
	}
	return b.String()
}

func repoPathPattern(row Support) string {
	switch row.Repo {
	case RepoApt:
		return "`/repos/microsoft-" + row.Flavor + "-<codename>-prod`"
	case RepoMariner:
		return "`/cbl-mariner/2.0/prod/extras/$basearch`"
	case RepoAzureLx:
		return "`/azurelinux/3.0/prod/ms-non-oss/$basearch` (fallback)"
	default:
		return "`/" + row.Flavor + "/<major>/prod/`"
	}
}

// Major returns the major version of the release ("8" for "8.10"), or ""
// when VERSION_ID has no number.
func (r Release) Major() string {
	v, err := version.NewVersion(r.VersionID)
	if err != nil {
		return ""
	}
	return fmt.Sprint(v.Segments()[0])
}

// SupportMatrix returns a copy of the support matrix.
func SupportMatrix() []Support { return append([]Support(nil), matrix[:]...) }
