package precheck

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Real sshd messages (OpenSSH 9.2, Debian 12 chroot, and servconf.c).
func TestClassifySSHDTestFailure(t *testing.T) {
	tests := []struct {
		name, out string
		want      SSHDTestVerdict
	}{
		{"bad option", "/etc/ssh/sshd_config: line 3: Bad configuration option: Foo\n/etc/ssh/sshd_config: terminating, 1 bad configuration options\n", SSHDConfigRejected},
		{"match directive", "/etc/ssh/sshd_config line 9: Directive 'Port' is not allowed within a Match block\n", SSHDConfigRejected},
		{"included file", "/etc/ssh/sshd_config.d/50-x.conf line 2: unsupported option \"x\".\n", SSHDConfigRejected},
		{"privsep dir", "Missing privilege separation directory: /run/sshd\r\n", SSHDHostState},
		{"no host keys", "sshd: no hostkeys available -- exiting.\r\n", SSHDHostState},
		{"unreadable key then none", "Unable to load host key: /etc/ssh/ssh_host_rsa_key\r\nsshd: no hostkeys available -- exiting.\r\n", SSHDHostState},
		{"privsep user", "Privilege separation user sshd does not exist\r\n", SSHDHostState},
		{"empty", "", SSHDUnexplained},
		{"other", "xmalloc: out of memory\n", SSHDUnexplained},
		{"line without number", "online help\n", SSHDUnexplained},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, ClassifySSHDTestFailure(tc.out)); diff != "" {
				t.Errorf("ClassifySSHDTestFailure(%q) (-want +got):\n%s", tc.out, diff)
			}
		})
	}
}

func FuzzClassifySSHDTestFailure(f *testing.F) {
	for _, s := range []string{"line 3: Bad configuration option: x", "Missing privilege separation directory: /run/sshd", "line ", "LINE 9", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, out string) {
		v := ClassifySSHDTestFailure(out)
		if v < SSHDConfigRejected || v > SSHDUnexplained {
			t.Fatalf("verdict %d out of range", v)
		}
	})
}
