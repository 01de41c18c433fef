// Package distros knows the Linux distributions AADSSHLoginForLinux supports:
// it detects the running one from os-release, decides whether it is
// supported and how, configures the Microsoft package repository for it and
// installs or removes the aadsshlogin packages with its package manager.
//
// Choices worth knowing (details at the named identifiers):
//
//   - One support table (matrix, SupportMatrix, MarkdownTable) drives
//     Resolve, the unsupported-OS message and the README table. Open doc
//     ranges stop before the next major release (RHEL 10, SLES/Leap 16),
//     whose repositories use the microsoft-2025 key that is not shipped.
//   - EL derivatives (AlmaLinux, Rocky, Oracle, CentOS 7) use PMC's
//     rhel/<major> tree; a fixed table instead of an HTTP probe keeps the
//     choice offline and identical on air-gapped endpoints.
//   - Azure Linux 3.0 installs from its own repositories; the PMC
//     repository file is added only when they do not offer aadsshlogin.
//   - Keys come only from the embedded pinned key (keys/microsoft.asc) or
//     the mirror key in the settings: apt gets a dearmored keyring of its
//     own (/usr/share/keyrings/microsoft-aadsshlogin.gpg, distinct from
//     packages-microsoft-prod's microsoft-prod.gpg conffile), rpm-based
//     managers get `rpm --import` of /etc/pki/rpm-gpg files; zypper never
//     runs with --gpg-auto-import-keys.
//   - An enabled definition of the same repository URL (and suite) written
//     by someone else, e.g. packages-microsoft-prod, is reused, never
//     duplicated. Files we write are recorded in StateDir with their
//     previous content; a failed installation restores them, Remove
//     restores or deletes them.
package distros

import (
	"errors"

	"github.com/go-kit/log"

	"github.com/Azure/aadsshlogin-extension-linux/handler/clock"
	"github.com/Azure/aadsshlogin-extension-linux/handler/precheck"
	"github.com/Azure/aadsshlogin-extension-linux/handler/run"
	"github.com/Azure/aadsshlogin-extension-linux/handler/sysroot"
)

// Release is the parsed content of /etc/os-release.
type Release struct {
	ID         string
	IDLike     []string
	VersionID  string
	Codename   string
	PrettyName string
	Name       string
	Version    string
}

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

// Source is where packages come from: packages.microsoft.com, an
// air-gapped cloud's endpoint, or a private mirror from the settings.
type Source struct {
	// BaseURL replaces https://packages.microsoft.com; the layout below it
	// is the same as on packages.microsoft.com.
	BaseURL string
	// ArmoredKeys are the OpenPGP public keys trusted for this source.
	ArmoredKeys [][]byte
	// Mirror is true for a private mirror from the settings.
	Mirror bool
	// Fingerprints are the v4 fingerprints of ArmoredKeys, in order (for
	// the status message).
	Fingerprints []string
}

// Result reports what Ensure found and did.
type Result struct {
	// Installed maps package name to installed version.
	Installed map[string]string
	SELinux   bool
	// Changed is false when everything was already in place.
	Changed bool
	// Warnings are non-fatal findings for a warning substatus.
	Warnings []string
	// Notes are findings that need no action (for example sshd not started
	// yet at first boot): logged and shown in the status, not warnings.
	Notes []string
	// SSHD is what the wiring check's `sshd -T`, run after the packages
	// changed sshd_config, learned: the effective configuration, or that
	// sshd failed without naming a configuration line (not started yet).
	// The sshd pitfall check (precheck.SSHD) takes it instead of starting
	// sshd again.
	SSHD precheck.SSHDKnown
}

// Installer installs and removes the packages on one Platform.
//
// It never assumes it runs on the real "/": every file it reads or writes
// goes through Root (os-release, sources.list.d, yum.repos.d, /proc, lock
// files, /etc/pam.d…), and every program (apt-get, dnf, rpm, zypper,
// semodule, sshd) is started through Runner with system paths as seen from
// inside Root. A test or an integration harness can therefore point Root at
// a chroot directory and give a Runner that prefixes `chroot <dir>`, with a
// Source whose BaseURL is a loopback server laid out like
// packages.microsoft.com and whose ArmoredKeys hold that server's key.
// StateDir is used as given (it is the handler's own folder, not a system
// path below Root).
type Installer struct {
	Root     sysroot.Root
	Runner   run.Runner
	Clock    clock.Clock
	Logger   log.Logger
	Platform Platform
	Source   Source
	// StateDir is the handler's version-independent state folder; the
	// installer records there which repository files it created.
	StateDir string
	// Progress, when set, receives short human-readable progress lines
	// (e.g. who holds the package-manager lock).
	Progress func(string)
	// Locks probes package-manager locks; nil means SysLocks{Root}.
	Locks LockProbe
	// Proxy is the proxy the package manager inherits from the agent's
	// environment, without credentials (scheme://host:port), or "" when
	// none is set. It only shapes error messages: the package managers
	// read the variables themselves.
	Proxy string
	// ProxyAdvice is the advice on giving this machine's extensions a proxy
	// (ProxyAdvice with the caller's Arc knowledge); "" means
	// ProxyAdvice(Platform.Release, false).
	ProxyAdvice string
}

// ErrUnsupported is wrapped by Resolve's error for an unsupported release.
var ErrUnsupported = errors.New("unsupported distribution")
