package lifecycle

import (
	"os"
	"strings"
	"testing"
)

// TestEnableRefusesUbuntuInterimRelease: an interim Ubuntu release is refused
// by the support check (51, naming the nearest LTS) before any repository or
// package manager is touched, instead of failing on the missing repository (52).
func TestEnableRefusesUbuntuInterimRelease(t *testing.T) {
	osRelease, err := os.ReadFile("../../distros/internal/fixture/osrelease/unsupported-ubuntu-23.10")
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t)
	h.file("/etc/os-release", string(osRelease))
	if code := h.run("enable"); code != 51 {
		t.Fatalf("exit %d, want 51; stderr: %s", code, h.stderr.String())
	}
	st := h.status(0)
	for _, w := range []string{"Ubuntu 23.10", "interim release", "Ubuntu 24.04 LTS (noble)"} {
		if !strings.Contains(st.Message, w) {
			t.Errorf("status lacks %q: %s", w, st.Message)
		}
	}
	for _, c := range h.runner.Lines() {
		if strings.Contains(c, "apt") || strings.Contains(c, "dpkg") {
			t.Errorf("ran %s before refusing the release", c)
		}
	}
}
