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
	held := func(t *testing.T, h *harness, dir string) {
		other := state.Dir{Path: dir, Clock: clocktest.Real(), PID: 31337}
		unlock, err := other.Lock(context.Background(), time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(unlock)
	}
	tests := []struct {
		name string
		// verb is the command run ("" = enable).
		verb    string
		setup   func(t *testing.T, h *harness, dir string)
		code    int
		want    []string
		mustNot []string
	}{
		{
			name:    "held by another run",
			setup:   held,
			code:    56,
			want:    []string{"another run of this extension (pid 31337) is still in progress", "az vm extension set"},
			mustNot: []string{"az vm extension delete"},
		},
		{
			// The agent runs disable when the extension is deleted (or
			// updated): setting it again would not finish a deletion.
			name:  "held by another run during a disable",
			verb:  "disable",
			setup: held,
			code:  56,
			want: []string{"another run of this extension (pid 31337) is still in progress",
				"az vm extension delete -g <rg> --vm-name <vm> -n AADSSHLoginForLinux` again if you were deleting the extension",
				"`az vm extension set …` again if you were updating it"},
		},
		{
			name:  "held by another run during an uninstall",
			verb:  "uninstall",
			setup: held,
			code:  56,
			want:  []string{"to finish the removal, set the extension again", "then delete it", "apt-get purge aadsshlogin"},
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
			verb := tc.verb
			if verb == "" {
				verb = "enable"
			}
			if code := h.run(verb); code != tc.code {
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
