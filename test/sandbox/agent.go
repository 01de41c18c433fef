package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"

	"github.com/Azure/aadsshlogin-extension-linux/test/fakeimds"
	"github.com/Azure/aadsshlogin-extension-linux/test/fixtures"
	"github.com/Azure/aadsshlogin-extension-linux/test/realagent"
)

// AgentDir is where the real agent's driver lives inside the VM.
const AgentDir = InsideDir + "/realagent"

var zipVersion = regexp.MustCompile(`__([0-9.]+)\.zip$`)

// VersionOf is the handler version in a zip's name ("…__1.0.0.1.zip").
func VersionOf(zip string) string {
	m := zipVersion.FindStringSubmatch(zip)
	if m == nil {
		return ""
	}
	return m[1]
}

// RealAgent returns the VM's guest agent (Debian's waagent, driven by
// test/realagent) with both handler versions published.
func (e *Env) RealAgent() *realagent.Agent {
	pkgs := map[string]string{}
	for _, z := range e.Zips {
		if z != "" {
			pkgs[VersionOf(z)] = z
		}
	}
	return &realagent.Agent{Root: e.ChrootDir, Dir: AgentDir, Packages: pkgs,
		Run: func(ctx context.Context, argv ...string) *exec.Cmd {
			return e.Chroot(ctx, e.agentEnv(), argv[0], argv[1:]...)
		}}
}

// agentEnv is the guest agent's environment: the proxy of its service and,
// on Arc, the variables the Arc agent sets for extension processes.
func (e *Env) agentEnv() []string {
	env := append([]string(nil), e.AgentEnv...)
	if e.Config.Plan.Arc {
		env = append(env, "IDENTITY_ENDPOINT=http://localhost:40342/metadata/identity/oauth2/token",
			"IMDS_ENDPOINT=http://localhost:40342")
	}
	return env
}

// Settings are the public and protected settings of the plan: the private
// mirror (URL and key in public, URL alone in protected).
func (e *Env) Settings(protected bool) (public, prot any) {
	public = map[string]any{"mirror": map[string]string{"url": e.MirrorURL, "publicKey": e.Config.PublicKey}}
	if e.Config.Plan.BadSettings {
		public = map[string]any{"mirror": map[string]string{"url": "http://mirror.example.com/microsoft"}}
	}
	if protected {
		prot = map[string]any{"mirror": map[string]string{"url": e.MirrorURL}}
	}
	return public, prot
}

// agentRun carries the goal state between the phases of a plan.
type agentRun struct {
	agent *realagent.Agent
	seq   int
	// version is the handler version the extension is set to; versions
	// are those of Zip and NextZip.
	version  string
	version2 [2]string
	// session is the Entra login of the current phase, if any.
	session *loginSession
}

func (e *Env) newAgentRun() *agentRun {
	return &agentRun{agent: e.RealAgent(), seq: -1, version2: [2]string{VersionOf(e.Zips[0]), VersionOf(e.Zips[1])}}
}

// phase hands the agent the phase's goal state and checks its report.
func (e *Env) agentPhase(ctx context.Context, r *agentRun, ph Phase, out io.Writer) error {
	var rep realagent.Report
	var err error
	if ph.StuckSession {
		if err := e.stuckEntraLogin(out); err != nil {
			return err
		}
	}
	if ph.Session {
		sess, err := e.entraLogin(ctx, out)
		if err != nil {
			return err
		}
		defer sess.end()
		r.session = sess
	}
	if ph.HoldLock {
		holder := e.Chroot(ctx, nil, "flock", "/var/lib/aadsshlogin-extension/lock", "sleep", "3600")
		// flock's child (sleep) inherits the lock: end the whole group.
		holder.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := holder.Start(); err != nil {
			return err
		}
		defer func() { syscall.Kill(-holder.Process.Pid, syscall.SIGKILL); holder.Wait() }()
		fmt.Fprintf(out, "-- pid %d holds /var/lib/aadsshlogin-extension/lock\n", holder.Process.Pid)
	}
	tokens0, refreshes0 := e.counts()
	if ph.Zip != 0 {
		r.version = r.version2[ph.Zip-1]
	}
	switch ph.Agent {
	case AgentRestart:
		fmt.Fprintln(out, "agent: restart (processes its current goal state again)")
		rep, err = r.agent.Restart(ctx)
	case AgentSet, AgentEnable, AgentDisable, AgentUninstall:
		state := map[string]string{AgentSet: realagent.Enabled, AgentEnable: realagent.Enabled, AgentDisable: realagent.Disabled, AgentUninstall: realagent.Uninstall}[ph.Agent]
		if ph.Agent == AgentSet {
			r.seq++
		}
		pub, prot := e.Settings(ph.Protected)
		fmt.Fprintf(out, "agent: goal state %s %s seq=%d%s\n", r.version, state, r.seq, map[bool]string{true: " (with protected settings)"}[ph.Protected])
		rep, err = r.agent.Apply(ctx, realagent.GoalState{Version: r.version, State: state, Seq: r.seq, Public: pub, Protected: prot})
	default:
		return fmt.Errorf("unknown agent operation %q", ph.Agent)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "waagent %s ran: %s\n", rep.AgentVersion, strings.Join(rep.Verbs(), ", "))
	if rep.Handler.Name == "" {
		fmt.Fprintln(out, "agent reports: nothing for the extension")
	} else {
		fmt.Fprintf(out, "agent reports: %s\n", rep.Handler.Summary())
		if x := rep.Handler.Extension; x != nil {
			for _, sub := range x.Substatus {
				if sub.Status != "success" {
					fmt.Fprintf(out, "  substatus %s %s: %s\n", sub.Name, sub.Status, sub.Message)
				}
			}
		}
	}
	for _, l := range rep.Errors {
		fmt.Fprintf(out, "agent logged: %s\n", clip(l, 600))
	}
	tokens, refreshes := e.counts()
	tokens, refreshes = tokens-tokens0, refreshes-refreshes0
	fmt.Fprintf(out, "this goal state: %d IMDS token request(s), %d repository index download(s)\n", tokens, refreshes)
	if bad := rep.StatusErrors(); len(bad) > 0 {
		return fmt.Errorf("the agent's status parser rejects: %s", strings.Join(bad, "; "))
	}
	if ph.Want == nil {
		return nil
	}
	errs := []error{r.check(rep, *ph.Want)}
	if w := ph.Want; w.IdentityChecks != nil && tokens != *w.IdentityChecks {
		errs = append(errs, fmt.Errorf("%d IMDS token requests, want %d", tokens, *w.IdentityChecks))
	}
	if w := ph.Want; w.Refreshes != nil && refreshes != *w.Refreshes {
		errs = append(errs, fmt.Errorf("%d repository index downloads, want %d", refreshes, *w.Refreshes))
	}
	if ph.Want.SessionsEnded {
		errs = append(errs, r.session.ended(e.ChrootDir, out))
	}
	r.session = nil
	return errors.Join(errs...)
}

// check compares a report with what the phase wants.
func (r *agentRun) check(rep realagent.Report, w Want) error {
	var errs []error
	if w.Verbs != nil {
		want := make([]string, len(w.Verbs))
		for i, v := range w.Verbs {
			want[i] = strings.NewReplacer("v1 ", r.version2[0]+" ", "v2 ", r.version2[1]+" ").Replace(v)
		}
		if got := rep.Verbs(); !slices.Equal(got, want) {
			errs = append(errs, fmt.Errorf("the agent ran %q, want %q", got, want))
		}
	}
	for _, l := range w.Logged {
		if !slices.ContainsFunc(rep.Errors, func(e string) bool { return strings.Contains(e, l) }) {
			errs = append(errs, fmt.Errorf("the agent logged no error line containing %q", l))
		}
	}
	h := rep.Handler
	if w.Absent {
		if h.Name != "" {
			errs = append(errs, fmt.Errorf("the agent still reports the extension: %s", h.Summary()))
		}
		return errors.Join(errs...)
	}
	if h.Name == "" {
		return errors.Join(append(errs, errors.New("the agent reports nothing for the extension"))...)
	}
	if w.Handler != "" && h.Status != w.Handler {
		errs = append(errs, fmt.Errorf("handler status %s, want %s", h.Status, w.Handler))
	}
	x := h.Extension
	if w.Status == "" && w.Code == 0 && w.Operation == "" && len(w.Has) == 0 && len(w.Lacks) == 0 {
		return errors.Join(errs...)
	}
	if x == nil {
		return errors.Join(append(errs, errors.New("the agent does not report the extension's status (only its handler status)"))...)
	}
	if w.Status != "" && x.Status != w.Status {
		errs = append(errs, fmt.Errorf("extension status %s, want %s", x.Status, w.Status))
	}
	if w.Code != 0 && x.Code != w.Code {
		errs = append(errs, fmt.Errorf("extension code %d, want %d", x.Code, w.Code))
	}
	if w.Operation != "" && x.Operation != w.Operation {
		errs = append(errs, fmt.Errorf("extension operation %q, want %q", x.Operation, w.Operation))
	}
	if r.seq >= 0 && (h.Seq == nil || *h.Seq != r.seq) {
		errs = append(errs, fmt.Errorf("reported sequence number %v, want %d", h.Seq, r.seq))
	}
	for _, s := range w.Has {
		if !strings.Contains(x.Message, s) {
			errs = append(errs, fmt.Errorf("the extension message lacks %q: %q", s, x.Message))
		}
	}
	for _, s := range w.Lacks {
		if strings.Contains(x.Message, s) {
			errs = append(errs, fmt.Errorf("the extension message says %q, which the agent does not do: %q", s, x.Message))
		}
	}
	return errors.Join(errs...)
}

// fix removes the cause of a failure as the user would.
func (e *Env) fix(ctx context.Context, what string, out io.Writer) error {
	switch what {
	case FixIdentity:
		sc, _ := fakeimds.Lookup("present")
		e.IMDS.SetScenario(sc)
		fmt.Fprintln(out, "IMDS now issues tokens for the system-assigned identity")
		return nil
	case FixSession:
		if err := os.WriteFile(e.utmpPath(), nil, 0o664); err != nil {
			return err
		}
		fmt.Fprintf(out, "%s logged out (utmp emptied)\n", entraUser)
		return nil
	case FixLegacy:
		res, err := runCmd(ctx, "chroot", e.ChrootDir, "dpkg", "--purge", "aadlogin")
		fmt.Fprintln(out, res)
		return err
	}
	return fmt.Errorf("unknown fix %q", what)
}

// setup makes the VM unfit as the plan says.
func (e *Env) setup(ctx context.Context, what string, out io.Writer) error {
	switch what {
	case "":
		return nil
	case SetupUnsupported:
		p := filepath.Join(e.ChrootDir, "usr/lib/os-release")
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		s := strings.NewReplacer(`VERSION_ID="12"`, `VERSION_ID="8"`, "bookworm", "jessie", "12 (", "8 (").Replace(string(data))
		fmt.Fprintln(out, "-- the VM says it is Debian 8 (jessie) in /usr/lib/os-release")
		return os.WriteFile(p, []byte(s), 0o644)
	case SetupRepoDown:
		e.Repo.SetFaults(fixtures.Fault{Prefix: "/", Status: http.StatusServiceUnavailable})
		fmt.Fprintln(out, "-- the repository answers 503 Service Unavailable to every request")
		return nil
	case SetupLowMemory:
		fake := filepath.Join(e.Config.WorkDir, "meminfo")
		if err := os.WriteFile(fake, []byte("MemTotal:         524288 kB\nMemFree:          262144 kB\nMemAvailable:     393216 kB\n"), 0o644); err != nil {
			return err
		}
		// `ip netns exec` gave this process its own mount namespace, so the
		// bind mount is seen by the VM's processes started from here only
		// and ends with this process.
		if res, err := runCmd(ctx, "mount", "--bind", fake, filepath.Join(e.ChrootDir, "proc/meminfo")); err != nil {
			return fmt.Errorf("bind-mount a 512 MiB meminfo: %w: %s", err, res)
		}
		fmt.Fprintln(out, "-- /proc/meminfo in the VM says MemTotal 512 MiB")
		return nil
	case SetupBadSSHD:
		p := filepath.Join(e.ChrootDir, "etc/ssh/sshd_config")
		f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		defer f.Close()
		fmt.Fprintln(out, "-- sshd_config gains a line sshd rejects: NoSuchKeyword yes")
		_, err = f.WriteString("NoSuchKeyword yes\n")
		return err
	}
	return fmt.Errorf("unknown setup %q", what)
}

// Counts is the number of IMDS token requests and of repository index
// downloads (InRelease requests) so far.
func (e *Env) Counts() (tokens, refreshes int) { return e.counts() }

// counts are the IMDS token requests and repository index downloads so far.
func (e *Env) counts() (tokens, refreshes int) {
	for _, l := range e.Repo.Log() {
		if f := strings.Fields(l); len(f) >= 2 && strings.HasSuffix(f[1], "/InRelease") {
			refreshes++
		}
	}
	return e.IMDS.TokenRequests(), refreshes
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
