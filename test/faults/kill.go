package faults

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/Azure/aadsshlogin-extension-linux/test/realagent"
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

// alive reports whether pid is a live (not zombie) process.
func alive(pid int) bool {
	f := statFields(pid)
	return len(f) > 0 && f[0] != "Z"
}

type applied struct {
	rep realagent.Report
	err error
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
	verb, goal := "install", v.First
	if kp.Enable {
		if err := v.succeeded(v.First(ctx)); err != nil {
			r.problem("first deployment before the enable kill failed: %v", err)
			return r
		}
		verb, goal = "enable", v.Settings
	}
	res := make(chan applied, 1)
	go func() {
		rep, err := goal(ctx)
		res <- applied{rep, err}
	}()
	var a applied
	var hp proc
	found, killed, over := false, false, false
poll:
	for {
		select {
		case a = <-res:
			over = true
			break poll
		default:
		}
		if !found {
			hp, found = v.handler(verb)
		}
		if found {
			if !alive(hp.pid) {
				found = false // exited (or not yet exec'd)
			} else if kp.When(v) {
				// The condition may have become true as the handler exited.
				killed = alive(hp.pid) && killGroup(hp.pgid)
				break poll
			}
		}
		time.Sleep(200 * time.Microsecond)
	}
	if !over {
		a = <-res
	}
	if a.err != nil {
		r.problem("the goal state under the kill: %v", a.err)
		return r
	}
	exit, ran := exitCode(a.rep, verb)
	if !ran {
		r.problem("the agent did not run %s: %s", verb, describe(a.rep))
		return r
	}
	// A hit: the handler was alive when its group was killed and the agent
	// saw the command die of SIGKILL (not exit on its own first).
	r.Exit, r.Hit = exit, killed && exit == -9
	if !r.Hit {
		return r
	}
	if err := v.waitIdle(ctx, 90*time.Second); err != nil {
		r.problem("after the kill: %v", err)
	}
	r.Torn = v.Torn(ctx)
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
	// What comes next: a failed install leaves the handler NotInstalled,
	// so the next goal state (same sequence number) sets it up and runs
	// install and enable again; a failed enable runs again when the agent
	// restarts.
	next := func(ctx context.Context) (realagent.Report, error) { return v.goal(ctx, v.seq) }
	if kp.Enable {
		next = v.Restart
	}
	err := v.succeeded(next(ctx))
	if err != nil {
		r.problem("the next goal state did not succeed: %v", err)
	}
	probs := v.Converged(ctx, v.seq)
	for _, p := range probs {
		r.problem("%s", p)
	}
	r.Converged = err == nil && len(probs) == 0
	if len(r.Torn) > 0 {
		r.problem("torn files after the kill: %s", strings.Join(r.Torn, ", "))
	}
	return r
}

// String renders a kill point for logs.
func (kp KillPoint) String() string { return fmt.Sprintf("%s (enable=%v)", kp.Name, kp.Enable) }
