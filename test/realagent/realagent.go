// Package realagent drives the extension zip with the real guest agent:
// Debian's waagent package (Python module azurelinuxagent) installed in the
// sandbox's chroot. driver.py, our own code, builds the agent's goal-state
// objects for one extension, runs the agent's extension handling
// (ExtHandlersHandler.run) and its status report, and prints the status blob
// the agent would upload; this package wraps it as "apply goal state G,
// return the agent's report" and "restart the agent".
//
// The agent's folders are the package's: /etc/waagent.conf,
// /var/lib/waagent (extensions, HandlerState, status, the tenant
// certificate) and /var/log/azure.
package realagent

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// Driver is driver.py, written into the VM by Install.
//
//go:embed driver.py
var Driver []byte

// Name is the extension's full name as the agent knows it.
const Name = "Microsoft.Azure.ActiveDirectory.AADSSHLoginForLinux"

// Requested states of a goal state (ExtensionRequestedState).
const (
	Enabled   = "enabled"
	Disabled  = "disabled"
	Uninstall = "uninstall"
)

// GoalState is what CRP asks of the agent for our extension.
type GoalState struct {
	// Version is the handler version ("1.0.0.1").
	Version string
	// State is Enabled, Disabled or Uninstall.
	State string
	// Seq is the settings sequence number.
	Seq int
	// Public and Protected are the settings (nil: none). Protected is
	// encrypted to the tenant certificate the way CRP sends it.
	Public, Protected any
}

// Runner runs argv inside the VM (chroot and network namespace) with the
// agent's environment.
type Runner func(ctx context.Context, argv ...string) *exec.Cmd

// Agent is the guest agent of one VM.
type Agent struct {
	// Run starts programs inside the VM.
	Run Runner
	// Root is the VM's "/" as seen from this process.
	Root string
	// Packages maps each published handler version to its zip (path inside
	// the VM): the versions the extension manifest lists.
	Packages map[string]string
	// Dir is the folder inside the VM that holds driver.py and the tenant
	// certificate's source (see Install).
	Dir string

	incarnation int
	last        *GoalState
}

// Install writes driver.py into the VM under dir (a path inside the VM).
func Install(root, dir string) error {
	full := filepath.Join(root, dir)
	if err := os.MkdirAll(full, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(full, "driver.py"), Driver, 0o644)
}

// Apply hands the agent a new goal state (a new incarnation) and returns
// what the agent reports after processing it.
func (a *Agent) Apply(ctx context.Context, gs GoalState) (Report, error) {
	a.incarnation++
	g := gs
	a.last = &g
	return a.process(ctx, g)
}

// Restart is an agent restart (or VM reboot): the agent processes the goal
// state it already has once more. The agent keeps the last incarnation it
// processed in memory only (ga/update.py, _process_goal_state compares
// incarnation with self.last_incarnation, None after a start), so after a
// restart ExtHandlersHandler.run handles the same goal state again and
// handle_enable runs enable for the same sequence number.
func (a *Agent) Restart(ctx context.Context) (Report, error) {
	if a.last == nil {
		return Report{}, errors.New("no goal state was applied yet")
	}
	return a.process(ctx, *a.last)
}

type request struct {
	Name        string            `json:"name"`
	Version     string            `json:"version"`
	State       string            `json:"state"`
	Seq         int               `json:"seq"`
	Incarnation string            `json:"incarnation"`
	Packages    map[string]string `json:"packages"`
	Public      any               `json:"public"`
	Protected   any               `json:"protected"`
	StateDir    string            `json:"stateDir"`
	Check       string            `json:"checkStatusDir"`
}

func (a *Agent) process(ctx context.Context, gs GoalState) (Report, error) {
	req := request{Name: Name, Version: gs.Version, State: gs.State, Seq: gs.Seq,
		Incarnation: fmt.Sprint(a.incarnation), Packages: a.Packages,
		Public: gs.Public, Protected: gs.Protected, StateDir: a.Dir}
	body, _ := json.Marshal(req)
	cmd := a.Run(ctx, "python3", a.Dir+"/driver.py")
	cmd.Stdin = bytes.NewReader(body)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return Report{}, fmt.Errorf("agent driver: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return ParseReport(stdout.Bytes())
}

// Check returns the agent parser's verdict on the handler's status files as
// they are now, without a goal state (driver.py check).
func (a *Agent) Check(ctx context.Context) ([]StatusFile, error) {
	cmd := a.Run(ctx, "python3", a.Dir+"/driver.py", "check", Name)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("agent driver check: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	var files []StatusFile
	if err := json.Unmarshal(stdout.Bytes(), &files); err != nil {
		return nil, fmt.Errorf("agent driver check: %w", err)
	}
	return files, nil
}

// StatusFiles lists the handler's status files in the VM (paths as seen
// from this process), oldest sequence first within each version.
func (a *Agent) StatusFiles() []string {
	files, _ := filepath.Glob(filepath.Join(a.Root, "var/lib/waagent", Name+"-*", "status", "*.status"))
	sort.Strings(files)
	return files
}
