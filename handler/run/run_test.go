package run

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestExec(t *testing.T) {
	env := map[string]string{"https_proxy": "http://proxy:3128", "SECRET": "x", "no_proxy": "169.254.169.254"}
	x := Exec{Getenv: func(k string) string { return env[k] }}
	ctx := context.Background()
	tests := []struct {
		name       string
		cmd        Cmd
		wantCode   int
		wantStdout string
		wantErr    string
	}{
		{name: "success", cmd: Cmd{Path: "true"}},
		{name: "stdin to stdout", cmd: Cmd{Path: "cat", Stdin: []byte("hello")}, wantStdout: "hello"},
		{name: "exit code", cmd: Cmd{Path: "sh", Args: []string{"-c", "echo oops >&2; exit 7"}}, wantCode: 7, wantErr: "exited with 7: oops"},
		{name: "arguments are not interpreted by a shell", cmd: Cmd{Path: "echo", Args: []string{"$(id)", ";", "`x`"}}, wantStdout: "$(id) ; `x`\n"},
		{name: "not installed", cmd: Cmd{Path: "no-such-program-aadssh"}, wantCode: -1, wantErr: "not found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := x.Run(ctx, tc.cmd)
			if tc.wantErr == "" && err != nil {
				t.Fatal(err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
			if res.ExitCode != tc.wantCode || (tc.wantStdout != "" && string(res.Stdout) != tc.wantStdout) {
				t.Errorf("code %d stdout %q", res.ExitCode, res.Stdout)
			}
		})
	}
	if _, err := x.Run(ctx, Cmd{Path: "no-such-program-aadssh"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing program: %v, want ErrNotFound", err)
	}
}

func TestExecEnvironmentIsMinimal(t *testing.T) {
	env := map[string]string{"https_proxy": "http://proxy:3128", "SECRET": "x", "PATH": "/tmp/evil"}
	x := Exec{Getenv: func(k string) string { return env[k] }}
	res, err := x.Run(context.Background(), Cmd{Path: "env", Env: []string{"DEBIAN_FRONTEND=noninteractive"}})
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSpace(string(res.Stdout)), "\n")
	want := []string{"PATH=" + SafePath, "LANG=C", "LC_ALL=C", "https_proxy=http://proxy:3128", "DEBIAN_FRONTEND=noninteractive"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("child environment (-want +got):\n%s", d)
	}
}

func TestDetachedCommandSurvivesCancellation(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	dir := t.TempDir()
	done := make(chan error, 1)
	go func() {
		_, err := Exec{}.Run(ctx, Cmd{Path: "sh", Args: []string{"-c", "cat /proc/self/stat > " + dir + "/stat; echo $$ > " + dir + "/pid; sleep 0.5; touch " + dir + "/finished"}, Detach: true})
		done <- err
	}()
	for i := 0; i < 200; i++ {
		if b, err := os.ReadFile(dir + "/pid"); err == nil && len(b) > 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want the cancellation reported", err)
	}
	for i := 0; i < 200; i++ {
		if _, err := os.Stat(dir + "/finished"); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := os.Stat(dir + "/finished"); err != nil {
		t.Fatal("cancelling our context interrupted a detached transaction")
	}
	// The child ran in its own session (setsid): cat, its child, reports a
	// session id equal to the shell's pid.
	stat, _ := os.ReadFile(dir + "/stat")
	pid, _ := os.ReadFile(dir + "/pid")
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	// After the command name: state, ppid, pgrp, session.
	if len(fields) < 4 || fields[3] != strings.TrimSpace(string(pid)) {
		t.Errorf("child session %v, want the shell's own (%s)", fields[:min(4, len(fields))], strings.TrimSpace(string(pid)))
	}
}

func TestResultTail(t *testing.T) {
	r := Result{Stdout: []byte("out"), Stderr: []byte("  " + strings.Repeat("x", 10) + "END\n")}
	if got := r.Tail(5); got != "…xxEND" {
		t.Errorf("Tail = %q", got)
	}
	if got := (Result{Stdout: []byte("only stdout")}).Tail(100); got != "only stdout" {
		t.Errorf("Tail = %q", got)
	}
}

func TestDetachedCommandOutlivesOurDeadline(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := Exec{}.Run(ctx, Cmd{Path: "sh", Args: []string{"-c", "sleep 0.6; touch " + dir + "/finished"}, Detach: true})
	var sr *StillRunningError
	if !errors.As(err, &sr) || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "still running") || sr.Pid <= 0 {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(err.Error(), "next run") {
		t.Errorf("promises a next run the agent will not make: %v", err)
	}
	if time.Since(start) > 500*time.Millisecond {
		t.Errorf("Run waited %s past its deadline", time.Since(start))
	}
	for i := 0; i < 200; i++ {
		if _, err := os.Stat(dir + "/finished"); err == nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Error("the detached transaction did not finish on its own")
}
