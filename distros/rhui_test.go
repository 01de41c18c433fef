package distros

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/Azure/aadsshlogin-extension-linux/distros/internal/fixture"
	"github.com/Azure/aadsshlogin-extension-linux/distros/repo"
	"github.com/Azure/aadsshlogin-extension-linux/handler/failure"
	"github.com/Azure/aadsshlogin-extension-linux/handler/run/runtest"
)

// rhCloudRepo is the shape of Azure's RHUI configuration on RHEL 9 PAYG
// images (/etc/yum.repos.d/rh-cloud.repo, section [rhui-microsoft-azure-rhel9]).
const rhCloudRepo = `[rhui-microsoft-azure-rhel9]
name=Microsoft Azure RPMs for Red Hat Enterprise Linux 9
baseurl=https://rhui4-1.microsoft.com/pulp/repos/unprotected/microsoft-azure-rhel9
enabled=1
gpgcheck=1
sslverify=1

[rhel-9-for-x86_64-baseos-rhui-rpms]
name=Red Hat Enterprise Linux 9 for x86_64 - BaseOS from RHUI (RPMs)
mirrorlist=https://rhui4-1.microsoft.com/pulp/mirror/content/dist/rhel9/rhui/$releasever/x86_64/baseos/os
enabled=1
`

const rhuiUpdate9 = "dnf -y --disablerepo=* --enablerepo=rhui-microsoft-azure-rhel9 update"

func TestEnsureRHUI(t *testing.T) {
	tests := []struct {
		name, osFile, repo string
		rhui               runtest.Response
		install            runtest.Response
		wantFirst          string // first transaction, "" when none
		wantCode           failure.Code
		wantWarn, wantMsg  string
	}{
		{name: "PAYG RHEL 9: RHUI client refreshed first", osFile: "rhel-9.4", repo: rhCloudRepo, wantFirst: rhuiUpdate9},
		{name: "RHEL 7 (yum)", osFile: "rhel-7.9", repo: strings.ReplaceAll(rhCloudRepo, "rhel9", "rhel7"),
			wantFirst: "yum -y --disablerepo=* --enablerepo=rhui-microsoft-azure-rhel7 update"},
		{name: "BYOS RHEL 9: no RHUI repository", osFile: "rhel-9.4"},
		{name: "RHUI refresh fails, install works: warning", osFile: "rhel-9.4", repo: rhCloudRepo, wantFirst: rhuiUpdate9,
			rhui:     runtest.Response{ExitCode: 1, Stderr: "Curl error (58): Problem with the local client certificate"},
			wantWarn: "RHUI"},
		{name: "RHUI refresh fails, install fails: 52 naming RHUI", osFile: "rhel-9.4", repo: rhCloudRepo, wantFirst: rhuiUpdate9,
			rhui:     runtest.Response{ExitCode: 1, Stderr: "Curl error (58): Problem with the local client certificate"},
			install:  runtest.Response{ExitCode: 1, Stderr: "Error: Failed to download metadata for repo 'rhel-9-for-x86_64-appstream-rhui-rpms'"},
			wantCode: failure.Dependency, wantMsg: "RHUI", wantWarn: "RHUI"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.osFile, repo.Source{})
			bin := string(h.in.Platform.Manager)
			h.rpmDefaults(bin)
			if tt.repo != "" {
				fixture.WriteFile(t, h.root.Path("/etc/yum.repos.d/rh-cloud.repo"), tt.repo)
			}
			if tt.wantFirst != "" {
				h.on(tt.wantFirst, tt.rhui)
			}
			h.on(bin+" -y install", tt.install)
			h.installs()
			res, err := h.in.Ensure(context.Background())
			if failure.CodeOf(err) != tt.wantCode {
				t.Fatalf("code %d, want %d: %v", failure.CodeOf(err), tt.wantCode, err)
			}
			if tt.wantMsg != "" && !strings.Contains(failure.Message(err), tt.wantMsg) {
				t.Errorf("message does not name %s: %v", tt.wantMsg, err)
			}
			var tx []string
			for _, c := range h.fake.Calls {
				if c.Detach {
					tx = append(tx, c.String())
				}
			}
			first := ""
			if len(tx) > 0 && strings.Contains(tx[0], "rhui") {
				first = tx[0]
			}
			if diff := cmp.Diff(tt.wantFirst, first); diff != "" {
				t.Errorf("first transaction (-want +got):\n%s\nall: %q", diff, h.fake.Lines())
			}
			if got := slices.ContainsFunc(res.Warnings, func(w string) bool { return strings.Contains(w, "RHUI") }); got != (tt.wantWarn != "") {
				t.Errorf("warnings = %q", res.Warnings)
			}
		})
	}
}
