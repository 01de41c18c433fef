// Package faults holds the fault batteries of the handler: kill -9 at every
// phase of install and enable, concurrent enables, package-repository and
// package-manager faults, IMDS faults and a secret-leak and file-mode audit.
//
// The batteries run the real zip through the real guest agent (Debian's
// waagent 2.7.3, driven by test/realagent) on the sandbox of package
// test/sandbox (a Debian 12 chroot with real apt and dpkg, a fake IMDS and a
// signed HTTPS mirror in a network namespace the test creates). Each case
// starts from a machine that never saw the extension (VM.Reset), with a new
// agent, and judges the outcome by what the agent reports: the commands it
// ran, their exit codes as it logged them, the extension status it would
// upload and its parser's verdict on the status files. The test (faults_test.go)
// prepares the sandbox on the host and runs each battery inside the
// namespace as a sandbox.Mode (Modes), which returns one Result per case;
// the test prints the counts and fails on every problem a case reported.
package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/Azure/aadsshlogin-extension-linux/test/realagent"
	"github.com/Azure/aadsshlogin-extension-linux/test/sandbox"
)

// Result is the outcome of one case of a battery.
type Result struct {
	Battery string `json:"battery"`
	Case    string `json:"case"`
	// Hit is set when the fault was really injected (a kill reached a live
	// handler in the intended phase).
	Hit bool `json:"hit"`
	// Converged: the next run(s) of the agent ended in success with the
	// package installed and dpkg consistent.
	Converged bool `json:"converged"`
	// Torn lists files found unparsable or incomplete.
	Torn []string `json:"torn,omitempty"`
	// Exit is the exit code of the command under test, as the agent
	// logged it (-9: killed).
	Exit int `json:"exit"`
	// Status and Message are the extension status the agent reports.
	Status  string `json:"status,omitempty"`
	Message string `json:"message,omitempty"`
	// Counts are battery-specific numbers (installs, hits…).
	Counts map[string]int `json:"counts,omitempty"`
	// Notes are observations that are not failures.
	Notes []string `json:"notes,omitempty"`
	// Problems are failures of the case.
	Problems []string `json:"problems,omitempty"`
}

func (r *Result) problem(format string, a ...any) {
	r.Problems = append(r.Problems, fmt.Sprintf(format, a...))
}

func (r *Result) note(format string, a ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, a...))
}

func (r *Result) count(k string, n int) {
	if r.Counts == nil {
		r.Counts = map[string]int{}
	}
	r.Counts[k] += n
}

// Paths inside the VM.
const (
	libDir    = "/var/lib/waagent"
	stateDir  = "/var/lib/aadsshlogin-extension"
	aptList   = "/etc/apt/sources.list.d/microsoft-prod.list"
	dpkgLog   = "/var/log/dpkg.log"
	handlerEx = "aadsshlogin-handler-"
)

// VM is the inner side's view of the sandboxed machine.
type VM struct {
	E       *sandbox.Env
	Out     io.Writer
	Version string
	// snapshot lists the apt/keyring files present before any case ran.
	snapshot map[string]bool
	// modeChecked counts the files auditModes looked at.
	modeChecked int
	// results are the cases' results so far (Emit).
	results []Result
	// agent is the guest agent of the current case (Reset starts a new
	// one); seq is the sequence number of its last goal state and pub,
	// prot the settings of its goal states.
	agent     *realagent.Agent
	seq       int
	pub, prot any
	// lockUntil is when the dpkg lock of holdLock is released.
	lockUntil time.Time
}

// NewVM wraps an entered sandbox.
func NewVM(e *sandbox.Env, out io.Writer) (*VM, error) {
	v := sandbox.VersionOf(e.Zips[0])
	if v == "" {
		return nil, fmt.Errorf("no version in %s", e.Zips[0])
	}
	vm := &VM{E: e, Out: out, Version: v, snapshot: map[string]bool{}, agent: e.RealAgent()}
	vm.pub, vm.prot = e.Settings(false)
	for _, p := range vm.trackedFiles() {
		vm.snapshot[p] = true
	}
	return vm, nil
}

// Path maps a VM path to the inner process's view.
func (v *VM) Path(p string) string { return filepath.Join(v.E.ChrootDir, p) }

// BaseDir is the extension's versioned folder inside the VM.
func (v *VM) BaseDir() string { return libDir + "/" + sandbox.HandlerName + "-" + v.Version }

// LogDir is the extension's log folder inside the VM.
func (v *VM) LogDir() string { return "/var/log/azure/" + sandbox.HandlerName }

func (v *VM) logf(format string, a ...any) {
	fmt.Fprintf(v.Out, "   "+format+"\n", a...)
}

// Emit records the result of a case.
func (v *VM) Emit(r Result) {
	v.results = append(v.results, r)
}

// run runs a command in the VM and returns its combined output.
func (v *VM) run(ctx context.Context, name string, args ...string) (string, error) {
	cmd := v.E.Chroot(ctx, nil, name, args...)
	var b bytes.Buffer
	cmd.Stdout, cmd.Stderr = &b, &b
	err := cmd.Run()
	return b.String(), err
}

// goal hands the agent a new goal state (a new incarnation): the zip's
// version, enabled, sequence number seq, the case's settings.
func (v *VM) goal(ctx context.Context, seq int) (realagent.Report, error) {
	v.seq = seq
	return v.agent.Apply(ctx, realagent.GoalState{Version: v.Version, State: realagent.Enabled, Seq: seq, Public: v.pub, Protected: v.prot})
}

// First is the first deployment: sequence number 0 on a machine that never
// saw the extension (the agent runs install, then enable).
func (v *VM) First(ctx context.Context) (realagent.Report, error) { return v.goal(ctx, 0) }

// Settings is a settings change: the next sequence number (enable).
func (v *VM) Settings(ctx context.Context) (realagent.Report, error) { return v.goal(ctx, v.seq+1) }

// Restart is an agent restart: it processes its last goal state again.
func (v *VM) Restart(ctx context.Context) (realagent.Report, error) { return v.agent.Restart(ctx) }

// succeeded returns why rep (or err) is not a success of the last goal
// state: the handler Ready, the extension success with its sequence
// number, every status file accepted by the agent's parser.
func (v *VM) succeeded(rep realagent.Report, err error) error {
	if err != nil {
		return err
	}
	var probs []string
	h := rep.Handler
	if h.Status != "Ready" {
		probs = append(probs, fmt.Sprintf("handler %q, want Ready", h.Status))
	}
	if h.Extension == nil || h.Extension.Status != "success" {
		probs = append(probs, "extension status is not success")
	}
	if h.Seq == nil || *h.Seq != v.seq {
		probs = append(probs, fmt.Sprintf("reported sequence number %v, want %d", h.Seq, v.seq))
	}
	probs = append(probs, rep.StatusErrors()...)
	if len(probs) > 0 {
		return fmt.Errorf("%s: %s", strings.Join(probs, "; "), describe(rep))
	}
	return nil
}

// nonZero is how the agent reports a failed command (extensionprocessutil:
// "Non-zero exit code: N, <command>"), in the handler status message or an
// error line.
var nonZero = regexp.MustCompile(`Non-zero exit code: (-?\d+), \S+ (\w+)`)

// exitCode is the exit code of the command of verb the agent ran for rep:
// the code of the agent's "Non-zero exit code" for it, else 0. ran is false
// when the agent did not run verb.
func exitCode(rep realagent.Report, verb string) (code int, ran bool) {
	for _, c := range rep.Commands {
		ran = ran || c.Verb() == verb
	}
	if !ran {
		return 0, false
	}
	for _, l := range append([]string{rep.Handler.Message}, rep.Errors...) {
		for _, m := range nonZero.FindAllStringSubmatch(l, -1) {
			if m[2] == verb {
				code, _ = strconv.Atoi(m[1])
				return code, true
			}
		}
	}
	return 0, true
}

// describe renders a report briefly for problems.
func describe(rep realagent.Report) string {
	s := "the agent ran " + strings.Join(rep.Verbs(), ", ") + "; " + rep.Handler.Summary()
	for _, l := range rep.Errors {
		s += "; agent logged: " + clip(l, 300)
	}
	return s
}

// leaks lists where in what the agent reports (the status it would upload,
// its error lines) secret appears.
func leaks(rep realagent.Report, secret string) []string {
	var out []string
	if strings.Contains(string(rep.Raw), secret) {
		out = append(out, "the status blob the agent would upload")
	}
	for _, l := range rep.Errors {
		if strings.Contains(l, secret) {
			out = append(out, fmt.Sprintf("an error line the agent logged (%q)", clip(l, 300)))
		}
	}
	return out
}

// proc is a process running inside the VM.
type proc struct {
	pid, pgid int
	argv      []string
}

// procs lists the processes whose root is the VM's root.
func (v *VM) procs() []proc {
	entries, _ := os.ReadDir("/proc")
	var out []proc
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		if root, err := os.Readlink("/proc/" + e.Name() + "/root"); err != nil || root != v.E.ChrootDir {
			continue
		}
		cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil || len(cmdline) == 0 {
			continue
		}
		f := statFields(pid)
		if len(f) < 3 || f[0] == "Z" {
			continue
		}
		pgid, _ := strconv.Atoi(f[2])
		out = append(out, proc{pid: pid, pgid: pgid, argv: strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")})
	}
	return out
}

// statFields are the fields of /proc/<pid>/stat after "pid (comm)": state,
// ppid, pgrp, … (comm may contain spaces); nil when pid is gone.
func statFields(pid int) []string {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	return strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
}

// handler finds the running handler for verb.
func (v *VM) handler(verb string) (proc, bool) {
	for _, p := range v.procs() {
		if len(p.argv) >= 2 && strings.Contains(filepath.Base(p.argv[0]), handlerEx) && p.argv[1] == verb {
			return p, true
		}
	}
	return proc{}, false
}

// running reports whether a process whose argv matches pred runs in the VM.
func (v *VM) running(pred func(argv []string) bool) bool {
	for _, p := range v.procs() {
		if pred(p.argv) {
			return true
		}
	}
	return false
}

// waitIdle waits until no process runs in the VM any more.
func (v *VM) waitIdle(ctx context.Context, max time.Duration) error {
	deadline := time.Now().Add(max)
	for {
		ps := v.procs()
		if len(ps) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			var names []string
			for _, p := range ps {
				names = append(names, strings.Join(p.argv, " "))
			}
			return fmt.Errorf("processes still running in the VM after %s: %s", max, strings.Join(names, " | "))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// killGroup sends SIGKILL to a process group, as the agent does on timeout.
func killGroup(pgid int) bool {
	return syscall.Kill(-pgid, syscall.SIGKILL) == nil
}

// trackedFiles are the files below the apt and keyring folders.
func (v *VM) trackedFiles() []string {
	var out []string
	for _, d := range []string{"/etc/apt", "/usr/share/keyrings"} {
		_ = filepath.WalkDir(v.Path(d), func(p string, de os.DirEntry, err error) error {
			if err == nil && !de.IsDir() {
				out = append(out, p)
			}
			return nil
		})
	}
	return out
}

// Reset returns the VM to a machine that never saw the extension: no
// handler folders (with the agent's HandlerState) or downloaded zips, logs
// or state, no aadsshlogin, no repository files, and a new agent, which
// remembers no goal state.
func (v *VM) Reset(ctx context.Context) error {
	if err := v.waitIdle(ctx, 90*time.Second); err != nil {
		return err
	}
	if out, err := v.run(ctx, "dpkg", "--purge", "--force-all", "aadsshlogin", "aadsshlogin-selinux"); err != nil {
		return fmt.Errorf("purge: %v: %s", err, out)
	}
	if out, err := v.run(ctx, "dpkg", "--configure", "-a"); err != nil {
		return fmt.Errorf("dpkg --configure -a: %v: %s", err, out)
	}
	dirs, _ := filepath.Glob(v.Path(libDir + "/" + sandbox.HandlerName + "-*"))
	// The agent's own leftovers of the last case: the zip it downloaded,
	// the status it reported (waagent_status.<incarnation>.json), its
	// events and log.
	for _, pat := range []string{libDir + "/" + sandbox.HandlerName + "__*.zip", libDir + "/waagent_status.*.json", libDir + "/events/*", "/var/log/waagent.log"} {
		more, _ := filepath.Glob(v.Path(pat))
		dirs = append(dirs, more...)
	}
	lists, _ := filepath.Glob(v.Path("/var/lib/apt/lists/127.0.0.1*"))
	// Downloaded packages too, so every case fetches the .deb again.
	debs, _ := filepath.Glob(v.Path("/var/cache/apt/archives/*.deb"))
	lists = append(lists, debs...)
	for _, p := range append(append(dirs, lists...), v.Path(v.LogDir()), v.Path(stateDir)) {
		if err := os.RemoveAll(p); err != nil {
			return err
		}
	}
	for _, p := range v.trackedFiles() {
		if !v.snapshot[p] {
			if err := os.Remove(p); err != nil {
				return err
			}
		}
	}
	v.E.Repo.SetFaults()
	v.agent, v.seq = v.E.RealAgent(), 0
	v.pub, v.prot = v.E.Settings(false)
	return nil
}

// Torn lists the files the handler writes that do not parse: every
// status/*.status the agent's parser rejects, mrseq, the state folder's
// JSON files and the apt list file.
func (v *VM) Torn(ctx context.Context) []string {
	return v.torn(v.agent.Check(ctx))
}

// torn is Torn with the agent's verdict on the status files.
func (v *VM) torn(statuses []realagent.StatusFile, err error) []string {
	var torn []string
	if err != nil {
		torn = append(torn, err.Error())
	}
	for _, f := range statuses {
		if f.Error != "" {
			torn = append(torn, fmt.Sprintf("%s (%s)", f.File, f.Error))
		}
	}
	if data, err := os.ReadFile(v.Path(v.BaseDir() + "/mrseq")); err == nil {
		if _, err := strconv.Atoi(strings.TrimSpace(string(data))); err != nil {
			torn = append(torn, fmt.Sprintf("mrseq %q", data))
		}
	}
	jsons, _ := filepath.Glob(v.Path(stateDir + "/*.json"))
	for _, p := range jsons {
		data, err := os.ReadFile(p)
		var x any
		if err != nil || json.Unmarshal(data, &x) != nil {
			torn = append(torn, strings.TrimPrefix(p, v.E.ChrootDir))
		}
	}
	events, _ := filepath.Glob(v.Path(v.LogDir() + "/events/*.json"))
	for _, p := range events {
		data, err := os.ReadFile(p)
		var x map[string]any
		if err != nil || json.Unmarshal(data, &x) != nil {
			torn = append(torn, strings.TrimPrefix(p, v.E.ChrootDir))
		}
	}
	if data, err := os.ReadFile(v.Path(aptList)); err == nil {
		if !aptListComplete(string(data)) {
			torn = append(torn, fmt.Sprintf("%s %q", aptList, data))
		}
	}
	return torn
}

// aptListComplete: a complete list file ends with a newline and has one
// "deb [options] https://… suite component" line.
func aptListComplete(s string) bool {
	if !strings.HasSuffix(s, "\n") {
		return false
	}
	n := 0
	for _, l := range strings.Split(s, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		f := strings.Fields(l)
		if len(f) < 5 || f[0] != "deb" || !strings.HasPrefix(f[1], "[") || !strings.HasPrefix(f[len(f)-3], "https://") {
			return false
		}
		n++
	}
	return n == 1
}

// TempLeftovers counts atomic-write temp files left in the folders the
// handler writes (not torn files, but litter).
func (v *VM) TempLeftovers() []string {
	var out []string
	for _, d := range []string{v.BaseDir() + "/status", v.BaseDir(), stateDir, "/etc/apt/sources.list.d"} {
		es, _ := os.ReadDir(v.Path(d))
		for _, e := range es {
			n := e.Name()
			if e.IsDir() || n == "mrseq" || n == "lock" || n == "HandlerManifest.json" || n == "HandlerEnvironment.json" ||
				strings.HasSuffix(n, ".status") || strings.HasSuffix(n, ".json") || strings.HasSuffix(n, ".list") || strings.HasSuffix(n, ".zip") {
				continue
			}
			if strings.Contains(n, "tmp") || strings.HasPrefix(n, ".") {
				out = append(out, d+"/"+n)
			}
		}
	}
	return out
}

// Converged checks the end state of a successful run for seq: the agent's
// parser reads status success from seq's status file, aadsshlogin is
// installed, dpkg consistent, nothing torn.
func (v *VM) Converged(ctx context.Context, seq int) []string {
	var probs []string
	statuses, err := v.agent.Check(ctx)
	name := fmt.Sprintf("%s/status/%d.status", v.BaseDir(), seq)
	verdict := "missing"
	for _, f := range statuses {
		if f.File == name {
			verdict = f.Status + f.Error
		}
	}
	if verdict != "success" {
		_, msg := v.ReadStatus(seq)
		probs = append(probs, fmt.Sprintf("status %d: the agent reads %q: %s", seq, verdict, clip(msg, 300)))
	}
	if out, err := v.run(ctx, "dpkg-query", "-W", "-f=${Status}", "aadsshlogin"); err != nil || out != "install ok installed" {
		probs = append(probs, fmt.Sprintf("dpkg-query aadsshlogin: %q (%v)", out, err))
	}
	if out, err := v.run(ctx, "dpkg", "--audit"); err != nil || strings.TrimSpace(out) != "" {
		probs = append(probs, fmt.Sprintf("dpkg --audit: %q (%v)", out, err))
	}
	if t := v.torn(statuses, err); len(t) > 0 {
		probs = append(probs, "torn after convergence: "+strings.Join(t, ", "))
	}
	if t := v.TempLeftovers(); len(t) > 0 {
		probs = append(probs, "temporary files left after convergence: "+strings.Join(t, ", "))
	}
	return probs
}

// ReadStatus reads the extension status and message of seq's status file
// ("" when missing or unreadable; Converged and Torn judge validity).
func (v *VM) ReadStatus(seq int) (status, message string) {
	data, _ := os.ReadFile(v.Path(fmt.Sprintf("%s/status/%d.status", v.BaseDir(), seq)))
	return parseStatus(data)
}

// parseStatus reads status and message from a status file's content.
func parseStatus(data []byte) (status, message string) {
	var doc []struct {
		Status struct {
			Status  string `json:"status"`
			Message struct {
				Message string `json:"message"`
			} `json:"formattedMessage"`
		} `json:"status"`
	}
	if json.Unmarshal(data, &doc) != nil || len(doc) == 0 {
		return "", ""
	}
	return doc[0].Status.Status, doc[0].Status.Message.Message
}

// dpkgInstalls counts "install aadsshlogin" transactions in dpkg.log.
func (v *VM) dpkgInstalls() int {
	data, _ := os.ReadFile(v.Path(dpkgLog))
	n := 0
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) >= 4 && f[2] == "install" && strings.HasPrefix(f[3], "aadsshlogin:") {
			n++
		}
	}
	return n
}

// debHits counts requests for .deb files.
func (v *VM) debHits() int {
	n := 0
	for p, c := range v.E.Repo.Hits() {
		if strings.HasSuffix(p, ".deb") {
			n += c
		}
	}
	return n
}

// handlerLog returns handler.log.
func (v *VM) handlerLog() string {
	b, _ := os.ReadFile(v.Path(v.LogDir() + "/handler.log"))
	return string(b)
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
