package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"slices"
	"strings"

	"github.com/Azure/aadsshlogin-extension-linux/test/fakeimds"
	"github.com/Azure/aadsshlogin-extension-linux/test/realagent"
)

// AgentDir is where the real agent's driver lives inside the VM.
const AgentDir = InsideDir + "/realagent"

var zipVersion = regexp.MustCompile(`__([0-9.]+)\.zip$`)

// versionOf is the handler version in a zip's name ("…__1.0.0.1.zip").
func versionOf(zip string) string {
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
			pkgs[versionOf(z)] = z
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
}

func (e *Env) newAgentRun() *agentRun {
	return &agentRun{agent: e.RealAgent(), seq: -1, version2: [2]string{versionOf(e.Zips[0]), versionOf(e.Zips[1])}}
}

// phase hands the agent the phase's goal state and checks its report.
func (e *Env) agentPhase(ctx context.Context, r *agentRun, ph Phase, out io.Writer) (realagent.Report, error) {
	var rep realagent.Report
	var err error
	if ph.Zip != 0 {
		r.version = r.version2[ph.Zip-1]
	}
	switch ph.Agent {
	case AgentRestart:
		fmt.Fprintln(out, "agent: restart (processes its current goal state again)")
		rep, err = r.agent.Restart(ctx)
	case AgentSet, AgentDisable, AgentUninstall:
		state := map[string]string{AgentSet: realagent.Enabled, AgentDisable: realagent.Disabled, AgentUninstall: realagent.Uninstall}[ph.Agent]
		if ph.Agent == AgentSet {
			r.seq++
		}
		pub, prot := e.Settings(ph.Protected)
		fmt.Fprintf(out, "agent: goal state %s %s seq=%d%s\n", r.version, state, r.seq, map[bool]string{true: " (with protected settings)"}[ph.Protected])
		rep, err = r.agent.Apply(ctx, realagent.GoalState{Version: r.version, State: state, Seq: r.seq, Public: pub, Protected: prot})
	default:
		return rep, fmt.Errorf("unknown agent operation %q", ph.Agent)
	}
	if err != nil {
		return rep, err
	}
	fmt.Fprintf(out, "waagent %s ran: %s\n", rep.AgentVersion, strings.Join(rep.Verbs(), ", "))
	if rep.Handler.Name == "" {
		fmt.Fprintln(out, "agent reports: nothing for the extension")
	} else {
		fmt.Fprintf(out, "agent reports: %s\n", rep.Handler.Summary())
	}
	if bad := rep.StatusErrors(); len(bad) > 0 {
		return rep, fmt.Errorf("the agent's status parser rejects: %s", strings.Join(bad, "; "))
	}
	if ph.Want == nil {
		return rep, nil
	}
	return rep, r.check(rep, *ph.Want)
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
	if w.Status == "" && w.Code == 0 && w.Operation == "" && len(w.Has) == 0 {
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
	case FixLegacy:
		res, err := runCmd(ctx, "chroot", e.ChrootDir, "dpkg", "--purge", "aadlogin")
		fmt.Fprintln(out, res)
		return err
	}
	return fmt.Errorf("unknown fix %q", what)
}
