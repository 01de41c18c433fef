// Package failure maps everything that can go wrong in the handler to one
// process exit code and one status message a VM operator can act on.
//
// The exit code is the contract with the guest agent and with users (see the
// README); the message is what the portal, `az vm extension show` and the
// agent's CRP error show. Wrap lower-level errors with New or Wrap; the
// lifecycle layer turns the first *Error in a chain into status + exit code.
package failure

import (
	"errors"
	"fmt"
	"strings"

	"github.com/Azure/aadsshlogin-extension-linux/manifest"
)

// Code is a process exit code of the handler.
type Code int

// The complete set of exit codes (Codes lists them), grouped by where each
// number comes from. Keep README.md's table in step with them.

// The handler's own: success, a bug, a command line it does not understand.
const (
	OK Code = 0
	// Internal is an unexpected condition: a bug or an unclassified error.
	Internal Code = 1
	// Usage is a command line the handler does not understand.
	Usage Code = 2
)

// The public documentation's; both are reported as "transitioning".
const (
	// NoSystemIdentity: the VM has no system-assigned managed identity.
	NoSystemIdentity Code = 22
	// LegacyExtension: AADLoginForLinux or its packages are still present.
	LegacyExtension Code = 23
)

// Microsoft's extension-publisher conventions.
const (
	// UnsupportedOS: the distribution (or its release) or the CPU is not supported.
	UnsupportedOS Code = 51
	// Dependency: a missing dependency or an unreachable service (package
	// repository, IMDS, package manager failure).
	Dependency Code = 52
	// Config: bad public or protected settings.
	Config Code = 53
)

// This extension's own.
const (
	// LowMemory: the VM has less than 1 GB of memory; the packages would fail.
	LowMemory Code = 54
	// UsersLoggedIn: uninstall ended the Entra users' sessions after a grace
	// period, but some stayed open and the packages' removal failed while
	// they were (the packages stay; the removal is pending).
	UsersLoggedIn Code = 55
	// PackageManagerBusy: another process held the package-manager lock past our deadline.
	PackageManagerBusy Code = 56
	// NotWiredIn: the packages installed but did not wire themselves into
	// nsswitch, PAM or sshd, or sshd rejects the resulting configuration.
	NotWiredIn Code = 57
	// BadEnvironment: HandlerEnvironment.json or the agent's files are unusable.
	BadEnvironment Code = 81
)

// What the user does next. The agent never runs a failed command again by
// itself (only for a new goal state: a settings change, the extension set
// again, an update; and enable after an agent restart), so every message
// ends in one of these instead of promising a retry.
const (
	// SetAgain follows the fix of a failure's cause.
	SetAgain = "then run `az vm extension set -n " + manifest.Type + " --publisher " + manifest.Publisher + " -g <rg> --vm-name <vm>` again"
	// Reinstall follows a broken installation of the extension itself (its
	// agent files, or the package wiring it cannot repair in place).
	Reinstall = "reinstall the extension"
	// ProxyCredentials answers a proxy's HTTP 407; the machine's proxy
	// advice (release.ProxyAdvice) follows it.
	ProxyCredentials = "let the proxy allow this VM, or put its credentials in the proxy URL (http://user:password@proxy:port): "
	// FinishRemoval follows a failed uninstall: the agent deleted the
	// extension folder, so removing it again needs the extension set first.
	FinishRemoval = "To finish, " + removeSteps
	// AfterDisable follows a failed disable. The agent runs disable when the
	// extension is deleted or updated, and a failed disable stops either.
	AfterDisable = "then run " + deleteCmd + " again if you were deleting the extension, or `az vm extension set …` again if you were updating it"
	// AfterUninstall follows an uninstall that could not start.
	AfterUninstall = "then, to finish the removal, " + removeSteps

	deleteCmd   = "`az vm extension delete -g <rg> --vm-name <vm> -n " + manifest.Type + "`"
	removeSteps = "set the extension again (`az vm extension set …`, which repairs the interrupted removal), then delete it (" + deleteCmd + "); or, as root on the VM, `apt-get purge aadsshlogin aadsshlogin-selinux` (dnf, zypper: `remove`)"
)

// NextStep is what the user does after a failure of the agent operation
// op ("Install", "Enable", "Disable", "Uninstall", "Update") that no
// message of its own covers: SetAgain, except after a disable or an
// uninstall, which run when the extension is deleted.
func NextStep(op string) string {
	switch op {
	case "Disable":
		return AfterDisable
	case "Uninstall":
		return AfterUninstall
	}
	return SetAgain
}

// SetAgainFor is SetAgain with the resource group and the VM (or scale
// set, when vmss is set) filled in; empty names keep the placeholders.
// The names must already be safe to paste into a shell.
func SetAgainFor(rg, vm, vmss string) string {
	r := []string{}
	if rg != "" {
		r = append(r, "<rg>", rg)
	}
	switch {
	case vmss != "":
		r = append(r, "az vm extension set", "az vmss extension set", "--vm-name <vm>", "--vmss-name "+vmss)
	case vm != "":
		r = append(r, "<vm>", vm)
	}
	if len(r) == 0 {
		return SetAgain
	}
	return strings.NewReplacer(r...).Replace(SetAgain)
}

// Transitioning reports whether the public documentation wants this code shown
// as status "transitioning" rather than "error" (22 and 23 do).
func (c Code) Transitioning() bool { return c == NoSystemIdentity || c == LegacyExtension }

// Error is a classified failure: an exit code, a message for the user, and the
// underlying cause (kept for logs and errors.Is/As).
type Error struct {
	Code Code
	// Msg says what happened and what to do, in one or two sentences.
	Msg string
	Err error
}

func (e *Error) Error() string {
	if e.Err == nil {
		return e.Msg
	}
	return e.Msg + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// New returns a classified error without a cause.
func New(code Code, format string, args ...any) error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// Wrap classifies err. A nil err yields nil.
func Wrap(code Code, err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...), Err: err}
}

// CodeOf returns the exit code for err: OK for nil, the code of the first
// *Error in the chain, Internal otherwise.
func CodeOf(err error) Code {
	if err == nil {
		return OK
	}
	var fe *Error
	if errors.As(err, &fe) {
		return fe.Code
	}
	return Internal
}

// Message returns the user-facing text for err: the classified message plus
// its cause, or the plain error text for unclassified errors.
func Message(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// Codes lists every exit code the handler can return (README's table must
// match it; test/docs checks).
func Codes() []Code {
	return []Code{OK, Internal, Usage, NoSystemIdentity, LegacyExtension, UnsupportedOS, Dependency, Config,
		LowMemory, UsersLoggedIn, PackageManagerBusy, NotWiredIn, BadEnvironment}
}
