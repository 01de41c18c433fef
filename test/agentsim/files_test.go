package agentsim

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestProtectedSettingsRoundTrip(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		if os.Getenv("AADSSH_REQUIRE_INTEGRATION") == "1" {
			t.Fatal("openssl is required")
		}
		t.Skip("openssl not installed")
	}
	h := newHarness(t)
	const v = "1.0.0.1"
	p := h.pkg(fakePkg{version: v})
	set := &Settings{Seq: 3, Public: json.RawMessage(`{"b": 2, "a": "é"}`), Protected: json.RawMessage(`{"secret": "p@ss word", "n": 1}`)}
	if out, err := h.sim.Install(ctxT(t), p, set); err != nil || !out.OK() {
		t.Fatalf("install: %v %+v", err, out)
	}
	raw, err := os.ReadFile(filepath.Join(h.sim.BaseDir(v), "config", "3.settings"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.HasSuffix(raw, []byte("\n")) {
		t.Errorf("settings file ends with a newline")
	}
	var doc struct {
		RuntimeSettings []struct {
			HandlerSettings struct {
				PublicSettings                  json.RawMessage
				ProtectedSettings               string
				ProtectedSettingsCertThumbprint string
			}
		}
	}
	if err := json.Unmarshal(raw, &doc); err != nil || len(doc.RuntimeSettings) != 1 {
		t.Fatalf("settings file %s: %v", raw, err)
	}
	hs := doc.RuntimeSettings[0].HandlerSettings
	if got, want := string(hs.PublicSettings), `{"b": 2, "a": "\u00e9"}`; got != want {
		t.Errorf("publicSettings = %s, want %s (python json.dumps form, key order kept)", got, want)
	}
	crt, prv, thumb := h.sim.CertPaths()
	if hs.ProtectedSettingsCertThumbprint != thumb || len(thumb) != 40 || strings.ToUpper(thumb) != thumb {
		t.Errorf("thumbprint %q, want the uppercase SHA-1 %q", hs.ProtectedSettingsCertThumbprint, thumb)
	}
	// The handler finds the certificate two folders above configFolder.
	configFolder := filepath.Join(h.sim.BaseDir(v), "config")
	if want := filepath.Join(configFolder, "..", "..", thumb+".crt"); filepath.Clean(want) != crt {
		t.Errorf("certificate at %s, want %s", crt, want)
	}
	der, err := base64.StdEncoding.DecodeString(hs.ProtectedSettings)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("openssl", "cms", "-decrypt", "-inform", "DER", "-recip", crt, "-inkey", prv)
	cmd.Stdin = bytes.NewReader(der)
	plain, err := cmd.Output()
	if err != nil {
		t.Fatalf("openssl cms -decrypt: %v", err)
	}
	var got, want any
	_ = json.Unmarshal(plain, &got)
	_ = json.Unmarshal(set.Protected, &want)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("decrypted protected settings (-want +got):\n%s", diff)
	}
}

func TestSettingsFileForms(t *testing.T) {
	s, err := New(Options{LibDir: t.TempDir(), LogDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		set  *Settings
		want string
	}{
		{"no settings at all", nil, ""},
		{"all null", &Settings{Seq: 1},
			`{"runtimeSettings": [{"handlerSettings": {"publicSettings": null, "protectedSettings": null, "protectedSettingsCertThumbprint": null}}]}`},
		{"public only", &Settings{Public: json.RawMessage("{\"k\":[1,true,null,\"<&>\"],\"z\":{}}")},
			`{"runtimeSettings": [{"handlerSettings": {"publicSettings": {"k": [1, true, null, "<&>"], "z": {}}, "protectedSettings": null, "protectedSettingsCertThumbprint": null}}]}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.settingsFile(ctxT(t), tc.set)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, string(got)); diff != "" {
				t.Errorf("settings (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHandlerEnvironmentAndLayout(t *testing.T) {
	h := newHarness(t)
	const v = "2.1.0"
	// A manifest with a BOM is re-saved without it.
	p := h.pkg(fakePkg{version: v, bom: true})
	if out, err := h.sim.Install(ctxT(t), p, nil); err != nil || !out.OK() {
		t.Fatalf("install: %v %+v", err, out)
	}
	base := h.sim.BaseDir(v)
	lib, logDir := h.sim.Options().LibDir, h.sim.Options().LogDir
	want := `[{"name": "Fake.Handler", "version": 1.0, "handlerEnvironment": {` +
		`"logFolder": "` + logDir + `", "configFolder": "` + base + `/config", "statusFolder": "` + base + `/status", ` +
		`"heartbeatFile": "` + base + `/heartbeat.log", "eventsFolder": "` + logDir + `/events", "eventsFolder_preview": "` + logDir + `/events"}}]`
	got, err := os.ReadFile(filepath.Join(base, "HandlerEnvironment.json"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("HandlerEnvironment.json (-want +got):\n%s", diff)
	}
	if base != filepath.Join(lib, "Fake.Handler-"+v) {
		t.Errorf("base dir %s", base)
	}
	modes := map[string]os.FileMode{}
	for _, rel := range []string{"config", "status", "scripts/fake", "modes"} {
		fi, err := os.Stat(filepath.Join(base, rel))
		if err != nil {
			t.Fatal(err)
		}
		modes[rel] = fi.Mode().Perm()
	}
	fi, err := os.Stat(filepath.Join(logDir, "events"))
	if err != nil {
		t.Fatal(err)
	}
	modes["events"] = fi.Mode().Perm()
	wantModes := map[string]os.FileMode{"config": 0o700, "status": 0o700, "events": 0o700, "scripts/fake": 0o744, "modes": 0o744}
	if diff := cmp.Diff(wantModes, modes); diff != "" {
		t.Errorf("modes (-want +got):\n%s", diff)
	}
	empty, err := os.ReadFile(filepath.Join(base, "config", "0.settings"))
	if err != nil || len(empty) != 0 {
		t.Errorf("0.settings = %q, %v; want an empty file", empty, err)
	}
	if !exists(filepath.Join(lib, "Fake.Handler__"+v+".zip")) {
		t.Errorf("cached zip missing")
	}
	man, _ := os.ReadFile(filepath.Join(base, "HandlerManifest.json"))
	if bytes.HasPrefix(man, []byte("\xef\xbb\xbf")) {
		t.Errorf("BOM not stripped from the saved manifest")
	}
	log, _ := os.ReadFile(filepath.Join(logDir, "CommandExecution.log"))
	for _, w := range []string{"Executing command: " + base + "/scripts/fake install with environment variables: {\"AZURE_GUEST_AGENT_UNINSTALL_CMD_EXIT_CODE\": \"NOT_RUN\"",
		"Command: /scripts/fake enable\n[stdout]\nenable done\n[stderr]\n"} {
		if !strings.Contains(string(log), w) {
			t.Errorf("CommandExecution.log lacks %q:\n%s", w, log)
		}
	}
}

func TestManifestInSubfolder(t *testing.T) {
	h := newHarness(t)
	man := `[{"handlerManifest":{"installCommand":"pkg/scripts/fake install","enableCommand":"pkg/scripts/fake enable"}}]`
	p := h.pkg(fakePkg{version: "1.0", subdir: "pkg", manifest: man})
	out, err := h.sim.Install(ctxT(t), p, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The modes file sits in pkg/, the cwd is the base dir: the fake finds
	// no modes and runs "ok".
	if diff := cmp.Diff([]string{":setup@1.0", "install@1.0", "enable@1.0"}, verbs(out.Steps)); diff != "" || !out.OK() {
		t.Errorf("steps (-want +got):\n%s\n%+v", diff, out)
	}
	if !exists(filepath.Join(h.sim.BaseDir("1.0"), "HandlerManifest.json")) {
		t.Errorf("manifest not copied to the base dir root")
	}
}

func TestMissingManifestAndCommand(t *testing.T) {
	h := newHarness(t)
	// No disableCommand: the agent fails only when disable must run.
	man := `[{"handlerManifest":{"installCommand":"scripts/fake install","enableCommand":"scripts/fake enable","uninstallCommand":"scripts/fake uninstall"}}]`
	p := h.pkg(fakePkg{version: "1.0", manifest: man})
	if out, err := h.sim.Install(ctxT(t), p, nil); err != nil || !out.OK() {
		t.Fatalf("install: %v %+v", err, out)
	}
	out, err := h.sim.Disable(ctxT(t), "1.0")
	if err != nil {
		t.Fatal(err)
	}
	if out.Code != -1 || !strings.Contains(out.Steps[0].Error, "disableCommand") {
		t.Errorf("disable without command: code %d, %q", out.Code, out.Steps[0].Error)
	}
	h2 := newHarness(t)
	p2 := h2.pkg(fakePkg{version: "1.0", manifest: "not json"})
	out, err = h2.sim.Install(ctxT(t), p2, nil)
	if err != nil {
		t.Fatal(err)
	}
	if out.Code != CodeManifestBad {
		t.Errorf("bad manifest: code %d (%s), want 1003", out.Code, out.Message)
	}
}

func TestStatusFromCommands(t *testing.T) {
	tests := []struct {
		mode string
		want ExtStatus
	}{
		{"malformed", ExtStatus{Status: "error", Code: json.RawMessage("1012"), Malformed: true}},
		{"badsub", ExtStatus{Status: "error", Code: json.RawMessage("1012"), Malformed: true}},
		{"silent", ExtStatus{Status: "transitioning", Code: json.RawMessage("0"), Missing: true}},
	}
	for _, tc := range tests {
		t.Run(tc.mode, func(t *testing.T) {
			h := newHarness(t)
			p := h.pkg(fakePkg{version: "1.0", modes: map[string]string{"install": "silent", "enable": tc.mode}})
			out, err := h.sim.Install(ctxT(t), p, pub(0))
			if err != nil || !out.OK() {
				t.Fatalf("install: %v %+v", err, out)
			}
			got := *out.Steps[2].Status
			got.Message, got.Problem = "", ""
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("status (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNoisyOutputIsTrimmed(t *testing.T) {
	h := newHarness(t)
	p := h.pkg(fakePkg{version: "1.0", modes: map[string]string{"install": "noisy"}})
	out, err := h.sim.Install(ctxT(t), p, nil)
	if err != nil {
		t.Fatal(err)
	}
	st := out.Steps[1]
	if st.Code != CodeInstallFailed || st.ExitCode != 3 {
		t.Fatalf("install: code %d exit %d", st.Code, st.ExitCode)
	}
	// 3200 bytes read of each stream; 1589 chars of each tail kept.
	if n := len([]rune(st.Output)); n > 3200 {
		t.Errorf("output %d chars, want ≤ 3200", n)
	}
	if !strings.HasPrefix(st.Output, "[stdout]\n") || !strings.Contains(st.Output, "\n\n[stderr]\n") {
		t.Errorf("output format: %q", st.Output[:40])
	}
	if strings.Contains(st.Output, "line 499") {
		t.Errorf("output holds data beyond the first 3200 bytes of a stream")
	}
}
