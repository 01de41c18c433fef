// Package lifecycle implements the handler's commands: the five the agent
// runs (install, enable, disable, uninstall, update) and two for humans
// (diagnose, version). Main dispatches from a table; each command gets an
// invocation with the agent environment, sequence number, settings, logger
// and status writer already set up, and returns a report or a classified
// error, which Main turns into the status file, a stderr line and the exit
// code.
package lifecycle

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"syscall"
	"time"

	"github.com/Azure/aadsshlogin-extension-linux/handler/clock"
	"github.com/Azure/aadsshlogin-extension-linux/handler/failure"
	"github.com/Azure/aadsshlogin-extension-linux/handler/precheck"
	"github.com/Azure/aadsshlogin-extension-linux/handler/run"
	"github.com/Azure/aadsshlogin-extension-linux/handler/sysroot"
	"github.com/Azure/aadsshlogin-extension-linux/manifest"
)

// HandlerName is the extension's full name (publisher.type).
const HandlerName = manifest.Publisher + "." + manifest.Type

// Deps are every effect the handler has on the world. Production fills them
// for a real machine; tests substitute fakes.
type Deps struct {
	Getenv     func(string) string
	Executable string
	Root       sysroot.Root
	Runner     run.Runner
	Clock      clock.Clock
	// Transport is used for IMDS/HIMDS (nil: a proxy-less default).
	Transport http.RoundTripper
	// IMDSBase overrides http://169.254.169.254 (unit tests only).
	IMDSBase string
	// Outbound is used for internet endpoints by diagnose (nil: honours the
	// proxy variables from Getenv).
	Outbound http.RoundTripper
	// IdentityWindow overrides how long a missing identity is re-probed.
	IdentityWindow time.Duration
	Stdout         io.Writer
	Stderr         io.Writer
	// Terminal opens a logged-in user's terminal (utmp line "pts/3") for
	// uninstall's notice; nil: no notice.
	Terminal func(line string) (io.WriteCloser, error)
	// Signal ends a session process; nil: no process is signalled.
	Signal func(pid int, sig syscall.Signal) error
	// Version is the handler version stamped at build time.
	Version string
	PID     int
}

// Production returns the Deps of a real machine.
func Production(version string) Deps {
	exe, _ := os.Executable()
	return Deps{
		Getenv:     os.Getenv,
		Executable: exe,
		Runner:     run.Exec{Getenv: os.Getenv},
		Clock:      clock.Real{},
		Terminal:   precheck.OpenTerminal(""),
		Signal:     syscall.Kill,
		Stdout:     os.Stdout,
		Stderr:     os.Stderr,
		Version:    version,
		PID:        os.Getpid(),
	}
}

// command is one row of the dispatch table.
type command struct {
	// operation is the name shown in the status file.
	operation string
	// agent commands need HandlerEnvironment.json, a sequence number and the lock.
	agent bool
	// budget is our own deadline, below the agent's timeout for the verb.
	budget time.Duration
	run    func(ctx context.Context, inv *invocation) (report, error)
	// human commands run without the agent contract.
	human func(ctx context.Context, d Deps, args []string) int
}

// Budgets stay below the agent's timeouts (install/update/disable 900 s,
// enable/uninstall 300 s) so we always write a final status before being killed.
const (
	InstallBudget   = 840 * time.Second
	EnableBudget    = 270 * time.Second
	UninstallBudget = 270 * time.Second
	QuickBudget     = 60 * time.Second
)

func commands() map[string]command {
	return map[string]command{
		"install":   {operation: "Install", agent: true, budget: InstallBudget, run: install},
		"enable":    {operation: "Enable", agent: true, budget: EnableBudget, run: enable},
		"disable":   {operation: "Disable", agent: true, budget: QuickBudget, run: disable},
		"uninstall": {operation: "Uninstall", agent: true, budget: UninstallBudget, run: uninstall},
		"update":    {operation: "Update", agent: true, budget: QuickBudget, run: update},
		"diagnose":  {human: diagnose},
		"version":   {human: printVersion},
	}
}

const usage = `usage: aadsshlogin-handler <command>

Commands run by the Azure guest agent:
  install     configure the Microsoft repository and install aadsshlogin
  enable      check identity and prerequisites, make sure the packages are current
  disable     report disabled (packages stay; sign-in keeps working)
  uninstall   remove the packages (logged-in Entra users get a grace period, then their sessions end)
  update      prepare a version update (the packages stay installed)

Commands for people:
  diagnose [-json]   run every check read-only and print what blocks sign-in
  version            print the handler version
`

// Main runs one command and returns the process exit code.
func Main(args []string, d Deps) int {
	if len(args) < 2 {
		fmt.Fprint(d.Stderr, usage)
		return int(failure.Usage)
	}
	cmd, ok := commands()[args[1]]
	if !ok {
		fmt.Fprintf(d.Stderr, "unknown command %q\n\n%s", args[1], usage)
		return int(failure.Usage)
	}
	ctx := context.Background()
	if cmd.human != nil {
		return cmd.human(ctx, d, args[2:])
	}
	return runAgentCommand(ctx, d, args[1], cmd)
}

func printVersion(_ context.Context, d Deps, _ []string) int {
	fmt.Fprintf(d.Stdout, "%s %s\n", HandlerName, d.Version)
	return 0
}
