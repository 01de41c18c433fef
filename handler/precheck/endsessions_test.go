package precheck

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/Azure/aadsshlogin-extension-linux/handler/clock/clocktest"
	"github.com/Azure/aadsshlogin-extension-linux/handler/run"
	"github.com/Azure/aadsshlogin-extension-linux/handler/run/runtest"
	"github.com/Azure/aadsshlogin-extension-linux/handler/sysroot"
)

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// enderRig is a machine with two open sessions: alice (Entra, pid 1002 on
// pts/1) and azureuser (local, pid 1001), both alive in the root's procfs.
type enderRig struct {
	root    string
	clk     *clocktest.Fake
	runner  *runtest.Fake
	notices map[string]*bytes.Buffer
	signals []string
	// onSignal decides whether a signal ends the process.
	onSignal func(sig syscall.Signal) bool
	// onNotice runs after a notice was written (a user who logs out).
	onNotice func()
}

func newEnderRig(t *testing.T) *enderRig {
	r := &enderRig{root: t.TempDir(), clk: clocktest.New(time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)),
		runner: runtest.New(t, nil), notices: map[string]*bytes.Buffer{}}
	for _, p := range []string{"/proc/1/stat", "/proc/1001/stat", "/proc/1002/stat"} {
		r.write(t, p, "x")
	}
	r.write(t, "/var/run/utmp", utmpFile(bootTime, local, upn))
	return r
}

func (r *enderRig) write(t *testing.T, p, data string) {
	t.Helper()
	full := sysroot.Root(r.root).Path(p)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(full, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (r *enderRig) logout(pid int) {
	os.RemoveAll(sysroot.Root(r.root).Path("/proc/" + strconv.Itoa(pid)))
}

func (r *enderRig) ender() SessionEnder {
	return SessionEnder{
		Root: sysroot.Root(r.root), Runner: r.runner, Clock: r.clk, Self: 4242,
		Terminal: func(line string) (io.WriteCloser, error) {
			b := &bytes.Buffer{}
			r.notices[line] = b
			if r.onNotice != nil {
				defer r.onNotice()
			}
			return nopCloser{b}, nil
		},
		Signal: func(pid int, sig syscall.Signal) error {
			r.signals = append(r.signals, strconv.Itoa(pid)+":"+sig.String())
			if r.onSignal != nil && r.onSignal(sig) {
				r.logout(pid)
			}
			return nil
		},
	}
}

func TestSessionEnder(t *testing.T) {
	tests := []struct {
		name        string
		setup       func(t *testing.T, r *enderRig)
		wantSignals []string
		wantLeft    int
		wantSlept   time.Duration
		wantCmds    []string
	}{
		{name: "the user logs out after the notice",
			setup:     func(_ *testing.T, r *enderRig) { r.onNotice = func() { r.logout(1002) } },
			wantSlept: 0},
		{name: "the session ends on SIGHUP after the grace period",
			setup: func(_ *testing.T, r *enderRig) {
				r.onSignal = func(sig syscall.Signal) bool { return sig == syscall.SIGHUP }
			},
			wantSignals: []string{"1002:hangup"}, wantSlept: DefaultGrace},
		{name: "a session ignoring SIGHUP gets SIGTERM",
			setup: func(_ *testing.T, r *enderRig) {
				r.onSignal = func(sig syscall.Signal) bool { return sig == syscall.SIGTERM }
			},
			wantSignals: []string{"1002:hangup", "1002:terminated"}, wantSlept: DefaultGrace + escalation},
		{name: "an unkillable session is reported",
			wantSignals: []string{"1002:hangup", "1002:terminated", "1002:killed"}, wantLeft: 1,
			wantSlept: DefaultGrace + 3*escalation},
		{name: "logind ends the user's sessions",
			setup: func(t *testing.T, r *enderRig) {
				r.write(t, "/run/systemd/system/.keep", "")
				r.runner.Responses["loginctl terminate-user alice@contoso.com"] = runtest.Response{}
				r.runner.Hook = func(c run.Cmd) {
					if c.Path == "loginctl" {
						r.logout(1002)
					}
				}
			},
			wantCmds: []string{"loginctl terminate-user alice@contoso.com"}, wantSlept: DefaultGrace},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newEnderRig(t)
			if tc.setup != nil {
				tc.setup(t, r)
			}
			open, _ := EntraSessions(sysroot.Root(r.root))
			var lines []string
			e := r.ender()
			e.Progress = func(s string) { lines = append(lines, s) }
			left, err := e.End(context.Background(), open)
			if err != nil {
				t.Fatal(err)
			}
			if len(left) != tc.wantLeft {
				t.Errorf("%d sessions left, want %d", len(left), tc.wantLeft)
			}
			if diff := cmp.Diff(tc.wantSignals, r.signals); diff != "" {
				t.Errorf("signals (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantCmds, r.runner.Lines(), cmpEmpty); diff != "" {
				t.Errorf("commands (-want +got):\n%s", diff)
			}
			if got := r.clk.Slept(); got != tc.wantSlept {
				t.Errorf("slept %v, want %v", got, tc.wantSlept)
			}
			if n := r.notices["pts/1"]; n == nil || !strings.Contains(n.String(), "ended in 60 seconds") {
				t.Errorf("no notice on alice's terminal: %v", r.notices)
			}
			if _, ok := r.notices["pts/0"]; ok {
				t.Error("the local user got the notice")
			}
			if len(lines) == 0 || !strings.Contains(lines[0], "alice@contoso.com on pts/1") || !strings.Contains(lines[0], "60 s") {
				t.Errorf("progress %q", lines)
			}
		})
	}
}

var cmpEmpty = cmp.FilterValues(func(a, b []string) bool { return len(a) == 0 && len(b) == 0 }, cmp.Ignore())

// A utmp line is only ever opened as /dev/<terminal name>, and only when it
// is a character device.
func TestOpenTerminal(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "dev/pts"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "dev/pts/3"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	open := OpenTerminal(sysroot.Root(root))
	for _, line := range []string{"../etc/passwd", "pts/../../etc/shadow", "", "pts/3/x", "pts/3"} {
		if w, err := open(line); err == nil {
			w.Close()
			t.Errorf("%q opened", line)
		}
	}
}

// A pid that utmp names but that no longer runs, pid 1 and the handler
// itself are never signalled; without a procfs nothing is.
func TestSignalSafety(t *testing.T) {
	r := newEnderRig(t)
	e := r.ender()
	e.signal([]Session{{User: "a@b", PID: 1}, {User: "a@b", PID: 4242}, {User: "a@b", PID: 5555}, {User: "a@b", PID: 0}}, syscall.SIGKILL)
	if len(r.signals) != 0 {
		t.Errorf("signalled %v", r.signals)
	}
	os.RemoveAll(filepath.Join(r.root, "proc"))
	e.signal([]Session{{User: "a@b", PID: 1002}}, syscall.SIGKILL)
	if len(r.signals) != 0 {
		t.Errorf("signalled without procfs: %v", r.signals)
	}
}
