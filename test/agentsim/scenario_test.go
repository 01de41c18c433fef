package agentsim

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func pub(seq int) *Settings {
	return &Settings{Seq: seq, Public: json.RawMessage(`{"seq":` + itoa(seq) + `}`)}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func TestScenarios(t *testing.T) {
	v1, v2 := "1.0.0.1", "1.0.0.2"
	tests := []struct {
		name string
		// old and new package modes
		old, nw  map[string]string
		manifest string // manifest extras for the NEW package (and old unless oldManifest)
		run      func(h *harness, p1, p2 Package) (Outcome, error)
		// steps as verb@version (":" marks agent actions) and calls as seen by the fake
		wantSteps []string
		wantCalls []string
		wantCode  int
		check     func(t *testing.T, h *harness, out Outcome)
	}{
		{
			name: "first install",
			old:  map[string]string{"install": "silent"},
			run: func(h *harness, p1, _ Package) (Outcome, error) {
				return h.sim.Install(ctxT(h.t), p1, pub(0))
			},
			wantSteps: []string{":setup@" + v1, "install@" + v1, "enable@" + v1},
			wantCalls: []string{"install 1.0.0.1 0", "enable 1.0.0.1 0"},
			check: func(t *testing.T, h *harness, out Outcome) {
				if got := h.sim.HandlerState(v1); got != StateEnabled {
					t.Errorf("HandlerState = %s, want Enabled", got)
				}
				if st := out.Steps[2].Status; st == nil || st.Status != "success" {
					t.Errorf("enable status = %+v, want success", st)
				}
				if st := out.Steps[1].Status; st == nil || !st.Missing || st.Status != "transitioning" {
					t.Errorf("install status = %+v, want missing ⇒ transitioning", st)
				}
				base := h.sim.BaseDir(v1)
				want := map[string]string{
					"AZURE_GUEST_AGENT_EXTENSION_PATH":               base,
					"AZURE_GUEST_AGENT_EXTENSION_VERSION":            v1,
					"AZURE_GUEST_AGENT_WIRE_PROTOCOL_ADDRESS":        "168.63.129.16",
					"AZURE_GUEST_AGENT_EXTENSION_SUPPORTED_FEATURES": `[{"Key": "ExtensionTelemetryPipeline", "Value": "1.0"}]`,
					"ConfigSequenceNumber":                           "0",
					"AZURE_GUEST_AGENT_UNINSTALL_CMD_EXIT_CODE":      "NOT_RUN",
				}
				for _, verb := range []string{"install", "enable"} {
					if diff := cmp.Diff(want, h.env(verb, v1)); diff != "" {
						t.Errorf("%s env (-want +got):\n%s", verb, diff)
					}
				}
			},
		},
		{
			name: "settings change runs enable only",
			run: func(h *harness, p1, _ Package) (Outcome, error) {
				if _, err := h.sim.Install(ctxT(h.t), p1, pub(0)); err != nil {
					return Outcome{}, err
				}
				return h.sim.Enable(ctxT(h.t), v1, pub(1))
			},
			wantSteps: []string{"enable@" + v1},
			wantCalls: []string{"install 1.0.0.1 0", "enable 1.0.0.1 0", "enable 1.0.0.1 1"},
			check: func(t *testing.T, h *harness, _ Outcome) {
				for _, f := range []string{"0.settings", "1.settings"} {
					if !exists(filepath.Join(h.sim.BaseDir(v1), "config", f)) {
						t.Errorf("%s missing: the agent keeps old settings files", f)
					}
				}
			},
		},
		{
			name: "agent restart re-enables with the same seq",
			run: func(h *harness, p1, _ Package) (Outcome, error) {
				if _, err := h.sim.Install(ctxT(h.t), p1, pub(4)); err != nil {
					return Outcome{}, err
				}
				return h.sim.Restart(ctxT(h.t), v1)
			},
			wantSteps: []string{"enable@" + v1},
			wantCalls: []string{"install 1.0.0.1 4", "enable 1.0.0.1 4", "enable 1.0.0.1 4"},
		},
		{
			name: "disable when enabled",
			run: func(h *harness, p1, _ Package) (Outcome, error) {
				if _, err := h.sim.Install(ctxT(h.t), p1, pub(2)); err != nil {
					return Outcome{}, err
				}
				return h.sim.Disable(ctxT(h.t), v1)
			},
			wantSteps: []string{"disable@" + v1},
			wantCalls: []string{"install 1.0.0.1 2", "enable 1.0.0.1 2", "disable 1.0.0.1 2"},
			check: func(t *testing.T, h *harness, _ Outcome) {
				if got := h.sim.HandlerState(v1); got != StateInstalled {
					t.Errorf("HandlerState = %s, want Installed", got)
				}
			},
		},
		{
			name: "removal disables, uninstalls and deletes",
			run: func(h *harness, p1, _ Package) (Outcome, error) {
				if _, err := h.sim.Install(ctxT(h.t), p1, nil); err != nil {
					return Outcome{}, err
				}
				return h.sim.Remove(ctxT(h.t), v1)
			},
			wantSteps: []string{"disable@" + v1, "uninstall@" + v1, ":remove-dir@" + v1},
			wantCalls: []string{"install 1.0.0.1 0", "enable 1.0.0.1 0", "disable 1.0.0.1 0", "uninstall 1.0.0.1 0"},
			check: func(t *testing.T, h *harness, _ Outcome) {
				if exists(h.sim.BaseDir(v1)) || exists(h.sim.ZipPath(v1)) {
					t.Errorf("versioned dir or cached zip left behind")
				}
				// disable and uninstall get only the common variables.
				for _, verb := range []string{"disable", "uninstall"} {
					env := h.env(verb, v1)
					if _, ok := env["AZURE_GUEST_AGENT_UNINSTALL_CMD_EXIT_CODE"]; ok || len(env) != 5 {
						t.Errorf("%s env has %d agent variables, want the 5 common ones: %v", verb, len(env), env)
					}
				}
				if !exists(filepath.Join(h.sim.Options().LogDir, "CommandExecution.log")) {
					t.Errorf("log dir must survive removal")
				}
			},
		},
		{
			name: "removal of a disabled handler skips disable; uninstall failure swallowed",
			old:  map[string]string{"uninstall": "fail22"},
			run: func(h *harness, p1, _ Package) (Outcome, error) {
				if _, err := h.sim.Install(ctxT(h.t), p1, nil); err != nil {
					return Outcome{}, err
				}
				if _, err := h.sim.Disable(ctxT(h.t), v1); err != nil {
					return Outcome{}, err
				}
				return h.sim.Remove(ctxT(h.t), v1)
			},
			wantSteps: []string{"uninstall@" + v1, ":remove-dir@" + v1},
			wantCalls: []string{"install 1.0.0.1 0", "enable 1.0.0.1 0", "disable 1.0.0.1 0", "uninstall 1.0.0.1 0"},
			check: func(t *testing.T, h *harness, out Outcome) {
				if st := out.Steps[0]; st.Code != CodeGeneric || !st.Swallowed || st.ExitCode != 22 {
					t.Errorf("uninstall step = code %d swallowed %v exit %d, want 1000/true/22", st.Code, st.Swallowed, st.ExitCode)
				}
				if exists(h.sim.BaseDir(v1)) {
					t.Errorf("dir must be deleted even after a failed uninstall")
				}
			},
		},
		{
			name: "removal aborts when disable fails",
			old:  map[string]string{"disable": "fail22"},
			run: func(h *harness, p1, _ Package) (Outcome, error) {
				if _, err := h.sim.Install(ctxT(h.t), p1, nil); err != nil {
					return Outcome{}, err
				}
				return h.sim.Remove(ctxT(h.t), v1)
			},
			wantSteps: []string{"disable@" + v1},
			wantCalls: []string{"install 1.0.0.1 0", "enable 1.0.0.1 0", "disable 1.0.0.1 0"},
			wantCode:  CodeDisableFailed,
			check: func(t *testing.T, h *harness, _ Outcome) {
				if !exists(h.sim.BaseDir(v1)) {
					t.Errorf("dir deleted although disable failed")
				}
			},
		},
		{
			name: "install failure stops before enable",
			old:  map[string]string{"install": "fail22"},
			run: func(h *harness, p1, _ Package) (Outcome, error) {
				return h.sim.Install(ctxT(h.t), p1, pub(0))
			},
			wantSteps: []string{":setup@" + v1, "install@" + v1},
			wantCalls: []string{"install 1.0.0.1 0"},
			wantCode:  CodeInstallFailed,
			check: func(t *testing.T, h *harness, out Outcome) {
				if got := h.sim.HandlerState(v1); got != StateNotInstalled {
					t.Errorf("HandlerState = %s, want NotInstalled", got)
				}
				// The real agent (report_ext_handler_status) collects no
				// extension status while the handler is NotInstalled: the
				// install's "transitioning" status file never reaches Azure,
				// only the handler status NotReady 1007 does.
				st := out.Steps[1]
				if st.Status != nil {
					t.Errorf("install status = %+v, want none reported (handler NotInstalled)", st.Status)
				}
				if st.HandlerState != StateNotInstalled || st.HandlerStatus == nil || st.HandlerStatus.Code != CodeInstallFailed || st.HandlerStatus.Status != "NotReady" {
					t.Errorf("handler = %s %+v, want NotInstalled NotReady 1007", st.HandlerState, st.HandlerStatus)
				}
			},
		},
		{
			name: "enable exit 22 keeps Installed, NotReady 1009",
			old:  map[string]string{"enable": "fail22"},
			run: func(h *harness, p1, _ Package) (Outcome, error) {
				return h.sim.Install(ctxT(h.t), p1, pub(0))
			},
			wantSteps: []string{":setup@" + v1, "install@" + v1, "enable@" + v1},
			wantCalls: []string{"install 1.0.0.1 0", "enable 1.0.0.1 0"},
			wantCode:  CodeEnableFailed,
			check: func(t *testing.T, h *harness, out Outcome) {
				st := out.Steps[2]
				want := &ExtStatus{Status: "transitioning", Code: json.RawMessage("0"), Operation: "enable", Message: "enable 1.0.0.1 failing"}
				if diff := cmp.Diff(want, st.Status); diff != "" {
					t.Errorf("status (-want +got):\n%s", diff)
				}
				if st.HandlerState != StateInstalled || st.HandlerStatus == nil || st.HandlerStatus.Code != CodeEnableFailed || st.HandlerStatus.Status != "NotReady" {
					t.Errorf("handler = %s %+v, want Installed NotReady 1009", st.HandlerState, st.HandlerStatus)
				}
				wantOut := "[stdout]\n\n\n[stderr]\nno system-assigned identity\n"
				if st.Output != wantOut {
					t.Errorf("output = %q, want %q", st.Output, wantOut)
				}
			},
		},
		{
			name: "upgrade",
			run: func(h *harness, p1, p2 Package) (Outcome, error) {
				if _, err := h.sim.Install(ctxT(h.t), p1, pub(5)); err != nil {
					return Outcome{}, err
				}
				return h.sim.Update(ctxT(h.t), v1, p2, pub(5))
			},
			wantSteps: []string{":setup@" + v2, "disable@" + v1, ":copy-status@" + v2, "update@" + v2,
				"uninstall@" + v1, ":remove-dir@" + v1, "install@" + v2, "enable@" + v2},
			wantCalls: []string{"install 1.0.0.1 5", "enable 1.0.0.1 5", "disable 1.0.0.1 5", "update 1.0.0.2 5",
				"uninstall 1.0.0.1 5", "install 1.0.0.2 5", "enable 1.0.0.2 5"},
			check: func(t *testing.T, h *harness, _ Outcome) {
				if exists(h.sim.BaseDir(v1)) || exists(h.sim.ZipPath(v1)) {
					t.Errorf("old dir or zip left behind")
				}
				if got := h.sim.HandlerState(v2); got != StateEnabled {
					t.Errorf("new HandlerState = %s", got)
				}
			},
		},
		{
			name:     "upgrade with UpdateWithoutInstall skips install",
			manifest: `,"updateMode":"UpdateWithoutInstall"`,
			run: func(h *harness, p1, p2 Package) (Outcome, error) {
				if _, err := h.sim.Install(ctxT(h.t), p1, pub(1)); err != nil {
					return Outcome{}, err
				}
				return h.sim.Update(ctxT(h.t), v1, p2, pub(1))
			},
			wantSteps: []string{":setup@" + v2, "disable@" + v1, ":copy-status@" + v2, "update@" + v2,
				"uninstall@" + v1, ":remove-dir@" + v1, ":skip-install@" + v2, "enable@" + v2},
			wantCalls: []string{"install 1.0.0.1 1", "enable 1.0.0.1 1", "disable 1.0.0.1 1", "update 1.0.0.2 1",
				"uninstall 1.0.0.1 1", "enable 1.0.0.2 1"},
		},
		{
			name: "upgrade aborts when old disable fails, continueOnUpdateFailure false",
			old:  map[string]string{"disable": "fail22"},
			run: func(h *harness, p1, p2 Package) (Outcome, error) {
				if _, err := h.sim.Install(ctxT(h.t), p1, pub(1)); err != nil {
					return Outcome{}, err
				}
				return h.sim.Update(ctxT(h.t), v1, p2, pub(1))
			},
			wantSteps: []string{":setup@" + v2, "disable@" + v1},
			wantCalls: []string{"install 1.0.0.1 1", "enable 1.0.0.1 1", "disable 1.0.0.1 1"},
			wantCode:  CodeUpdateFailed,
			check: func(t *testing.T, h *harness, _ Outcome) {
				if !exists(h.sim.BaseDir(v1)) {
					t.Errorf("old dir deleted after an aborted update")
				}
				if got, _ := h.sim.InstalledVersion(); got != v1 {
					t.Errorf("installed version = %s, want %s", got, v1)
				}
			},
		},
		{
			name:     "upgrade continues after old disable and uninstall failures, continueOnUpdateFailure string true",
			old:      map[string]string{"disable": "fail22", "uninstall": "fail22"},
			manifest: `,"continueOnUpdateFailure":"true"`,
			run: func(h *harness, p1, p2 Package) (Outcome, error) {
				if _, err := h.sim.Install(ctxT(h.t), p1, pub(1)); err != nil {
					return Outcome{}, err
				}
				return h.sim.Update(ctxT(h.t), v1, p2, pub(1))
			},
			wantSteps: []string{":setup@" + v2, "disable@" + v1, ":copy-status@" + v2, "update@" + v2,
				"uninstall@" + v1, ":remove-dir@" + v1, "install@" + v2, "enable@" + v2},
			wantCalls: []string{"install 1.0.0.1 1", "enable 1.0.0.1 1", "disable 1.0.0.1 1", "update 1.0.0.2 1",
				"uninstall 1.0.0.1 1", "install 1.0.0.2 1", "enable 1.0.0.2 1"},
			check: func(t *testing.T, h *harness, _ Outcome) {
				if got := h.env("update", v2)["AZURE_GUEST_AGENT_DISABLE_CMD_EXIT_CODE"]; got != "22" {
					t.Errorf("DISABLE_CMD_EXIT_CODE = %q, want 22", got)
				}
				if got := h.env("install", v2)["AZURE_GUEST_AGENT_UNINSTALL_CMD_EXIT_CODE"]; got != "22" {
					t.Errorf("install UNINSTALL_CMD_EXIT_CODE = %q, want 22", got)
				}
			},
		},
		{
			name: "new update failure marks FailedUpgrade",
			nw:   map[string]string{"update": "fail22"},
			run: func(h *harness, p1, p2 Package) (Outcome, error) {
				if _, err := h.sim.Install(ctxT(h.t), p1, pub(1)); err != nil {
					return Outcome{}, err
				}
				return h.sim.Update(ctxT(h.t), v1, p2, pub(1))
			},
			wantSteps: []string{":setup@" + v2, "disable@" + v1, ":copy-status@" + v2, "update@" + v2},
			wantCalls: []string{"install 1.0.0.1 1", "enable 1.0.0.1 1", "disable 1.0.0.1 1", "update 1.0.0.2 1"},
			wantCode:  CodeUpdateFailed,
			check: func(t *testing.T, h *harness, _ Outcome) {
				if got := h.sim.HandlerState(v2); got != StateFailedUpgrade {
					t.Errorf("new HandlerState = %s, want FailedUpgrade", got)
				}
				if got := h.sim.HandlerState(v1); got != StateInstalled {
					t.Errorf("old HandlerState = %s, want Installed (disabled)", got)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			oldMan, newMan := fakeManifest(tc.manifest), fakeManifest(tc.manifest)
			p1 := h.pkg(fakePkg{version: v1, modes: tc.old, manifest: oldMan})
			p2 := h.pkg(fakePkg{version: v2, modes: tc.nw, manifest: newMan})
			out, err := tc.run(h, p1, p2)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.wantSteps, verbs(out.Steps)); diff != "" {
				t.Errorf("steps (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantCalls, h.calls()); diff != "" {
				t.Errorf("calls (-want +got):\n%s", diff)
			}
			if out.Code != tc.wantCode {
				t.Errorf("outcome code = %d (%s), want %d", out.Code, out.Message, tc.wantCode)
			}
			if tc.check != nil {
				tc.check(t, h, out)
			}
		})
	}
}

func TestUpdateEnvAndStatusCopy(t *testing.T) {
	h := newHarness(t)
	v1, v2 := "1.0.0.1", "1.0.0.2"
	p1 := h.pkg(fakePkg{version: v1})
	p2 := h.pkg(fakePkg{version: v2, modes: map[string]string{"update": "silent"}})
	if _, err := h.sim.Install(ctxT(t), p1, pub(7)); err != nil {
		t.Fatal(err)
	}
	oldBase := h.sim.BaseDir(v1)
	// An extra status file of an older seq must be copied too.
	if err := os.WriteFile(filepath.Join(oldBase, "status", "6.status"), []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := h.sim.Update(ctxT(t), v1, p2, pub(7))
	if err != nil || !out.OK() {
		t.Fatalf("update: %v %+v", err, out)
	}
	newBase := h.sim.BaseDir(v2)
	common := func(base, ver, seq string) map[string]string {
		return map[string]string{
			"AZURE_GUEST_AGENT_EXTENSION_PATH":               base,
			"AZURE_GUEST_AGENT_EXTENSION_VERSION":            ver,
			"AZURE_GUEST_AGENT_WIRE_PROTOCOL_ADDRESS":        "168.63.129.16",
			"AZURE_GUEST_AGENT_EXTENSION_SUPPORTED_FEATURES": `[{"Key": "ExtensionTelemetryPipeline", "Value": "1.0"}]`,
			"ConfigSequenceNumber":                           seq,
		}
	}
	with := func(m map[string]string, kv ...string) map[string]string {
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		verb, version string
		want          map[string]string
	}{
		{"disable", v1, common(oldBase, v1, "7")},
		{"uninstall", v1, common(oldBase, v1, "7")},
		{"update", v2, with(common(newBase, v2, "7"), "VERSION", v2,
			"AZURE_GUEST_AGENT_UPDATING_FROM_VERSION", v1, "AZURE_GUEST_AGENT_DISABLE_CMD_EXIT_CODE", "0")},
		{"install", v2, with(common(newBase, v2, "7"), "AZURE_GUEST_AGENT_UNINSTALL_CMD_EXIT_CODE", "0")},
		{"enable", v2, with(common(newBase, v2, "7"), "AZURE_GUEST_AGENT_UNINSTALL_CMD_EXIT_CODE", "0")},
	}
	for _, tc := range tests {
		if diff := cmp.Diff(tc.want, h.env(tc.verb, tc.version)); diff != "" {
			t.Errorf("%s@%s env (-want +got):\n%s", tc.verb, tc.version, diff)
		}
		cwd, _ := os.ReadFile(filepath.Join(h.logDir, "cwd."+tc.verb+"."+tc.version))
		if want := tc.want["AZURE_GUEST_AGENT_EXTENSION_PATH"] + "\n"; string(cwd) != want {
			t.Errorf("%s cwd = %q, want %q", tc.verb, cwd, want)
		}
	}
	// The silent update wrote nothing: what the new dir holds for seq 7 and
	// 6 and mrseq came from the old dir (written there by old enable/disable).
	for _, f := range []string{"mrseq", "status/6.status", "status/7.status"} {
		if !exists(filepath.Join(newBase, f)) {
			t.Errorf("%s not copied to the new version", f)
		}
	}
	if st := out.Steps[3]; st.Verb != "update" || st.Status == nil || st.Status.Operation != "disable" {
		t.Errorf("after a silent update the copied disable status must be reported, got %+v", st.Status)
	}
}

func TestDowngradeRunsOldUpdate(t *testing.T) {
	h := newHarness(t)
	hi, lo := "2.0.0.0", "1.9.0.0"
	pHi := h.pkg(fakePkg{version: hi})
	pLo := h.pkg(fakePkg{version: lo})
	if _, err := h.sim.Install(ctxT(t), pHi, nil); err != nil {
		t.Fatal(err)
	}
	out, err := h.sim.Update(ctxT(t), hi, pLo, nil)
	if err != nil || !out.OK() {
		t.Fatalf("downgrade: %v %+v", err, out)
	}
	wantCalls := []string{"install 2.0.0.0 0", "enable 2.0.0.0 0", "disable 2.0.0.0 0", "update 2.0.0.0 0",
		"uninstall 2.0.0.0 0", "install 1.9.0.0 0", "enable 1.9.0.0 0"}
	if diff := cmp.Diff(wantCalls, h.calls()); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
	env := h.env("update", hi)
	got := map[string]string{"VERSION": env["VERSION"], "FROM": env["AZURE_GUEST_AGENT_UPDATING_FROM_VERSION"]}
	// The agent passes the new (lower) version as both values.
	if diff := cmp.Diff(map[string]string{"VERSION": lo, "FROM": lo}, got); diff != "" {
		t.Errorf("downgrade env (-want +got):\n%s", diff)
	}
}
