package integration

import (
	"context"
	"fmt"
	"os"
	"path"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/aadsshlogin-extension-linux/handler/run"
	"github.com/Azure/aadsshlogin-extension-linux/test/fixtures"
)

// A VM at first boot: apt-daily/unattended-upgrades, cloud-init,
// dnf-makecache or SUSE's registration take the package-manager locks
// between any two of the handler's commands. The lock battery reproduces
// that with the real managers: right before each command that takes a
// lock, a separate process in the chroot takes the manager's real locks
// (fcntl, as dpkg and rpm take them; /run/zypp.pid with its pid and an
// fcntl lock, as libzypp does) and holds them for a while, so the command
// starts while they are held. Ensure and Remove must still converge.

// holderScript takes the locks named in argv[3:], creates the marker argv[2]
// once it holds them all, holds them argv[1] seconds (0: until killed) and
// removes the pid files it wrote.
const holderScript = `import fcntl,os,sys,time
hold=float(sys.argv[1]); marker=sys.argv[2]; fs=[]
for p in sys.argv[3:]:
    f=open(p,'a+')
    fcntl.lockf(f,fcntl.LOCK_EX)
    if p.endswith('.pid'):
        f.truncate(0); f.write(str(os.getpid())); f.flush()
    fs.append(f)
open(marker,'w').close()
time.sleep(hold if hold>0 else 3600)
for p in sys.argv[3:]:
    if p.endswith('.pid'): os.unlink(p)
`

// batteryManager is one manager's world in the battery: the chroot's pose,
// the repository file Ensure writes there, and the locks a first-boot job
// of that world takes.
type batteryManager struct {
	name  string
	pose  *fixtures.Pose // nil: Debian 12 itself
	repo  string
	locks []string
}

var batteryManagers = []batteryManager{
	{"apt", nil, "/etc/apt/sources.list.d/microsoft-prod.list", []string{"/var/lib/dpkg/lock-frontend", "/var/lib/dpkg/lock"}},
	{"dnf", &fixtures.PoseRHEL9, "/etc/yum.repos.d/microsoft-prod.repo", []string{"/var/lib/rpm/.rpm.lock"}},
	{"zypper", &fixtures.PoseSLES156, "/etc/zypp/repos.d/microsoft-prod.repo", []string{"/run/zypp.pid", "/var/lib/rpm/.rpm.lock"}},
}

// lockTaker is a run.Runner that has the locks taken right before every
// package-manager command, then runs it.
type lockTaker struct {
	s     *scenario
	inner run.Runner
	locks []string
	hold  time.Duration // 0: never released
	// only, when set, limits the lock taking to commands it accepts.
	only  func(run.Cmd) bool
	steps atomic.Int32
	// last is the previous command the locks were taken for: the handler
	// running it again after a lock failure is the same step, which a
	// first-boot job does not interrupt twice.
	last string
}

// managerPrograms are the package-manager programs the handler runs. The
// locks are taken before every one of them, queries included, whether or
// not the handler expects that program to need a lock.
var managerPrograms = []string{"apt-get", "apt-cache", "apt-mark", "dpkg", "dpkg-query", "rpm", "dnf", "yum", "zypper"}

func (l *lockTaker) Run(ctx context.Context, c run.Cmd) (run.Result, error) {
	if slices.Contains(managerPrograms, path.Base(c.Path)) && (l.only == nil || l.only(c)) && c.String() != l.last {
		l.last = c.String()
		n := l.steps.Add(1)
		marker := "/tmp/lock-taken-" + strconv.Itoa(int(n))
		args := append([]string{"-c", holderScript, strconv.FormatFloat(l.hold.Seconds(), 'f', 1, 64), marker}, l.locks...)
		_, stop, err := l.s.c.StartBackground("python3", args...)
		if err != nil {
			return run.Result{ExitCode: -1}, fmt.Errorf("lock taker: %w", err)
		}
		l.s.t.Cleanup(stop)
		deadline := time.Now().Add(30 * time.Second)
		for !fileExists(l.s.c.Path(marker)) {
			if time.Now().After(deadline) {
				return run.Result{ExitCode: -1}, fmt.Errorf("lock taker did not take %v before `%s`", l.locks, c)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return l.inner.Run(ctx, c)
}

// withLockTaker puts a lockTaker for the scenario's manager m in front of
// its runner.
func (s *scenario) withLockTaker(m batteryManager, hold time.Duration) *lockTaker {
	l := &lockTaker{s: s, inner: s.in.Runner, locks: m.locks, hold: hold}
	s.in.Runner = l
	return l
}

func TestLockBattery(t *testing.T) {
	requireIntegration(t)
	e := newEnv(t)
	var counts []int
	converged := 0
	for _, m := range batteryManagers {
		t.Run(m.name, func(t *testing.T) {
			s := e.scenario(t, m.pose)
			l := s.withLockTaker(m, 1500*time.Millisecond)
			s.ensureInstalls(fixtures.LatestVersion)
			if !s.progressMentions("python3") {
				t.Errorf("no progress line names the lock taker python3: %q", s.progress)
			}
			s.removeTwice(m.repo)
			counts = append(counts, int(l.steps.Load()))
			if !t.Failed() {
				converged++
			}
			t.Logf("%s: the locks were taken before each of %d package-manager steps; install and remove converged", m.name, l.steps.Load())
		})
	}
	if converged == len(batteryManagers) {
		n := strconv.Itoa(slices.Min(counts))
		if hi := slices.Max(counts); hi != slices.Min(counts) {
			n += "–" + strconv.Itoa(hi)
		}
		t.Logf("lock battery: %s steps × %d managers, all converged (apt %d, dnf %d, zypper %d package-manager steps of install + remove twice, each started while another process held the manager's locks)",
			n, len(batteryManagers), counts[0], counts[1], counts[2])
	}

	// A lock that is never released: 56 naming the holder, never 52.
	for _, m := range batteryManagers {
		t.Run("never-released-"+m.name, func(t *testing.T) {
			s := e.scenario(t, m.pose)
			l := s.withLockTaker(m, 0)
			// Taken before the first transaction that installs, held forever.
			l.only = func(c run.Cmd) bool { return len(installs([]run.Cmd{c})) > 0 }
			s.timeout = 40 * time.Second
			s.ensureFails(wantFailure{why: "the lock was never released", code: 56, allOf: []string{"python3"}})
			s.wantNotInstalled("although the lock was never released")
			if _, err := os.Stat(s.c.Path(m.repo)); err != nil {
				t.Logf("repository file %s: %v", m.repo, err)
			}
		})
	}
}
