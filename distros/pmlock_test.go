package distros

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/Azure/aadsshlogin-extension-linux/distros/internal/fixture"
	"github.com/Azure/aadsshlogin-extension-linux/distros/repo"
	"github.com/Azure/aadsshlogin-extension-linux/handler/clock/clocktest"
	"github.com/Azure/aadsshlogin-extension-linux/handler/failure"
	"github.com/Azure/aadsshlogin-extension-linux/handler/run"
	"github.com/Azure/aadsshlogin-extension-linux/handler/run/runtest"
)

// lockedOnce makes the first `times` runs of commands starting with
// prefix fail as the manager does when another process took its lock.
func lockedOnce(h *harness, prefix string, times int, resp runtest.Response) {
	n := 0
	prev := h.fake.Respond
	h.fake.Respond = func(c run.Cmd) (runtest.Response, bool) {
		if strings.HasPrefix(stripNative(c).String(), prefix) && n < times {
			n++
			return resp, true
		}
		if prev != nil {
			return prev(c)
		}
		return runtest.Response{}, false
	}
}

// stripNative removes the lock-wait option apt gets, so expectations can
// name commands as the backends build them.
func stripNative(c run.Cmd) run.Cmd {
	if n := len(c.Args); n > 2 && c.Args[n-2] == "-o" && strings.HasPrefix(c.Args[n-1], "DPkg::Lock::Timeout=") {
		c.Args = c.Args[:n-2]
	}
	return c
}

// withBudget gives Ensure a deadline of d on a fake clock starting now.
func withBudget(t *testing.T, h *harness, d time.Duration) (context.Context, *clocktest.Fake) {
	start := time.Now()
	clk := clocktest.New(start)
	h.in.Clock = clk
	ctx, cancel := context.WithDeadline(context.Background(), start.Add(d))
	t.Cleanup(cancel)
	return ctx, clk
}

const aptLockedMsg = "E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 812 (unattended-upgr)\nE: Unable to acquire the dpkg frontend lock (/var/lib/dpkg/lock-frontend), is another process using it?\n"

// Every package-manager step, not only the first, survives a lock taken
// just before it: the step is run again after the holder let go.
func TestEnsureLockTakenBetweenSteps(t *testing.T) {
	tests := []struct {
		name, osFile, prefix string
		setup                func(h *harness) // beyond the manager's defaults
		locked               runtest.Response
		native               func(c run.Cmd) bool // the manager's own wait, on every locking command
	}{
		{
			name: "apt 2.x install", osFile: "debian-12", prefix: "apt-get install",
			locked: runtest.Response{ExitCode: 100, Stderr: aptLockedMsg},
			native: func(c run.Cmd) bool {
				return c.Path != "apt-get" || strings.HasPrefix(c.Args[len(c.Args)-1], "DPkg::Lock::Timeout=")
			},
		},
		{name: "apt 2.x update", osFile: "ubuntu-22.04", prefix: "apt-get update",
			locked: runtest.Response{ExitCode: 100, Stderr: "E: Could not get lock /var/lib/apt/lists/lock. It is held by process 901 (apt-get)\n"}},
		{
			name: "apt 1.8 (Debian 10) has no lock timeout: own retry", osFile: "debian-10", prefix: "apt-get install",
			locked: runtest.Response{ExitCode: 100, Stderr: "E: Could not get lock /var/lib/dpkg/lock-frontend - open (11: Resource temporarily unavailable)\n"},
			native: func(c run.Cmd) bool {
				return !slices.ContainsFunc(c.Args, func(a string) bool { return strings.Contains(a, "Lock::Timeout") })
			},
		},
		{name: "dnf rpm lock", osFile: "rhel-9.4", prefix: "dnf -y install",
			locked: runtest.Response{ExitCode: 1, Stderr: "error: can't create transaction lock on /var/lib/rpm/.rpm.lock (Resource temporarily unavailable)\n"}},
		{name: "dnf makecache", osFile: "rhel-9.4", prefix: "dnf -y --refresh",
			locked: runtest.Response{ExitCode: 1, Stdout: "Waiting for process with pid 1234 to finish.\n"}},
		{name: "rpm --import", osFile: "rhel-9.4", prefix: "rpm --import",
			locked: runtest.Response{ExitCode: 1, Stderr: "error: can't create transaction lock on /var/lib/rpm/.rpm.lock (Resource temporarily unavailable)\n"}},
		{name: "yum", osFile: "rhel-7.9", prefix: "yum -y install",
			locked: runtest.Response{ExitCode: 1, Stderr: "Existing lock /var/run/yum.pid: another copy is running as pid 777.\n"}},
		{name: "tdnf", osFile: "mariner-2.0", prefix: "tdnf -y install",
			locked: runtest.Response{ExitCode: 1, Stderr: "waiting for tdnf_instance lock on /var/run/.tdnf-instance-lockfile\n"}},
		{
			name: "zypper exit 7", osFile: "sles-15.6", prefix: "zypper --non-interactive refresh",
			setup: func(h *harness) {
				h.on("zypper", runtest.Response{})
				h.on(zypperSearch, runtest.Response{Stdout: "S | Name | Type | Version | Arch | Repository\n  | aadsshlogin | package | 1.0.034210009-1 | x86_64 | packages-microsoft-com-prod\n"})
			},
			locked: runtest.Response{ExitCode: 7, Stderr: "System management is locked by the application with pid 4242 (zypper).\nClose this application before trying again.\n"},
			native: func(c run.Cmd) bool {
				return c.Path != "zypper" || slices.ContainsFunc(c.Env, func(e string) bool { return strings.HasPrefix(e, "ZYPP_LOCK_TIMEOUT=") })
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newDefaultHarness(t, tt.osFile, tt.setup)
			h.installs()
			lockedOnce(h, tt.prefix, 2, tt.locked)
			ctx, clk := withBudget(t, h, 270*time.Second)
			res, err := h.in.Ensure(ctx)
			if err != nil {
				t.Fatalf("Ensure: %v (code %d)", err, failure.CodeOf(err))
			}
			if res.Installed[pkgMain] == "" {
				t.Errorf("not installed: %v", res.Installed)
			}
			n := 0
			for _, c := range h.fake.Calls {
				if strings.HasPrefix(stripNative(c).String(), tt.prefix) {
					n++
				}
				if tt.native != nil && takesLock(c) && !tt.native(c) {
					t.Errorf("%s (env %v): the manager's own lock wait is wrong", c, c.Env)
				}
			}
			if n != 3 {
				t.Errorf("%q ran %d times, want 3 (twice locked, then through)", tt.prefix, n)
			}
			if clk.Slept() != 2*lockRetryPause {
				t.Errorf("slept %v, want %v", clk.Slept(), 2*lockRetryPause)
			}
			if !slices.ContainsFunc(h.progress, func(s string) bool { return strings.Contains(s, "took its lock before") }) {
				t.Errorf("no progress line about the lock: %q", h.progress)
			}
		})
	}
}

// A lock that is never released is 56 naming the holder, never 52.
func TestEnsureLockNeverReleased(t *testing.T) {
	tests := []struct {
		name, osFile, prefix, holder string
		setup                        func(h *harness) // beyond the manager's defaults
		locked                       runtest.Response
	}{
		{"apt", "debian-12", "apt-get install", "unattended-upgr (pid 812)", nil, runtest.Response{ExitCode: 100, Stderr: aptLockedMsg}},
		{"dnf waiting killed at the deadline", "rhel-9.4", "dnf -y install", "pid 1234", nil,
			runtest.Response{ExitCode: -1, Stdout: "Waiting for process with pid 1234 to finish.\n"}},
		{"zypper", "sles-15.6", "zypper --non-interactive refresh", "zypper (pid 4242)", func(h *harness) { h.on("zypper", runtest.Response{}) },
			runtest.Response{ExitCode: 7, Stderr: "System management is locked by the application with pid 4242 (zypper).\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newDefaultHarness(t, tt.osFile, tt.setup)
			lockedOnce(h, tt.prefix, 1<<30, tt.locked)
			ctx, _ := withBudget(t, h, 270*time.Second)
			_, err := h.in.Ensure(ctx)
			if failure.CodeOf(err) != failure.PackageManagerBusy {
				t.Fatalf("code %d, want 56: %v", failure.CodeOf(err), err)
			}
			if !strings.Contains(err.Error(), tt.holder) {
				t.Errorf("message does not name %q: %v", tt.holder, err)
			}
		})
	}
}

func TestLockFailure(t *testing.T) {
	tests := []struct {
		path, out  string
		code       int
		wantHolder string
		wantLock   bool
	}{
		{"apt-get", aptLockedMsg, 100, "unattended-upgr (pid 812)", true},
		{"apt-get", "E: Could not get lock /var/lib/dpkg/lock - open (11: Resource temporarily unavailable)", 100, "", true},
		{"apt-get", "E: Unable to lock directory /var/lib/apt/lists/", 100, "", true},
		{"dpkg", "dpkg: error: dpkg frontend lock was locked by another process with pid 77", 2, "pid 77", true},
		{"dpkg", "dpkg: error: dpkg status database is locked by another process", 2, "", true},
		{"zypper", "System management is locked by the application with pid 4242 (zypper).", 7, "zypper (pid 4242)", true},
		{"zypper", "", 7, "", true},
		{"zypper", "", 104, "", false},
		{"dnf", "Waiting for process with pid 1234 to finish.", 1, "pid 1234", true},
		{"dnf", "error: can't create transaction lock on /var/lib/rpm/.rpm.lock (Resource temporarily unavailable)", 1, "", true},
		{"yum", "Existing lock /var/run/yum.pid: another copy is running as pid 777.", 1, "pid 777", true},
		{"yum", "Another app is currently holding the yum lock; waiting for it to exit...", 1, "", true},
		{"tdnf", "waiting for tdnf_instance lock on /var/run/.tdnf-instance-lockfile", 1, "", true},
		{"apt-get", "E: Unable to locate package aadsshlogin", 100, "", false},
		{"dnf", "Error: Failed to download metadata for repo", 1, "", false},
	}
	for _, tt := range tests {
		holder, ok := lockFailure(run.Cmd{Path: tt.path}, run.Result{ExitCode: tt.code, Stderr: []byte(tt.out)})
		if diff := cmp.Diff([]any{tt.wantHolder, tt.wantLock}, []any{holder, ok}); diff != "" {
			t.Errorf("%s %q (-want +got):\n%s", tt.path, tt.out, diff)
		}
	}
}

func FuzzLockFailure(f *testing.F) {
	f.Add("apt-get", aptLockedMsg, 100)
	f.Add("zypper", "locked by the application with pid 1 (", 7)
	f.Fuzz(func(t *testing.T, path, out string, code int) {
		holder, ok := lockFailure(run.Cmd{Path: path}, run.Result{ExitCode: code, Stdout: []byte(out)})
		if holder != "" && !ok {
			t.Errorf("holder %q without a lock failure", holder)
		}
		if holder != "" && !strings.Contains(holder, "pid ") {
			t.Errorf("holder %q names no pid", holder)
		}
	})
}

func TestAptHasLockTimeout(t *testing.T) {
	want := map[string]bool{"debian-9": false, "debian-10": false, "debian-11": true, "debian-12": true,
		"ubuntu-16.04": false, "ubuntu-18.04": false, "ubuntu-20.04": true, "ubuntu-24.04": true, "rhel-9.4": false}
	got := map[string]bool{}
	for name := range want {
		got[name] = aptHasLockTimeout(fixture.Release(t, name))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// sleepHook is a fake clock that runs fn on every Sleep (a process
// finishing while the handler waits).
type sleepHook struct {
	*clocktest.Fake
	fn func()
}

func (s sleepHook) Sleep(ctx context.Context, d time.Duration) error {
	s.fn()
	return s.Fake.Sleep(ctx, d)
}

// The budget ends while apt-get install runs detached: the repository
// stays for the running transaction, the status says what runs and what
// the user does, and the next enable waits for it and converges.
func TestEnsureDeadlineInDetachedTransaction(t *testing.T) {
	h := newHarness(t, "debian-12", repo.Source{})
	h.aptDefaults()
	running := &run.StillRunningError{Cmd: run.Cmd{Path: "apt-get"}, Pid: 4321, Err: context.DeadlineExceeded}
	h.on("apt-get install", runtest.Response{Err: running})
	fixture.WriteFile(t, h.root.Path("/proc/4321/cmdline"), "apt-get\x00install\x00-y\x00")
	ctx, _ := withBudget(t, h, 270*time.Second)
	_, err := h.in.Ensure(ctx)
	if failure.CodeOf(err) != failure.PackageManagerBusy {
		t.Fatalf("code %d, want 56: %v", failure.CodeOf(err), err)
	}
	msg := failure.Message(err)
	for _, want := range []string{"still running", "pid 4321", "finishes on its own", "az vm extension set"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q: %s", want, msg)
		}
	}
	if strings.Contains(msg, "next run") || strings.Contains(msg, "will retry") {
		t.Errorf("message promises a retry the agent will not make: %s", msg)
	}
	if !h.root.Exists(aptListPath) || !h.root.Exists(aptKeyringPath) {
		t.Error("repository files removed under the running transaction")
	}

	// Next enable: the transaction still runs for one poll, then ends
	// (its package is installed); Ensure waits for it and converges.
	h.fake.Calls = nil
	delete(h.fake.Responses, "apt-get install")
	h.on(dpkgQueryMain, runtest.Response{Stdout: "aadsshlogin\tinstall ok installed\t1.0.034210009\n"})
	h.on("apt-cache policy aadsshlogin", runtest.Response{Stdout: "aadsshlogin:\n  Installed: 1.0.034210009\n  Candidate: 1.0.034210009\n"})
	h.progress = nil
	ctx, clk := withBudget(t, h, 270*time.Second)
	h.in.Clock = sleepHook{clk, func() { os.RemoveAll(h.root.Path("/proc/4321")) }}
	res, err := h.in.Ensure(ctx)
	if err != nil {
		t.Fatalf("next Ensure: %v", err)
	}
	if res.Installed[pkgMain] != "1.0.034210009" {
		t.Errorf("Installed = %v", res.Installed)
	}
	if !slices.ContainsFunc(h.progress, func(s string) bool { return strings.Contains(s, "pid 4321") }) {
		t.Errorf("no progress line names the running transaction: %q", h.progress)
	}
	if clk.Slept() == 0 {
		t.Error("did not wait for the running transaction")
	}
	if st, _ := h.in.loadState(); st.Running != nil {
		t.Errorf("running transaction still recorded: %+v", st.Running)
	}
	for _, l := range h.fake.Lines() {
		if strings.HasPrefix(l, "apt-get install") {
			t.Errorf("installed again: %s", l)
		}
	}
	if !h.root.Exists(aptListPath) {
		t.Error("repository file gone")
	}
}

// A transaction of ours still running through the whole next budget is
// again 56 naming it.
func TestEnsureOwnTransactionStillRunning(t *testing.T) {
	h := newHarness(t, "rhel-9.4", repo.Source{})
	h.rpmDefaults("dnf")
	if err := h.in.saveState(repoState{Running: &runningTx{Pid: 999, Program: "dnf", Cmd: "dnf -y install aadsshlogin"}}); err != nil {
		t.Fatal(err)
	}
	fixture.WriteFile(t, h.root.Path("/proc/999/cmdline"), "/usr/bin/python3\x00/usr/bin/dnf\x00-y\x00install\x00aadsshlogin\x00")
	ctx, _ := withBudget(t, h, 270*time.Second)
	_, err := h.in.Ensure(ctx)
	if failure.CodeOf(err) != failure.PackageManagerBusy || !strings.Contains(err.Error(), "pid 999") {
		t.Fatalf("err = %v (code %d), want 56 naming pid 999", err, failure.CodeOf(err))
	}
	if len(h.fake.Calls) != 0 {
		t.Errorf("ran %q while our transaction runs", h.fake.Lines())
	}
	// A recycled pid (another program) is not ours: no wait.
	fixture.WriteFile(t, h.root.Path("/proc/999/cmdline"), "/usr/sbin/sshd\x00-D\x00")
	if !h.in.ownTransactionGone(runningTx{Pid: 999, Program: "dnf"}) {
		t.Error("a recycled pid was taken for our transaction")
	}
}
