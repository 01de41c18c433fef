package lifecycle

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/Azure/aadsshlogin-extension-linux/distros"
	"github.com/Azure/aadsshlogin-extension-linux/distros/release"
	"github.com/Azure/aadsshlogin-extension-linux/distros/repo"
	"github.com/Azure/aadsshlogin-extension-linux/handler/agent"
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
	rel, err := release.DetectRelease(inv.d.Root)
	if err != nil {
		return report{message: "Nothing to remove: the distribution could not be identified, so nothing was installed by this extension."}, nil
	}
	plat, err := release.Resolve(rel)
	if err != nil {
		return report{message: "Nothing to remove: " + rel.String() + " is not supported, so nothing was installed by this extension."}, nil
	}
	in := inv.installer(plat, repo.Source{})
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

func (inv *invocation) installer(plat release.Platform, src repo.Source) *distros.Installer {
	return &distros.Installer{
		Root: inv.d.Root, Runner: inv.d.Runner, Clock: inv.d.Clock, Logger: inv.log,
		Platform: plat, Source: src, StateDir: inv.state.Path, Progress: inv.progress,
		Proxy:       packageProxy(inv.d.Getenv),
		ProxyAdvice: release.ProxyAdvice(plat.Release, inv.prober().IsArc()),
	}
}

func (inv *invocation) prober() *identity.Prober {
	return proberFor(inv.d, inv.log)
}

func keyNote(key []byte) string {
	fps, err := repo.ValidateArmoredKey(key)
	if err != nil || len(fps) == 0 {
		return ""
	}
	return " (signing key " + repo.FormatFingerprint(fps[0]) + ")"
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
