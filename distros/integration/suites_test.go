package integration

import (
	"os"
	"strings"
	"testing"

	"github.com/Azure/aadsshlogin-extension-linux/distros/release"
	"github.com/Azure/aadsshlogin-extension-linux/handler/failure"
	"github.com/Azure/aadsshlogin-extension-linux/handler/sysroot"
	"github.com/Azure/aadsshlogin-extension-linux/test/fixtures"
)

// removeRunSSHD takes away sshd's privilege-separation directory, as on a
// VM where sshd has not started yet (first boot, socket-activated ssh),
// and checks that the real sshd (OpenSSH 9.2) then refuses to test.
func (s *scenario) removeRunSSHD() {
	s.t.Helper()
	if err := os.RemoveAll(s.c.Path("/run/sshd")); err != nil {
		s.t.Fatal(err)
	}
	res, err := s.c.Run("/usr/sbin/sshd", "-T")
	if err == nil || res.ExitCode != 255 || !strings.Contains(string(res.Stderr), "Missing privilege separation directory: /run/sshd") {
		s.t.Fatalf("sshd -T without /run/sshd: exit %d, err %v, stderr %q; want 255 and the missing directory", res.ExitCode, err, res.Stderr)
	}
}

// debSSHDNotStarted: without /run/sshd the real `sshd -T` exits 255; that is
// host state, not configuration: Ensure converges with a note, and removal
// works.
func debSSHDNotStarted(t *testing.T, e *env) {
	s := e.scenario(t, nil)
	s.removeRunSSHD()
	res := s.ensureInstalls(fixtures.LatestVersion)
	if len(res.Notes) != 1 || !strings.Contains(res.Notes[0], "sshd has not started yet") || !strings.Contains(res.Notes[0], "/run/sshd") {
		t.Errorf("Notes = %q, want one saying sshd has not started yet (/run/sshd)", res.Notes)
	}
	if !res.SSHD.TestFailed || res.SSHD.Test != nil {
		t.Errorf("SSHD.TestFailed = %v, SSHD.Test = %v; want true, nil", res.SSHD.TestFailed, res.SSHD.Test)
	}
	s.removeTwice("/etc/apt/sources.list.d/microsoft-prod.list")
}

// debSSHDNotStartedBadConfig: sshd parses its configuration before it
// looks for /run/sshd, so a broken line is still reported (and is 57) on a
// machine where sshd has not started: the wiring check keeps judging the
// configuration at first boot.
func debSSHDNotStartedBadConfig(t *testing.T, e *env) {
	s := e.scenario(t, nil)
	s.removeRunSSHD()
	s.breakSSHDConfig()
	res, _ := s.c.Run("/usr/sbin/sshd", "-T")
	if out := string(res.Stderr); !strings.Contains(out, "Bad configuration option: NoSuchSSHDOption") || strings.Contains(out, "privilege separation") {
		t.Fatalf("sshd -T with a bad line and no /run/sshd: %q; want the configuration error first", out)
	}
	s.ensureFails(wantFailure{why: "sshd rejects its configuration", code: 57, allOf: []string{"NoSuchSSHDOption"}})
}

// deb11InstallRemove: the same real apt scenario as Debian 12 on a Debian
// 11 (bullseye, apt 2.2) chroot and the bullseye repository.
func deb11InstallRemove(t *testing.T, e *env) {
	s := e.scenario(t, nil, fixtures.SuiteSpec("bullseye"))
	if rel := s.in.Platform.Release; rel.VersionID != "11" || s.in.Platform.Manager != release.Apt {
		t.Fatalf("chroot detected as %s with %s, want Debian 11 with apt", rel.String(), s.in.Platform.Manager)
	}
	res := s.ensureInstalls(fixtures.LatestVersion)
	if !res.Changed {
		t.Errorf("first Ensure: Changed=false")
	}
	if n := e.srv.HitsUnder("/repos/microsoft-debian-bullseye-prod/"); n == 0 {
		t.Errorf("no request to the bullseye repository")
	}
	s.ensureUnchanged()
	s.removeTwice("/etc/apt/sources.list.d/microsoft-prod.list", "/usr/share/keyrings/microsoft-aadsshlogin.gpg")
}

// deb13Unsupported: Debian 13 (trixie) is outside the support matrix:
// the real os-release of a trixie chroot gives exit 51 naming it.
func deb13Unsupported(t *testing.T, e *env) {
	c, err := fixtures.SuiteSpec("trixie").NewChroot(e.cache, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Error(err)
		}
	})
	rel, err := release.DetectRelease(sysroot.Root(c.Dir))
	if err != nil {
		t.Fatal(err)
	}
	_, err = release.Resolve(rel)
	if got := failure.CodeOf(err); got != failure.UnsupportedOS {
		t.Fatalf("Resolve(%s) code %d, want %d: %v", rel.String(), got, failure.UnsupportedOS, err)
	}
	msg := failure.Message(err)
	for _, w := range []string{"Debian GNU/Linux 13 (trixie)", `VERSION_ID="13"`, "Debian 9–12"} {
		if !strings.Contains(msg, w) {
			t.Errorf("exit 51 message lacks %q: %s", w, msg)
		}
	}
	t.Logf("exit 51: %s", msg)
}
