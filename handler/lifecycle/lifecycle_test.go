package lifecycle

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/Azure/aadsshlogin-extension-linux/handler/agent"
	"github.com/Azure/aadsshlogin-extension-linux/handler/precheck"
	"github.com/Azure/aadsshlogin-extension-linux/handler/run"
	"github.com/Azure/aadsshlogin-extension-linux/handler/run/runtest"
	"github.com/Azure/aadsshlogin-extension-linux/handler/state"
	"github.com/Azure/aadsshlogin-extension-linux/handler/sysroot"
)

func TestUsageAndVersion(t *testing.T) {
	h := newHarness(t)
	tests := []struct {
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{args: []string{"h"}, wantCode: 2, wantStderr: "usage:"},
		{args: []string{"h", "frobnicate"}, wantCode: 2, wantStderr: `unknown command "frobnicate"`},
		{args: []string{"h", "version"}, wantCode: 0, wantStdout: HandlerName + " 1.0.0.1"},
	}
	for _, tc := range tests {
		h.stdout.Reset()
		h.stderr.Reset()
		code := Main(tc.args, h.deps())
		if code != tc.wantCode || !strings.Contains(h.stdout.String(), tc.wantStdout) || !strings.Contains(h.stderr.String(), tc.wantStderr) {
			t.Errorf("%v: code %d stdout %q stderr %q", tc.args, code, h.stdout.String(), h.stderr.String())
		}
	}
}

func TestBrokenAgentEnvironment(t *testing.T) {
	tests := []struct {
		name  string
		setup func(h *harness)
		want  string
	}{
		{name: "missing", setup: func(h *harness) {
			os.Remove(filepath.Join(h.base, agent.EnvironmentFile))
		}, want: "HandlerEnvironment.json not found"},
		{name: "corrupt", setup: func(h *harness) {
			h.write(filepath.Join(h.base, agent.EnvironmentFile), `[{"handlerEnvironment":`)
		}, want: "not valid JSON"},
		{name: "bad sequence number", setup: func(h *harness) { h.env["ConfigSequenceNumber"] = "x" }, want: "sequence number"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			tc.setup(h)
			if code := h.run("enable"); code != 81 {
				t.Fatalf("exit %d, want 81; stderr %q", code, h.stderr.String())
			}
			if !strings.Contains(h.stderr.String(), tc.want) || strings.Count(strings.TrimSpace(h.stderr.String()), "\n") != 0 {
				t.Errorf("stderr %q: want one line containing %q", h.stderr.String(), tc.want)
			}
		})
	}
}

// utmpRecord encodes one glibc x86_64 utmp record (384 bytes).
func utmpRecord(typ int16, pid int32, line, user, host string) []byte {
	b := make([]byte, 384)
	binary.LittleEndian.PutUint16(b[0:], uint16(typ))
	binary.LittleEndian.PutUint32(b[4:], uint32(pid))
	copy(b[8:40], line)
	copy(b[44:76], user)
	copy(b[76:332], host)
	return b
}

func TestEnableFailures(t *testing.T) {
	tests := []struct {
		name  string
		setup func(h *harness)
		want  statusView
		// wantIn are substrings of the status message.
		wantIn []string
	}{
		{name: "no system identity", setup: func(h *harness) { h.ident = "missing" },
			want:   statusView{Operation: "Enable", Status: "transitioning", Code: 22},
			wantIn: []string{"az vm identity assign -g rg1 -n vm1", "then run `az vm extension set -n AADSSHLoginForLinux --publisher Microsoft.Azure.ActiveDirectory -g rg1 --vm-name vm1` again"}},
		{name: "user-assigned only", setup: func(h *harness) { h.ident = "user-assigned" },
			want:   statusView{Operation: "Enable", Status: "transitioning", Code: 22},
			wantIn: []string{"user-assigned"}},
		{name: "IMDS failing", setup: func(h *harness) { h.ident = "error500" },
			want: statusView{Operation: "Enable", Status: "error", Code: 52}},
		{name: "unsupported distribution", setup: func(h *harness) {
			h.file("/etc/os-release", "NAME=Fedora Linux\nID=fedora\nVERSION_ID=40\nPRETTY_NAME=\"Fedora Linux 40 (Server Edition)\"\n")
		}, want: statusView{Operation: "Enable", Status: "error", Code: 51}, wantIn: []string{"Fedora Linux 40"}},
		{name: "no os-release", setup: func(h *harness) { os.Remove(sysroot.Root(h.root).Path("/etc/os-release")) },
			want: statusView{Operation: "Enable", Status: "error", Code: 51}},
		{name: "legacy extension folder", setup: func(h *harness) {
			h.file("/var/lib/waagent/Microsoft.Azure.ActiveDirectory.LinuxSSH.AADLoginForLinux-1.0.0.1/HandlerManifest.json", "[]")
		}, want: statusView{Operation: "Enable", Status: "transitioning", Code: 23}, wantIn: []string{"AADLoginForLinux", "rg1"}},
		{name: "low memory", setup: func(h *harness) { h.file("/proc/meminfo", "MemTotal:  500000 kB\n") },
			want: statusView{Operation: "Enable", Status: "error", Code: 54}},
		{name: "unknown setting", setup: func(h *harness) { h.settings(0, `{"mirrror":{}}`) },
			want: statusView{Operation: "Enable", Status: "error", Code: 53}, wantIn: []string{"public settings are invalid"}},
		{name: "corrupt settings file", setup: func(h *harness) {
			h.write(filepath.Join(h.base, "config", "0.settings"), `{"runtimeSettings":[`)
		}, want: statusView{Operation: "Enable", Status: "error", Code: 53}},
		{name: "insecure mirror", setup: func(h *harness) {
			h.settings(0, `{"mirror":{"url":"http://mirror.example.com","publicKey":"-----BEGIN PGP PUBLIC KEY BLOCK-----"}}`)
		}, want: statusView{Operation: "Enable", Status: "error", Code: 53}, wantIn: []string{"https"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			tc.setup(h)
			h.runExpect("enable", 0, tc.want, tc.wantIn...)
			line := strings.TrimSpace(h.stderr.String())
			if !strings.HasPrefix(line, "Enable failed (exit ") || strings.Contains(line, "\n") {
				t.Errorf("stderr is not one reason line: %q", h.stderr.String())
			}
			if _, ok := agent.MRSeqIn(h.base).Load(); ok {
				t.Error("a failed enable recorded mrseq")
			}
		})
	}
}

func TestDisableKeepsPackages(t *testing.T) {
	h := newHarness(t)
	if code := h.run("disable"); code != 0 {
		t.Fatalf("exit %d: %s", code, h.stderr.String())
	}
	got := h.status(0)
	if got.Status != "success" || !strings.Contains(got.Message, "keeps working") {
		t.Errorf("status %+v", got)
	}
	if len(h.runner.Calls) != 0 {
		t.Errorf("disable ran commands: %v", h.runner.Lines())
	}
}

func TestUpdateProtectsPackagesFromOldUninstall(t *testing.T) {
	h := newHarness(t)
	h.mustUpdate("1.0.0.1", "1.0.0.2")
	// The old version's uninstall runs next.
	h.version = "1.0.0.1"
	if code := h.run("uninstall"); code != 0 {
		t.Fatalf("old uninstall exit %d: %s", code, h.stderr.String())
	}
	if len(h.runner.Calls) != 0 {
		t.Fatalf("old uninstall ran commands during an update: %v", h.runner.Lines())
	}
	if got := h.status(0); !strings.Contains(got.Message, "stay installed") {
		t.Errorf("uninstall status %+v", got)
	}
	st := state.Dir{Path: sysroot.Root(h.root).Path(state.DefaultDir), Clock: h.clk, Boot: state.BootID(sysroot.Root(h.root))}
	if m, ok := st.ActiveUpdate("1.0.0.1"); !ok || m.From != "1.0.0.1" || m.To != "1.0.0.2" {
		t.Errorf("marker %+v %v", m, ok)
	}
	info, err := os.Stat(st.Path)
	if err != nil || info.Mode().Perm() != 0o700 {
		t.Errorf("state folder mode %v %v", info.Mode(), err)
	}
}

// entraSession logs alice@contoso.com in on pts/0 with a live process
// (pid) in the sandbox's procfs, next to a local user.
func entraSession(h *harness, pid int) {
	utmp := append(utmpRecord(7, int32(pid), "pts/0", "alice@contoso.com", "10.0.0.4"),
		utmpRecord(7, int32(pid+1), "pts/1", "azureuser", "10.0.0.5")...)
	h.write(sysroot.Root(h.root).Path("/var/run/utmp"), string(utmp))
	for _, p := range []int{1, pid, pid + 1} {
		h.write(sysroot.Root(h.root).Path("/proc/"+strconv.Itoa(p)+"/stat"), "x")
	}
}

// Removing the extension removes Entra sign-in: logged-in Entra users are
// told on their terminal, get the grace period, then their sessions end and
// the packages are removed.
func TestUninstallEndsEntraSessions(t *testing.T) {
	h := newHarness(t)
	fakeDebian(h)
	h.mustRun("install", "enable")
	entraSession(h, 7000)
	notices := map[string]*strings.Builder{}
	var signals []string
	d := h.deps()
	d.Terminal = func(line string) (io.WriteCloser, error) {
		b := &strings.Builder{}
		notices[line] = b
		return nopWriteCloser{b}, nil
	}
	d.Signal = func(pid int, sig syscall.Signal) error {
		signals = append(signals, fmt.Sprintf("%d:%v", pid, sig))
		os.RemoveAll(sysroot.Root(h.root).Path("/proc/" + strconv.Itoa(pid)))
		return nil
	}
	slept := h.clk.Slept()
	if code := Main([]string{"h", "uninstall"}, d); code != 0 {
		t.Fatalf("uninstall exit %d: %s", code, h.stderr.String())
	}
	if diff := cmp.Diff([]string{"7000:hangup"}, signals); diff != "" {
		t.Errorf("signals (-want +got):\n%s", diff)
	}
	if n := notices["pts/0"]; n == nil || !strings.Contains(n.String(), "Entra ID sign-in is being removed") {
		t.Errorf("notices %v", notices)
	}
	if _, ok := notices["pts/1"]; ok {
		t.Error("the local user was notified")
	}
	if got := h.clk.Slept() - slept; got < precheck.DefaultGrace || got > precheck.DefaultGrace+30*time.Second {
		t.Errorf("waited %v, want the %v grace period", got, precheck.DefaultGrace)
	}
	got := h.status(0)
	if got.Status != "success" || !strings.Contains(got.Message, "sign-in was removed") || !strings.Contains(got.Message, "1 Microsoft Entra user session(s) were told") {
		t.Errorf("status %+v", got)
	}
	if h.root != "" && sysroot.Root(h.root).Exists(certHandler) {
		t.Error("the packages were not removed")
	}
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

// An uninstall that cannot finish (a session that cannot be ended, a
// removal-script or lock error) says what it left behind, records a pending
// removal, and the next install cleans it up.
func TestFailedUninstallIsFinishedByNextInstall(t *testing.T) {
	tests := []struct {
		name     string
		setup    func(h *harness)
		wantCode int
		wantIn   []string
	}{
		{name: "unkillable Entra session", setup: func(h *harness) { entraSession(h, 7000) }, wantCode: 55,
			wantIn: []string{"alice@contoso.com on pts/0", "could not be ended", "aaduserdel"}},
		{name: "removal script error", setup: func(h *harness) { h.purgeFails = "dpkg: error: prerm failed\n" }, wantCode: 52,
			wantIn: []string{"prerm failed"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			fakeDebian(h)
			h.mustRun("install", "enable")
			tc.setup(h)
			d := h.deps()
			d.Signal = func(int, syscall.Signal) error { return nil } // nothing ends
			if code := Main([]string{"h", "uninstall"}, d); code != tc.wantCode {
				t.Fatalf("uninstall exit %d, want %d: %s", code, tc.wantCode, h.stderr.String())
			}
			got := h.status(0)
			for _, w := range append(tc.wantIn, "left behind: aadsshlogin 1.0.030000001 (Microsoft Entra ID sign-in still works)", "az vm extension set", "az vm extension delete") {
				if !strings.Contains(got.Message, w) {
					t.Errorf("message lacks %q: %s", w, got.Message)
				}
			}
			st := state.Dir{Path: sysroot.Root(h.root).Path(state.DefaultDir)}
			if p, ok := st.PendingRemoval(); !ok || p.Code != tc.wantCode {
				t.Fatalf("pending removal %+v %v", p, ok)
			}
			// The agent deleted the folder; the user sets the extension again.
			os.Remove(sysroot.Root(h.root).Path("/var/run/utmp"))
			h.purgeFails = ""
			h.settings(1, `{}`)
			h.env["ConfigSequenceNumber"] = "1"
			h.mustRun("install", "enable")
			if got := h.status(1); got.Status != "success" || !strings.Contains(got.Message, "unfinished removal") {
				t.Errorf("enable status %+v", got)
			}
			if _, ok := st.PendingRemoval(); ok {
				t.Error("the pending removal is still recorded")
			}
			if code := h.run("uninstall"); code != 0 {
				t.Fatalf("second uninstall exit %d: %s", code, h.stderr.String())
			}
		})
	}
}

func TestEnableFastPathTouchesNothing(t *testing.T) {
	h := newHarness(t)
	if err := agent.MRSeqIn(h.base).Store(0); err != nil {
		t.Fatal(err)
	}
	st := state.Dir{Path: sysroot.Root(h.root).Path(state.DefaultDir), Clock: h.clk}
	if err := st.WriteRecord(state.Record{Version: h.version, Seq: 0}); err != nil {
		t.Fatal(err)
	}
	w := agent.StatusWriter{Folder: filepath.Join(h.base, "status")}
	if err := w.Write(0, agent.Report{Operation: "Enable", Status: agent.Success, Message: "ready"}); err != nil {
		t.Fatal(err)
	}
	h.file(certHandler, "#!/bin/sh\n")
	h.imds.Close() // any IMDS call would now fail
	if code := h.run("enable"); code != 0 {
		t.Fatalf("exit %d: %s", code, h.stderr.String())
	}
	if len(h.runner.Calls) != 0 {
		t.Errorf("fast path ran commands: %v", h.runner.Lines())
	}
	if got := h.status(0); got.Operation != "Enable" || got.Status != "success" || !strings.Contains(got.Message, "ready") {
		t.Errorf("fast path status: %+v", got)
	}
	// Without the packages in place the fast path is not taken.
	os.Remove(sysroot.Root(h.root).Path(certHandler))
	if code := h.run("enable"); code == 0 {
		t.Error("enable succeeded without IMDS although the packages are gone")
	}
}

// fakeDebian plays apt and dpkg on the sandboxed machine: aadsshlogin is
// available from the repository and, once installed, wires itself in.
func fakeDebian(h *harness) {
	installed := map[string]string{}
	h.runner.Respond = func(c run.Cmd) (runtest.Response, bool) {
		line := c.String()
		switch {
		case c.Path == "dpkg" && line == "dpkg --print-architecture":
			return runtest.Response{Stdout: "amd64\n"}, true
		case c.Path == "apt-cache" && strings.Contains(line, "policy aadsshlogin"):
			return runtest.Response{Stdout: "aadsshlogin:\n  Installed: " + orNone(installed["aadsshlogin"]) + "\n  Candidate: 1.0.030000001\n"}, true
		case c.Path == "apt-get" && len(c.Args) > 0 && c.Args[0] == "update":
			return runtest.Response{}, true
		// Only aadsshlogin: installing anything else (aadsshlogin-selinux
		// on this machine without SELinux) is a branch no test scripted.
		case c.Path == "apt-get" && len(c.Args) > 0 && c.Args[0] == "install" && slices.Contains(c.Args, "aadsshlogin"):
			installed["aadsshlogin"] = "1.0.030000001"
			h.file("/etc/nsswitch.conf", "passwd: files aad\ngroup: files aad\n")
			h.file("/etc/pam.d/common-auth", "auth optional pam_aad.so\n")
			h.file("/etc/ssh/sshd_config", "Match User *@*\n  AuthorizedKeysCommand /usr/sbin/aad_certhandler %u %k\n")
			h.file(certHandler, "#!/bin/sh\n")
			return runtest.Response{}, true
		case c.Path == "apt-get" && len(c.Args) > 0 && c.Args[0] == "purge":
			// The real package's removal script refuses while an Entra
			// user is logged in (aaduserdel).
			if open, _ := precheck.EntraSessions(sysroot.Root(h.root)); len(open) > 0 {
				return runtest.Response{ExitCode: 100, Stderr: fmt.Sprintf("aaduserdel: user %s is currently used by process %d\ndpkg: error processing package aadsshlogin (--purge):\n installed aadsshlogin package pre-removal script subprocess returned error exit status 8\n", open[0].User, open[0].PID)}, true
			}
			if h.purgeFails != "" {
				return runtest.Response{ExitCode: 100, Stderr: h.purgeFails}, true
			}
			for _, n := range c.Args {
				delete(installed, n)
			}
			os.Remove(sysroot.Root(h.root).Path(certHandler))
			return runtest.Response{}, true
		case c.Path == "dpkg-query":
			out := ""
			for n, v := range installed {
				out += n + "\tinstall ok installed\t" + v + "\n"
			}
			return runtest.Response{Stdout: out, ExitCode: map[bool]int{true: 0, false: 1}[out != ""]}, true
		}
		return runtest.Response{}, false
	}
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func TestEnableSucceedsThenFastPath(t *testing.T) {
	h := newHarness(t)
	fakeDebian(h)
	if code := h.run("install"); code != 0 {
		t.Fatalf("install exit %d: %s", code, h.stderr.String())
	}
	if got := h.status(0); got.Status != "success" || got.Operation != "Install" {
		t.Fatalf("install status %+v", got)
	}
	if code := h.run("enable"); code != 0 {
		t.Fatalf("enable exit %d: %s", code, h.stderr.String())
	}
	got := h.status(0)
	for _, want := range []string{"ready", "aadsshlogin 1.0.030000001", "https://packages.microsoft.com", "Debian GNU/Linux 12"} {
		if !strings.Contains(got.Message, want) {
			t.Errorf("enable message %q lacks %q", got.Message, want)
		}
	}
	if got.Status != "success" || got.Code != 0 {
		t.Errorf("enable status %+v", got)
	}
	if seq, ok := agent.MRSeqIn(h.base).Load(); !ok || seq != 0 {
		t.Errorf("mrseq = %d, %v", seq, ok)
	}
	// The agent restarts: enable again with the same sequence number does
	// nothing at all.
	before := len(h.runner.Calls)
	if code := h.run("enable"); code != 0 {
		t.Fatalf("repeated enable exit %d", code)
	}
	if n := len(h.runner.Calls) - before; n != 0 {
		t.Errorf("repeated enable ran %d commands", n)
	}
	// A settings change (new sequence number) converges again.
	h.settings(1, `{}`)
	h.env["ConfigSequenceNumber"] = "1"
	if code := h.run("enable"); code != 0 {
		t.Fatalf("enable seq 1 exit %d: %s", code, h.stderr.String())
	}
	if got := h.status(1); got.Status != "success" {
		t.Errorf("seq 1 status %+v", got)
	}
	// Events were written for the agent's telemetry pipeline.
	events, _ := os.ReadDir(filepath.Join(h.root, "var/log/azure", HandlerName, "events"))
	if len(events) < 3 {
		t.Errorf("%d event files, want one per command", len(events))
	}
	logData, _ := os.ReadFile(filepath.Join(h.root, "var/log/azure", HandlerName, "handler.log"))
	for _, want := range []string{"op=install", "op=enable", "seq=1", "version=1.0.0.1", "pid=4242"} {
		if !strings.Contains(string(logData), want) {
			t.Errorf("handler.log lacks %q", want)
		}
	}
}

func TestPanicBecomesInternalError(t *testing.T) {
	h := newHarness(t)
	d := h.deps()
	cmd := command{operation: "Enable", agent: true, budget: time.Minute,
		run: func(context.Context, *invocation) (report, error) { panic("boom") }}
	code := runAgentCommand(context.Background(), d, "enable", cmd)
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	got := h.status(0)
	if got.Status != "error" || !strings.Contains(got.Message, "internal error") || !strings.Contains(got.Message, "boom") {
		t.Errorf("status %+v", got)
	}
	logData, _ := os.ReadFile(filepath.Join(h.root, "var/log/azure", HandlerName, "handler.log"))
	if !strings.Contains(string(logData), "event=panic") {
		t.Error("panic not logged")
	}
}

func TestDowngradeUpdateNamesBothVersions(t *testing.T) {
	h := newHarness(t)
	h.version = "1.0.0.2" // the outgoing, newer version runs update on a downgrade
	h.env["VERSION"] = "1.0.0.1"
	h.env["AZURE_GUEST_AGENT_UPDATING_FROM_VERSION"] = "1.0.0.1"
	if code := h.run("update"); code != 0 {
		t.Fatalf("update exit %d", code)
	}
	if got := h.status(0); got.Message != "Updating from 1.0.0.2 to 1.0.0.1; the aadsshlogin packages stay installed." {
		t.Errorf("message %q", got.Message)
	}
	// The outgoing version's uninstall follows and must keep the packages.
	if code := h.run("uninstall"); code != 0 || len(h.runner.Calls) != 0 {
		t.Fatalf("uninstall exit %d, commands %v", code, h.runner.Lines())
	}
}
