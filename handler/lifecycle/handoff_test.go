package lifecycle

import (
	"strings"
	"testing"
	"time"

	"github.com/Azure/aadsshlogin-extension-linux/handler/agent"
	"github.com/Azure/aadsshlogin-extension-linux/handler/state"
)

// refreshes counts the repository refreshes (apt-get update) run so far.
func refreshes(h *harness) int {
	n := 0
	for _, l := range h.runner.Lines() {
		if strings.HasPrefix(l, "apt-get update") {
			n++
		}
	}
	return n
}

// A first deployment (install, then enable of the same sequence number)
// checks the identity once and refreshes the repository once: enable takes
// install's hand-off instead of redoing the network work.
func TestFirstDeploymentDoesItsWorkOnce(t *testing.T) {
	h := newHarness(t)
	fakeDebian(h)
	h.mustRun("install", "enable")
	if n := h.tokenRequests.Load(); n != 1 {
		t.Errorf("%d IMDS identity checks, want 1", n)
	}
	if n := refreshes(h); n != 1 {
		t.Errorf("%d repository refreshes, want 1: %v", n, h.runner.Lines())
	}
	got := h.status(0)
	if got.Operation != "Enable" || got.Status != "success" || !strings.Contains(got.Message, "aadsshlogin 1.0.030000001") {
		t.Errorf("enable status %+v", got)
	}
	// The agent restarts: enable of the same sequence number is the fast
	// path (no hand-off is left); a reboot or settings change converges.
	if seq, ok := agent.MRSeqIn(h.base).Load(); !ok || seq != 0 {
		t.Errorf("mrseq = %d, %v", seq, ok)
	}
}

// A failed check in install is reported by enable of the same sequence
// number: install writes its status and exits 0 (the agent hides the status
// of a failed install), enable reports the failure with its code and exit
// code without asking IMDS again.
func TestInstallFailureIsHandedToEnable(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(h *harness)
		want   statusView
		wantIn string
	}{
		{name: "no identity", setup: func(h *harness) { h.ident = "missing" },
			want: statusView{Operation: "Enable", Status: "transitioning", Code: 22}, wantIn: "az vm identity assign"},
		{name: "legacy", setup: func(h *harness) {
			h.file("/var/lib/waagent/Microsoft.Azure.ActiveDirectory.LinuxSSH.AADLoginForLinux-1.0.0.1/HandlerManifest.json", "[]")
		}, want: statusView{Operation: "Enable", Status: "transitioning", Code: 23}, wantIn: "AADLoginForLinux"},
		{name: "low memory", setup: func(h *harness) { h.file("/proc/meminfo", "MemTotal:  500000 kB\n") },
			want: statusView{Operation: "Enable", Status: "error", Code: 54}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			fakeDebian(h)
			tc.setup(h)
			if code := h.run("install"); code != 0 {
				t.Fatalf("install exit %d, want 0 (hand-off): %s", code, h.stderr.String())
			}
			inst := h.status(0)
			if inst.Operation != "Install" || inst.Code != tc.want.Code {
				t.Errorf("install status %+v", inst)
			}
			tokens := h.tokenRequests.Load()
			h.runExpect("enable", 0, tc.want, tc.wantIn)
			if n := h.tokenRequests.Load() - tokens; n != 0 {
				t.Errorf("enable asked IMDS %d more times", n)
			}
			if !strings.HasPrefix(h.stderr.String(), "Enable failed (exit ") {
				t.Errorf("stderr %q", h.stderr.String())
			}
			// The hand-off is consumed: the agent restarting runs enable
			// again, which converges (checks again) as before.
			h.run("enable")
			if n := h.tokenRequests.Load() - tokens; n == 0 {
				t.Error("a second enable of the same sequence number reused the consumed hand-off")
			}
		})
	}
}

// A hand-off is valid only for this boot, this handler version and this
// sequence number.
func TestHandOffIgnoredAfterRebootOrOtherSeq(t *testing.T) {
	tests := []struct {
		name  string
		after func(h *harness)
	}{
		{name: "reboot", after: func(h *harness) {
			h.file(state.BootIDFile, "00000000-1111-2222-3333-444444444444\n")
		}},
		{name: "settings change", after: func(h *harness) {
			h.settings(1, `{}`)
			h.env["ConfigSequenceNumber"] = "1"
		}},
		{name: "clock step does not matter, boot does", after: func(h *harness) {
			h.clk.Set(h.clk.Now().Add(-48 * time.Hour))
			h.file(state.BootIDFile, "00000000-1111-2222-3333-444444444444\n")
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			fakeDebian(h)
			h.ident = "missing"
			h.mustRun("install")
			tc.after(h)
			h.ident = "present"
			before := h.tokenRequests.Load()
			if code := h.run("enable"); code != 0 {
				t.Fatalf("enable exit %d: %s", code, h.stderr.String())
			}
			if h.tokenRequests.Load() == before {
				t.Error("enable did not check the identity again")
			}
		})
	}
}

// Issue 13.1: install+enable, disable, enable again with the same sequence
// number: the fast path must write a fresh Enable status, never leave the
// Disable one.
func TestReEnableAfterDisableSaysEnabled(t *testing.T) {
	h := newHarness(t)
	fakeDebian(h)
	h.mustRun("install", "enable", "disable")
	if got := h.status(0); got.Operation != "Disable" {
		t.Fatalf("after disable: %+v", got)
	}
	calls := len(h.runner.Calls)
	if code := h.run("enable"); code != 0 {
		t.Fatalf("re-enable exit %d: %s", code, h.stderr.String())
	}
	got := h.status(0)
	if got.Operation != "Enable" || got.Status != "success" || strings.Contains(got.Message, "disabled") || !strings.Contains(got.Message, "ready") {
		t.Errorf("re-enable status %+v", got)
	}
	if n := len(h.runner.Calls) - calls; n != 0 {
		t.Errorf("the fast path ran %d commands", n)
	}
}

// Issue 13.4: the update marker is judged by versions and boot, not by the
// wall clock: a clock step between update and the old uninstall (NTP, an
// RTC in local time) must not purge the packages mid-update.
func TestUpdateMarkerIgnoresClockSteps(t *testing.T) {
	for _, step := range []time.Duration{-3 * time.Hour, -2 * time.Minute, 2 * time.Hour, 400 * 24 * time.Hour} {
		t.Run(step.String(), func(t *testing.T) {
			h := newHarness(t)
			h.mustUpdate("1.0.0.1", "1.0.0.2")
			h.clk.Set(h.clk.Now().Add(step))
			h.version = "1.0.0.1"
			if code := h.run("uninstall"); code != 0 || len(h.runner.Calls) != 0 {
				t.Fatalf("old uninstall exit %d ran %v", code, h.runner.Lines())
			}
		})
	}
}

// The marker protects only the version being replaced, in the boot it was
// written in: after a reboot, or for the new version's own uninstall, the
// packages are removed.
func TestUpdateMarkerScope(t *testing.T) {
	tests := []struct {
		name      string
		uninstall string // version whose uninstall runs
		reboot    bool
	}{
		{name: "new version removed", uninstall: "1.0.0.2"},
		{name: "old version after a reboot", uninstall: "1.0.0.1", reboot: true},
		{name: "an unrelated version", uninstall: "1.0.0.7"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			fakeDebian(h)
			h.mustUpdate("1.0.0.1", "1.0.0.2")
			if tc.reboot {
				h.file(state.BootIDFile, "00000000-1111-2222-3333-444444444444\n")
			}
			h.version = tc.uninstall
			h.run("uninstall")
			if got := h.status(0); strings.Contains(got.Message, "stay installed") {
				t.Errorf("uninstall kept the packages: %+v", got)
			}
		})
	}
}
