// Package run is the single seam through which the handler starts other
// programs. Commands are argument vectors, never shell strings.
package run

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Cmd describes one program run.
type Cmd struct {
	// Path is the program; a bare name is looked up in the trusted PATH
	// (see SafePath), never in the caller's environment.
	Path string
	Args []string
	// Env is added to the minimal inherited environment (PATH, proxy
	// variables, LANG=C); entries are KEY=VALUE.
	Env   []string
	Stdin []byte
	// Detach starts the program in its own session, so that the agent
	// killing our process group on timeout does not interrupt it (used for
	// package-manager transactions).
	Detach bool
}

// String renders the command for logs and messages.
func (c Cmd) String() string {
	return strings.Join(append([]string{c.Path}, c.Args...), " ")
}

// Result is what a finished program produced.
type Result struct {
	ExitCode int
	Stdout   []byte
	Stderr   []byte
}

// Tail returns the last n bytes of combined output, for status messages.
func (r Result) Tail(n int) string {
	out := strings.TrimSpace(string(r.Stderr))
	if out == "" {
		out = strings.TrimSpace(string(r.Stdout))
	}
	if len(out) > n {
		out = "…" + out[len(out)-n:]
	}
	return out
}

// ExitError is returned when a program ran but exited non-zero.
type ExitError struct {
	Cmd    Cmd
	Result Result
}

func (e *ExitError) Error() string {
	return fmt.Sprintf("%s exited with %d: %s", e.Cmd.Path, e.Result.ExitCode, e.Result.Tail(400))
}

// StillRunningError is returned when ctx ended while a detached command
// was still running: it goes on in its own session and finishes on its
// own. Err is ctx's error.
type StillRunningError struct {
	Cmd Cmd
	Pid int
	Err error
}

func (e *StillRunningError) Error() string {
	return fmt.Sprintf("%s (pid %d) is still running in its own session and finishes on its own: %v", e.Cmd.Path, e.Pid, e.Err)
}

func (e *StillRunningError) Unwrap() error { return e.Err }

// Runner runs a command to completion. A non-zero exit yields the Result and
// an *ExitError; a program that could not start yields a different error.
type Runner interface {
	Run(ctx context.Context, c Cmd) (Result, error)
}

// SafePath is the search path used for bare program names and passed to children.
const SafePath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// passEnv lists the variables children inherit from the handler: the proxy
// settings the agent's service carries, and nothing else.
var passEnv = []string{"http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"}

// Exec runs real programs.
type Exec struct {
	// Getenv reads the handler's environment (os.Getenv in production).
	Getenv func(string) string
}

// Run implements Runner.
func (x Exec) Run(ctx context.Context, c Cmd) (Result, error) {
	path, err := lookPath(c.Path)
	if err != nil {
		return Result{ExitCode: -1}, err
	}
	var cmd *exec.Cmd
	if c.Detach {
		// A detached transaction is never cancelled: the point is that it
		// finishes even if we give up waiting or are killed.
		cmd = exec.Command(path, c.Args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	} else {
		cmd = exec.CommandContext(ctx, path, c.Args...)
		attached(cmd)
	}
	env := []string{"PATH=" + SafePath, "LANG=C", "LC_ALL=C"}
	if x.Getenv != nil {
		for _, k := range passEnv {
			if v := x.Getenv(k); v != "" {
				env = append(env, k+"="+v)
			}
		}
	}
	cmd.Env = append(env, c.Env...)
	if c.Stdin != nil {
		cmd.Stdin = bytes.NewReader(c.Stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	var files []*os.File
	if c.Detach {
		// A detached transaction writes to unlinked files, not pipes: with a
		// pipe, its first write after we gave up or were killed would end
		// it with SIGPIPE, half done. (No temporary folder: pipes, as before.)
		if files, err = detachedOutput(); err == nil {
			defer closeFiles(files)
			cmd.Stdout, cmd.Stderr = files[0], files[1]
		}
	}
	if err := cmd.Start(); err != nil {
		return Result{ExitCode: -1}, fmt.Errorf("run %s: %w", c.Path, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	if c.Detach {
		select {
		case err = <-done:
		case <-ctx.Done():
			return Result{ExitCode: -1}, &StillRunningError{Cmd: c, Pid: cmd.Process.Pid, Err: ctx.Err()}
		}
	} else {
		err = <-done
		// Whatever the command left in its process group (a daemonised
		// grandchild) goes with it; ESRCH when nothing is left.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		if errors.Is(err, exec.ErrWaitDelay) && cmd.ProcessState != nil && cmd.ProcessState.Success() {
			// The command itself succeeded; only a leftover held its output.
			err = nil
		}
	}
	if files != nil {
		stdout.Write(readBack(files[0]))
		stderr.Write(readBack(files[1]))
	}
	res := Result{Stdout: stdout.Bytes(), Stderr: stderr.Bytes()}
	var ee *exec.ExitError
	switch {
	case err == nil:
		return res, nil
	case errors.As(err, &ee):
		res.ExitCode = ee.ExitCode()
		return res, &ExitError{Cmd: c, Result: res}
	default:
		res.ExitCode = -1
		return res, fmt.Errorf("run %s: %w", c.Path, err)
	}
}

// waitDelay bounds how long Run waits, after the context is done or the
// command exited, for the command's output pipes to close: an orphaned
// grandchild holding them must not keep the handler past its deadline.
const waitDelay = 2 * time.Second

// attached prepares a command that is not detached: it leads its own process
// group, so cancelling kills the group (grandchildren included), it dies
// with the handler (the agent kills our group at its timeout, which no
// longer reaches it), and Wait gives up on the pipes after waitDelay.
func attached(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error {
		if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); err != nil {
			return cmd.Process.Kill()
		}
		return nil
	}
	cmd.WaitDelay = waitDelay
}

func lookPath(name string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	for _, dir := range strings.Split(SafePath, ":") {
		p := dir + "/" + name
		if _, err := exec.LookPath(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: %w", name, ErrNotFound)
}

// ErrNotFound is returned when a program is not installed.
var ErrNotFound = errors.New("program not found in " + SafePath)
