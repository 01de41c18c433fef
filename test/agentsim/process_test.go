package agentsim

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// alive reports whether pid runs (a zombie counts as dead).
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

func readPid(t *testing.T, path string) int {
	t.Helper()
	// The child writes its pid before the command times out; allow for the
	// write racing the kill of its parent by polling briefly.
	for i := 0; i < 100; i++ {
		if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) > 0 {
			pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err != nil {
				t.Fatal(err)
			}
			return pid
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no pid in %s", path)
	return 0
}

func TestTimeoutKillsProcessGroup(t *testing.T) {
	const v = "1.0.0.1"
	const limit = 500 * time.Millisecond
	tests := []struct {
		mode string
		// pidFile is the background child's pid file; wantAlive is whether it
		// must survive the group kill.
		pidFile   string
		wantAlive bool
	}{
		{mode: "sleep"},
		{mode: "bgsame", pidFile: "bg.same.pid", wantAlive: false},
		{mode: "bgsetsid", pidFile: "bg.setsid.pid", wantAlive: true},
	}
	for _, tc := range tests {
		t.Run(tc.mode, func(t *testing.T) {
			h := newHarnessTimeouts(t, map[Verb]time.Duration{VerbEnable: limit})
			p := h.pkg(fakePkg{version: v, modes: map[string]string{"install": "silent", "enable": tc.mode}})
			out, err := h.sim.Install(ctxT(t), p, nil)
			if err != nil {
				t.Fatal(err)
			}
			st := out.Steps[len(out.Steps)-1]
			got := struct {
				Verb       string
				TimedOut   bool
				Code, Exit int
				OutCode    int
				State      string
			}{st.Verb, st.TimedOut, st.Code, st.ExitCode, out.Code, st.HandlerState}
			want := struct {
				Verb       string
				TimedOut   bool
				Code, Exit int
				OutCode    int
				State      string
			}{"enable", true, CodeTimeout, -1, CodeTimeout, StateInstalled}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("timed-out step (-want +got):\n%s", diff)
			}
			// The command sleeps 60 s: it must have been killed at the
			// scaled limit, not waited for.
			if st.Duration < limit || st.Duration > limit+20*time.Second {
				t.Errorf("duration %v, want about the scaled limit %v", st.Duration, limit)
			}
			if !strings.Contains(st.Error, "Timeout(0.5): ") {
				t.Errorf("error = %q, want the agent's Timeout(<secs>) message", st.Error)
			}
			if tc.pidFile == "" {
				return
			}
			pid := readPid(t, filepath.Join(h.logDir, tc.pidFile))
			if tc.wantAlive {
				t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
			}
			deadline := time.Now().Add(10 * time.Second)
			for alive(pid) && !tc.wantAlive && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			if got := alive(pid); got != tc.wantAlive {
				t.Errorf("background child alive = %v, want %v", got, tc.wantAlive)
			}
		})
	}
}

func TestTimeoutOfOldDisableWithContinueOnUpdateFailure(t *testing.T) {
	h := newHarnessTimeouts(t, map[Verb]time.Duration{VerbDisable: 300 * time.Millisecond})
	v1, v2 := "1.0.0.1", "1.0.0.2"
	man := fakeManifest(`,"continueOnUpdateFailure":true`)
	p1 := h.pkg(fakePkg{version: v1, modes: map[string]string{"disable": "sleep"}, manifest: man})
	p2 := h.pkg(fakePkg{version: v2, manifest: man})
	if _, err := h.sim.Install(ctxT(t), p1, pub(1)); err != nil {
		t.Fatal(err)
	}
	out, err := h.sim.Update(ctxT(t), v1, p2, pub(1))
	if err != nil || !out.OK() {
		t.Fatalf("update: %v %+v", err, out)
	}
	if got := h.env("update", v2)["AZURE_GUEST_AGENT_DISABLE_CMD_EXIT_CODE"]; got != "1011" {
		t.Errorf("DISABLE_CMD_EXIT_CODE = %q, want 1011 after a timeout", got)
	}
}

func TestVerbTimeouts(t *testing.T) {
	s, err := New(Options{LibDir: t.TempDir(), LogDir: t.TempDir(), TimeoutScale: 0.5,
		Timeouts: map[Verb]time.Duration{VerbUninstall: time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[Verb]time.Duration{}
	for v := range verbSpecs {
		got[v] = s.timeout(v)
	}
	want := map[Verb]time.Duration{
		VerbInstall: 450 * time.Second, VerbUpdate: 450 * time.Second, VerbDisable: 450 * time.Second,
		VerbEnable: 150 * time.Second, VerbUninstall: time.Second,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("timeouts (-want +got):\n%s", diff)
	}
	codes := map[Verb]int{}
	for v, spec := range verbSpecs {
		codes[v] = spec.code
	}
	wantCodes := map[Verb]int{VerbInstall: 1007, VerbUpdate: 1008, VerbEnable: 1009, VerbDisable: 1010, VerbUninstall: 1000}
	if diff := cmp.Diff(wantCodes, codes); diff != "" {
		t.Errorf("CRP codes (-want +got):\n%s", diff)
	}
}
