package distros

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/Azure/aadsshlogin-extension-linux/distros/internal/fixture"
	"github.com/Azure/aadsshlogin-extension-linux/distros/repo"
	"github.com/Azure/aadsshlogin-extension-linux/handler/failure"
	"github.com/Azure/aadsshlogin-extension-linux/handler/run/runtest"
)

// The wiring check starts sshd exactly once, after the installation, with
// -T (whose output Ensure returns for the caller's own sshd check), and not
// at all without an sshd binary.
func TestEnsureSSHDConfigTest(t *testing.T) {
	const dump = "port 22\nallowgroups admins\n"
	type outcome struct {
		Code      failure.Code
		SSHDRuns  []string
		SSHDTest  string // stdout of Result.SSHD.Test; "<nil>" when absent
		Failed    bool   // Result.SSHD.TestFailed
		InMessage bool   // the error names the flag and sshd's complaint
		// Notes and Warnings hold the first words of Result.Notes and
		// Result.Warnings mentioning sshd.
		Notes, Warnings []string
	}
	tests := []struct {
		name   string
		binary string // "" for none
		answer runtest.Response
		want   outcome
	}{
		{name: "-T kept for the caller", binary: "/usr/sbin/sshd", answer: runtest.Response{Stdout: dump},
			want: outcome{SSHDRuns: []string{"/usr/sbin/sshd -T"}, SSHDTest: dump}},
		{name: "-T from /sbin", binary: "/sbin/sshd", answer: runtest.Response{Stdout: dump},
			want: outcome{SSHDRuns: []string{"/sbin/sshd -T"}, SSHDTest: dump}},
		{name: "-T rejects the configuration", binary: "/usr/sbin/sshd",
			answer: runtest.Response{ExitCode: 255, Stderr: "/etc/ssh/sshd_config line 9: Bad Match condition"},
			want:   outcome{Code: failure.NotWiredIn, SSHDRuns: []string{"/usr/sbin/sshd -T"}, SSHDTest: "<nil>", InMessage: true}},
		{name: "no sshd binary", want: outcome{SSHDTest: "<nil>"}},
		// Host state, not configuration (OpenSSH 9.2 in Debian 12, first boot
		// or socket activation): a note, never 57. sshd parses its
		// configuration before it checks either.
		{name: "-T without /run/sshd", binary: "/usr/sbin/sshd",
			answer: runtest.Response{ExitCode: 255, Stderr: "Missing privilege separation directory: /run/sshd\r\n"},
			want:   outcome{SSHDRuns: []string{"/usr/sbin/sshd -T"}, SSHDTest: "<nil>", Failed: true, Notes: []string{"sshd has not started yet"}}},
		{name: "-T without host keys", binary: "/usr/sbin/sshd",
			answer: runtest.Response{ExitCode: 1, Stderr: "sshd: no hostkeys available -- exiting.\r\n"},
			want:   outcome{SSHDRuns: []string{"/usr/sbin/sshd -T"}, SSHDTest: "<nil>", Failed: true, Notes: []string{"sshd has not started yet"}}},
		{name: "-T fails without naming the configuration", binary: "/usr/sbin/sshd",
			answer: runtest.Response{ExitCode: 255, Stderr: "xmalloc: out of memory\n"},
			want:   outcome{SSHDRuns: []string{"/usr/sbin/sshd -T"}, SSHDTest: "<nil>", Failed: true, Warnings: []string{"`sshd -T` failed without naming a configuration line"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, "debian-12", repo.Source{})
			h.aptDefaults()
			h.installs()
			const flag = "-T"
			if tc.binary != "" {
				fixture.WriteFile(t, h.root.Path(tc.binary), "")
				h.on(tc.binary+" "+flag, tc.answer)
			}
			res, err := h.in.Ensure(context.Background())
			got := outcome{Code: failure.CodeOf(err), SSHDTest: "<nil>",
				InMessage: err != nil && strings.Contains(err.Error(), "sshd "+flag+": ") && strings.Contains(err.Error(), "Bad Match condition")}
			for _, l := range h.fake.Lines() {
				if strings.Contains(l, "sshd") {
					got.SSHDRuns = append(got.SSHDRuns, l)
				}
			}
			if res.SSHD.Test != nil {
				got.SSHDTest = string(res.SSHD.Test.Stdout)
			}
			got.Failed = res.SSHD.TestFailed
			got.Notes, got.Warnings = sshdLeads(res.Notes), sshdLeads(res.Warnings)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Ensure (-want +got):\n%s\nerr: %v", diff, err)
			}
		})
	}
}

// sshdLeads returns the part before the first ' (' or ';' of each message
// that mentions sshd.
func sshdLeads(msgs []string) []string {
	var out []string
	for _, m := range msgs {
		if !strings.Contains(m, "sshd") {
			continue
		}
		if i := strings.IndexAny(m, "(;"); i > 0 {
			m = strings.TrimSpace(m[:i])
		}
		out = append(out, m)
	}
	return out
}
