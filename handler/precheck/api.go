// Package precheck holds the read-only checks the handler makes before and
// around installing: legacy AADLoginForLinux, memory, sshd pitfalls, and the
// Entra sessions that block an uninstall.
package precheck

import (
	"context"
	"errors"

	"github.com/Azure/aadsshlogin-extension-linux/handler/run"
	"github.com/Azure/aadsshlogin-extension-linux/handler/sysroot"
)

// Warning is a non-blocking finding shown as a warning substatus.
type Warning struct {
	Name    string
	Message string
}

// Session is one logged-in user session from utmp.
type Session struct {
	User string
	TTY  string
	Host string
	PID  int
}

// QueryFunc returns the installed versions of the named packages.
type QueryFunc func(ctx context.Context, names ...string) (map[string]string, error)

var errNotImplemented = errors.New("not implemented yet")

// Legacy returns a failure.LegacyExtension error when AADLoginForLinux is
// still present (its handler folder under the agent's lib dir, or the
// aadlogin / aadlogin-selinux packages).
func Legacy(ctx context.Context, root sysroot.Root, query QueryFunc) error { return errNotImplemented }

// Memory returns a failure.LowMemory error when the machine has less than
// 1 GB of memory, and the total it found.
func Memory(root sysroot.Root) (uint64, error) { return 0, errNotImplemented }

// SSHD inspects the effective sshd configuration and server version.
func SSHD(ctx context.Context, root sysroot.Root, runner run.Runner) ([]Warning, error) {
	return nil, errNotImplemented
}

// EntraSessions lists the logged-in sessions of Entra users (names like user@domain).
func EntraSessions(root sysroot.Root) ([]Session, error) { return nil, errNotImplemented }
