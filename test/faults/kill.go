package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/Azure/aadsshlogin-extension-linux/test/agentsim"
)

// KillPoint is a moment of an install (first deployment) or enable
// (settings change) at which the whole process group is SIGKILLed.
type KillPoint struct {
	Name string
	// Enable: kill the enable of a settings change (sequence 1) on a
	// machine where install and enable of sequence 0 succeeded; else the
	// install of a first deployment.
	Enable bool
	// When is polled while the handler runs; the kill happens the first
	// time it is true.
	When func(v *VM) bool
	// Setup prepares the machine after the reset (optional).
	Setup func(ctx context.Context, v *VM) error
	// Detached: the kill hits while the handler runs a package-manager
	// transaction it detached (own session) so that it finishes even if
	// the handler is killed; dpkg must then be consistent on its own.
	Detached bool
}

func argvHas(argv []string, base string, arg string) bool {
	if len(argv) == 0 || filepath.Base(argv[0]) != base {
		return false
	}
	for _, a := range argv[1:] {
		if a == arg {
			return true
		}
	}
	return false
}

func fileHas(v *VM, p, sub string) bool {
	b, err := os.ReadFile(v.Path(p))
	return err == nil && bytes.Contains(b, []byte(sub))
}

// dpkgSays reports whether /var/lib/dpkg/status lists pkg with status st.
func dpkgSays(v *VM, pkg, st string) bool {
	return fileHas(v, "/var/lib/dpkg/status", "Package: "+pkg+"\nStatus: "+st+"\n")
}

// KillPoints are the kill points of the IMDS "present" run; IdentityPoint
// needs an IMDS that fails first (see the test).
func KillPoints() []KillPoint {
	aptUpdate := func(v *VM) bool {
		return v.running(func(a []string) bool { return argvHas(a, "apt-get", "update") })
	}
	return []KillPoint{
		{Name: "install: right after start", When: func(*VM) bool { return true }},
		{Name: "install: first transitioning status written (lock held)", When: func(v *VM) bool {
			return fileHas(v, "/var/lib/waagent/"+handlerDir(v)+"/status/0.status", "in progress")
		}},
		{Name: "install: finishing an interrupted dpkg (dpkg --configure -a)", Setup: unpackOnly, Detached: true, When: func(v *VM) bool {
			return v.running(func(a []string) bool { return argvHas(a, "dpkg", "--configure") && argvHas(a, "dpkg", "-a") })
		}},
		{Name: "install: repository files written", When: func(v *VM) bool {
			_, err := os.Stat(v.Path(aptList))
			return err == nil
		}},
		{Name: "install: apt-get update running", When: aptUpdate},
		{Name: "install: dpkg running (apt-get install)", Detached: true, When: func(v *VM) bool {
			return v.running(func(a []string) bool { return argvHas(a, "dpkg", "--status-fd") })
		}},
		{Name: "install: package installed, wiring check", When: func(v *VM) bool {
			return dpkgSays(v, "aadsshlogin", "install ok installed") &&
				!v.running(func(a []string) bool { return len(a) > 0 && filepath.Base(a[0]) == "apt-get" })
		}},
		{Name: "enable: apt-get update running", Enable: true, When: aptUpdate},
		{Name: "enable: mrseq written, final status not yet", Enable: true, When: func(v *VM) bool {
			b, err := os.ReadFile(v.Path(v.BaseDir() + "/mrseq"))
			return err == nil && strings.TrimSpace(string(b)) == "1"
		}},
	}
}

// IdentityPoint kills install while the identity check waits to retry
// (IMDS answered the first token request with 500).
func IdentityPoint() KillPoint {
	return KillPoint{Name: "install: identity check (IMDS retry back-off)", When: func(v *VM) bool {
		return v.E.IMDS.TokenRequests() >= 1
	}}
}

func handlerDir(v *VM) string { return filepath.Base(v.BaseDir()) }

// maxAttempts bounds the retries of a kill point whose window the poller
// missed (the handler finished first).
const maxAttempts = 4

// KillBattery runs every point reps times.
func (v *VM) KillBattery(ctx context.Context, points []KillPoint, reps int) {
	for _, kp := range points {
		for rep := 1; rep <= reps; rep++ {
			var r Result
			for attempt := 1; attempt <= maxAttempts; attempt++ {
				r = v.killCase(ctx, kp)
				r.count("attempts", 1)
				if r.Hit || len(r.Problems) > 0 {
					break
				}
				v.logf("kill %q: missed on attempt %d, retrying", kp.Name, attempt)
			}
			if !r.Hit && len(r.Problems) == 0 {
				r.problem("the kill point was never reached in %d attempts", maxAttempts)
			}
			v.logf("kill %q #%d: hit=%v converged=%v torn=%d problems=%d", kp.Name, rep, r.Hit, r.Converged, len(r.Torn), len(r.Problems))
			v.Emit(r)
		}
	}
}

func (v *VM) killCase(ctx context.Context, kp KillPoint) Result {
	r := Result{Battery: "kill", Case: kp.Name}
	if err := v.Reset(ctx); err != nil {
		r.problem("reset: %v", err)
		return r
	}
	if kp.Setup != nil {
		if err := kp.Setup(ctx, v); err != nil {
			r.problem("setup: %v", err)
			return r
		}
	}
	verb, scenario, seq := "install", "first", 0
	if kp.Enable {
		rep, err := v.Agent(ctx, "first", "-settings", v.E.SettingsFile)
		if err != nil || !rep.OK {
			r.problem("first deployment before the enable kill failed: %v %s", err, describe(rep))
			return r
		}
		verb, scenario, seq = "enable", "settings", 1
	}
	cmd, out, err := v.StartAgent(ctx, scenario, "-settings", v.E.SettingsFile)
	if err != nil {
		r.problem("start agentsim: %v", err)
		return r
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	var hp proc
	found := false
poll:
	for {
		select {
		case <-done:
			break poll
		default:
		}
		if !found {
			hp, found = v.handler(verb)
		}
		if found {
			if syscall.Kill(hp.pid, 0) != nil {
				found = false // exited (or not yet exec'd)
			} else if kp.When(v) {
				// The condition may have become true as the handler exited.
				if syscall.Kill(hp.pid, 0) == nil && killGroup(hp.pgid) {
					r.Hit = true
				}
				break poll
			}
		}
		time.Sleep(200 * time.Microsecond)
	}
	<-done
	var rep agentsim.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		r.problem("agentsim report of the killed run: %v", err)
		return r
	}
	st, ok := step(rep, verb)
	if !ok {
		r.problem("the killed run has no %s step: %s", verb, describe(rep))
		return r
	}
	r.Exit = st.ExitCode
	if r.Hit && st.ExitCode == 0 {
		// The kill reached the process group after the handler's exit.
		r.Hit = false
	}
	if !r.Hit {
		return r
	}
	if err := v.waitIdle(ctx, 90*time.Second); err != nil {
		r.problem("after the kill: %v", err)
	}
	r.Torn = v.Torn()
	if t := v.TempLeftovers(); len(t) > 0 {
		r.note("temporary files left by the kill: %s", strings.Join(t, ", "))
	}
	if audit, _ := v.run(ctx, "dpkg", "--audit"); strings.TrimSpace(audit) != "" {
		r.count("dpkg-interrupted", 1)
		if kp.Detached {
			r.problem("the detached package-manager transaction did not finish after the handler was killed: dpkg --audit: %s", clip(strings.TrimSpace(audit), 200))
		} else {
			r.note("dpkg was left interrupted: %s", clip(strings.TrimSpace(audit), 200))
		}
	}
	// What the agent does next: a failed install leaves the handler
	// NotInstalled, so the next goal state sets it up and installs again;
	// a failed enable is retried with the same settings.
	var conv agentsim.Report
	if kp.Enable {
		conv, err = v.Agent(ctx, "restart")
	} else {
		conv, err = v.Agent(ctx, "first", "-settings", v.E.SettingsFile)
	}
	if err != nil || !conv.OK {
		r.problem("the next goal state did not succeed: %v %s", err, describe(conv))
	}
	probs := v.Converged(ctx, seq)
	for _, p := range probs {
		r.problem("%s", p)
	}
	r.Converged = err == nil && conv.OK && len(probs) == 0
	if len(r.Torn) > 0 {
		r.problem("torn files after the kill: %s", strings.Join(r.Torn, ", "))
	}
	return r
}

// String renders a kill point for logs.
func (kp KillPoint) String() string { return fmt.Sprintf("%s (enable=%v)", kp.Name, kp.Enable) }
