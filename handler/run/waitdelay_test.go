package run

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// gone reports whether pid no longer runs (absent, or a zombie nobody reaped).
func gone(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	return len(f) > 0 && (f[0] == "Z" || f[0] == "X")
}

func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !gone(pid) {
		if time.Now().After(deadline) {
			_ = killPID(pid)
			t.Fatalf("the orphaned grandchild (pid %d) still runs", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func killPID(pid int) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	return p.Kill()
}

// TestOrphanHoldingStdoutDoesNotOutliveDeadline: a command run without
// detaching leaves `sleep 1000 &` holding its stdout. Without a WaitDelay,
// Wait blocks until the grandchild closes the pipe (1000 s), so the handler
// overruns its deadline; the run must return shortly after the context
// deadline and take the process group with it.
func TestOrphanHoldingStdoutDoesNotOutliveDeadline(t *testing.T) {
	tests := []struct {
		name   string
		script string // prints the grandchild's pid first
		ok     bool   // the command itself exits 0 before the deadline
	}{
		{"command still running at the deadline", "sleep 1000 & echo $!; sleep 1000", false},
		{"command exited, grandchild keeps the pipe", "sleep 1000 & echo $!; echo started", true},
	}
	const deadline = 300 * time.Millisecond
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), deadline)
			defer cancel()
			type outcome struct {
				res Result
				err error
			}
			done := make(chan outcome, 1)
			start := time.Now()
			go func() {
				res, err := Exec{}.Run(ctx, Cmd{Path: "/bin/sh", Args: []string{"-c", tc.script}})
				done <- outcome{res, err}
			}()
			var o outcome
			select {
			case o = <-done:
			case <-time.After(deadline + 5*time.Second):
				t.Fatalf("Run did not return %s after the context deadline", 2*time.Second+3*time.Second)
			}
			took := time.Since(start)
			pid, perr := strconv.Atoi(strings.Fields(string(o.res.Stdout) + " x")[0])
			if perr != nil {
				t.Fatalf("no grandchild pid in stdout %q (err %v)", o.res.Stdout, o.err)
			}
			t.Logf("returned after %s: err=%v, stdout %q", took.Round(time.Millisecond), o.err, o.res.Stdout)
			waitGone(t, pid)
			if tc.ok && (o.err != nil || !strings.Contains(string(o.res.Stdout), "started")) {
				t.Errorf("a command that exited 0 reports err=%v, stdout %q", o.err, o.res.Stdout)
			}
			if !tc.ok && o.err == nil {
				t.Error("a command killed at the deadline reports success")
			}
		})
	}
}
