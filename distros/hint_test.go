package distros

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/Azure/aadsshlogin-extension-linux/distros/internal/fixture"
	"github.com/Azure/aadsshlogin-extension-linux/distros/release"
	"github.com/Azure/aadsshlogin-extension-linux/distros/repo"
	"github.com/Azure/aadsshlogin-extension-linux/handler/failure"
	"github.com/Azure/aadsshlogin-extension-linux/handler/run"
)

// TestRepoHintProxy: with a proxy in the agent's environment, advice about
// reachability names that proxy (redacted by the caller) instead of telling
// the user to set one.
func TestRepoHintProxy(t *testing.T) {
	src := repo.Source{BaseURL: "https://packages.microsoft.com"}
	tests := []struct {
		name, stderr, proxy string
		want, wantNot       []string
	}{
		{"unreachable, no proxy", "E: Failed to fetch https://packages.microsoft.com/x  Could not connect to packages.microsoft.com:443 (13.1.2.3), connection timed out", "",
			[]string{"cannot be reached; allow outbound HTTPS (443)", "If the VM must use a proxy", "walinuxagent.service"}, []string{"through the proxy"}},
		{"unreachable through a proxy", "E: Failed to fetch https://packages.microsoft.com/x  Could not connect to 10.0.0.5:3128 (10.0.0.5). - connect (111: Connection refused)", "http://10.0.0.5:3128",
			[]string{"cannot be reached through the proxy. Check that the proxy http://10.0.0.5:3128 (", "is up and lets the VM reach https://packages.microsoft.com", "walinuxagent.service", "no_proxy=169.254.169.254"}, []string{"If the VM must use a proxy"}},
		{"denied by a proxy", "E: Failed to fetch https://packages.microsoft.com/x  403  Forbidden", "http://10.0.0.5:3128",
			[]string{"denied (401/403)", "Check that the proxy http://10.0.0.5:3128 ("}, nil},
		{"TLS inspection", "E: Failed to fetch https://packages.microsoft.com/x  Certificate verification failed", "http://10.0.0.5:3128",
			[]string{"TLS-inspecting proxy", "Check that the proxy http://10.0.0.5:3128 ("}, nil},
		{"404 says nothing about proxies", "E: Failed to fetch https://packages.microsoft.com/x  404  Not Found", "http://10.0.0.5:3128",
			[]string{"not found (404)"}, []string{"proxy"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := repoHint(run.Result{Stderr: []byte(tc.stderr)}, src, tc.proxy, release.ProxyAdvice(release.Release{ID: "debian"}, false))
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("hint lacks %q:\n%s", w, got)
				}
			}
			for _, w := range tc.wantNot {
				if strings.Contains(got, w) {
					t.Errorf("hint has %q:\n%s", w, got)
				}
			}
		})
	}
}

// A package-manager failure on RHEL names waagent.service, on Debian
// walinuxagent.service, and the installer's own advice when the caller set
// it (Arc).
func TestPMFailureNamesAgentUnit(t *testing.T) {
	res := run.Result{Stderr: []byte("Curl error (7): Couldn't connect to server for https://packages.microsoft.com/rhel/9/prod/repodata/repomd.xml")}
	tests := []struct {
		file, advice string
		want         []string
	}{
		{"rhel-9.4", "", []string{"waagent.service", "systemctl edit waagent"}},
		{"debian-12", "", []string{"walinuxagent.service"}},
		{"rhel-9.4", release.ProxyAdvice(release.Release{}, true), []string{"azcmagent config set proxy.url"}},
	}
	for _, tc := range tests {
		in := &Installer{Platform: release.Platform{Release: fixture.Release(t, tc.file)}, Source: repo.Source{BaseURL: "https://packages.microsoft.com"}, ProxyAdvice: tc.advice}
		err := in.pmFailure("refreshing the repository", res, errors.New("exit 1"))
		var got []string
		for _, w := range tc.want {
			if strings.Contains(failure.Message(err), w) {
				got = append(got, w)
			}
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s: message names (-want +got):\n%s\n%s", tc.file, diff, failure.Message(err))
		}
	}
}
