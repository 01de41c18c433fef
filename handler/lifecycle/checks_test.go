package lifecycle

import (
	"strings"
	"testing"
)

// enable and diagnose run one list of checks (checkSteps): with two
// blocking problems both report the earlier one's code, and diagnose's
// rows come in the list's order.
func TestEnableAndDiagnoseShareOneOrder(t *testing.T) {
	badSettings := func(h *harness) { h.settings(0, `{"mirrror":{}}`) }
	noIdentity := func(h *harness) { h.ident = "missing" }
	unsupported := func(h *harness) {
		h.file("/etc/os-release", "NAME=Fedora Linux\nID=fedora\nVERSION_ID=40\nPRETTY_NAME=\"Fedora Linux 40 (Server Edition)\"\n")
	}
	legacy := func(h *harness) {
		h.file("/var/lib/waagent/Microsoft.Azure.ActiveDirectory.LinuxSSH.AADLoginForLinux-1.0.0.1/HandlerManifest.json", "[]")
	}
	lowMemory := func(h *harness) { h.file("/proc/meminfo", "MemTotal:  500000 kB\n") }
	tests := []struct {
		name  string
		setup []func(*harness)
		want  int
	}{
		{"settings before identity", []func(*harness){noIdentity, badSettings}, 53},
		{"identity before distribution", []func(*harness){unsupported, noIdentity}, 22},
		{"distribution before legacy", []func(*harness){legacy, unsupported}, 51},
		{"legacy before memory", []func(*harness){lowMemory, legacy}, 23},
	}
	index := map[string]int{}
	for i, s := range checkSteps() {
		index[s.name] = i
	}
	stepOf := func(row string) string {
		switch {
		case row == "platform":
			return "instance metadata"
		case strings.HasPrefix(row, "sshd: "):
			return "sshd"
		case strings.HasPrefix(row, "endpoint: "):
			return "endpoints"
		}
		return row
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			for _, f := range tc.setup {
				f(h)
			}
			if got := h.run("enable"); got != tc.want {
				t.Errorf("enable exit %d, want %d: %s", got, tc.want, h.stderr.String())
			}
			h.stdout.Reset()
			d := h.deps()
			d.Outbound = &fakeInternet{}
			code, rows := diagnoseJSON(t, h, d)
			if code != tc.want {
				t.Errorf("diagnose exit %d, want %d:\n%s", code, tc.want, h.stdout.String())
			}
			last := -1
			for _, r := range rows {
				i, ok := index[stepOf(r.Name)]
				if !ok {
					t.Errorf("row %q belongs to no step", r.Name)
					continue
				}
				if i < last {
					t.Errorf("row %q out of the checkSteps order:\n%s", r.Name, h.stdout.String())
				}
				last = i
			}
		})
	}
}
