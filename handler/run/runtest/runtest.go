// Package runtest provides a scripted run.Runner for tests.
package runtest

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/Azure/aadsshlogin-extension-linux/handler/run"
)

// TB is the part of testing.TB the fake reports to.
type TB interface {
	Helper()
	Errorf(format string, args ...any)
}

// Response is what the fake answers for one command.
type Response struct {
	ExitCode int
	Stdout   string
	Stderr   string
	// Err, when set, is returned as a start failure (e.g. run.ErrNotFound).
	Err error
}

// Fake records every command and answers from Responses, matched by the
// command line's leading words (the longest matching key wins; the key
// "apt-get install aadsshlogin" does not answer aadsshlogin-selinux).
//
// It is strict: a command nothing answers fails the test (T) with the
// command named and returns an error, so a test cannot run a branch it did
// not script (the SELinux branch once ran unnoticed because unknown commands
// succeeded). There is no "anything succeeds" switch; a test that truly
// accepts any command says so in Respond, with the reason beside it.
// Create it with New.
type Fake struct {
	mu        sync.Mutex
	T         TB
	Responses map[string]Response
	Calls     []run.Cmd
	// Hook, when set, runs for every command before the response is chosen
	// (tests use it to create files the real program would create).
	Hook func(run.Cmd)
	// Respond, when set, answers first; ok=false falls back to Responses.
	Respond func(run.Cmd) (resp Response, ok bool)
}

// New returns a strict fake that reports unexpected commands to t.
func New(t TB, responses map[string]Response) *Fake {
	if responses == nil {
		responses = map[string]Response{}
	}
	return &Fake{T: t, Responses: responses}
}

// Run implements run.Runner.
func (f *Fake) Run(_ context.Context, c run.Cmd) (run.Result, error) {
	f.mu.Lock()
	f.Calls = append(f.Calls, c)
	hook := f.Hook
	line := c.String()
	best, found := "", false
	for k := range f.Responses {
		if wordPrefix(line, k) && len(k) >= len(best) {
			best, found = k, true
		}
	}
	resp := f.Responses[best]
	f.mu.Unlock()
	if hook != nil {
		hook(c)
	}
	if f.Respond != nil {
		if r, ok := f.Respond(c); ok {
			resp, found = r, true
		}
	}
	if !found {
		if f.T != nil {
			f.T.Helper()
			f.T.Errorf("unexpected command %q", line)
		}
		return run.Result{ExitCode: -1}, fmt.Errorf("runtest: unexpected command %q", line)
	}
	if resp.Err != nil {
		return run.Result{ExitCode: -1}, resp.Err
	}
	res := run.Result{ExitCode: resp.ExitCode, Stdout: []byte(resp.Stdout), Stderr: []byte(resp.Stderr)}
	if resp.ExitCode != 0 {
		return res, &run.ExitError{Cmd: c, Result: res}
	}
	return res, nil
}

// wordPrefix reports whether key is line or its first words.
func wordPrefix(line, key string) bool {
	rest, ok := strings.CutPrefix(line, key)
	return ok && (rest == "" || rest[0] == ' ' || strings.HasSuffix(key, " "))
}

// Lines returns the recorded command lines.
func (f *Fake) Lines() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, len(f.Calls))
	for i, c := range f.Calls {
		out[i] = c.String()
	}
	return out
}
