// Package run is the single seam through which the handler starts other
// programs. Commands are argument vectors, never shell strings.
package run

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"

	"github.com/Azure/aadsshlogin-extension-linux/handler/failure"
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
			return Result{ExitCode: -1}, fmt.Errorf("%s (pid %d) is still running in its own session and finishes on its own; wait for it (`ps -p <pid>`), "+failure.SetAgain+": %w",
				c.Path, cmd.Process.Pid, ctx.Err())
		}
	} else {
		err = <-done
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

// maxDetachedOutput bounds what is read back of a detached command's output.
const maxDetachedOutput = 1 << 20

// detachedOutput creates two unlinked temporary files for stdout and stderr.
func detachedOutput() ([]*os.File, error) {
	var fs []*os.File
	for i := 0; i < 2; i++ {
		f, err := os.CreateTemp("", "aadsshlogin-out-")
		if err != nil {
			closeFiles(fs)
			return nil, err
		}
		_ = os.Remove(f.Name())
		fs = append(fs, f)
	}
	return fs, nil
}

// readBack returns the last maxDetachedOutput bytes written to f.
func readBack(f *os.File) []byte {
	end, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return nil
	}
	start := max(end-maxDetachedOutput, 0)
	b := make([]byte, end-start)
	n, _ := f.ReadAt(b, start)
	return b[:n]
}

func closeFiles(fs []*os.File) {
	for _, f := range fs {
		f.Close()
	}
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
