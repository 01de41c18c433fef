package release_test

import (
	"strings"
	"testing"

	"github.com/Azure/aadsshlogin-extension-linux/distros/internal/fixture"
	"github.com/Azure/aadsshlogin-extension-linux/distros/release"
)

// The guest agent's unit is walinuxagent on Debian and Ubuntu and waagent
// everywhere else (WALinuxAgent osutil get_service_name); Arc machines set
// their proxy with azcmagent. Every row of the support matrix is covered.
func TestProxyAdvice(t *testing.T) {
	tests := []struct {
		file string
		arc  bool
		want string // the command the advice names
	}{
		{"debian-9", false, "systemctl edit walinuxagent"},
		{"debian-12", false, "systemctl edit walinuxagent"},
		{"ubuntu-16.04", false, "systemctl edit walinuxagent"},
		{"ubuntu-24.04", false, "systemctl edit walinuxagent"},
		{"rhel-7.9", false, "systemctl edit waagent"},
		{"rhel-9.4", false, "systemctl edit waagent"},
		{"almalinux-9", false, "systemctl edit waagent"},
		{"rocky-8", false, "systemctl edit waagent"},
		{"ol-9", false, "systemctl edit waagent"},
		{"sles-12.5", false, "systemctl edit waagent"},
		{"sles-15.6", false, "systemctl edit waagent"},
		{"opensuse-leap-15.6", false, "systemctl edit waagent"},
		{"opensuse-leap-42.3", false, "systemctl edit waagent"},
		{"mariner-2.0", false, "systemctl edit waagent"},
		{"azurelinux-3.0", false, "systemctl edit waagent"},
		{"debian-12", true, "azcmagent config set proxy.url"},
		{"rhel-9.4", true, "azcmagent config set proxy.url"},
	}
	for _, tc := range tests {
		got := release.ProxyAdvice(fixture.Release(t, tc.file), tc.arc)
		if !strings.Contains(got, tc.want) {
			t.Errorf("ProxyAdvice(%s, arc=%v) = %q, want it to name %q", tc.file, tc.arc, got, tc.want)
		}
		other := map[string]string{"systemctl edit walinuxagent": "waagent.service", "systemctl edit waagent": "walinuxagent", "azcmagent config set proxy.url": "systemctl"}[tc.want]
		if strings.Contains(got, other) {
			t.Errorf("ProxyAdvice(%s, arc=%v) = %q also names %q", tc.file, tc.arc, got, other)
		}
		if !tc.arc && !strings.Contains(got, "no_proxy=169.254.169.254") {
			t.Errorf("ProxyAdvice(%s) = %q lacks no_proxy=169.254.169.254", tc.file, got)
		}
	}
	// Unknown machine: both names.
	got := release.ProxyAdvice(release.Release{}, false)
	for _, w := range []string{"waagent.service", "walinuxagent.service on Debian and Ubuntu"} {
		if !strings.Contains(got, w) {
			t.Errorf("ProxyAdvice(unknown) = %q lacks %q", got, w)
		}
	}
}
