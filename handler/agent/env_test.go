package agent

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const agentEnv = `[{
  "name": "Microsoft.Azure.ActiveDirectory.AADSSHLoginForLinux",
  "version": 1.0,
  "handlerEnvironment": {
    "logFolder": "/var/log/azure/Microsoft.Azure.ActiveDirectory.AADSSHLoginForLinux",
    "configFolder": "/var/lib/waagent/X-1.0.0.1/config",
    "statusFolder": "/var/lib/waagent/X-1.0.0.1/status",
    "heartbeatFile": "/var/lib/waagent/X-1.0.0.1/heartbeat.log",
    "eventsFolder": "/var/log/azure/X/events",
    "eventsFolder_preview": "/var/log/azure/X/events"
  }
}]`

func TestParseEnvironment(t *testing.T) {
	full := Environment{
		Name: "Microsoft.Azure.ActiveDirectory.AADSSHLoginForLinux", Version: 1,
		LogFolder:     "/var/log/azure/Microsoft.Azure.ActiveDirectory.AADSSHLoginForLinux",
		ConfigFolder:  "/var/lib/waagent/X-1.0.0.1/config",
		StatusFolder:  "/var/lib/waagent/X-1.0.0.1/status",
		HeartbeatFile: "/var/lib/waagent/X-1.0.0.1/heartbeat.log",
		EventsFolder:  "/var/log/azure/X/events",
	}
	minimal := `[{"version":"1.0","handlerEnvironment":{"logFolder":"/l","configFolder":"/c","statusFolder":"/s","unknown":1}}]`
	tests := []struct {
		name    string
		in      string
		want    Environment
		wantErr string
	}{
		{name: "agent output", in: agentEnv, want: full},
		{name: "with BOM", in: "\ufeff" + agentEnv, want: full},
		{name: "string version, no events, unknown keys", in: minimal, want: Environment{Version: 1, LogFolder: "/l", ConfigFolder: "/c", StatusFolder: "/s"}},
		{name: "bare object", in: `{"handlerEnvironment":{"logFolder":"/l","configFolder":"/c","statusFolder":"/s"}}`, want: Environment{LogFolder: "/l", ConfigFolder: "/c", StatusFolder: "/s"}},
		{name: "preview events only", in: `[{"handlerEnvironment":{"logFolder":"/l","configFolder":"/c","statusFolder":"/s","eventsFolder_preview":"/e"}}]`, want: Environment{LogFolder: "/l", ConfigFolder: "/c", StatusFolder: "/s", EventsFolder: "/e"}},
		{name: "empty", in: ``, wantErr: "not valid JSON"},
		{name: "two elements", in: `[{},{}]`, wantErr: "2 elements"},
		{name: "no handlerEnvironment", in: `[{"name":"x"}]`, wantErr: "no handlerEnvironment"},
		{name: "missing status folder", in: `[{"handlerEnvironment":{"logFolder":"/l","configFolder":"/c"}}]`, wantErr: "no statusFolder"},
		{name: "relative folder", in: `[{"handlerEnvironment":{"logFolder":"l","configFolder":"/c","statusFolder":"/s"}}]`, wantErr: "not an absolute path"},
		{name: "bad version", in: `[{"version":"x","handlerEnvironment":{"logFolder":"/l","configFolder":"/c","statusFolder":"/s"}}]`, wantErr: "not a number"},
		{name: "newline in path", in: `[{"handlerEnvironment":{"logFolder":"/l\n","configFolder":"/c","statusFolder":"/s"}}]`, wantErr: "control characters"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseEnvironment([]byte(tc.in))
			checkParsed(t, got, err, tc.want, tc.wantErr)
		})
	}
}

func TestLoadEnvironment(t *testing.T) {
	base := t.TempDir()
	bin := filepath.Join(base, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(base, EnvironmentFile), []byte(agentEnv), 0o644); err != nil {
		t.Fatal(err)
	}
	other := t.TempDir()
	noEnv := func(string) string { return "" }
	tests := []struct {
		name     string
		getenv   func(string) string
		exe      string
		wantBase string
		wantErr  error
	}{
		{name: "from extension path env", getenv: func(k string) string {
			if k == "AZURE_GUEST_AGENT_EXTENSION_PATH" {
				return base
			}
			return ""
		}, exe: filepath.Join(other, "x"), wantBase: base},
		{name: "one folder above binary", getenv: noEnv, exe: filepath.Join(bin, "handler"), wantBase: base},
		{name: "next to binary", getenv: noEnv, exe: filepath.Join(base, "handler"), wantBase: base},
		{name: "nowhere", getenv: noEnv, exe: filepath.Join(other, "x"), wantErr: ErrNoEnvironment},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := LoadEnvironment(tc.getenv, tc.exe)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.BaseDir != tc.wantBase || got.StatusFolder != "/var/lib/waagent/X-1.0.0.1/status" {
				t.Errorf("got base %q status %q", got.BaseDir, got.StatusFolder)
			}
		})
	}
}

func TestLoadEnvironmentRejectsHugeOrOddFiles(t *testing.T) {
	dir := t.TempDir()
	big := make([]byte, maxEnvironmentSize+1)
	if err := os.WriteFile(filepath.Join(dir, EnvironmentFile), big, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadEnvironment(func(string) string { return dir }, ""); err == nil || !strings.Contains(err.Error(), "more than") {
		t.Errorf("oversized file: err = %v", err)
	}
	dir2 := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir2, EnvironmentFile), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadEnvironment(func(string) string { return dir2 }, ""); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("directory: err = %v", err)
	}
}

func FuzzParseEnvironment(f *testing.F) {
	f.Add([]byte(agentEnv))
	f.Add([]byte(`[{"handlerEnvironment":{"logFolder":"/l","configFolder":"/c","statusFolder":"/s"}}]`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`[null]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := ParseEnvironment(data)
		if err != nil {
			return
		}
		for _, p := range []string{e.LogFolder, e.ConfigFolder, e.StatusFolder} {
			if !filepath.IsAbs(p) || strings.ContainsAny(p, "\x00\n\r") {
				t.Fatalf("accepted unsafe folder %q", p)
			}
		}
	})
}
