package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-kit/log"

	"github.com/Azure/aadsshlogin-extension-linux/distros"
	"github.com/Azure/aadsshlogin-extension-linux/distros/release"
	"github.com/Azure/aadsshlogin-extension-linux/distros/repo"
	"github.com/Azure/aadsshlogin-extension-linux/handler/clock"
	"github.com/Azure/aadsshlogin-extension-linux/handler/cloud"
	"github.com/Azure/aadsshlogin-extension-linux/handler/failure"
	"github.com/Azure/aadsshlogin-extension-linux/handler/run"
	"github.com/Azure/aadsshlogin-extension-linux/handler/sysroot"
	"github.com/Azure/aadsshlogin-extension-linux/test/fixtures"
)

// scenarioTimeout bounds one scenario (the installer waits up to minutes
// for locks; ours are released after seconds).
const scenarioTimeout = 4 * time.Minute

// env is shared by all scenarios: keys, the PMC look-alike and its server.
type env struct {
	cache string
	good  *fixtures.Key
	pmc   *fixtures.PMC
	// wrongRoot is the same tree signed by another key.
	wrongRoot string
	srv       *fixtures.Server
	ns        *fixtures.NetNS
}

func requireIntegration(t *testing.T) {
	t.Helper()
	fixtures.RequireIntegration(t, "distros integration tests (mounts, chroot)",
		fixtures.Lacks(true, "mmdebstrap", "tar", "gpg", "dpkg-deb", "apt-ftparchive", "rpmbuild", "rpmsign", "createrepo_c", "ip", "nsenter")...)
}

func newEnv(t *testing.T) *env {
	t.Helper()
	work := t.TempDir()
	e := &env{}
	var err error
	if e.cache, err = fixtures.DefaultCacheDir(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	tarball, built, err := fixtures.BuildChroot(e.cache)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("chroot cache %s (built now: %v) in %s", filepath.Base(tarball), built, time.Since(start).Round(time.Millisecond))
	start = time.Now()
	if e.good, err = fixtures.NewKey(work, "good"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.good.Close)
	wrong, err := fixtures.NewKey(work, "wrong")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(wrong.Close)
	if e.pmc, err = fixtures.BuildPMC(filepath.Join(work, "pmc"), e.good, fixtures.DefaultPackages()); err != nil {
		t.Fatal(err)
	}
	e.wrongRoot = filepath.Join(work, "pmc-wrong")
	if _, err = fixtures.BuildPMC(e.wrongRoot, wrong, fixtures.DefaultPackages()); err != nil {
		t.Fatal(err)
	}
	// Everything runs in a namespace whose only reachable address is the
	// fixture server: a package manager sent anywhere else fails at once.
	if e.ns, err = fixtures.NewNetNS(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.ns.Close)
	if e.srv, err = fixtures.NewServerIn(work, e.pmc.Root, e.ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.srv.Close() })
	t.Logf("keys, packages, repositories and server ready in %s at %s", time.Since(start).Round(time.Millisecond), e.srv.URL)
	return e
}

// recorder is a run.Runner that remembers every command.
type recorder struct {
	inner run.Runner
	mu    sync.Mutex
	cmds  []run.Cmd
}

func (r *recorder) Run(ctx context.Context, c run.Cmd) (run.Result, error) {
	r.mu.Lock()
	r.cmds = append(r.cmds, c)
	r.mu.Unlock()
	return r.inner.Run(ctx, c)
}

// take returns and forgets the recorded commands.
func (r *recorder) take() []run.Cmd {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.cmds
	r.cmds = nil
	return out
}

// installs returns the recorded commands that install, upgrade or unpack
// packages.
func installs(cmds []run.Cmd) []string {
	verbs := map[string][]string{
		"apt-get": {"install", "upgrade", "dist-upgrade", "reinstall"},
		"apt":     {"install", "upgrade", "full-upgrade", "reinstall"},
		"dpkg":    {"-i", "--install", "--unpack"},
		"dnf":     {"install", "update", "upgrade", "reinstall"},
		"yum":     {"install", "update", "upgrade", "reinstall"},
		"tdnf":    {"install", "update", "upgrade", "reinstall"},
		"zypper":  {"install", "in", "update", "up", "dup"},
		"rpm":     {"-i", "-U", "-ivh", "-Uvh", "--install", "--upgrade"},
	}
	var out []string
	for _, c := range cmds {
		vs := verbs[path.Base(c.Path)]
		for _, a := range c.Args {
			for _, v := range vs {
				if a == v {
					out = append(out, c.String())
				}
			}
		}
	}
	return out
}

// scenario is one chroot with an Installer pointed at it.
type scenario struct {
	t   *testing.T
	c   *fixtures.Chroot
	rec *recorder
	in  *distros.Installer
	// progress collects Installer.Progress lines.
	mu       sync.Mutex
	progress []string
	// timeout, when set, bounds each call instead of scenarioTimeout.
	timeout time.Duration
	// selinux is set once the distro's SELinux policy package is installed:
	// Ensure must then install aadsshlogin-selinux too.
	selinux bool
}

// scenario prepares a chroot (Debian 12, or the suite of spec when given)
// posing as pose (nil: itself) with an Installer pointed at it.
func (e *env) scenario(t *testing.T, pose *fixtures.Pose, spec ...fixtures.ChrootSpec) *scenario {
	t.Helper()
	work := t.TempDir()
	start := time.Now()
	cs := fixtures.Bookworm
	if len(spec) > 0 {
		cs = spec[0]
	}
	c, err := cs.NewChroot(e.cache, filepath.Join(work, "chroot"))
	if err != nil {
		t.Fatal(err)
	}
	c.NetNS = e.ns.Path
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Error(err)
		}
	})
	if err := c.TrustCA(e.srv.CAPEM); err != nil {
		t.Fatal(err)
	}
	if pose != nil {
		if err := c.PoseAs(work, *pose); err != nil {
			t.Fatal(err)
		}
	}
	root := sysroot.Root(c.Dir)
	rel, err := release.DetectRelease(root)
	if err != nil {
		t.Fatal(err)
	}
	plat, err := release.Resolve(rel)
	if err != nil {
		t.Fatal(err)
	}
	// The source as the handler builds it for a private mirror: the mirror
	// key first, the pinned Microsoft keys after it.
	src, err := repo.SourceFor(cloud.Endpoints{Packages: cloud.DefaultPackages}, e.srv.URL, e.good.Armored)
	if err != nil {
		t.Fatal(err)
	}
	if !src.Mirror || src.BaseURL != e.srv.URL {
		t.Fatalf("SourceFor = %+v, want a mirror at %s", src, e.srv.URL)
	}
	s := &scenario{t: t, c: c, rec: &recorder{inner: c.Runner()}}
	state := filepath.Join(work, "state")
	if err := os.MkdirAll(state, 0o755); err != nil {
		t.Fatal(err)
	}
	s.in = &distros.Installer{
		Root:     root,
		Runner:   s.rec,
		Clock:    clock.Real{},
		Logger:   log.NewLogfmtLogger(log.NewSyncWriter(testWriter{t})),
		Platform: plat,
		Source:   src,
		StateDir: state,
		Progress: func(line string) {
			s.mu.Lock()
			s.progress = append(s.progress, line)
			s.mu.Unlock()
			t.Logf("progress: %s", line)
		},
	}
	t.Logf("chroot (overlay %v) as %s, manager %s, pin %q ready in %s", c.Overlay, rel.String(), plat.Manager, plat.PinnedVersion, time.Since(start).Round(time.Millisecond))
	return s
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func (s *scenario) ctx() context.Context {
	d := scenarioTimeout
	if s.timeout > 0 {
		d = s.timeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	s.t.Cleanup(cancel)
	return ctx
}

// ensure runs Ensure and fails the test on error.
func (s *scenario) ensure() distros.Result {
	s.t.Helper()
	res, err := s.in.Ensure(s.ctx())
	if err != nil {
		s.t.Fatalf("Ensure: %v (code %d)\ncommands: %q", err, failure.CodeOf(err), cmdStrings(s.rec.take()))
	}
	return res
}

func cmdStrings(cmds []run.Cmd) []string {
	out := make([]string, len(cmds))
	for i, c := range cmds {
		out[i] = c.String()
	}
	return out
}

// mustRun runs a setup or inspection command in the chroot.
func (s *scenario) mustRun(name string, args ...string) string {
	s.t.Helper()
	res, err := s.c.Run(name, args...)
	if err != nil {
		s.t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, res.Stdout, res.Stderr)
	}
	return string(res.Stdout)
}

// dpkgStatus returns "<status> <version>" of a package, "" if unknown.
func (s *scenario) dpkgStatus(pkg string) string {
	res, err := s.c.Run("dpkg-query", "-W", "-f", "${db:Status-Abbrev}${Version}", pkg)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(res.Stdout))
}

// rpmVersion returns the installed version of pkg, "" if absent.
func (s *scenario) rpmVersion(pkg string) string {
	res, err := s.c.Run("rpm", "-q", "--qf", "%{VERSION}", pkg)
	if err != nil {
		return ""
	}
	return string(res.Stdout)
}

// wired checks the fake package's sshd/NSS/PAM edits are (or are not) present.
func (s *scenario) wired(want bool) {
	s.t.Helper()
	for _, f := range []struct{ path, needle string }{
		{"/etc/ssh/sshd_config", "AuthorizedKeysCommand /usr/sbin/aad_certhandler %u %k"},
		{"/etc/nsswitch.conf", " aad"},
		{"/etc/pam.d/sshd", "pam_aad.so"},
	} {
		b, _ := os.ReadFile(s.c.Path(f.path))
		if got := strings.Contains(string(b), f.needle); got != want {
			s.t.Errorf("%s contains %q = %v, want %v", f.path, f.needle, got, want)
		}
	}
}

// copyIn copies a host file into the chroot's /tmp and returns the inside path.
func (s *scenario) copyIn(host string) string {
	s.t.Helper()
	data, err := os.ReadFile(host)
	if err != nil {
		s.t.Fatal(err)
	}
	inside := "/tmp/" + filepath.Base(host)
	if err := os.WriteFile(s.c.Path(inside), data, 0o644); err != nil {
		s.t.Fatal(err)
	}
	return inside
}

func TestInstallerIntegration(t *testing.T) {
	requireIntegration(t)
	e := newEnv(t)
	scenarios := []struct {
		name string
		fn   func(*testing.T, *env)
	}{
		{"debian12/install-idempotent-remove", debInstallRemove},
		{"debian12/wrong-signing-key", debWrongKey},
		{"debian12/lock-held", debLockHeld},
		{"debian12/lock-held-too-long", debLockTooLong},
		{"debian12/repository-unavailable", debUnavailable},
		{"debian12/pam-refused", debPAMRefused},
		{"debian12/sshd-rejects-config", debSSHDRejects},
		{"debian12/interrupted-dpkg", debInterrupted},
		{"debian12/legacy-aadlogin", debLegacy},
		{"debian12/foreign-rewrite", debForeignRewrite},
		{"debian12/deadline-in-transaction", debDeadlineInTransaction},
		{"debian12/selinux-install-remove", selinuxInstallRemove(nil, "/etc/apt/sources.list.d/microsoft-prod.list")},
		{"debian12/selinux-module-not-loaded", selinuxModuleNotLoaded(nil)},
		{"debian12/sshd-not-started", debSSHDNotStarted},
		{"debian12/sshd-not-started-bad-config", debSSHDNotStartedBadConfig},
		{"debian11/install-idempotent-remove", deb11InstallRemove},
		{"debian13/unsupported", deb13Unsupported},
		{"rhel9/dnf-install", rhel9Install},
		{"rhel9/rpm-locked", rhel9RPMLocked},
		{"rhel9/selinux-install-remove", selinuxInstallRemove(&fixtures.PoseRHEL9, "/etc/yum.repos.d/microsoft-prod.repo")},
		{"rhel9/selinux-module-not-loaded", selinuxModuleNotLoaded(&fixtures.PoseRHEL9)},
		{"rhel9/wrong-signing-key", func(t *testing.T, e *env) { rhel9WrongKey(t, e, false) }},
		{"rhel9/wrong-signing-key-skip-if-unavailable", func(t *testing.T, e *env) { rhel9WrongKey(t, e, true) }},
		{"sles15.5/zypper-pinned", sles155Pinned},
		{"sles15.6/zypper-latest", sles156Latest},
		{"sles15.6/wrong-signing-key", slesWrongKey},
		{"sles15.6/zypp-locked", slesZyppLocked},
		{"sles15.6/selinux-install-remove", selinuxInstallRemove(&fixtures.PoseSLES156, "/etc/zypp/repos.d/microsoft-prod.repo")},
	}
	var ran, passed, skipped int
	start := time.Now()
	for _, sc := range scenarios {
		t0 := time.Now()
		var skip, started bool
		ok := t.Run(sc.name, func(t *testing.T) {
			started = true
			defer func() { skip = t.Skipped() }()
			sc.fn(t, e)
		})
		if !started {
			continue // filtered out by -run
		}
		ran++
		switch {
		case skip:
			skipped++
		case ok:
			passed++
		}
		t.Logf("scenario %s: ok=%v skipped=%v in %s", sc.name, ok, skip, time.Since(t0).Round(time.Millisecond))
	}
	t.Logf("scenarios: %d run, %d passed, %d skipped, %d failed in %s; %d HTTPS requests served",
		ran, passed, skipped, ran-passed-skipped, time.Since(start).Round(time.Millisecond), len(e.srv.Log()))
}

// debInstallRemove: install from the loopback repo, wiring present, a second
// Ensure changes nothing, Remove removes packages and repo file, twice.
// Without a SELinux policy package aadsshlogin-selinux is not installed
// (checked by ensureInstalls here and in every scenario that installs).
func debInstallRemove(t *testing.T, e *env) {
	s := e.scenario(t, nil)
	// A foreign source (unreachable path on the same server) must neither be
	// refreshed nor break the installation.
	foreign := "deb [trusted=yes] " + e.srv.URL + "/foreign-repo bookworm main\n"
	if err := os.WriteFile(s.c.Path("/etc/apt/sources.list.d/foreign.list"), []byte(foreign), 0o644); err != nil {
		t.Fatal(err)
	}
	res := s.ensureInstalls(fixtures.LatestVersion)
	if n := e.srv.HitsUnder("/foreign-repo/"); n != 0 {
		t.Errorf("Ensure refreshed a foreign source (%d requests); only the Microsoft source should be refreshed", n)
	}
	if !res.Changed || res.Installed["aadsshlogin"] != fixtures.LatestVersion {
		t.Errorf("first Ensure: Changed=%v Installed=%v, want changed and aadsshlogin %s", res.Changed, res.Installed, fixtures.LatestVersion)
	}
	if !fileExists(s.c.Path("/usr/share/keyrings/microsoft-aadsshlogin.gpg")) {
		t.Errorf("Ensure wrote no keyring /usr/share/keyrings/microsoft-aadsshlogin.gpg")
	}
	if first := s.rec.take(); len(installs(first)) == 0 {
		t.Errorf("first Ensure ran no install command: %q", cmdStrings(first))
	}
	s.ensureUnchanged()
	s.removeTwice("/etc/apt/sources.list.d/microsoft-prod.list", "/usr/share/keyrings/microsoft-aadsshlogin.gpg")
}

// debWrongKey: the repository is signed by another key → code 52 naming
// the signature, nothing installed.
func debWrongKey(t *testing.T, e *env) {
	e.scenario(t, nil).ensureRejectsWrongKey(e, "signature")
}

// debUnavailable: the repository answers 503 → code 52 naming the URL,
// nothing installed.
func debUnavailable(t *testing.T, e *env) {
	s := e.scenario(t, nil)
	e.srv.SetFaults(fixtures.Fault{Prefix: "/", Status: 503})
	defer e.srv.SetFaults()
	s.ensureFails(wantFailure{why: "the repository answers 503", code: 52, anyOf: []string{e.srv.URL}})
	s.wantNotInstalled("without a repository")
}

// debPAMRefused: the package installs but its PAM registration is refused
// (as pam-auth-update does with local changes) → code 57 naming pam_aad.
func debPAMRefused(t *testing.T, e *env) {
	s := e.scenario(t, nil)
	s.touch(fixtures.RefusePAMMarker)
	s.ensureFails(wantFailure{why: "pam_aad is not registered", code: 57, anyOf: []string{"pam_aad"}})
}

// touch creates an empty file (and its directories) inside the chroot.
func (s *scenario) touch(path string) {
	s.t.Helper()
	p := s.c.Path(path)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		s.t.Fatal(err)
	}
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		s.t.Fatal(err)
	}
}

// debSSHDRejects: sshd_config carries a directive this sshd does not know,
// so after the package edits `sshd -T` fails → code 57 naming sshd.
func debSSHDRejects(t *testing.T, e *env) {
	s := e.scenario(t, nil)
	if !fileExists(s.c.Path("/usr/sbin/sshd")) {
		t.Fatal("the chroot has no /usr/sbin/sshd (openssh-server missing from fixtures.ChrootPackages)")
	}
	s.breakSSHDConfig()
	s.ensureFails(wantFailure{why: "sshd rejects its configuration", code: 57, anyOf: []string{"sshd"}})
}

// breakSSHDConfig appends a directive sshd does not know to sshd_config.
func (s *scenario) breakSSHDConfig() {
	s.t.Helper()
	f, err := os.OpenFile(s.c.Path("/etc/ssh/sshd_config"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		s.t.Fatal(err)
	}
	_, err = f.WriteString("NoSuchSSHDOption yes\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		s.t.Fatal(err)
	}
}

// debLockHeld: another process holds dpkg's frontend lock (fcntl, as apt
// and dpkg take it); Ensure waits and succeeds after it is released.
func debLockHeld(t *testing.T, e *env) {
	s := e.scenario(t, nil)
	s.ensureWaitsFor(s.holdLock("/var/lib/dpkg/lock-frontend"), 8*time.Second, "/var/lib/dpkg/lock-frontend")
}

// debLockTooLong: the lock stays held past the deadline → code 56 naming
// the holder; nothing installed.
func debLockTooLong(t *testing.T, e *env) {
	s := e.scenario(t, nil)
	s.holdLock("/var/lib/dpkg/lock-frontend")
	s.timeout = 12 * time.Second
	s.ensureFails(wantFailure{why: "dpkg's lock was held throughout", code: 56, anyOf: []string{"python3"}})
	s.wantNotInstalled("although the lock was held")
}

// holdLock makes a process inside the chroot hold an fcntl write lock on
// path (as apt and dpkg take it), checks apt is really blocked, and returns
// the function that releases it (also run at cleanup).
func (s *scenario) holdLock(path string) (release func()) {
	s.t.Helper()
	stop := s.startHolder(
		"import fcntl,sys,time\n"+
			"f=open(sys.argv[1],'a')\n"+
			"fcntl.lockf(f,fcntl.LOCK_EX)\n"+
			"open('/tmp/lock-held','w').close()\n"+
			"time.sleep(600)\n", path)
	if strings.HasPrefix(path, "/var/lib/dpkg/") {
		if res, err := s.c.Run("apt-get", "install", "-y", "--no-download", "-q", "dpkg"); err == nil {
			s.t.Fatalf("precondition: apt-get was not blocked by the held lock:\n%s", res.Stdout)
		}
	}
	return stop
}

// startHolder runs a python3 script in the chroot that takes a lock and then
// creates /tmp/lock-held, waits for that file and returns the function that
// ends the script (also run at cleanup).
func (s *scenario) startHolder(script string, args ...string) (stop func()) {
	s.t.Helper()
	_, stop, err := s.c.StartBackground("python3", append([]string{"-c", script}, args...)...)
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(stop)
	deadline := time.Now().Add(20 * time.Second)
	for !fileExists(s.c.Path("/tmp/lock-held")) {
		if time.Now().After(deadline) {
			s.t.Fatal("lock holder did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return stop
}

// ensureWaitsFor runs Ensure while a python3 process holds lockFile and
// release frees it after hold: Ensure must succeed only after the release,
// install the latest aadsshlogin and name the holder in a progress line.
func (s *scenario) ensureWaitsFor(release func(), hold time.Duration, lockFile string) {
	s.t.Helper()
	released := time.Now().Add(hold)
	timer := time.AfterFunc(hold, release)
	defer timer.Stop()
	start := time.Now()
	res := s.ensure()
	if time.Now().Before(released) {
		s.t.Errorf("Ensure finished after %s, before the lock on %s was released", time.Since(start), lockFile)
	}
	if got := s.installed(); res.Installed["aadsshlogin"] == "" || got != fixtures.LatestVersion {
		s.t.Errorf("after the lock wait: Installed=%v, aadsshlogin %q installed, want %s", res.Installed, got, fixtures.LatestVersion)
	}
	if !s.progressMentions("python3", lockFile) {
		s.t.Errorf("no progress line names the lock holder python3 and %s: %q", lockFile, s.progress)
	}
	s.t.Logf("Ensure took %s with the lock held for %s", time.Since(start).Round(time.Millisecond), hold)
}

// progressMentions reports whether one progress line contains all words.
func (s *scenario) progressMentions(words ...string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.progress {
		all := true
		for _, w := range words {
			all = all && strings.Contains(l, w)
		}
		if all {
			return true
		}
	}
	return false
}

// debInterrupted: dpkg was interrupted while unpacking the old version
// (package left "unpacked", journal pending); Ensure recovers and installs.
func debInterrupted(t *testing.T, e *env) {
	s := e.scenario(t, nil)
	old := s.copyIn(e.pmc.Debs["aadsshlogin_"+fixtures.PinnedVersion])
	s.mustRun("dpkg", "--unpack", old)
	stanza := s.mustRun("dpkg-query", "-s", "aadsshlogin")
	if err := os.WriteFile(s.c.Path("/var/lib/dpkg/updates/0000"), []byte(stanza), 0o644); err != nil {
		t.Fatal(err)
	}
	if res, err := s.c.Run("apt-get", "check"); err == nil || !strings.Contains(string(res.Stderr), "dpkg was interrupted") {
		t.Fatalf("precondition: apt-get check should report the interruption: %v\n%s", err, res.Stderr)
	}
	s.ensureInstalls(fixtures.LatestVersion)
	if out := s.mustRun("dpkg", "--audit"); strings.TrimSpace(out) != "" {
		t.Errorf("dpkg --audit still reports problems:\n%s", out)
	}
}

// debLegacy: a legacy aadlogin package is reported by Query.
func debLegacy(t *testing.T, e *env) {
	s := e.scenario(t, nil)
	s.mustRun("dpkg", "-i", s.copyIn(e.pmc.Debs["aadlogin_"+fixtures.LegacyVersion]))
	got, err := s.in.Query(s.ctx(), "aadlogin", "aadsshlogin")
	if err != nil {
		t.Fatalf("Query: %v", err)
	}
	if got["aadlogin"] != fixtures.LegacyVersion {
		t.Errorf("Query = %v, want aadlogin %s", got, fixtures.LegacyVersion)
	}
	if _, ok := got["aadsshlogin"]; ok {
		t.Errorf("Query reports aadsshlogin, which is not installed: %v", got)
	}
}

// rhel9Install: dnf installs the latest aadsshlogin from rhel/9/prod.
func rhel9Install(t *testing.T, e *env) {
	s := e.scenario(t, &fixtures.PoseRHEL9)
	s.ensureInstalls(fixtures.LatestVersion)
	s.ensureUnchanged()
	s.removeTwice("/etc/yum.repos.d/microsoft-prod.repo")
}

// rhel9RPMLocked: another process holds rpm's transaction lock; Ensure
// waits, names the holder and succeeds after the release.
func rhel9RPMLocked(t *testing.T, e *env) {
	s := e.scenario(t, &fixtures.PoseRHEL9)
	s.ensureWaitsFor(s.holdLock("/var/lib/rpm/.rpm.lock"), 7*time.Second, ".rpm.lock")
}

// rhel9WrongKey: repository metadata and packages signed by another key →
// code 52 naming the signature, nothing installed. With skipUnavailable the
// admin has set skip_if_unavailable=True in dnf.conf (Fedora's and Debian's
// default), so dnf merely ignores the repository unless told otherwise.
func rhel9WrongKey(t *testing.T, e *env, skipUnavailable bool) {
	s := e.scenario(t, &fixtures.PoseRHEL9)
	if skipUnavailable {
		conf := s.c.Path("/etc/dnf/dnf.conf")
		b, err := os.ReadFile(conf)
		if err != nil {
			t.Fatal(err)
		}
		b = []byte(strings.Replace(string(b), "skip_if_unavailable=False", "skip_if_unavailable=True", 1))
		if err := os.WriteFile(conf, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s.ensureRejectsWrongKey(e, "signature", "gpg")
}

// sles155Pinned: below 15.6 the pinned version is installed although a
// newer one is published, and a later Ensure does not upgrade it.
func sles155Pinned(t *testing.T, e *env) {
	s := e.scenario(t, &fixtures.PoseSLES155)
	if s.in.Platform.PinnedVersion != fixtures.PinnedVersion {
		t.Fatalf("Resolve pinned %q, want %s", s.in.Platform.PinnedVersion, fixtures.PinnedVersion)
	}
	s.ensureInstalls(fixtures.PinnedVersion)
	s.ensureUnchanged()
	if got := s.installed(); got != fixtures.PinnedVersion {
		t.Errorf("second Ensure moved aadsshlogin to %q", got)
	}
	s.removeTwice("/etc/zypp/repos.d/microsoft-prod.repo")
	if b, err := os.ReadFile(s.c.Path("/etc/zypp/locks")); err == nil && strings.Contains(string(b), "aadsshlogin") {
		t.Errorf("Remove left the zypper lock on aadsshlogin:\n%s", b)
	}
}

// sles156Latest: from 15.6 on the latest version is installed, and a
// second Ensure does not take the older version zypper lists ("v") for an
// upgrade.
func sles156Latest(t *testing.T, e *env) {
	s := e.scenario(t, &fixtures.PoseSLES156)
	s.ensureInstalls(fixtures.LatestVersion)
	s.ensureUnchanged()
}

// slesZyppLocked: another process owns zypper's lock (/run/zypp.pid names
// a live process); Ensure waits, reports the holder and succeeds after it
// exits.
func slesZyppLocked(t *testing.T, e *env) {
	s := e.scenario(t, &fixtures.PoseSLES156)
	stop := s.startHolder(
		"import os,time\n" +
			"open('/run/zypp.pid','w').write(str(os.getpid()))\n" +
			"open('/tmp/lock-held','w').close()\n" +
			"time.sleep(600)\n")
	if res, err := s.c.Run("zypper", "-n", "refresh"); err == nil || res.ExitCode != 7 {
		t.Fatalf("precondition: zypper should report the lock (exit 7), got %v\n%s%s", err, res.Stdout, res.Stderr)
	}
	s.ensureWaitsFor(stop, 7*time.Second, "zypp.pid")
}

// slesWrongKey: zypper refuses metadata signed by an untrusted key → code
// 52 naming the signature, nothing installed.
func slesWrongKey(t *testing.T, e *env) {
	e.scenario(t, &fixtures.PoseSLES156).ensureRejectsWrongKey(e, "signature", "signed")
}

// ensureInstalls runs Ensure, which must succeed with version of
// aadsshlogin installed and wired into sshd, NSS and PAM.
func (s *scenario) ensureInstalls(version string) distros.Result {
	s.t.Helper()
	res := s.ensure()
	if got := s.installed(); got != version {
		s.t.Errorf("aadsshlogin %q installed, want %s (Installed=%v)", got, version, res.Installed)
	}
	if got := s.version(selinuxPkg); (got != "") != s.selinux || res.SELinux != s.selinux {
		s.t.Errorf("SELinux policy package installed: %v; but %s %q installed and Result.SELinux = %v", s.selinux, selinuxPkg, got, res.SELinux)
	}
	s.wired(true)
	return res
}

// ensureUnchanged runs Ensure again: nothing may change and no command may
// install anything.
func (s *scenario) ensureUnchanged() {
	s.t.Helper()
	s.rec.take()
	if res := s.ensure(); res.Changed {
		s.t.Errorf("second Ensure reported Changed=true")
	}
	if in := installs(s.rec.take()); len(in) > 0 {
		s.t.Errorf("second Ensure ran install commands: %q", in)
	}
}

// removeTwice runs Remove twice; after each the package, its wiring and
// files (the repository's) must be gone. First, while an Entra user is
// logged in, the package's removal script must refuse (as the real one
// does), which the handler's uninstall relies on ending the sessions for.
func (s *scenario) removeTwice(files ...string) {
	s.t.Helper()
	s.removeRefusedWhileEntraUserLoggedIn()
	for i := 1; i <= 2; i++ {
		if err := s.in.Remove(s.ctx()); err != nil {
			s.t.Fatalf("Remove #%d: %v", i, err)
		}
		s.wantNotInstalled(fmt.Sprintf("after Remove #%d", i))
		s.wired(false)
		for _, f := range files {
			if fileExists(s.c.Path(f)) {
				s.t.Errorf("Remove #%d left %s", i, f)
			}
		}
	}
}

// removeRefusedWhileEntraUserLoggedIn logs alice@contoso.com in (a live
// process with a utmp record in the chroot), checks that Remove fails with
// the removal script's aaduserdel refusal and leaves aadsshlogin installed,
// then ends the session and clears utmp.
func (s *scenario) removeRefusedWhileEntraUserLoggedIn() {
	s.t.Helper()
	sleep := exec.Command("sleep", "600")
	if err := sleep.Start(); err != nil {
		s.t.Fatal(err)
	}
	defer func() { _ = sleep.Process.Kill(); _ = sleep.Wait() }()
	// /var/run links to /run: write inside the chroot, never through the link.
	utmp := s.c.Path("/run/utmp")
	if err := os.WriteFile(utmp, fixtures.UtmpRecord(7, int32(sleep.Process.Pid), "pts/4", "alice@contoso.com", "203.0.113.8"), 0o664); err != nil {
		s.t.Fatal(err)
	}
	defer os.Remove(utmp)
	before := s.installed()
	err := s.in.Remove(s.ctx())
	// apt shows the script's own line; dnf and zypper report only that the
	// %preun scriptlet failed (its output goes to their logs).
	refusal := []string{fmt.Sprintf("aaduserdel: user alice@contoso.com is currently used by process %d", sleep.Process.Pid),
		"PREUN scriptlet", "%preun"}
	if err == nil || !containsAny(failure.Message(err), refusal) {
		s.t.Errorf("Remove with an Entra user logged in: %v; want the removal script's refusal (%q)", err, refusal)
	}
	if got := s.installed(); got == "" || got != before {
		s.t.Errorf("aadsshlogin after the refused removal: %q, want %q still installed", got, before)
	}
}

func containsAny(s string, subs []string) bool {
	for _, x := range subs {
		if strings.Contains(s, x) {
			return true
		}
	}
	return false
}

// wantFailure is how Ensure must fail in a scenario.
type wantFailure struct {
	why  string // the condition, for the message when Ensure succeeds
	code failure.Code
	// anyOf: the message names at least one of these.
	anyOf []string
	// allOf: the message names each of these.
	allOf []string
	// fold: compare anyOf with the message in lower case.
	fold bool
}

// ensureFails runs Ensure, which must fail as w says.
func (s *scenario) ensureFails(w wantFailure) {
	s.t.Helper()
	_, err := s.in.Ensure(s.ctx())
	if err == nil {
		s.t.Fatalf("Ensure succeeded although %s", w.why)
	}
	if got := failure.CodeOf(err); got != w.code {
		s.t.Errorf("code %d, want %d: %v", got, w.code, err)
	}
	msg := err.Error()
	if w.fold {
		msg = strings.ToLower(msg)
	}
	for _, word := range w.allOf {
		if !strings.Contains(msg, word) {
			s.t.Errorf("message does not name %q: %v", word, err)
		}
	}
	if len(w.anyOf) == 0 {
		return
	}
	for _, word := range w.anyOf {
		if strings.Contains(msg, word) {
			return
		}
	}
	s.t.Errorf("message names none of %q: %v", w.anyOf, err)
}

// ensureRejectsWrongKey serves the repository signed by another key: Ensure
// must fail with 52, its message naming the signature by one of words (in
// lower case), and install nothing.
func (s *scenario) ensureRejectsWrongKey(e *env, words ...string) {
	s.t.Helper()
	e.srv.SetFaults(fixtures.Fault{Prefix: "/", Dir: e.wrongRoot})
	defer e.srv.SetFaults()
	s.ensureFails(wantFailure{why: "the repository is signed with an untrusted key", code: 52, anyOf: words, fold: true})
	s.wantNotInstalled("from an untrusted repository")
}

// installed returns the installed version of aadsshlogin (see version).
func (s *scenario) installed() string { return s.version("aadsshlogin") }

// version returns the installed version of pkg, "" when it is not
// installed: on apt systems dpkg's status must be "ii " (a status "ii"
// with an error flag is returned whole), elsewhere rpm's answer.
func (s *scenario) version(pkg string) string {
	if s.in.Platform.Manager != release.Apt {
		return s.rpmVersion(pkg)
	}
	st := s.dpkgStatus(pkg)
	if v, ok := strings.CutPrefix(st, "ii "); ok {
		return v
	}
	if strings.HasPrefix(st, "ii") {
		return st
	}
	return ""
}

// wantNotInstalled fails the test when aadsshlogin or aadsshlogin-selinux
// is installed.
func (s *scenario) wantNotInstalled(when string) {
	s.t.Helper()
	for _, pkg := range []string{"aadsshlogin", selinuxPkg} {
		if got := s.version(pkg); got != "" {
			s.t.Errorf("%s %q installed %s", pkg, got, when)
		}
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// debForeignRewrite: after the install, another product (as
// packages-microsoft-prod does) rewrites microsoft-prod.list with its own
// definition of the same repository and its own keyring. The next Ensure
// installs from it, warns and leaves it byte-identical; Remove leaves it
// too and removes only our keyring.
func debForeignRewrite(t *testing.T, e *env) {
	s := e.scenario(t, nil)
	s.ensureInstalls(fixtures.LatestVersion)
	list := "/etc/apt/sources.list.d/microsoft-prod.list"
	ours, err := os.ReadFile(s.c.Path(list))
	if err != nil {
		t.Fatal(err)
	}
	ring, err := os.ReadFile(s.c.Path("/usr/share/keyrings/microsoft-aadsshlogin.gpg"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.c.Path("/usr/share/keyrings/microsoft-prod.gpg"), ring, 0o644); err != nil {
		t.Fatal(err)
	}
	url := strings.Fields(strings.SplitN(string(ours), "] ", 2)[1])[0]
	foreign := "deb [arch=amd64,arm64,armhf signed-by=/usr/share/keyrings/microsoft-prod.gpg] " + url + " bookworm main\n"
	if err := os.WriteFile(s.c.Path(list), []byte(foreign), 0o644); err != nil {
		t.Fatal(err)
	}
	res := s.ensure()
	if got, _ := os.ReadFile(s.c.Path(list)); string(got) != foreign {
		t.Errorf("enable rewrote the foreign %s: %q", list, got)
	}
	if len(res.Warnings) == 0 || !strings.Contains(res.Warnings[0], "installs from it") {
		t.Errorf("warnings = %q, want one saying the foreign file is used", res.Warnings)
	}
	if err := s.in.Remove(s.ctx()); err != nil {
		t.Fatal(err)
	}
	s.wantNotInstalled("after Remove")
	if got, _ := os.ReadFile(s.c.Path(list)); string(got) != foreign {
		t.Errorf("uninstall changed the foreign %s: %q", list, got)
	}
	if fileExists(s.c.Path("/usr/share/keyrings/microsoft-aadsshlogin.gpg")) {
		t.Error("uninstall left our keyring")
	}
}

// debDeadlineInTransaction: the budget ends while the real apt-get install
// runs detached (a dpkg Pre-Invoke hook makes it slow): 56 saying it still
// runs, the repository stays under it; the next Ensure, started at once,
// waits for that transaction and converges without installing again.
func debDeadlineInTransaction(t *testing.T, e *env) {
	s := e.scenario(t, nil)
	hook := s.c.Path("/etc/apt/apt.conf.d/99slow-dpkg")
	if err := os.WriteFile(hook, []byte(`DPkg::Pre-Invoke {"sleep 12";};`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s.timeout = 8 * time.Second
	s.ensureFails(wantFailure{why: "the budget ended during apt-get install", code: 56,
		allOf: []string{"still running", "apt-get install", "az vm extension set"}})
	if !fileExists(s.c.Path("/etc/apt/sources.list.d/microsoft-prod.list")) || !fileExists(s.c.Path("/usr/share/keyrings/microsoft-aadsshlogin.gpg")) {
		t.Error("the repository configuration was removed under the running transaction")
	}
	if err := os.Remove(hook); err != nil {
		t.Fatal(err)
	}
	s.rec.take()
	s.timeout = 0
	start := time.Now()
	s.ensureInstalls(fixtures.LatestVersion)
	if !s.progressMentions("waiting for the package-manager transaction an earlier run") {
		t.Errorf("the next Ensure did not wait for the running transaction: %q", s.progress)
	}
	if in := installs(s.rec.take()); len(in) > 0 {
		t.Errorf("the next Ensure installed again: %q", in)
	}
	t.Logf("the next Ensure converged after %s", time.Since(start).Round(time.Millisecond))
}
