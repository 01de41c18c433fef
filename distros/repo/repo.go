// Package repo is where the aadsshlogin packages come from and how the
// package manager is told: the package source (Source, SourceFor,
// ValidateMirrorURL), the OpenPGP keys it is trusted with (PinnedKeys,
// ValidateArmoredKey…), and the repository definition for a platform
// (Build) with the search for an existing definition of the same
// repository (FindExisting).
//
// Keys come only from the embedded pinned key (keys/microsoft.asc) or the
// mirror key in the settings: apt gets a dearmored keyring of its own
// (/usr/share/keyrings/microsoft-aadsshlogin.gpg, distinct from
// packages-microsoft-prod's microsoft-prod.gpg conffile), rpm-based
// managers get `rpm --import` of /etc/pki/rpm-gpg files; zypper never runs
// with --gpg-auto-import-keys.
package repo

import (
	"bufio"
	"bytes"
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/Azure/aadsshlogin-extension-linux/distros/release"
	"github.com/Azure/aadsshlogin-extension-linux/handler/failure"
	"github.com/Azure/aadsshlogin-extension-linux/handler/sysroot"
)

// System paths of the repository configuration we write. The apt list and
// the .repo files use the names packages-microsoft-prod uses, so a later
// packages-microsoft-prod install replaces rather than duplicates them.
// The apt keyring deliberately has its own name: packages-microsoft-prod
// owns /usr/share/keyrings/microsoft-prod.gpg as a conffile, and a binary
// (dearmored) keyring works with every supported apt, including apt 1.2 on
// Ubuntu 16.04 which cannot read armored .asc keyrings.
const (
	aptListPath    = "/etc/apt/sources.list.d/microsoft-prod.list"
	aptKeyringPath = "/usr/share/keyrings/microsoft-aadsshlogin.gpg"
	yumRepoPath    = "/etc/yum.repos.d/microsoft-prod.repo"
	marinerPath    = "/etc/yum.repos.d/mariner-official-extras.repo"
	zypperRepoPath = "/etc/zypp/repos.d/microsoft-prod.repo"
	rpmKeyDir      = "/etc/pki/rpm-gpg"
	// repoID is the repo id / zypper alias packages-microsoft-prod uses.
	repoID = "packages-microsoft-com-prod"
	// IDAlt is used when a foreign file already defines repoID for
	// another URL (two definitions of one id confuse dnf and zypper).
	IDAlt     = "aadsshlogin-microsoft-prod"
	marinerID = "mariner-official-extras"
	// altListName is the base name of our repository definition when the
	// usual name holds someone else's file.
	altListName = "microsoft-aadsshlogin"
	// Header starts every repository file we write; no other program
	// writes it, so a file that starts with it is ours.
	Header = "# Written by the AADSSHLoginForLinux VM extension for the aadsshlogin packages.\n" +
		"# It is removed or restored when the extension is uninstalled.\n"
)

// File is one file of the repository configuration.
type File struct {
	Path string // system path (below Root)
	Data []byte
}

// Config is the repository configuration for one platform and source.
type Config struct {
	// ID is the repo id (rpm) or alias (zypper); empty for apt.
	ID string
	// URL is the repository URL; AltURLs are equivalent spellings another
	// configuration (packages-microsoft-prod) may use for the same content.
	URL     string
	AltURLs []string
	// Suite is the apt distribution (the codename).
	Suite string
	// Files are the repository file (first) and key files.
	Files []File
	// ImportKeys are system paths to `rpm --import` (rpm-based managers
	// trust keys in the rpm database; zypper never auto-imports).
	ImportKeys []string
}

// ListFile is the system path of the repository file itself.
func (c Config) ListFile() string { return c.Files[0].Path }

// AltPath is where our repository definition goes when the usual name p
// holds someone else's file.
func AltPath(p string) string { return path.Join(path.Dir(p), altListName+path.Ext(p)) }

// aptArch maps `dpkg --print-architecture` to the architectures PMC serves.
func aptArch(dpkgArch string) (string, bool) {
	switch dpkgArch {
	case "amd64", "arm64":
		return dpkgArch, true
	}
	return "", false
}

// Build generates the repository configuration. arch is the dpkg
// architecture (apt only). For release.RepoAzureLx this is the fallback
// used only when the distro repositories lack aadsshlogin.
func Build(p release.Platform, src Source, arch string) (Config, error) {
	base := strings.TrimRight(src.BaseURL, "/")
	row := p.Support
	major := p.Release.Major()
	switch row.Repo {
	case release.RepoApt:
		a, ok := aptArch(arch)
		if !ok {
			return Config{}, failure.New(failure.UnsupportedOS,
				"architecture %q is not published for %s on packages.microsoft.com (amd64 and arm64 are); use an x86-64 or Arm64 VM", arch, p.Release.String())
		}
		code := p.Release.Codename
		name := "microsoft-" + row.Flavor + "-" + code + "-prod"
		if p.Family == release.Ubuntu && code == "bionic" && a == "arm64" {
			name = "microsoft-ubuntu-bionic-multiarch-prod"
		}
		ver := major
		if p.Family == release.Ubuntu {
			ver = p.Release.VersionID
		}
		c := Config{
			URL:     base + "/repos/" + name,
			AltURLs: []string{base + "/" + row.Flavor + "/" + ver + "/prod"},
			Suite:   code,
		}
		line := fmt.Sprintf("deb [arch=%s signed-by=%s] %s %s main\n", a, aptKeyringPath, c.URL, code)
		var ring []byte
		for _, k := range src.ArmoredKeys {
			bin, err := Dearmor(k)
			if err != nil {
				return Config{}, failure.Wrap(failure.Config, err, "a repository signing key cannot be decoded")
			}
			ring = append(ring, bin...)
		}
		c.Files = []File{{aptListPath, []byte(Header + line)}, {aptKeyringPath, ring}}
		return c, nil
	case release.RepoRPM, release.RepoZypper, release.RepoMariner, release.RepoAzureLx:
		c := Config{ID: repoID}
		keys, err := rpmKeyFiles(src)
		if err != nil {
			return Config{}, err
		}
		var gpgkeys []string
		for _, k := range keys {
			gpgkeys = append(gpgkeys, "file://"+k.Path)
			c.ImportKeys = append(c.ImportKeys, k.Path)
		}
		var b strings.Builder
		b.WriteString(Header)
		file := yumRepoPath
		switch row.Repo {
		case release.RepoRPM:
			c.URL = base + "/" + row.Flavor + "/" + major + "/prod"
		case release.RepoZypper:
			file = zypperRepoPath
			if major == "42" { // openSUSE Leap 42.x is SLES 12 based
				major = "12"
			}
			c.URL = base + "/sles/" + major + "/prod"
		case release.RepoMariner:
			file, c.ID = marinerPath, marinerID
			c.URL = base + "/cbl-mariner/2.0/prod/extras/$basearch"
		case release.RepoAzureLx:
			// Azure Linux 3.0 renamed CBL-Mariner's "extras" to "ms-non-oss"
			// (Microsoft's closed-source packages); aadsshlogin is published
			// there (azure-linux-extensions#2051). There is no 3.0 extras.
			c.URL = base + "/azurelinux/3.0/prod/ms-non-oss/$basearch"
		}
		url := c.URL
		if !strings.HasSuffix(url, "$basearch") {
			url += "/"
		}
		fmt.Fprintf(&b, "[%s]\nname=Microsoft packages for aadsshlogin (%s)\nbaseurl=%s\nenabled=1\n", c.ID, strings.TrimPrefix(c.URL, base+"/"), url)
		if row.Repo == release.RepoZypper {
			b.WriteString("autorefresh=1\ntype=rpm-md\n")
		}
		fmt.Fprintf(&b, "gpgcheck=1\nrepo_gpgcheck=1\ngpgkey=%s\n", strings.Join(gpgkeys, " "))
		if row.Repo != release.RepoZypper {
			b.WriteString("sslverify=1\n")
		}
		switch row.Repo {
		case release.RepoMariner:
			// As the distro's own extras repository file does.
			b.WriteString("skip_if_unavailable=True\n")
		case release.RepoRPM, release.RepoAzureLx:
			// Explicit, so a global skip_if_unavailable=True in dnf.conf
			// cannot turn a bad signature or URL into "package not found".
			b.WriteString("skip_if_unavailable=False\n")
		}
		c.Files = append([]File{{file, []byte(b.String())}}, keys...)
		return c, nil
	}
	return Config{}, failure.New(failure.Internal, "no repository configuration for %s", row.Repo)
}

// rpmKeyFiles places each trusted key in /etc/pki/rpm-gpg: the Microsoft
// key as microsoft-prod.asc, others by the end of their fingerprint.
func rpmKeyFiles(src Source) ([]File, error) {
	var out []File
	for _, k := range src.ArmoredKeys {
		fp, err := KeyFingerprint(k)
		if err != nil {
			return nil, failure.Wrap(failure.Config, err, "a repository signing key cannot be parsed")
		}
		name := "microsoft-prod.asc"
		if fp != pinnedKeys[0].Fingerprint {
			name = "aadsshlogin-" + strings.ToLower(fp[24:]) + ".asc"
		}
		out = append(out, File{path.Join(rpmKeyDir, name), k})
	}
	return out, nil
}

// normURL makes repository URLs comparable.
func normURL(u string) string {
	return strings.ToLower(strings.TrimRight(strings.TrimSpace(u), "/"))
}

// Existing is a repository definition found on the system.
type Existing struct {
	File string // system path
	ID   string // rpm repo id / zypper alias
}

// FindExisting looks for an enabled definition of the same repository in
// files other than skip (system paths). Matching is by URL (and suite for
// apt); the first hit in lexical file order wins.
func FindExisting(root sysroot.Root, p release.Platform, c Config, skip map[string]bool) (Existing, bool) {
	want := map[string]bool{normURL(c.URL): true}
	for _, u := range c.AltURLs {
		want[normURL(u)] = true
	}
	var files []string
	switch p.Support.Repo {
	case release.RepoApt:
		files = append([]string{"/etc/apt/sources.list"}, globSys(root, "/etc/apt/sources.list.d", ".list", ".sources")...)
	case release.RepoZypper:
		files = globSys(root, "/etc/zypp/repos.d", ".repo")
	default:
		files = globSys(root, "/etc/yum.repos.d", ".repo")
	}
	for _, f := range files {
		if skip[f] {
			continue
		}
		data, err := root.ReadFile(f)
		if err != nil {
			continue
		}
		if p.Support.Repo == release.RepoApt {
			var found bool
			if strings.HasSuffix(f, ".sources") {
				found = deb822Has(data, want, c.Suite)
			} else {
				found = oneLineHas(data, want, c.Suite)
			}
			if found {
				return Existing{File: f}, true
			}
			continue
		}
		for _, s := range parseRepoINI(data) {
			if !s.enabled {
				continue
			}
			for _, u := range s.baseurls {
				u = strings.ReplaceAll(u, "$releasever", p.Release.VersionID)
				if want[normURL(u)] {
					return Existing{File: f, ID: s.id}, true
				}
			}
		}
	}
	return Existing{}, false
}

// IDTaken reports whether a file other than skip defines id.
func IDTaken(root sysroot.Root, p release.Platform, id string, skip map[string]bool) bool {
	dir := "/etc/yum.repos.d"
	if p.Support.Repo == release.RepoZypper {
		dir = "/etc/zypp/repos.d"
	}
	for _, f := range globSys(root, dir, ".repo") {
		if skip[f] {
			continue
		}
		data, err := root.ReadFile(f)
		if err != nil {
			continue
		}
		for _, s := range parseRepoINI(data) {
			if s.id == id {
				return true
			}
		}
	}
	return false
}

// globSys lists the regular files in a system directory with one of the
// suffixes, as system paths, sorted.
func globSys(root sysroot.Root, dir string, suffixes ...string) []string {
	entries, err := root.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, name := range entries {
		for _, s := range suffixes {
			if strings.HasSuffix(name, s) {
				out = append(out, path.Join(dir, name))
				break
			}
		}
	}
	sort.Strings(out)
	return out
}

// oneLineHas reports whether a one-line sources.list enables want for suite.
func oneLineHas(data []byte, want map[string]bool, suite string) bool {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) < 3 || f[0] != "deb" {
			continue
		}
		f = f[1:]
		if strings.HasPrefix(f[0], "[") { // options
			for len(f) > 0 && !strings.HasSuffix(f[0], "]") {
				f = f[1:]
			}
			if len(f) == 0 {
				continue
			}
			f = f[1:]
		}
		if len(f) >= 2 && want[normURL(f[0])] && strings.TrimRight(f[1], "/") == suite {
			return true
		}
	}
	return false
}

// deb822Has reports whether a deb822 .sources file enables want for suite.
func deb822Has(data []byte, want map[string]bool, suite string) bool {
	for _, st := range parseDeb822(data) {
		if strings.EqualFold(st["enabled"], "no") || !containsField(st["types"], "deb") {
			continue
		}
		urlOK := false
		for _, u := range strings.Fields(st["uris"]) {
			urlOK = urlOK || want[normURL(u)]
		}
		if urlOK && containsField(st["suites"], suite) {
			return true
		}
	}
	return false
}

func containsField(list, v string) bool {
	for _, f := range strings.Fields(list) {
		if strings.TrimRight(f, "/") == v {
			return true
		}
	}
	return false
}

// parseDeb822 returns the stanzas of a deb822 file with lower-cased keys;
// continuation lines are joined with spaces.
func parseDeb822(data []byte) []map[string]string {
	var out []map[string]string
	cur := map[string]string{}
	last := ""
	flush := func() {
		if len(cur) > 0 {
			out = append(out, cur)
		}
		cur, last = map[string]string{}, ""
	}
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimRight(line, "\r")
		switch {
		case strings.TrimSpace(line) == "":
			flush()
		case line[0] == '#':
		case line[0] == ' ' || line[0] == '\t':
			if last != "" {
				cur[last] += " " + strings.TrimSpace(line)
			}
		default:
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			last = strings.ToLower(strings.TrimSpace(k))
			cur[last] = strings.TrimSpace(v)
		}
	}
	flush()
	return out
}

// iniRepo is one section of a yum/dnf/zypper .repo file.
type iniRepo struct {
	id       string
	baseurls []string
	enabled  bool
}

// parseRepoINI reads the sections of a .repo file (baseurl may hold
// several URLs, also on continuation lines).
func parseRepoINI(data []byte) []iniRepo {
	var out []iniRepo
	var cur *iniRepo
	lastKey := ""
	for _, raw := range strings.Split(string(data), "\n") {
		line := strings.TrimSpace(raw)
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[' && strings.HasSuffix(line, "]"):
			out = append(out, iniRepo{id: strings.TrimSpace(line[1 : len(line)-1]), enabled: true})
			cur, lastKey = &out[len(out)-1], ""
		case cur == nil:
		case (raw[0] == ' ' || raw[0] == '\t') && lastKey == "baseurl":
			cur.baseurls = append(cur.baseurls, strings.Fields(line)...)
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				continue
			}
			lastKey = strings.ToLower(strings.TrimSpace(k))
			v = strings.TrimSpace(v)
			switch lastKey {
			case "baseurl":
				cur.baseurls = append(cur.baseurls, strings.FieldsFunc(v, func(r rune) bool { return r == ' ' || r == ',' || r == '\t' })...)
			case "enabled":
				cur.enabled = v != "0" && !strings.EqualFold(v, "false") && !strings.EqualFold(v, "no")
			}
		}
	}
	return out
}

// rhuiMarker is what the ids of Azure's RHUI client repositories contain.
const rhuiMarker = "microsoft-azure"

// RHUIRepoIDs returns the ids of Azure's RHUI client repositories defined
// in /etc/yum.repos.d, enabled or not (as --enablerepo does), each once.
func RHUIRepoIDs(root sysroot.Root) []string {
	var ids []string
	for _, f := range globSys(root, "/etc/yum.repos.d", ".repo") {
		data, err := root.ReadFile(f)
		if err != nil {
			continue
		}
		for _, s := range parseRepoINI(data) {
			if strings.Contains(strings.ToLower(s.id), rhuiMarker) && !slices.Contains(ids, s.id) {
				ids = append(ids, s.id)
			}
		}
	}
	return ids
}
