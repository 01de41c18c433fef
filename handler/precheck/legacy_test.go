package precheck

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/Azure/aadsshlogin-extension-linux/handler/failure"
)

func installed(pkgs map[string]string, err error) (QueryFunc, *[][]string) {
	var calls [][]string
	return func(_ context.Context, names ...string) (map[string]string, error) {
		calls = append(calls, names)
		if err != nil {
			return nil, err
		}
		out := map[string]string{}
		for _, n := range names {
			if v, ok := pkgs[n]; ok {
				out[n] = v
			}
		}
		return out, nil
	}, &calls
}

func TestLegacy(t *testing.T) {
	const (
		verified   = "/var/lib/waagent/Microsoft.Azure.ActiveDirectory.LinuxSSH.AADLoginForLinux-1.0.1588.3/"
		unverified = "/var/lib/waagent/Microsoft.Azure.ActiveDirectory.AADLoginForLinux-1.0.0.1/"
		newExt     = "/var/lib/waagent/Microsoft.Azure.ActiveDirectory.AADSSHLoginForLinux-1.0.3162.1/"
	)
	tests := []struct {
		name     string
		files    map[string]string
		pkgs     map[string]string
		queryErr error
		nilQuery bool
		want     failure.Code
		contains []string
	}{
		{name: "clean machine", files: map[string]string{newExt: ""}, want: failure.OK},
		{name: "no agent dir", want: failure.OK},
		{
			name: "verified handler folder", files: map[string]string{verified: ""}, want: failure.LegacyExtension,
			contains: []string{"handler folder /var/lib/waagent/Microsoft.Azure.ActiveDirectory.LinuxSSH.AADLoginForLinux-1.0.1588.3"},
		},
		{name: "unverified handler folder", files: map[string]string{unverified: ""}, want: failure.LegacyExtension},
		{
			name:  "leftover zip is not a handler",
			files: map[string]string{"/var/lib/waagent/Microsoft.Azure.ActiveDirectory.LinuxSSH.AADLoginForLinux-1.0.1588.3.zip": "PK"},
			want:  failure.OK,
		},
		{
			name: "aadlogin package", pkgs: map[string]string{"aadlogin": "1.0.016050002"}, want: failure.LegacyExtension,
			contains: []string{"packages aadlogin 1.0.016050002"},
		},
		{
			name: "selinux package only", pkgs: map[string]string{"aadlogin-selinux": "1.0.1"}, want: failure.LegacyExtension,
			contains: []string{"packages aadlogin-selinux 1.0.1"},
		},
		{name: "new packages are fine", pkgs: map[string]string{"aadsshlogin": "1.0.034210009"}, want: failure.OK},
		{name: "query fails, nothing else found", queryErr: errors.New("rpmdb broken"), want: failure.Dependency, contains: []string{"rpmdb broken"}},
		{name: "query fails but folder found", files: map[string]string{verified: ""}, queryErr: errors.New("x"), want: failure.LegacyExtension},
		{name: "nil query", nilQuery: true, want: failure.OK},
		{
			name: "apt machine gets apt steps only", files: map[string]string{verified: "", "/usr/bin/apt-get": ""}, want: failure.LegacyExtension,
			contains: []string{"`apt remove --purge aadlogin`", "`dpkg --purge aadlogin`, and if its script still fails, delete /var/lib/dpkg/info/aadlogin.prerm"},
		},
		{
			name: "rpm machine", files: map[string]string{verified: "", "/usr/bin/yum": ""}, want: failure.LegacyExtension,
			contains: []string{"`yum remove aadlogin`", "`rpm -e --noscripts aadlogin`"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := tree(t, tc.files)
			q, calls := installed(tc.pkgs, tc.queryErr)
			if tc.nilQuery {
				q = nil
			}
			err := Legacy(context.Background(), root, q, LegacyHint{})
			if diff := cmp.Diff(tc.want, failure.CodeOf(err)); diff != "" {
				t.Fatalf("code (-want +got):\n%s\nerr: %v", diff, err)
			}
			if !tc.nilQuery {
				if diff := cmp.Diff([][]string{{"aadlogin", "aadlogin-selinux"}}, *calls); diff != "" {
					t.Errorf("queries (-want +got):\n%s", diff)
				}
			}
			msg := failure.Message(err)
			checkMessage(t, msg, tc.contains, nil)
			if tc.want == failure.LegacyExtension {
				checkMessage(t, msg, []string{"az vm extension delete -g <rg> --vm-name <vm> -n AADLoginForLinux", "who -u", "aadlogin-selinux"}, nil)
				if strings.Contains(msg, "apt-get") && !strings.Contains(msg, "apt remove") {
					t.Errorf("no apt step: %s", msg)
				}
				if len(msg) >= maxLegacyMessage {
					t.Errorf("message is %d bytes, want < %d", len(msg), maxLegacyMessage)
				}
			}
		})
	}
}

func TestLegacyNames(t *testing.T) {
	root := tree(t, map[string]string{"/var/lib/waagent/Microsoft.Azure.ActiveDirectory.LinuxSSH.AADLoginForLinux-1.0.1588.3/": ""})
	tests := []struct {
		hint LegacyHint
		want string
	}{
		{LegacyHint{ResourceGroup: "rg1", VMName: "vm1"}, "`az vm extension delete -g rg1 --vm-name vm1 -n AADLoginForLinux`"},
		{LegacyHint{VMName: "vm1"}, "`az vm extension delete -g <rg> --vm-name vm1 -n AADLoginForLinux`"},
		{LegacyHint{ResourceGroup: "rg1", VMName: "ignored", VMSSName: "ss1"}, "`az vmss extension delete -g rg1 --vmss-name ss1 -n AADLoginForLinux`"},
	}
	for _, tc := range tests {
		err := Legacy(context.Background(), root, nil, tc.hint)
		if !strings.Contains(failure.Message(err), tc.want) {
			t.Errorf("%+v: message lacks %q:\n%s", tc.hint, tc.want, failure.Message(err))
		}
	}
}

// TestLegacyMessageBound checks the worst case: every package manager and
// long evidence still fit the bound.
func TestLegacyMessageBound(t *testing.T) {
	files := map[string]string{}
	for _, v := range []string{"1", "2", "3", "4", "5", "6", "7", "8"} {
		files["/var/lib/waagent/Microsoft.Azure.ActiveDirectory.LinuxSSH.AADLoginForLinux-1.0.1588."+v+"/"] = ""
	}
	root := tree(t, files)
	q, _ := installed(map[string]string{"aadlogin": strings.Repeat("9", 300), "aadlogin-selinux": "1"}, nil)
	err := Legacy(context.Background(), root, q, LegacyHint{ResourceGroup: strings.Repeat("r", 90), VMName: strings.Repeat("v", 64)})
	msg := failure.Message(err)
	if len(msg) >= maxLegacyMessage {
		t.Fatalf("message is %d bytes:\n%s", len(msg), msg)
	}
	if !strings.HasSuffix(msg, "run the delete command again.") {
		t.Errorf("instructions were cut (%d bytes):\n%s", len(msg), msg)
	}
	checkMessage(t, msg, []string{"apt remove --purge aadlogin", "yum remove aadlogin", "zypper remove aadlogin", "rpm -e --noscripts aadlogin", "dpkg --purge aadlogin"}, nil)
}
