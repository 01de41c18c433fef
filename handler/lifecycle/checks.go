package lifecycle

import (
	"context"
	"fmt"
	"strings"

	"github.com/go-kit/log"

	"github.com/Azure/aadsshlogin-extension-linux/distros"
	"github.com/Azure/aadsshlogin-extension-linux/distros/release"
	"github.com/Azure/aadsshlogin-extension-linux/distros/repo"
	"github.com/Azure/aadsshlogin-extension-linux/handler/agent"
	"github.com/Azure/aadsshlogin-extension-linux/handler/cloud"
	"github.com/Azure/aadsshlogin-extension-linux/handler/config"
	"github.com/Azure/aadsshlogin-extension-linux/handler/failure"
	"github.com/Azure/aadsshlogin-extension-linux/handler/identity"
	"github.com/Azure/aadsshlogin-extension-linux/handler/precheck"
)

// checkSteps is the one definition of the checks and their order, with the
// exit code each can give. install and enable run them in this order, stop
// at the first blocking failure and act (the packages step installs);
// diagnose runs every step read-only and prints its rows. A new check is a
// new entry here.
func checkSteps() []step {
	return []step{
		{name: "settings", check: checkSettings},                     // 53
		{name: "instance metadata", check: checkInstance},            // never blocks: names for messages, cloud
		{name: "managed identity", check: checkIdentity},             // 22, 52
		{name: "distribution", check: checkDistribution},             // 51
		{name: "legacy AADLoginForLinux", check: checkLegacy},        // 23
		{name: "memory", check: checkMemory},                         // 54
		{name: "packages", check: lookPackages, act: ensurePackages}, // 52, 56, 57
		{name: "sshd", check: checkSSHD},                             // warnings only
		{name: "endpoints", check: checkEndpoints, act: nothing},     // diagnose only (the package manager tries them)
	}
}

// converge is the work shared by install and enable: the checks in their
// order (checkSteps), stopping at the first blocking failure, with the
// packages step installing; then the status message.
func (inv *invocation) converge(ctx context.Context) (report, error) {
	pending, hasPending := inv.state.PendingRemoval()
	p := &pass{
		d: inv.d, converge: true, log: inv.log, progress: inv.progress,
		settings: func(ctx context.Context) (config.Config, error) {
			cfg, err := readSettings(ctx, inv.d, inv.env, inv.seq)
			if err == nil && hasPending {
				// The package manager's own recovery (dpkg --configure -a and
				// the like) in Ensure finishes the interrupted removal state.
				inv.progress("an earlier removal of the extension did not finish (it left " + pending.Left + "); repairing it before installing")
			}
			return cfg, err
		},
		installer: func(plat release.Platform) *distros.Installer { return inv.installer(plat, repo.Source{}) },
	}
	_, subs, err := p.run(ctx)
	if err != nil {
		return report{}, err
	}
	res, red := p.ensured, p.red
	source := cloud.ForEnvironment(p.inst.AzEnvironment).Packages
	if m := p.cfg.Mirror; m != nil {
		source = "private mirror " + m.Redacted() + keyNote([]byte(m.PublicKey))
	}
	msg := fmt.Sprintf("Microsoft Entra ID sign-in is ready: %s from %s on %s.", packageList(res.Installed), source, p.rel.String())
	if len(subs) > 0 {
		msg += fmt.Sprintf(" %d warning(s) below may stop some users from signing in.", len(subs))
	}
	for _, n := range res.Notes {
		inv.log.Log("event", "note", "note", red.str(n))
		msg += " Note: " + red.str(n) + "."
	}
	if hasPending {
		if err := inv.state.ClearRemovalPending(); err != nil {
			inv.log.Log("event", "clear-removal-pending-failed", "err", err)
		}
		msg += " An earlier, unfinished removal of the extension was cleaned up."
	}
	inv.log.Log("event", "converged", "changed", res.Changed, "packages", packageList(res.Installed))
	return report{message: msg, subs: subs}, nil
}

// runDiagnosis runs every check (checkSteps) read-only and returns their rows.
func runDiagnosis(ctx context.Context, d Deps) []Check {
	p := &pass{
		d: d, log: log.NewNopLogger(), progress: func(string) {},
		settings: func(ctx context.Context) (config.Config, error) { return installedSettings(ctx, d) },
		installer: func(plat release.Platform) *distros.Installer {
			return &distros.Installer{Root: d.Root, Runner: d.Runner, Clock: d.Clock, Logger: log.NewNopLogger(), Platform: plat}
		},
	}
	rows, _, _ := p.run(ctx)
	return rows
}

// step is one named check over the facts of a pass.
type step struct {
	name string
	// check runs the step read-only (diagnose, and install/enable when act
	// is nil).
	check func(context.Context, *pass) outcome
	// act replaces check for install and enable.
	act func(context.Context, *pass) outcome
}

// outcome is what one step found.
type outcome struct {
	// rows are diagnose's table rows.
	rows []Check
	// subs are warnings for the status of install and enable.
	subs []agent.SubStatus
	// err blocks install and enable; diagnose shows it as a FAIL row named
	// after the step.
	err error
}

// pass is one run of the checks and the facts they share, learned in step
// order.
type pass struct {
	d Deps
	// converge: install/enable (stop at the first failure, act).
	converge bool
	log      log.Logger
	progress func(string)
	// settings reads the extension settings (zero Config: none).
	settings func(context.Context) (config.Config, error)
	// installer gives the installer for a resolved platform.
	installer func(release.Platform) *distros.Installer

	cfg    config.Config
	prober *identity.Prober
	arc    bool
	inst   identity.Instance
	known  *identity.Instance // nil: the identity check reads it for its message
	rel    release.Release
	platOK bool
	in     *distros.Installer
	red    redactor
	// ensured is what the packages step installed (install/enable).
	ensured distros.Result
}

// run runs the steps: for install/enable up to the first blocking failure,
// which it returns; for diagnose all of them.
func (p *pass) run(ctx context.Context) (rows []Check, subs []agent.SubStatus, err error) {
	p.prober = proberFor(p.d, p.log)
	for _, s := range checkSteps() {
		f := s.check
		if p.converge && s.act != nil {
			f = s.act
		}
		o := f(ctx, p)
		if o.err != nil {
			if p.converge {
				return rows, subs, o.err
			}
			o.rows = append(o.rows, fromErr(s.name, o.err))
		}
		rows, subs = append(rows, o.rows...), append(subs, o.subs...)
	}
	return rows, subs, nil
}

func nothing(context.Context, *pass) outcome { return outcome{} }

func ok(name, detail string) outcome {
	return outcome{rows: []Check{{Name: name, Result: resultOK, Detail: detail}}}
}

func checkSettings(ctx context.Context, p *pass) outcome {
	cfg, err := p.settings(ctx)
	if err != nil {
		return outcome{err: err}
	}
	p.cfg = cfg
	if cfg.Mirror == nil {
		return outcome{}
	}
	return ok("settings", "private mirror "+cfg.Mirror.Redacted())
}

// readSettings reads and validates the settings of sequence number seq.
func readSettings(ctx context.Context, d Deps, env agent.Environment, seq int) (config.Config, error) {
	s, err := agent.ReadSettings(ctx, env, seq, agent.OpenSSL{Runner: d.Runner})
	if err != nil {
		return config.Config{}, failure.Wrap(failure.Config, err, "the extension settings cannot be read; check the settings you deployed (this extension needs none)")
	}
	return config.Parse(s)
}

// installedSettings returns the current settings when diagnose runs from
// an installed extension folder. Outside one (no HandlerEnvironment.json,
// no settings yet) there is nothing to check: the zero Config.
func installedSettings(ctx context.Context, d Deps) (config.Config, error) {
	env, err := agent.LoadEnvironment(d.Getenv, d.Executable)
	if err != nil {
		return config.Config{}, nil
	}
	seq, err := agent.SequenceNumber(d.Getenv, env.ConfigFolder)
	if err != nil {
		return config.Config{}, nil
	}
	return readSettings(ctx, d, env, seq)
}

func checkInstance(ctx context.Context, p *pass) outcome {
	if p.arc = p.prober.IsArc(); p.arc {
		return ok("platform", "Azure Arc-enabled server (HIMDS)")
	}
	p.progress("checking the system-assigned managed identity")
	inst, err := p.prober.Instance(ctx)
	if err != nil {
		// Not blocking: the identity check asks again for its message, so
		// diagnose shows a warning, not a failure install would not have.
		p.log.Log("event", "instance-metadata-unavailable", "err", err)
		return outcome{rows: []Check{{Name: "instance metadata", Result: resultWarning,
			Detail: "IMDS instance metadata unavailable (" + err.Error() + "); install and enable go on without it (messages then show <rg> and <vm>)"}}}
	}
	p.inst, p.known = inst, &inst
	return ok("instance metadata", fmt.Sprintf("%s in %s (%s), cloud %s", orDash(inst.Name), orDash(inst.ResourceGroup), orDash(inst.Location), orDash(inst.AzEnvironment)))
}

func checkIdentity(ctx context.Context, p *pass) outcome {
	if _, err := p.prober.Check(ctx, p.known); err != nil {
		return outcome{err: err}
	}
	return ok("managed identity", "system-assigned identity answers for the Azure Linux VM Sign-In app")
}

func checkDistribution(_ context.Context, p *pass) outcome {
	rel, err := release.DetectRelease(p.d.Root)
	p.rel = rel
	if err != nil {
		return outcome{err: failure.Wrap(failure.UnsupportedOS, err, "cannot identify the Linux distribution (no readable /etc/os-release)")}
	}
	plat, err := release.Resolve(rel)
	if err != nil {
		return outcome{err: err}
	}
	p.platOK, p.in = true, p.installer(plat)
	detail := fmt.Sprintf("%s, package manager %s", rel.String(), plat.Manager)
	if plat.PinnedVersion != "" {
		detail += ", aadsshlogin pinned to " + plat.PinnedVersion
	}
	return ok("distribution", detail)
}

func checkLegacy(ctx context.Context, p *pass) outcome {
	var query precheck.QueryFunc // nil: the distribution is unknown, folders only
	if p.platOK {
		query = p.in.Query
	}
	hint := precheck.LegacyHint{ResourceGroup: p.inst.ResourceGroup, VMName: p.inst.Name, VMSSName: p.inst.VMScaleSetName}
	if err := precheck.Legacy(ctx, p.d.Root, query, hint); err != nil {
		return outcome{err: err}
	}
	return ok("legacy AADLoginForLinux", "not present")
}

func checkMemory(_ context.Context, p *pass) outcome {
	total, err := precheck.Memory(p.d.Root)
	if err != nil {
		return outcome{err: err}
	}
	return ok("memory", fmt.Sprintf("%d MiB", total>>20))
}

// lookPackages reports the installed packages (diagnose).
func lookPackages(ctx context.Context, p *pass) outcome {
	if !p.platOK {
		return outcome{}
	}
	return outcome{rows: []Check{packagesCheck(ctx, p.in)}}
}

// ensurePackages configures the repository (packages.microsoft.com of the
// machine's cloud, or the private mirror) and installs or upgrades the
// packages (install/enable).
func ensurePackages(ctx context.Context, p *pass) outcome {
	var mirrorURL string
	var mirrorKey []byte
	if p.cfg.Mirror != nil {
		mirrorURL, mirrorKey = p.cfg.Mirror.URL, []byte(p.cfg.Mirror.PublicKey)
	}
	src, err := repo.SourceFor(cloud.ForEnvironment(p.inst.AzEnvironment), mirrorURL, mirrorKey)
	p.red = redactorFor(p.cfg, src.BaseURL)
	if err != nil {
		return outcome{err: p.red.err(err)}
	}
	p.in.Source = src
	p.in.Logger, p.in.Progress = p.red.logger(p.log), func(m string) { p.progress(p.red.str(m)) }
	p.progress("installing aadsshlogin on " + p.rel.String())
	res, err := p.in.Ensure(ctx)
	if err != nil {
		return outcome{err: p.red.err(err)}
	}
	p.ensured = res
	var o outcome
	for _, w := range res.Warnings {
		o.subs = append(o.subs, agent.SubStatus{Name: "packages", Status: agent.Warning, Message: p.red.str(w)})
	}
	return o
}

// checkSSHD reports sshd settings that stop Entra users from signing in.
// After the packages step it reuses that step's `sshd -T` (so install and
// enable start sshd twice at most: -T and -V).
func checkSSHD(ctx context.Context, p *pass) outcome {
	warns, err := precheck.SSHD(ctx, p.d.Root, p.d.Runner, p.ensured.SSHD)
	var o outcome
	switch {
	case err != nil:
		p.log.Log("event", "sshd-check-failed", "err", err)
		o.rows = append(o.rows, Check{Name: "sshd", Result: resultSkipped, Detail: err.Error()})
	case len(warns) == 0:
		o.rows = append(o.rows, Check{Name: "sshd", Result: resultOK, Detail: "no setting that blocks Entra sign-in"})
	}
	for _, w := range warns {
		o.rows = append(o.rows, Check{Name: "sshd: " + w.Name, Result: resultWarning, Detail: w.Message})
		o.subs = append(o.subs, agent.SubStatus{Name: w.Name, Status: agent.Warning, Message: w.Message})
	}
	return o
}

// checkEndpoints tries the package endpoint (packages.microsoft.com of the
// machine's cloud or the private mirror), Entra ID and RBAC.
func checkEndpoints(ctx context.Context, p *pass) outcome {
	ep := cloud.ForEnvironment(p.inst.AzEnvironment)
	pkgs := packagesTarget{url: ep.Packages + "/keys/microsoft.asc"}
	pkgs.shown = pkgs.url
	if mirror := p.cfg.Mirror; mirror != nil {
		base := strings.TrimSuffix(mirror.URL, "/")
		pkgs = packagesTarget{url: base + "/keys/microsoft.asc", mirror: true,
			red: redactorFor(p.cfg, base)}
		pkgs.shown = pkgs.url
		if mirror.Secret {
			// Only the host of a protected mirror is ever shown.
			pkgs.shown = hostOf(base) + " (protected mirror URL; path not shown)"
		}
	}
	return outcome{rows: endpointChecks(ctx, p.d, ep, p.arc, pkgs, release.ProxyAdvice(p.rel, p.arc))}
}
