package faults

import (
	"strings"
	"testing"

	"github.com/Azure/aadsshlogin-extension-linux/test/realagent"
)

func TestAptListComplete(t *testing.T) {
	full := "# written by AADSSHLoginForLinux\ndeb [arch=amd64 signed-by=/usr/share/keyrings/k.gpg] https://m.example/repos/microsoft-debian-bookworm-prod bookworm main\n"
	tests := []struct {
		in   string
		want bool
	}{
		{full, true},
		{strings.TrimSuffix(full, "\n"), false},
		{full[:len(full)/2], false},
		{full[:len(full)-6] + "\n", false},
		{"", false},
		{"# only a comment\n", false},
		{full + full, false},
		{"deb https://m.example bookworm main\n", false},
	}
	for _, tc := range tests {
		if got := aptListComplete(tc.in); got != tc.want {
			t.Errorf("aptListComplete(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestExitCode(t *testing.T) {
	const base = "/var/lib/waagent/" + realagent.Name + "-1.0.0.1/scripts/aadsshlogin-shim "
	launch := func(verbs ...string) []realagent.Launch {
		var out []realagent.Launch
		for _, v := range verbs {
			out = append(out, realagent.Launch{Cmd: base + v})
		}
		return out
	}
	tests := []struct {
		name string
		rep  realagent.Report
		verb string
		code int
		ran  bool
	}{
		{"success", realagent.Report{Commands: launch("install", "enable")}, "enable", 0, true},
		{"not run", realagent.Report{Commands: launch("install")}, "enable", 0, false},
		{"killed install (handler message)", realagent.Report{Commands: launch("install"),
			Handler: realagent.HandlerStatus{Message: "Non-zero exit code: -9, " + base + "install\n[stdout]\n\n[stderr]\n"}}, "install", -9, true},
		{"enable 52, install fine", realagent.Report{Commands: launch("install", "enable"),
			Handler: realagent.HandlerStatus{Message: "Non-zero exit code: 52, " + base + "enable\n[stdout]\n"}}, "install", 0, true},
		{"enable 52", realagent.Report{Commands: launch("install", "enable"),
			Handler: realagent.HandlerStatus{Message: "Non-zero exit code: 52, " + base + "enable\n[stdout]\n"}}, "enable", 52, true},
		{"swallowed uninstall (error line)", realagent.Report{Commands: launch("disable", "uninstall"),
			Errors: []string{"[ExtHandler] Non-zero exit code: 55, " + base + "uninstall\n[stdout]"}}, "uninstall", 55, true},
	}
	for _, tc := range tests {
		code, ran := exitCode(tc.rep, tc.verb)
		if code != tc.code || ran != tc.ran {
			t.Errorf("%s: exitCode(%s) = %d, %v; want %d, %v", tc.name, tc.verb, code, ran, tc.code, tc.ran)
		}
	}
}

func TestLeaks(t *testing.T) {
	rep := realagent.Report{Raw: []byte(`{"message":"mirror https://m/s3cr3t/x"}`), Errors: []string{"fine", "url s3cr3t"}}
	if got := leaks(rep, "s3cr3t"); len(got) != 2 {
		t.Errorf("leaks = %q, want the status blob and one error line", got)
	}
	if got := leaks(rep, "other"); len(got) != 0 {
		t.Errorf("leaks of an absent secret = %q", got)
	}
}
