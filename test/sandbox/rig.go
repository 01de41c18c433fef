package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// The one way into a sandbox. Every harness that needs the VM's network
// namespace (the scenarios and `make demo`, the fault batteries, the
// benchmark) describes what to run as a Call; Host.Call re-executes a
// binary inside the namespace, and that binary's main (or TestMain) hands
// control to Serve, which enters the sandbox, runs the named Mode and sends
// its result back as JSON. There is no other re-exec path.

// serveArg is the first argument that makes a binary the inner side.
const serveArg = "aadssh-sandbox-inner"

// Mode is an inner-side entry point: e is the entered sandbox (servers
// running, the chroot trusting the repository), args the caller's
// arguments; the result goes back to the caller as JSON. Progress goes to
// out (the caller's transcript).
type Mode func(ctx context.Context, e *Env, args json.RawMessage, out io.Writer) (result any, err error)

// Call is one run of a Mode inside the namespace.
type Call struct {
	// Mode names the entry point (ModeScenario, or one the binary passes
	// to Serve).
	Mode string
	// Self is the binary to re-execute (default: this process's own).
	Self string
	// IMDS is the fake IMDS scenario ("" = the plan's).
	IMDS string
	// Args are handed to the mode as JSON (nil: none).
	Args any
	// Out receives the transcript (nil: discarded).
	Out io.Writer
}

// call is what Host.Call writes for the inner side.
type call struct {
	Config string          `json:"config"`
	Mode   string          `json:"mode"`
	IMDS   string          `json:"imds,omitempty"`
	Args   json.RawMessage `json:"args,omitempty"`
	Result string          `json:"result"`
}

// ModeScenario runs the host's plan (Inner): what Run and `make demo` call.
const ModeScenario = "scenario"

// Call runs c inside the namespace and decodes the mode's result into
// result (a pointer; nil to ignore it).
func (h *Host) Call(ctx context.Context, c Call, result any) error {
	self := c.Self
	if self == "" {
		var err error
		if self, err = os.Executable(); err != nil {
			return err
		}
	}
	args, err := json.Marshal(c.Args)
	if err != nil {
		return fmt.Errorf("arguments of %s: %w", c.Mode, err)
	}
	dir, err := os.MkdirTemp(filepath.Dir(h.ConfigPath), "call-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	req := call{Config: h.ConfigPath, Mode: c.Mode, IMDS: c.IMDS, Args: args, Result: filepath.Join(dir, "result.json")}
	data, _ := json.Marshal(req)
	reqPath := filepath.Join(dir, "call.json")
	if err := os.WriteFile(reqPath, data, 0o600); err != nil {
		return err
	}
	out := c.Out
	if out == nil {
		out = io.Discard
	}
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", h.NetNS, self, serveArg, reqPath)
	cmd.Stdout, cmd.Stderr = out, out
	// The inner side gets the chance to clean up (servers, mounts) when the
	// context ends.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 30 * time.Second
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s inside the sandbox: %w", c.Mode, err)
	}
	if result == nil {
		return nil
	}
	data, err = os.ReadFile(req.Result)
	if err != nil {
		return fmt.Errorf("%s inside the sandbox returned no result: %w", c.Mode, err)
	}
	if err := json.Unmarshal(data, result); err != nil {
		return fmt.Errorf("result of %s: %w", c.Mode, err)
	}
	return nil
}

// Serve makes this process the inner side when it was started by
// Host.Call: it runs the requested mode (ModeScenario or one of modes) and
// exits. Otherwise it returns at once. Call it first in main or TestMain.
func Serve(modes map[string]Mode) {
	if len(os.Args) != 3 || os.Args[1] != serveArg {
		return
	}
	if err := serve(context.Background(), os.Args[2], modes, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "sandbox:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func serve(ctx context.Context, reqPath string, modes map[string]Mode, out io.Writer) error {
	data, err := os.ReadFile(reqPath)
	if err != nil {
		return err
	}
	var req call
	if err := json.Unmarshal(data, &req); err != nil {
		return fmt.Errorf("call: %w", err)
	}
	mode, ok := modes[req.Mode]
	if req.Mode == ModeScenario {
		mode, ok = scenarioMode, true
	}
	if !ok {
		names := make([]string, 0, len(modes))
		for n := range modes {
			names = append(names, n)
		}
		return fmt.Errorf("unknown mode %q (this binary serves %s, %s)", req.Mode, ModeScenario, strings.Join(names, ", "))
	}
	e, err := Enter(ctx, req.Config, req.IMDS)
	if err != nil {
		return err
	}
	defer e.Close()
	res, err := mode(ctx, e, req.Args, out)
	if err != nil {
		return err
	}
	data, err = json.Marshal(res)
	if err != nil {
		return fmt.Errorf("result: %w", err)
	}
	return os.WriteFile(req.Result, data, 0o600)
}

// scenarioMode runs the plan the host prepared.
func scenarioMode(ctx context.Context, e *Env, _ json.RawMessage, out io.Writer) (any, error) {
	return nil, e.RunPlan(ctx, out)
}
