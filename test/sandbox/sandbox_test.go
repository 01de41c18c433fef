package sandbox

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/aadsshlogin-extension-linux/test/fixtures"
)

// requireEnv returns the value of an environment variable the end-to-end
// tests need (set by `make test`), skipping or failing without it.
func requireEnv(t *testing.T, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v != "" {
		return v
	}
	if os.Getenv("AADSSH_REQUIRE_INTEGRATION") == "1" {
		t.Fatalf("%s is not set (make test sets it to the built zip)", name)
	}
	t.Skipf("%s not set; run through `make test`", name)
	return ""
}

// TestMain makes the test binary the sandbox's inner side too (Host.Call
// re-executes it inside the namespace).
func TestMain(m *testing.M) {
	Serve(nil)
	os.Exit(m.Run())
}

func TestScenarios(t *testing.T) {
	fixtures.RequireIntegration(t, "the sandbox (chroots, network namespaces)", fixtures.Lacks(true)...)
	zip := requireEnv(t, "AADSSH_ZIP")
	next := requireEnv(t, "AADSSH_NEXT_ZIP")
	tests := []struct {
		scenario string
		// want are lines (substrings) the transcript must contain.
		want []string
	}{
		{scenario: "full", want: []string{
			`waagent 2.7.3.0 ran: 1.0.0.1 install, 1.0.0.1 enable`,
			`extension seq=0 Enable success code=0 "Microsoft Entra ID sign-in is ready: aadsshlogin 1.0.030000001 from private mirror https://127.0.0.1:`,
			`/… (from protected settings)`,
			`managed identity         ok`, `endpoint: packages       ok`, `(exit 52)`,
			`Disable success code=0 "Extension disabled.`,
			`waagent 2.7.3.0 ran: 1.0.0.1 disable, 1.0.0.2 update, 1.0.0.1 uninstall, 1.0.0.2 install, 1.0.0.2 enable`,
			`waagent 2.7.3.0 ran: 1.0.0.2 disable, 1.0.0.2 update, 1.0.0.2 uninstall, 1.0.0.1 install, 1.0.0.1 enable`,
			`dpkg-query aadsshlogin: install ok installed 1.0.030000001`,
			`waagent 2.7.3.0 ran: 1.0.0.1 disable, 1.0.0.1 uninstall`, `agent reports: nothing for the extension`,
			`scenario "full" passed`,
		}},
		{scenario: "no-identity", want: []string{`transitioning code=22`, `az vm identity assign`, `Enable success code=0`, `scenario "no-identity" passed`}},
		{scenario: "downgrade", want: []string{`1.0.0.2 update, 1.0.0.2 uninstall, 1.0.0.1 install`, `dpkg-query aadsshlogin: install ok installed`, `scenario "downgrade" passed`}},
		{scenario: "arc", want: []string{`Enable success code=0 "Microsoft Entra ID sign-in is ready`, `scenario "arc" passed`}},
		{scenario: "arc-hostile-realm", want: []string{`error code=52`, `the path contains \"..\"`, `scenario "arc-hostile-realm" passed`}},
		{scenario: "proxy", want: []string{`Enable success code=0 "Microsoft Entra ID sign-in is ready`,
			`dpkg-query aadsshlogin: install ok installed`, `, 0 to IMDS,`, `token request(s) direct, 0 in proxy form`,
			`scenario "proxy" passed`}},
		{scenario: "proxy-down", want: []string{`error code=52`, `walinuxagent.service`,
			`repository: 0 request(s) reached it directly`, `, 0 in proxy form`, `scenario "proxy-down" passed`}},
		{scenario: "first-once", want: []string{`this goal state: 1 IMDS token request(s), 1 repository index download(s)`, `scenario "first-once" passed`}},
		{scenario: "unsupported", want: []string{`Enable error code=51`, `scenario "unsupported" passed`}},
		{scenario: "repo-down", want: []string{`Enable error code=52`, `scenario "repo-down" passed`}},
		{scenario: "bad-settings", want: []string{`Enable error code=53`, `scenario "bad-settings" passed`}},
		{scenario: "low-memory", want: []string{`Enable error code=54`, `scenario "low-memory" passed`}},
		{scenario: "busy", want: []string{`Enable error code=56`, `scenario "busy" passed`}},
		{scenario: "bad-sshd", want: []string{`Enable error code=57`, `scenario "bad-sshd" passed`}},
		{scenario: "entra-session", want: []string{`alice@contoso.com logged in on pts/7`,
			`waagent 2.7.3.0 ran: 1.0.0.1 disable, 1.0.0.1 uninstall`, `the session process ended: signal: hangup`,
			`ending 1 Microsoft Entra user session(s) after the 60 s grace period: alice@contoso.com on pts/7`,
			`no packages found matching aadsshlogin`, `scenario "entra-session" passed`}},
		{scenario: "entra-session-stuck", want: []string{`with a session that cannot be ended (utmp names pid 1)`,
			`agent logged: `, `Non-zero exit code: 55`, `dpkg-query aadsshlogin: install ok installed`,
			`alice@contoso.com logged out`, `scenario "entra-session-stuck" passed`}},
		{scenario: "trixie-agent", want: []string{`waagent 2.12.0.2 ran: 1.0.0.1 install, 1.0.0.1 enable`, `Enable error code=51`, `waagent 2.12.0.2 ran: 1.0.0.1 uninstall`, `scenario "trixie-agent" passed`}},
		{scenario: "remove-busy", want: []string{`Disable error code=56`, `waagent 2.7.3.0 ran: 1.0.0.1 disable, 1.0.0.1 uninstall`, `scenario "remove-busy" passed`}},
		{scenario: "first-boot", want: []string{`Missing privilege separation directory: /run/sshd`, `MemTotal:       862208 kB`,
			`waagent 2.7.3.0 ran: 1.0.0.1 install, 1.0.0.1 enable`, `Enable success code=0 "Microsoft Entra ID sign-in is ready`,
			`sshd has not started yet`, `holds`, `unattended-upgr`, `memory                   ok      842 MiB`,
			"substatus packages warning: /etc/apt/sources.list.d/microsoft-prod.list was rewritten by another program",
			`is still the other product's, byte for byte`, `waagent 2.7.3.0 ran: 1.0.0.1 disable, 1.0.0.1 uninstall`,
			`scenario "first-boot" passed`}},
		{scenario: "legacy", want: []string{`transitioning code=23`, `AADLoginForLinux`, `Enable success code=0`, `scenario "legacy" passed`}},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			var out bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
			defer cancel()
			err := Run(ctx, Options{Zip: zip, NextZip: next, Scenario: tc.scenario,
				WorkDir: filepath.Join(t.TempDir(), "work"), Out: &out})
			t.Log("\n" + out.String())
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("transcript lacks %q", w)
				}
			}
		})
	}
}

func TestUnknownScenario(t *testing.T) {
	if err := Run(context.Background(), Options{Scenario: "nope"}); err == nil || !strings.Contains(err.Error(), "unknown scenario") {
		t.Fatalf("err = %v", err)
	}
}
