// Package distros installs and removes the aadsshlogin packages on a
// supported Linux distribution: Installer.Ensure configures the Microsoft
// package repository, installs, upgrades or pins the packages with the
// distribution's package manager and checks that they wired themselves in;
// Installer.Remove undoes it. What it builds on lives in sub-packages:
// release (os-release detection and the support matrix) and repo (the
// package source, its signing keys and the repository definitions).
//
// Choices worth knowing (details at the named identifiers):
//
//   - The package-manager backends (backend.go: apt, dnf/yum/tdnf, zypper)
//     run every program through Installer.Runner; every command that takes
//     a package-manager lock waits for it first and again when it loses a
//     race for it (pmlock.go), and transactions run detached so that a
//     killed handler never interrupts dpkg or rpm (running.go).
//   - Azure Linux 3.0 installs from its own repositories; the PMC
//     repository file is added only when they do not offer aadsshlogin.
//   - An enabled definition of the same repository URL (and suite) written
//     by someone else, e.g. packages-microsoft-prod, is reused, never
//     duplicated. Files we write are recorded in StateDir with their
//     previous content; a failed installation restores them, Remove
//     restores or deletes them.
package distros

import (
	"github.com/go-kit/log"

	"github.com/Azure/aadsshlogin-extension-linux/distros/release"
	"github.com/Azure/aadsshlogin-extension-linux/distros/repo"
	"github.com/Azure/aadsshlogin-extension-linux/handler/clock"
	"github.com/Azure/aadsshlogin-extension-linux/handler/precheck"
	"github.com/Azure/aadsshlogin-extension-linux/handler/run"
	"github.com/Azure/aadsshlogin-extension-linux/handler/sysroot"
)

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
	Platform release.Platform
	Source   repo.Source
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
	// (release.ProxyAdvice with the caller's Arc knowledge); "" means
	// release.ProxyAdvice(Platform.Release, false).
	ProxyAdvice string
}
