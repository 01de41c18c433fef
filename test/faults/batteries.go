package faults

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/Azure/aadsshlogin-extension-linux/test/fixtures"
	"github.com/Azure/aadsshlogin-extension-linux/test/realagent"
)

// enableAgain returns how the agent launched enable in rep (the command
// line and the variables it set), with the sequence number seq instead.
func enableAgain(rep realagent.Report, seq int) (line string, env []string, err error) {
	var en *realagent.Launch
	for i := range rep.Commands {
		if rep.Commands[i].Verb() == "enable" {
			en = &rep.Commands[i]
		}
	}
	if en == nil {
		return "", nil, fmt.Errorf("the agent ran no enable: %s", describe(rep))
	}
	if _, ok := en.Env["ConfigSequenceNumber"]; !ok {
		return "", nil, fmt.Errorf("the agent set no ConfigSequenceNumber for enable: %v", en.Env)
	}
	for k, val := range en.Env {
		if k == "ConfigSequenceNumber" {
			val = fmt.Sprint(seq)
		}
		env = append(env, k+"="+val)
	}
	sort.Strings(env)
	return en.Cmd, env, nil
}

// handlerCmd runs a handler command line the way the agent does: /bin/sh
// -c, cwd = the versioned folder, a new session, the agent's environment
// plus env.
func (v *VM) handlerCmd(ctx context.Context, line string, env []string) *exec.Cmd {
	cmd := v.E.Chroot(ctx, append(append([]string(nil), v.E.AgentEnv...), env...), "/bin/sh", "-c", "cd "+v.BaseDir()+" && "+line)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	return cmd
}

func countLines(s, sub string) int {
	n := 0
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			n++
		}
	}
	return n
}

// ConcurrentBattery starts n enables of the same new sequence number at
// once on a machine where aadsshlogin was removed after a first
// deployment: one of them must install it, the others must wait for the
// handler lock and find it installed.
func (v *VM) ConcurrentBattery(ctx context.Context, n int) {
	r := Result{Battery: "concurrent", Case: fmt.Sprintf("%d enables of sequence 1 started together", n)}
	defer func() { v.Emit(r) }()
	if err := v.Reset(ctx); err != nil {
		r.problem("reset: %v", err)
		return
	}
	first, err := v.First(ctx)
	if err := v.succeeded(first, err); err != nil {
		r.problem("first deployment: %v", err)
		return
	}
	line, env, err := enableAgain(first, 1)
	if err != nil {
		r.problem("%v", err)
		return
	}
	if out, err := v.run(ctx, "dpkg", "--purge", "aadsshlogin"); err != nil {
		r.problem("purge: %v %s", err, out)
		return
	}
	debs, _ := filepath.Glob(v.Path("/var/cache/apt/archives/*.deb"))
	for _, d := range debs {
		_ = os.Remove(d) // so the one installation downloads the .deb again
	}
	set, err := os.ReadFile(v.Path(v.BaseDir() + "/config/0.settings"))
	if err == nil {
		err = os.WriteFile(v.Path(v.BaseDir()+"/config/1.settings"), set, 0o600)
	}
	if err != nil {
		r.problem("settings for sequence 1: %v", err)
		return
	}
	installsBefore, logBefore := v.dpkgInstalls(), len(v.handlerLog())
	v.E.Repo.Reset()
	cmds := make([]*exec.Cmd, n)
	outs := make([]*bytes.Buffer, n)
	for i := range cmds {
		cmds[i] = v.handlerCmd(ctx, line, env)
		outs[i] = &bytes.Buffer{}
		cmds[i].Stdout, cmds[i].Stderr = outs[i], outs[i]
	}
	start := time.Now()
	var wg sync.WaitGroup
	codes := make([]int, n)
	for i, c := range cmds {
		if err := c.Start(); err != nil {
			r.problem("start enable %d: %v", i, err)
			return
		}
		wg.Add(1)
		go func(i int, c *exec.Cmd) {
			defer wg.Done()
			_ = c.Wait()
			codes[i] = c.ProcessState.ExitCode()
		}(i, c)
	}
	wg.Wait()
	elapsed := time.Since(start)
	for i, c := range codes {
		switch c {
		case 0:
			r.count("exit0", 1)
		case 56:
			r.count("exit56", 1)
		default:
			r.count("exitOther", 1)
			r.problem("enable %d exited %d: %s", i, c, clip(outs[i].String(), 300))
		}
	}
	log := v.handlerLog()[logBefore:]
	r.count("dpkgInstalls", v.dpkgInstalls()-installsBefore)
	r.count("debDownloads", v.debHits())
	r.count("aptGetInstallRuns", countLines(log, "apt-get install"))
	r.count("aptGetUpdateRuns", countLines(log, "apt-get update"))
	r.count("fastPathSkips", countLines(log, "event=skip"))
	r.count("elapsedMs", int(elapsed.Milliseconds()))
	// All must succeed: each waits for the handler lock (bounded by 120 s,
	// then 56), and the serialised runs take seconds.
	if r.Counts["exit0"] != n {
		r.problem("%d of %d enables exited 0 (56: %d)", r.Counts["exit0"], n, r.Counts["exit56"])
	}
	if r.Counts["dpkgInstalls"] != 1 || r.Counts["aptGetInstallRuns"] != 1 || r.Counts["debDownloads"] != 1 {
		r.problem("want exactly one package installation, dpkg.log has %d, handler.log %d apt-get install runs, the repository served the .deb %d times",
			r.Counts["dpkgInstalls"], r.Counts["aptGetInstallRuns"], r.Counts["debDownloads"])
	}
	// The README: an already-processed sequence number on a healthy
	// machine is a no-op without network or package manager. The enables
	// that waited for the lock find sequence 1 completed and skip.
	if r.Counts["fastPathSkips"] != n-1 || r.Counts["aptGetUpdateRuns"] != 1 {
		r.problem("want %d enables to skip the completed sequence number and one apt-get update; got %d skips and %d apt-get update runs",
			n-1, r.Counts["fastPathSkips"], r.Counts["aptGetUpdateRuns"])
	}
	r.Torn = v.Torn(ctx)
	if len(r.Torn) > 0 {
		r.problem("torn files: %s", strings.Join(r.Torn, ", "))
	}
	for _, p := range v.Converged(ctx, 1) {
		r.problem("%s", p)
	}
	r.Converged = len(r.Problems) == 0
	r.Status, r.Message = v.ReadStatus(1)
}

// pkgCase is one package-manager or repository fault.
type pkgCase struct {
	name   string
	faults []fixtures.Fault
	// setup runs after the reset, before the first deployment.
	setup func(ctx context.Context, v *VM) error
	want  int
	// cause: the status message must contain one of these (case-insensitive).
	cause []string
	// check inspects the machine after the first deployment, which ended
	// at done.
	check func(v *VM, done time.Time) []string
}

const debRepoPrefix = "/repos/microsoft-debian-bookworm-prod/"

func pkgCases() []pkgCase {
	return []pkgCase{
		{name: "repository answers 404", faults: []fixtures.Fault{{Prefix: debRepoPrefix, Status: 404}}, want: 52, cause: []string{"404"}},
		{name: "repository answers 500", faults: []fixtures.Fault{{Prefix: debRepoPrefix, Status: 500}}, want: 52, cause: []string{"500"}},
		{name: "repository answers 429", faults: []fixtures.Fault{{Prefix: debRepoPrefix, Status: 429}}, want: 52, cause: []string{"429"}},
		{name: "package file answers 404 (metadata fine)", faults: []fixtures.Fault{{Prefix: debRepoPrefix + "pool/", Status: 404}}, want: 52, cause: []string{"404"}},
		{name: "repository delays every answer by 1.5 s", faults: []fixtures.Fault{{Prefix: debRepoPrefix, Delay: 1500 * time.Millisecond}}, want: 0},
		{name: "dpkg frontend lock held for 8 s", want: 0, setup: holdLock(8), check: func(v *VM, done time.Time) []string {
			var p []string
			if !strings.Contains(v.handlerLog(), "waiting for the package manager") {
				p = append(p, "handler.log does not show the wait for the package-manager lock")
			}
			if done.Before(v.lockUntil) {
				p = append(p, fmt.Sprintf("the first deployment ended %s before the lock was released", v.lockUntil.Sub(done).Round(time.Millisecond)))
			}
			return p
		}},
		{name: "interrupted dpkg (aadsshlogin unpacked, not configured)", want: 0, setup: unpackOnly, check: func(v *VM, _ time.Time) []string {
			if !strings.Contains(v.handlerLog(), "--configure -a") {
				return []string{"handler.log does not show dpkg --configure -a"}
			}
			return nil
		}},
	}
}

// WrongKeyCase is run after the host re-signed the repository with another key.
func wrongKeyCase() pkgCase {
	return pkgCase{name: "repository re-signed with a wrong key", want: 52, cause: []string{"signature", "NO_PUBKEY", "not signed", "EXPKEYSIG", "BADSIG"}}
}

// holdLock starts a process in the VM that holds an flock on dpkg's
// frontend lock for secs seconds.
func holdLock(secs int) func(ctx context.Context, v *VM) error {
	return func(ctx context.Context, v *VM) error {
		cmd := v.E.Chroot(context.WithoutCancel(ctx), nil, "flock", "/var/lib/dpkg/lock-frontend", "sleep", fmt.Sprint(secs))
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		if err := cmd.Start(); err != nil {
			return err
		}
		v.lockUntil = time.Now().Add(time.Duration(secs) * time.Second)
		go func() { _ = cmd.Wait() }()
		for i := 0; i < 100; i++ {
			if locks, _ := os.ReadFile("/proc/locks"); bytes.Contains(locks, []byte(fmt.Sprintf(" %d ", cmd.Process.Pid))) || v.running(func(a []string) bool { return len(a) > 0 && a[0] == "sleep" }) {
				time.Sleep(100 * time.Millisecond)
				return nil
			}
			time.Sleep(20 * time.Millisecond)
		}
		return fmt.Errorf("the lock holder did not start")
	}
}

// unpackOnly leaves aadsshlogin unpacked but not configured, as an
// interrupted dpkg run does.
func unpackOnly(ctx context.Context, v *VM) error {
	var deb string
	_ = filepath.WalkDir(v.E.Config.RepoRoot, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasPrefix(d.Name(), "aadsshlogin_") && strings.HasSuffix(d.Name(), ".deb") {
			deb = p
		}
		return nil
	})
	if deb == "" {
		return fmt.Errorf("no aadsshlogin .deb below %s", v.E.Config.RepoRoot)
	}
	data, err := os.ReadFile(deb)
	if err != nil {
		return err
	}
	if err := os.WriteFile(v.Path("/tmp/aadsshlogin.deb"), data, 0o644); err != nil {
		return err
	}
	if out, err := v.run(ctx, "dpkg", "--unpack", "/tmp/aadsshlogin.deb"); err != nil {
		return fmt.Errorf("dpkg --unpack: %v: %s", err, out)
	}
	if audit, _ := v.run(ctx, "dpkg", "--audit"); strings.TrimSpace(audit) == "" {
		return fmt.Errorf("dpkg --audit is clean after --unpack")
	}
	return nil
}

// PackageBattery runs the package cases ("wrongkey": only that one, after
// the host re-signed the repository).
func (v *VM) PackageBattery(ctx context.Context, which string) {
	cases := pkgCases()
	if which == "wrongkey" {
		cases = []pkgCase{wrongKeyCase()}
	}
	for _, c := range cases {
		v.Emit(v.pkgCase(ctx, c, which == "wrongkey"))
	}
}

func (v *VM) pkgCase(ctx context.Context, c pkgCase, noRecovery bool) Result {
	r := Result{Battery: "package", Case: c.name, Counts: map[string]int{"want": c.want}}
	if err := v.Reset(ctx); err != nil {
		r.problem("reset: %v", err)
		return r
	}
	if c.setup != nil {
		if err := c.setup(ctx, v); err != nil {
			r.problem("setup: %v", err)
			return r
		}
	}
	v.E.Repo.SetFaults(c.faults...)
	rep, err := v.First(ctx)
	done := time.Now()
	v.E.Repo.SetFaults()
	if err != nil {
		r.problem("%v", err)
		return r
	}
	if !r.record(rep) {
		return r
	}
	v.logf("package %q: enable exit %d, %s: %s", c.name, r.Exit, r.Status, clip(r.Message, 240))
	if r.Exit != c.want {
		r.problem("enable (reporting install's outcome) exited %d, want %d: %s", r.Exit, c.want, describe(rep))
	}
	if t := v.Torn(ctx); len(t) > 0 {
		r.problem("torn files: %s", strings.Join(t, ", "))
	}
	if c.want == 0 {
		if err := v.succeeded(rep, nil); err != nil {
			r.problem("%v", err)
		}
		for _, p := range v.Converged(ctx, 0) {
			r.problem("%s", p)
		}
	} else {
		if r.Status != "error" {
			r.problem("status is %q, want error", r.Status)
		}
		if c.want == 52 && containsAny(r.Message, []string{"cannot be reached"}) && containsAny(r.Message, []string{" 500", " 429"}) {
			r.note("the hint says the repository cannot be reached although it answered HTTP %s", strings.Join(c.cause, "/"))
		}
		if !containsAny(r.Message, c.cause) {
			r.problem("the status message does not name the cause (%s): %q", strings.Join(c.cause, " or "), r.Message)
		}
		if code := rep.Handler.Extension.Code; code != c.want {
			r.problem("status code %d, want %d", code, c.want)
		}
	}
	if c.check != nil {
		for _, p := range c.check(v, done) {
			r.problem("%s", p)
		}
	}
	if c.want != 0 && !noRecovery {
		// The fault is gone and the user sets the extension again: the new
		// goal state (a new sequence number; install succeeded, having handed
		// its failure to enable) must converge.
		if err := v.succeeded(v.Settings(ctx)); err != nil {
			r.problem("no recovery after the fault was removed: %v", err)
		}
		for _, p := range v.Converged(ctx, v.seq) {
			r.problem("after recovery: %s", p)
		}
	}
	r.Converged = len(r.Problems) == 0
	return r
}

// record records in r what the agent reports for a first deployment: that
// the case ran (Hit), enable's exit code and the extension status. Install
// must have exited 0: it hands its outcome to enable. Without an enable or
// an extension status it records a problem and returns false.
func (r *Result) record(rep realagent.Report) bool {
	if code, _ := exitCode(rep, "install"); code != 0 {
		r.problem("install exited %d, want 0 (it hands its outcome to enable): %s", code, describe(rep))
	}
	exit, ran := exitCode(rep, "enable")
	x := rep.Handler.Extension
	if !ran || x == nil {
		r.problem("no enable with an extension status: %s", describe(rep))
		return false
	}
	r.Hit, r.Exit, r.Status, r.Message = true, exit, x.Status, x.Message
	return true
}

func containsAny(s string, subs []string) bool {
	low := strings.ToLower(s)
	for _, x := range subs {
		if strings.Contains(low, strings.ToLower(x)) {
			return true
		}
	}
	return false
}

// IMDSCase runs a first deployment against the fake IMDS scenario the
// sandbox was entered with and checks the install's exit code and status.
func (v *VM) IMDSCase(ctx context.Context, scenario string, want int) {
	r := Result{Battery: "imds", Case: scenario, Counts: map[string]int{"want": want}}
	defer func() { v.Emit(r) }()
	if err := v.Reset(ctx); err != nil {
		r.problem("reset: %v", err)
		return
	}
	start := time.Now()
	rep, err := v.First(ctx)
	if err != nil {
		r.problem("%v", err)
		return
	}
	r.count("seconds", int(time.Since(start).Seconds()))
	r.count("tokenRequests", v.E.IMDS.TokenRequests())
	if !r.record(rep) {
		return
	}
	wantStatus := map[int]string{0: "success", 22: "transitioning", 52: "error"}[want]
	if r.Exit != want || r.Status != wantStatus || rep.Handler.Extension.Code != want {
		r.problem("enable (reporting install's outcome) exit %d status %q code %d, want %d %q %d: %s",
			r.Exit, r.Status, rep.Handler.Extension.Code, want, wantStatus, want, clip(r.Message, 300))
	}
	switch want {
	case 0:
		if err := v.succeeded(rep, nil); err != nil {
			r.problem("%v", err)
		}
		for _, p := range v.Converged(ctx, 0) {
			r.problem("%s", p)
		}
	case 22:
		if !strings.Contains(r.Message, "az vm identity assign") {
			r.problem("the message does not say how to assign the identity: %q", r.Message)
		}
		if out, _ := v.run(ctx, "dpkg-query", "-W", "-f=${Status}", "aadsshlogin"); out == "install ok installed" {
			r.problem("aadsshlogin was installed without a system-assigned identity")
		}
	case 52:
		if !containsAny(r.Message, []string{"169.254.169.254", "IMDS", "metadata"}) || !strings.Contains(r.Message, "500") {
			r.problem("the message does not name IMDS and its answer: %q", r.Message)
		}
	}
	if t := v.Torn(ctx); len(t) > 0 {
		r.problem("torn files: %s", strings.Join(t, ", "))
	}
	r.Converged = len(r.Problems) == 0
}

// SecurityBattery deploys with protected settings carrying secret markers
// and audits logs, status, events and state for them, and file modes.
func (v *VM) SecurityBattery(ctx context.Context) {
	v.secretPath(ctx)
	v.secretCredentials(ctx)
}

func marker(prefix string) string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// grepVM counts the files below the VM folders that contain secret.
func (v *VM) grepVM(secret string, dirs ...string) (hits []string) {
	for _, d := range dirs {
		_ = filepath.WalkDir(v.Path(d), func(p string, de fs.DirEntry, err error) error {
			if err != nil || de.IsDir() || !de.Type().IsRegular() {
				return nil
			}
			if b, err := os.ReadFile(p); err == nil && bytes.Contains(b, []byte(secret)) {
				line := ""
				for _, l := range strings.Split(string(b), "\n") {
					if strings.Contains(l, secret) {
						line = l
						break
					}
				}
				hits = append(hits, fmt.Sprintf("%s (%q)", strings.TrimPrefix(p, v.E.ChrootDir), clip(line, 400)))
			}
			return nil
		})
	}
	return hits
}

// secretHits counts the files grepVM found a secret in and records a
// problem naming them (what says which secret: "secret", "password").
func (r *Result) secretHits(hits []string, what string) {
	r.count("secretHits", len(hits))
	if len(hits) > 0 {
		r.problem("the %s is in %s", what, strings.Join(hits, ", "))
	}
}

// mirrorSettings sets the security cases' settings: the public ones name
// the loopback repository and its key, the protected ones (encrypted to
// the tenant certificate, as CRP sends them) override the mirror URL with
// protectedURL.
func (v *VM) mirrorSettings(protectedURL string) {
	v.pub = map[string]any{"mirror": map[string]string{"url": v.E.Repo.URL, "publicKey": v.E.Config.PublicKey}}
	v.prot = map[string]any{"mirror": map[string]string{"url": protectedURL}}
}

// auditDirs are where the handler and the agent keep what the handler
// wrote or printed: handler.log, CommandExecution.log, the agent's log and
// events, status, config, mrseq, the state folder, temporary folders.
func (v *VM) auditDirs() []string {
	return []string{v.LogDir(), "/var/log/waagent.log", libDir, stateDir, "/tmp", "/var/tmp"}
}

// leaked records a problem for every place in what the agent reports that
// holds secret (what: which secret, when: which goal state).
func (r *Result) leaked(rep realagent.Report, secret, what, when string) {
	for _, l := range leaks(rep, secret) {
		r.problem("%s: the %s is in %s", when, what, l)
	}
}

func (v *VM) secretPath(ctx context.Context) {
	r := Result{Battery: "security", Case: "mirror URL with a secret path in protected settings"}
	defer func() { v.Emit(r) }()
	if err := v.Reset(ctx); err != nil {
		r.problem("reset: %v", err)
		return
	}
	secret := marker("s3cr3tpath")
	if err := os.Symlink(".", filepath.Join(v.E.Config.RepoRoot, secret)); err != nil {
		r.problem("%v", err)
		return
	}
	v.mirrorSettings(v.E.Repo.URL + "/" + secret)
	v.E.Repo.Reset()
	stop := v.watchStatus(secret)
	for _, g := range []struct {
		name string
		goal func(context.Context) (realagent.Report, error)
	}{{"first deployment", v.First}, {"settings change", v.Settings}, {"agent restart", v.Restart}} {
		rep, err := g.goal(ctx)
		if err := v.succeeded(rep, err); err != nil {
			stop()
			r.problem("%s: %v", g.name, err)
			return
		}
		r.leaked(rep, secret, "secret", g.name)
	}
	r.Hit = true
	if seen := stop(); len(seen) > 0 {
		r.count("secretHits", len(seen))
		r.problem("the secret was in a status file while the handler ran: %s", strings.Join(seen, "; "))
	}
	r.count("requestsThroughSecretPath", v.E.Repo.HitsUnder("/"+secret+"/"))
	if r.Counts["requestsThroughSecretPath"] == 0 {
		r.problem("the protected mirror URL was not used (no request below /%s/)", secret)
	}
	r.secretHits(v.grepVM(secret, v.auditDirs()...), "secret")
	defer v.secretPathFailure(ctx, secret)
	if apt := v.grepVM(secret, "/etc/apt"); len(apt) > 0 {
		mode := ""
		if fi, err := os.Stat(v.Path(aptList)); err == nil {
			mode = fmt.Sprintf("%04o", fi.Mode().Perm())
		}
		r.note("the protected URL's path is in %s (mode %s): apt needs it there", strings.Join(apt, ", "), mode)
	}
	r.Problems = append(r.Problems, v.auditModes()...)
	r.count("filesModeChecked", v.modeChecked)
	r.Converged = len(r.Problems) == 0
}

// secretPathFailure: the same protected URL, but the repository fails
// (404): the error status and logs must not carry the secret either.
func (v *VM) secretPathFailure(ctx context.Context, secret string) {
	r := Result{Battery: "security", Case: "mirror URL with a secret path in protected settings, repository 404"}
	defer func() { v.Emit(r) }()
	if err := v.Reset(ctx); err != nil {
		r.problem("reset: %v", err)
		return
	}
	v.mirrorSettings(v.E.Repo.URL + "/" + secret)
	v.E.Repo.SetFaults(fixtures.Fault{Prefix: "/" + secret + debRepoPrefix, Status: 404})
	defer v.E.Repo.SetFaults()
	stop := v.watchStatus(secret)
	rep, err := v.First(ctx)
	seen := stop()
	if err != nil {
		r.problem("%v", err)
		return
	}
	if !r.record(rep) {
		return
	}
	if r.Exit != 52 {
		r.problem("enable (reporting install's outcome) exited %d, want 52: %s", r.Exit, clip(r.Message, 300))
	}
	r.leaked(rep, secret, "secret", "first deployment")
	r.count("secretHits", len(seen))
	if len(seen) > 0 {
		r.problem("the secret was in a status file while the handler ran: %s", strings.Join(seen, "; "))
	}
	r.secretHits(v.grepVM(secret, v.auditDirs()...), "secret")
	r.Converged = len(r.Problems) == 0
}

// watchStatus polls the status files while the handler runs (a
// transitioning status is overwritten later) and returns, on stop, the
// messages that contained secret.
func (v *VM) watchStatus(secret string) (stop func() []string) {
	done := make(chan struct{})
	var seen []string
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			sts, _ := filepath.Glob(v.Path(v.BaseDir() + "/status/*.status"))
			for _, p := range sts {
				if b, err := os.ReadFile(p); err == nil && bytes.Contains(b, []byte(secret)) && len(seen) < 3 {
					_, msg := parseStatus(b)
					seen = append(seen, clip(msg, 300))
				}
			}
			select {
			case <-done:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	return func() []string {
		close(done)
		wg.Wait()
		return seen
	}
}

func (v *VM) secretCredentials(ctx context.Context) {
	r := Result{Battery: "security", Case: "mirror URL with user:password in protected settings"}
	defer func() { v.Emit(r) }()
	if err := v.Reset(ctx); err != nil {
		r.problem("reset: %v", err)
		return
	}
	secret := marker("pw")
	u, _ := url.Parse(v.E.Repo.URL)
	u.User = url.UserPassword("faultuser", secret)
	v.mirrorSettings(u.String())
	rep, err := v.First(ctx)
	if err != nil {
		r.problem("%v", err)
		return
	}
	if !r.record(rep) {
		return
	}
	// Credentials in the URL are refused (53): the handler would otherwise
	// have to put them into a world-readable sources file.
	if r.Exit != 53 {
		r.problem("enable (reporting install's outcome) exited %d, want 53 (credentials in the URL are refused): %s", r.Exit, clip(r.Message, 300))
	}
	r.leaked(rep, secret, "password", "first deployment")
	r.secretHits(v.grepVM(secret, append(v.auditDirs(), "/etc/apt", "/var/lib/apt/lists")...), "password")
	r.Converged = len(r.Problems) == 0
}

// auditModes checks the modes of what the handler owns: the state folder
// 0700, its files 0600, status files 0600, mrseq 0600, handler.log 0600.
func (v *VM) auditModes() []string {
	var probs []string
	v.modeChecked = 0
	check := func(p string, want os.FileMode) {
		fi, err := os.Lstat(v.Path(p))
		if err != nil {
			probs = append(probs, fmt.Sprintf("%s: %v", p, err))
			return
		}
		v.modeChecked++
		if got := fi.Mode().Perm(); got != want {
			probs = append(probs, fmt.Sprintf("%s has mode %04o, want %04o", p, got, want))
		}
	}
	check(stateDir, 0o700)
	es, _ := os.ReadDir(v.Path(stateDir))
	for _, e := range es {
		check(stateDir+"/"+e.Name(), 0o600)
	}
	sts, _ := filepath.Glob(v.Path(v.BaseDir() + "/status/*.status"))
	for _, p := range sts {
		check(strings.TrimPrefix(p, v.E.ChrootDir), 0o600)
	}
	check(v.BaseDir()+"/mrseq", 0o600)
	check(v.LogDir()+"/handler.log", 0o600)
	evs, _ := filepath.Glob(v.Path(v.LogDir() + "/events/*"))
	for _, p := range evs {
		check(strings.TrimPrefix(p, v.E.ChrootDir), 0o600)
	}
	return probs
}
