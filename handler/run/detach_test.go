package run

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// detachHelperEnv makes the test binary play a handler that starts a
// detached transaction and then dies (see TestDetachedOutlivesCaller).
const detachHelperEnv = "AADSSH_RUN_DETACH_HELPER"

func TestMain(m *testing.M) {
	if marker := os.Getenv(detachHelperEnv); marker != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_, _ = Exec{}.Run(ctx, Cmd{Path: "/bin/sh", Detach: true,
			Args: []string{"-c", "sleep 0.5; echo progress; echo progress >&2; echo finished > " + marker}})
		os.Exit(0) // gone, like a handler the agent SIGKILLed
	}
	os.Exit(m.Run())
}

// A detached transaction must finish although the handler that started it
// is gone: its writes must not end it with SIGPIPE.
func TestDetachedOutlivesCaller(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "marker")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), detachHelperEnv+"="+marker)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("helper: %v: %s", err, out)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if b, err := os.ReadFile(marker); err == nil && strings.TrimSpace(string(b)) == "finished" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the detached command did not finish after its caller exited")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestDetachedOutputAndExitCode(t *testing.T) {
	res, err := Exec{}.Run(context.Background(), Cmd{Path: "/bin/sh", Detach: true,
		Args: []string{"-c", "echo out; echo err >&2; exit 3"}})
	if got, want := string(res.Stdout)+"|"+string(res.Stderr), "out\n|err\n"; got != want {
		t.Errorf("output %q, want %q", got, want)
	}
	if ee, ok := err.(*ExitError); !ok || res.ExitCode != 3 || ee.Result.ExitCode != 3 {
		t.Errorf("err %v, exit %d; want ExitError with 3", err, res.ExitCode)
	}
}
