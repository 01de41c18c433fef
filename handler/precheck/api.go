// Package precheck holds the read-only checks the handler makes before and
// around installing: legacy AADLoginForLinux, memory, sshd pitfalls, and the
// Entra sessions open at uninstall time.
//
// Every check reads the machine through a sysroot.Root and starts programs
// only through a run.Runner, so tests run against a temporary tree and a
// scripted runner. Only SessionEnder (endsessions.go) acts on the machine:
// it announces and then ends the Entra sessions before an uninstall, through
// its Terminal and Signal seams.
package precheck

import (
	"context"
)

// Warning is a non-blocking finding shown as a warning substatus.
type Warning struct {
	// Name is a stable identifier (see the Warn* constants).
	Name    string
	Message string
}

// Names of the warnings SSHD can return.
const (
	WarnAllowGroups    = "sshd-allowgroups"
	WarnDenyGroups     = "sshd-denygroups"
	WarnAllowUsers     = "sshd-allowusers"
	WarnDenyUsers      = "sshd-denyusers"
	WarnMatchOverride  = "sshd-match-override"
	WarnOldOpenSSH     = "sshd-old-openssh"
	WarnConfigUnread   = "sshd-config-unreadable"
	WarnConfigTestFail = "sshd-config-test-failed"
)

// Session is one logged-in user session from utmp.
type Session struct {
	User string
	TTY  string
	Host string
	PID  int
	// Truncated is set when the name filled utmp's 32-byte ut_user field
	// completely, so the real account name is probably longer.
	Truncated bool
}

// QueryFunc returns the installed versions of the named packages. Packages
// that are not installed are absent from the map.
type QueryFunc func(ctx context.Context, names ...string) (map[string]string, error)
