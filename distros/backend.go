package distros

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/Azure/aadsshlogin-extension-linux/distros/release"
	"github.com/Azure/aadsshlogin-extension-linux/distros/repo"
	"github.com/Azure/aadsshlogin-extension-linux/handler/failure"
	"github.com/Azure/aadsshlogin-extension-linux/handler/run"
)

// Package names.
const (
	pkgMain    = "aadsshlogin"
	pkgSELinux = "aadsshlogin-selinux"
)

// tailBytes is how much package-manager output goes into a status message.
const tailBytes = 600

// repoTarget names the repository a targeted refresh updates.
type repoTarget struct {
	// File is the system path of the file defining it (apt sourcelist).
	File string
	// ID is the rpm repo id or zypper alias.
	ID string
}

// backend is one package manager. Every method runs programs through the
// Installer's Runner; nothing here touches the filesystem except via Root.
type backend interface {
	kind() release.ManagerKind
	// lockFiles are the system paths whose holders block a transaction.
	lockFiles() []string
	// recover finishes a transaction an earlier run left half done.
	recover(ctx context.Context) error
	// refresh updates metadata of one repository (t != nil) or all.
	refresh(ctx context.Context, t *repoTarget) error
	// available returns the newest version of pkg the repositories offer
	// that is not the installed one, or "" when there is none.
	available(ctx context.Context, pkg string) (string, error)
	// install installs pkg, or upgrades it when upgrade is set.
	install(ctx context.Context, pkg string, upgrade bool) error
	// installPinned installs exactly version (downgrading if needed) and
	// keeps the package from being upgraded.
	installPinned(ctx context.Context, pkg, version string) error
	// remove removes installed packages (purging configuration on apt).
	remove(ctx context.Context, pkgs ...string) error
	// query returns the installed versions; absent packages are omitted.
	query(ctx context.Context, names ...string) (map[string]string, error)
	// importKeys makes the package manager trust key files (system paths).
	importKeys(ctx context.Context, paths []string) error
	// selinuxPolicyPackages are the distro SELinux policy packages whose
	// presence means aadsshlogin-selinux is needed.
	selinuxPolicyPackages() []string
}

func (in *Installer) backend() (backend, error) {
	switch in.Platform.Manager {
	case release.Apt:
		return &aptBackend{in: in}, nil
	case release.Dnf, release.Yum, release.Tdnf:
		return newDnfFamily(in, in.Platform.Manager), nil
	case release.Zypper:
		return &zypperBackend{rpmTools{in: in, bin: "zypper"}}, nil
	}
	return nil, failure.New(failure.Internal, "distros: no backend for package manager %q", in.Platform.Manager)
}

// cmdError is the cause recorded for a failed program run.
type cmdError struct {
	cmd  run.Cmd
	code int
	err  error
}

func (e *cmdError) Error() string {
	if e.err != nil {
		return fmt.Sprintf("`%s`: %v", e.cmd, e.err)
	}
	return fmt.Sprintf("`%s` exited with status %d", e.cmd, e.code)
}

func (e *cmdError) Unwrap() error { return e.err }

// runCmd runs c and logs it; a failure comes back as *cmdError with the
// result (for its output tail).
func (in *Installer) runCmd(ctx context.Context, c run.Cmd) (run.Result, error) {
	res, err := in.Runner.Run(ctx, c)
	in.log("event", "ran", "cmd", c.String(), "exit", res.ExitCode, "err", err)
	if err == nil {
		return res, nil
	}
	var sr *run.StillRunningError
	if errors.As(err, &sr) {
		return res, in.stillRunning(runningTx{Pid: sr.Pid, Program: path.Base(c.Path), Cmd: c.String()}, sr)
	}
	ce := &cmdError{cmd: c, code: res.ExitCode}
	if _, isExit := err.(*run.ExitError); !isExit {
		ce.err = err
	}
	return res, ce
}

// pmFailure classifies a failed package-manager step as failure.Dependency
// with the manager's own output tail and, for repository problems, advice.
// A lock still held at the end (failure.PackageManagerBusy) passes through.
func (in *Installer) pmFailure(what string, res run.Result, err error) error {
	if isBusy(err) {
		return err
	}
	tail := res.Tail(tailBytes)
	msg := what + " failed"
	if hint := repoHint(res, in.Source, in.Proxy, in.proxyAdvice()); hint != "" {
		msg += ": " + hint
	}
	if tail != "" {
		msg += ". Package manager output: " + tail
	}
	return failure.Wrap(failure.Dependency, err, "%s", msg)
}

// proxyAdvice is release.ProxyAdvice for this installer.
func (in *Installer) proxyAdvice() string {
	if in.ProxyAdvice != "" {
		return in.ProxyAdvice
	}
	return release.ProxyAdvice(in.Platform.Release, false)
}

// isBusy reports whether err is a package-manager lock held past the deadline.
func isBusy(err error) bool { return failure.CodeOf(err) == failure.PackageManagerBusy }

// repoHint recognises repository errors in package-manager output. proxy
// is Installer.Proxy: the redacted proxy the package manager inherited, or
// "" when none is set; with one, advice about reachability names it, since
// the proxy rather than the repository is then the likelier culprit.
// proxyAdvice is release.ProxyAdvice for the machine.
func repoHint(res run.Result, src repo.Source, proxy, proxyAdvice string) string {
	out := string(res.Stderr) + "\n" + string(res.Stdout)
	low := strings.ToLower(out)
	has := func(words ...string) bool {
		for _, w := range words {
			if strings.Contains(low, strings.ToLower(w)) {
				return true
			}
		}
		return false
	}
	url := src.BaseURL
	advice := "If the VM must use a proxy, " + proxyAdvice
	if proxy != "" {
		advice = fmt.Sprintf("Check that the proxy %s (which the package manager inherits from the agent's https_proxy/http_proxy, unless no_proxy exempts the host) "+
			"is up and lets the VM reach %s, or correct it: %s",
			proxy, url, proxyAdvice)
	}
	switch {
	case has("NO_PUBKEY", "BADSIG", "EXPKEYSIG", "is not signed", "signature verification failed", "gpg check failed",
		"signature could not be verified", "repomd.xml signature", "gpg key", "invalid signature", "public key for"):
		return fmt.Sprintf("the repository signature from %s could not be verified with the trusted keys (%s); for a private mirror, put the key that signs its metadata in the settings",
			url, strings.Join(src.Fingerprints, ", "))
	case has(" 404", "404 not found", "not found [ip", "error 404", "status code: 404"):
		return fmt.Sprintf("a repository file was not found (404) under %s; check that the endpoint or mirror carries this distribution's repository", url)
	case has(" 401", " 403", "forbidden", "unauthorized", "status code: 403", "status code: 401"):
		return fmt.Sprintf("access to %s was denied (401/403); check the proxy or mirror permissions. %s", url, advice)
	case has(" 429", "too many requests", "status code: 429"):
		return fmt.Sprintf("%s is throttling requests (429: packages.microsoft.com allows 4000 requests per 5 minutes); wait a few minutes, "+failure.SetAgain, url)
	case has(" 500", " 502", " 503", " 504", "internal server error", "service unavailable", "bad gateway", "gateway timeout",
		"status code: 500", "status code: 502", "status code: 503", "status code: 504"):
		return fmt.Sprintf("%s answered with a server error (5xx); it is reachable but failing; check the mirror or wait a while, "+failure.SetAgain, url)
	case has("certificate", "x509", "ssl", "tls", "handshake"):
		return fmt.Sprintf("the TLS connection to %s failed; check the system CA certificates, the clock, or a TLS-inspecting proxy (add its CA). %s", url, advice)
	case has("could not resolve", "temporary failure resolving", "resolve host", "timed out", "connection refused",
		"network is unreachable", "failed to connect", "cannot download", "failed to fetch", "curl error", "connection reset"):
		if proxy != "" {
			return fmt.Sprintf("%s cannot be reached through the proxy. %s", url, advice)
		}
		return fmt.Sprintf("%s cannot be reached; allow outbound HTTPS (443) to it in firewalls and NSGs. %s", url, advice)
	}
	return ""
}
