package sandbox

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
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

// buildBinaries builds the demo command (which is also the sandbox's inner
// side) and a static agentsim.
func buildBinaries(t *testing.T) (demo, agentsim string) {
	t.Helper()
	dir := t.TempDir()
	demo, agentsim = filepath.Join(dir, "demo"), filepath.Join(dir, "agentsim")
	for out, pkg := range map[string]string{demo: "../demo", agentsim: "../agentsim/cmd/agentsim"} {
		cmd := exec.Command("go", "build", "-o", out, pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, b)
		}
	}
	return demo, agentsim
}

func TestScenarios(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("AADSSH_REQUIRE_INTEGRATION") == "1" {
			t.Fatal("the sandbox needs root")
		}
		t.Skip("the sandbox needs root")
	}
	zip := requireEnv(t, "AADSSH_ZIP")
	next := requireEnv(t, "AADSSH_NEXT_ZIP")
	demo, agentsim := buildBinaries(t)
	tests := []struct {
		scenario string
		// want are lines (substrings) the transcript must contain.
		want []string
	}{
		{scenario: "full", want: []string{
			`first    install     v1.0.0.1`, `ext=success "Microsoft Entra ID sign-in is ready: aadsshlogin 1.0.030000001 from private mirror`,
			`https://127.0.0.1:`, `/… (from prote`,
			`managed identity         ok`, `endpoint: packages       ok`, `(exit 52)`,
			`update   uninstall   v1.0.0.1`, `the aadsshlogin packages stay installed.`,
			`dpkg-query aadsshlogin: install ok installed 1.0.030000001`,
			`The aadsshlogin packages and the repository configuration this extension added were removed.`,
			`scenario "full" passed`,
		}},
		{scenario: "no-identity", want: []string{`exit=22`, `ext=transitioning`, `az vm identity assign`, `scenario "no-identity" passed`}},
		{scenario: "downgrade", want: []string{`update      v1.0.0.2`, `dpkg-query aadsshlogin: install ok installed`, `scenario "downgrade" passed`}},
		{scenario: "arc", want: []string{`ext=success "Microsoft Entra ID sign-in is ready`, `scenario "arc" passed`}},
		{scenario: "arc-hostile-realm", want: []string{`exit=52`, `the path contains ".."`, `scenario "arc-hostile-realm" passed`}},
		{scenario: "proxy", want: []string{`ext=success "Microsoft Entra ID sign-in is ready`,
			`dpkg-query aadsshlogin: install ok installed`, `, 0 to IMDS,`, `token request(s) direct, 0 in proxy form`,
			`scenario "proxy" passed`}},
		{scenario: "proxy-down", want: []string{`exit=52`, `ext=error`, `walinuxagent.service`,
			`repository: 0 request(s) reached it directly`, `, 0 in proxy form`, `scenario "proxy-down" passed`}},
		{scenario: "legacy", want: []string{`exit=23`, `ext=transitioning`, `AADLoginForLinux`, `scenario "legacy" passed`}},
		{scenario: "first-boot", want: []string{`Missing privilege separation directory: /run/sshd`, `MemTotal:       862208 kB`,
			`ext=success "Microsoft Entra ID sign-in is ready`, `sshd has not started yet`, `holds`, `unattended-upgr`,
			`memory                   ok      842 MiB`, `is still the other product's, byte for byte`, `scenario "first-boot" passed`}},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			var out bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
			defer cancel()
			err := Run(ctx, Options{Zip: zip, NextZip: next, Scenario: tc.scenario, Self: demo, Agentsim: agentsim,
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
