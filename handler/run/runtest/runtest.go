// Package runtest provides a scripted run.Runner for tests.
package runtest

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/Azure/aadsshlogin-extension-linux/handler/run"
)

// Response is what the fake answers for one command.
type Response struct {
	ExitCode int
	Stdout   string
	Stderr   string
	// Err, when set, is returned as a start failure (e.g. run.ErrNotFound).
	Err error
}

// Fake records every command and answers from Responses, matched by the
// command line's prefix (the longest matching key wins). Unmatched commands
// succeed with empty output unless Strict is set.
type Fake struct {
	mu        sync.Mutex
	Responses map[string]Response
	Strict    bool
	Calls     []run.Cmd
	// Hook, when set, runs for every command before the response is chosen
	// (tests use it to create files the real program would create).
	Hook func(run.Cmd)
	// Respond, when set, answers first; ok=false falls back to Responses.
	Respond func(run.Cmd) (resp Response, ok bool)
}

// Run implements run.Runner.
func (f *Fake) Run(_ context.Context, c run.Cmd) (run.Result, error) {
	f.mu.Lock()
	f.Calls = append(f.Calls, c)
	hook := f.Hook
	line := c.String()
	best, found := "", false
	for k := range f.Responses {
		if strings.HasPrefix(line, k) && len(k) >= len(best) {
			best, found = k, true
		}
	}
	resp := f.Responses[best]
	strict := f.Strict
	f.mu.Unlock()
	if hook != nil {
		hook(c)
	}
	if f.Respond != nil {
		if r, ok := f.Respond(c); ok {
			resp, found = r, true
		}
	}
	if !found && strict {
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
