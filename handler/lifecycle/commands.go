package lifecycle

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/Azure/aadsshlogin-extension-linux/distros"
	"github.com/Azure/aadsshlogin-extension-linux/handler/agent"
	"github.com/Azure/aadsshlogin-extension-linux/handler/cloud"
	"github.com/Azure/aadsshlogin-extension-linux/handler/config"
	"github.com/Azure/aadsshlogin-extension-linux/handler/failure"
	"github.com/Azure/aadsshlogin-extension-linux/handler/identity"
	"github.com/Azure/aadsshlogin-extension-linux/handler/precheck"
	"github.com/Azure/aadsshlogin-extension-linux/handler/state"
)

// install does the heavy work within the install budget: preconditions,
// repository and packages. Its outcome, success or failure, is handed to
// enable of the same sequence number (handoff.go): the agent runs enable
// right after a successful install, and hides the status of a failed one.
func install(ctx context.Context, inv *invocation) (report, error) {
	// The agent runs the new version's install after the old version's
	// uninstall: the update marker has done its job.
	if err := inv.state.ClearUpdateMarker(); err != nil {
		inv.log.Log("event", "clear-update-marker-failed", "err", err)
	}
	return inv.converge(ctx)
}

// enable reports install's hand-off for the same sequence number, or
// converges (identity, legacy, packages present and current), and records
// the sequence number so a repeated enable is a cheap no-op.
func enable(ctx context.Context, inv *invocation) (report, error) {
	rep, handled, err := inv.fromHandOff(ctx)
	if !handled {
		rep, err = inv.converge(ctx)
	}
	if err != nil {
		return rep, err
	}
	if err := agent.MRSeqIn(inv.env.BaseDir).Store(inv.seq); err != nil {
		inv.log.Log("event", "mrseq-write-failed", "err", err)
	}
	rec := state.Record{Version: inv.d.Version, Seq: inv.seq, Time: inv.d.Clock.Now().UTC(), Message: rep.message, Notes: notesOf(rep.subs)}
	if err := inv.state.WriteRecord(rec); err != nil {
		inv.log.Log("event", "record-write-failed", "err", err)
	}
	return rep, nil
}

// disable leaves everything in place: Entra sign-in keeps working.
func disable(_ context.Context, _ *invocation) (report, error) {
	return report{message: "Extension disabled. The aadsshlogin packages stay installed and Microsoft Entra ID sign-in keeps working; remove the extension to uninstall them."}, nil
}

// update runs in the new version (the old one on a downgrade) between the
// old disable and the old uninstall: it leaves a marker so that the old
// version's uninstall keeps the packages.
func update(_ context.Context, inv *invocation) (report, error) {
	m := state.UpdateMarker{
		From: inv.d.Getenv("AZURE_GUEST_AGENT_UPDATING_FROM_VERSION"),
		To:   inv.d.Getenv("VERSION"),
		Time: inv.d.Clock.Now().UTC(),
	}
	if m.To == "" {
		m.To = inv.d.Version
	}
	if m.From == m.To && m.To != inv.d.Version {
		// A downgrade: the agent runs the newer (outgoing) version's update
		// and passes the target version in both variables.
		m.From = inv.d.Version
	}
	if err := inv.state.WriteUpdateMarker(m); err != nil {
		return report{}, failure.Wrap(failure.Internal, err,
			"cannot record the update in %s; the old version's uninstall might remove the packages", inv.state.Path)
	}
	return report{message: fmt.Sprintf("Updating from %s to %s; the aadsshlogin packages stay installed.", orUnknown(m.From), m.To)}, nil
}

// uninstall removes Entra sign-in: the packages and the repository
// configuration this extension added, unless an update is in progress.
// Logged-in Entra users are told and get a grace period, then their
// sessions are ended (the package's removal script refuses while they are
// logged in). The agent swallows a failed uninstall and deletes the
// extension folder, so a failure is recorded as a pending removal that the
// next install or enable finishes, and its message says what is left.
func uninstall(ctx context.Context, inv *invocation) (report, error) {
	if m, ok := inv.state.ActiveUpdate(inv.d.Version); ok {
		return report{message: fmt.Sprintf("Uninstall of %s during the update to %s: the aadsshlogin packages stay installed.", inv.d.Version, m.To)}, nil
	}
	rel, err := distros.DetectRelease(inv.d.Root)
	if err != nil {
		return report{message: "Nothing to remove: the distribution could not be identified, so nothing was installed by this extension."}, nil
	}
	plat, err := distros.Resolve(rel)
	if err != nil {
		return report{message: "Nothing to remove: " + rel.String() + " is not supported, so nothing was installed by this extension."}, nil
	}
	in := inv.installer(plat, distros.Source{})
	ended := ""
	if installed, qerr := in.Query(ctx, "aadsshlogin"); qerr != nil || installed["aadsshlogin"] != "" {
		ended, err = inv.endEntraSessions(ctx)
		if err != nil {
			return report{}, inv.removalFailed(ctx, in, err)
		}
	}
	if err := in.Remove(ctx); err != nil {
		return report{}, inv.removalFailed(ctx, in, err)
	}
	for _, f := range []func() error{inv.state.Forget, inv.state.ClearRemovalPending} {
		if err := f(); err != nil {
			inv.log.Log("event", "state-cleanup-failed", "err", err)
		}
	}
	return report{message: "Microsoft Entra ID sign-in was removed: the aadsshlogin packages and the repository configuration this extension added were removed." + ended}, nil
}

// endEntraSessions announces the removal to the logged-in Entra users,
// waits for them up to the grace period and ends their sessions; it
// returns a sentence for the status ("" when nobody was logged in).
func (inv *invocation) endEntraSessions(ctx context.Context) (string, error) {
	sessions, err := precheck.EntraSessions(inv.d.Root)
	if err != nil {
		inv.log.Log("event", "utmp-unreadable", "err", err)
	}
	if len(sessions) == 0 {
		return "", nil
	}
	e := precheck.SessionEnder{
		Root: inv.d.Root, Runner: inv.d.Runner, Clock: inv.d.Clock, Terminal: inv.d.Terminal, Signal: inv.d.Signal,
		Self: inv.d.PID, Progress: inv.progress, Log: func(kv ...any) { inv.log.Log(kv...) },
	}
	left, err := e.End(ctx, sessions)
	if err != nil {
		return "", err
	}
	msg := fmt.Sprintf(" %d Microsoft Entra user session(s) were told and given %d s to log out; the sessions still open then were ended.",
		len(sessions), int(precheck.DefaultGrace.Seconds()))
	if len(left) > 0 {
		inv.log.Log("event", "sessions-left", "count", len(left))
		msg = fmt.Sprintf(" %d Microsoft Entra user session(s) were told and given %d s to log out; %d could not be ended and lost Entra sign-in with the packages.",
			len(sessions), int(precheck.DefaultGrace.Seconds()), len(left))
	}
	return msg, nil
}

// removalFailed records the unfinished removal and says what is left
// behind and what to do. Entra sessions still open make it 55.
func (inv *invocation) removalFailed(ctx context.Context, in *distros.Installer, cause error) error {
	if open, _ := precheck.EntraSessions(inv.d.Root); len(open) > 0 {
		cause = precheck.SessionsError(open, cause)
	}
	left := "the repository configuration this extension added"
	if got, err := in.Query(ctx, "aadsshlogin", "aadsshlogin-selinux"); err == nil && len(got) > 0 {
		left = packageList(got) + " (Microsoft Entra ID sign-in still works) and " + left
	} else if err != nil {
		left = "possibly the aadsshlogin packages (Microsoft Entra ID sign-in may still work) and " + left
	}
	code := failure.CodeOf(cause)
	p := state.RemovalPending{Version: inv.d.Version, Left: left, Code: int(code), Time: inv.d.Clock.Now().UTC()}
	if err := inv.state.WriteRemovalPending(p); err != nil {
		inv.log.Log("event", "removal-pending-write-failed", "err", err)
	}
	return failure.Wrap(code, cause, "Entra sign-in was not removed; left behind: %s. %s. What failed", left, failure.FinishRemoval)
}

func (inv *invocation) installer(plat distros.Platform, src distros.Source) *distros.Installer {
	return &distros.Installer{
		Root: inv.d.Root, Runner: inv.d.Runner, Clock: inv.d.Clock, Logger: inv.log,
		Platform: plat, Source: src, StateDir: inv.state.Path, Progress: inv.progress,
		Proxy:       packageProxy(inv.d.Getenv),
		ProxyAdvice: distros.ProxyAdvice(plat.Release, inv.prober().IsArc()),
	}
}

func (inv *invocation) prober() *identity.Prober {
	return proberFor(inv.d, inv.log)
}

// converge is the work shared by install and enable, in the order the
// public documentation gives: identity (22), distribution (51), legacy
// extension (23), memory (54), then the packages.
func (inv *invocation) converge(ctx context.Context) (report, error) {
	settings, err := agent.ReadSettings(ctx, inv.env, inv.seq, agent.OpenSSL{Runner: inv.d.Runner})
	if err != nil {
		return report{}, failure.Wrap(failure.Config, err, "the extension settings cannot be read; check the settings you deployed (this extension needs none)")
	}
	cfg, err := config.Parse(settings)
	if err != nil {
		return report{}, err
	}
	pending, hasPending := inv.state.PendingRemoval()
	if hasPending {
		// The package manager's own recovery (dpkg --configure -a and the
		// like) in Ensure finishes the interrupted removal state.
		inv.progress("an earlier removal of the extension did not finish (it left " + pending.Left + "); repairing it before installing")
	}
	prober := inv.prober()
	var inst identity.Instance
	var known *identity.Instance // nil: the identity check reads it for its message
	if !prober.IsArc() {
		inv.progress("checking the system-assigned managed identity")
		if inst, err = prober.Instance(ctx); err != nil {
			inv.log.Log("event", "instance-metadata-unavailable", "err", err)
		} else {
			known = &inst
		}
	}
	if _, err := prober.CheckWith(ctx, known); err != nil {
		return report{}, err
	}
	rel, err := distros.DetectRelease(inv.d.Root)
	if err != nil {
		return report{}, failure.Wrap(failure.UnsupportedOS, err, "cannot identify the Linux distribution (no readable /etc/os-release)")
	}
	plat, err := distros.Resolve(rel)
	if err != nil {
		return report{}, err
	}
	in := inv.installer(plat, distros.Source{})
	hint := precheck.LegacyHint{ResourceGroup: inst.ResourceGroup, VMName: inst.Name, VMSSName: inst.VMScaleSetName}
	if err := precheck.LegacyWithNames(ctx, inv.d.Root, in.Query, hint); err != nil {
		return report{}, err
	}
	if _, err := precheck.Memory(inv.d.Root); err != nil {
		return report{}, err
	}
	var mirrorURL string
	var mirrorKey []byte
	if cfg.Mirror != nil {
		mirrorURL, mirrorKey = cfg.Mirror.URL, []byte(cfg.Mirror.PublicKey)
	}
	endpoints := cloud.ForEnvironment(inst.AzEnvironment)
	src, err := distros.SourceFor(endpoints, mirrorURL, mirrorKey)
	red := redactorFor(cfg, src.BaseURL)
	if err != nil {
		return report{}, red.err(err)
	}
	in.Source = src
	in.Logger, in.Progress = red.logger(inv.log), func(m string) { inv.progress(red.str(m)) }
	// The wiring check's `sshd -T` (after the packages changed sshd_config)
	// also serves the sshd check below: sshd is not started twice for it.
	in.DumpSSHDConfig = true
	inv.progress("installing aadsshlogin on " + rel.String())
	res, err := in.Ensure(ctx)
	if err != nil {
		return report{}, red.err(err)
	}
	var subs []agent.SubStatus
	for _, w := range res.Warnings {
		subs = append(subs, agent.SubStatus{Name: "packages", Status: agent.Warning, Message: red.str(w)})
	}
	warns, err := precheck.SSHDWith(ctx, inv.d.Root, inv.d.Runner, precheck.SSHDKnown{Test: res.SSHDTest, TestFailed: res.SSHDTestFailed})
	if err != nil {
		inv.log.Log("event", "sshd-check-failed", "err", err)
	}
	for _, w := range warns {
		subs = append(subs, agent.SubStatus{Name: w.Name, Status: agent.Warning, Message: w.Message})
	}
	source := endpoints.Packages
	if cfg.Mirror != nil {
		source = "private mirror " + cfg.Mirror.Redacted() + keyNote(mirrorKey)
	}
	msg := fmt.Sprintf("Microsoft Entra ID sign-in is ready: %s from %s on %s.", packageList(res.Installed), source, rel.String())
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

func keyNote(key []byte) string {
	fps, err := distros.ValidateArmoredKey(key)
	if err != nil || len(fps) == 0 {
		return ""
	}
	return " (signing key " + distros.FormatFingerprint(fps[0]) + ")"
}

func packageList(installed map[string]string) string {
	if len(installed) == 0 {
		return "aadsshlogin"
	}
	names := make([]string, 0, len(installed))
	for n := range installed {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = n + " " + installed[n]
	}
	return strings.Join(parts, ", ")
}

func orUnknown(s string) string {
	if s == "" {
		return "an earlier version"
	}
	return s
}
