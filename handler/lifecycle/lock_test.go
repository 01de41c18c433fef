package lifecycle

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/aadsshlogin-extension-linux/handler/clock/clocktest"
	"github.com/Azure/aadsshlogin-extension-linux/handler/state"
	"github.com/Azure/aadsshlogin-extension-linux/handler/sysroot"
)

// TestLockFailuresSayWhatFailed: only a lock actually held by another run is
// 56 "another run … is still in progress"; failing to create, open or lock
// the file is a machine problem (52) whose message names what failed.
func TestLockFailuresSayWhatFailed(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(t *testing.T, h *harness, dir string)
		code    int
		want    []string
		mustNot []string
	}{
		{
			name: "held by another run",
			setup: func(t *testing.T, h *harness, dir string) {
				other := state.Dir{Path: dir, Clock: clocktest.Real(), PID: 31337}
				unlock, err := other.Lock(context.Background(), time.Second)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(unlock)
			},
			code: 56,
			want: []string{"another run of this extension (pid 31337) is still in progress"},
		},
		{
			name: "state folder cannot be created",
			setup: func(t *testing.T, h *harness, dir string) {
				h.write(dir, "a file where the state folder belongs\n")
			},
			code:    52,
			want:    []string{"cannot create the handler's state folder", state.DefaultDir, "not a directory"},
			mustNot: []string{"another run"},
		},
		{
			name: "lock file cannot be opened",
			setup: func(t *testing.T, h *harness, dir string) {
				if err := os.MkdirAll(filepath.Join(dir, "lock"), 0o700); err != nil {
					t.Fatal(err)
				}
			},
			code:    52,
			want:    []string{"cannot open the handler's lock file", state.DefaultDir + "/lock", "is a directory"},
			mustNot: []string{"another run"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			dir := sysroot.Root(h.root).Path(state.DefaultDir)
			tc.setup(t, h, dir)
			if code := h.run("enable"); code != tc.code {
				t.Fatalf("exit %d, want %d; stderr: %s", code, tc.code, h.stderr.String())
			}
			t.Logf("stderr: %s", h.stderr.String())
			st := h.status(0)
			for _, w := range tc.want {
				for what, text := range map[string]string{"status": st.Message, "stderr": h.stderr.String()} {
					if !strings.Contains(text, w) {
						t.Errorf("%s lacks %q: %s", what, w, text)
					}
				}
			}
			for _, w := range tc.mustNot {
				if strings.Contains(st.Message, w) {
					t.Errorf("status says %q: %s", w, st.Message)
				}
			}
		})
	}
}

func TestLockFailureHint(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{&os.PathError{Op: "open", Path: "/var/lib/aadsshlogin-extension/lock", Err: syscall.EROFS}, "read-only"},
		{&os.PathError{Op: "open", Path: "/var/lib/aadsshlogin-extension/lock", Err: syscall.ENOSPC}, "df -h /var/lib"},
		{&os.PathError{Op: "open", Path: "/var/lib/aadsshlogin-extension/lock", Err: syscall.EDQUOT}, "quota"},
		{&os.PathError{Op: "mkdir", Path: "/var/lib/aadsshlogin-extension", Err: syscall.ENOTDIR}, "writable folder"},
	}
	for _, tc := range tests {
		if got := lockFailureHint(tc.err); !strings.Contains(got, tc.want) {
			t.Errorf("lockFailureHint(%v) = %q, want it to mention %q", tc.err, got, tc.want)
		}
	}
}
