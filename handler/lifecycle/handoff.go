package lifecycle

import (
	"context"
	"fmt"
	"slices"

	"github.com/Azure/aadsshlogin-extension-linux/distros/release"
	"github.com/Azure/aadsshlogin-extension-linux/distros/repo"
	"github.com/Azure/aadsshlogin-extension-linux/handler/agent"
	"github.com/Azure/aadsshlogin-extension-linux/handler/failure"
	"github.com/Azure/aadsshlogin-extension-linux/handler/state"
)

// The install/enable contract. For a first deployment (and after an
// update) the agent runs install, then enable, with the same sequence
// number. The real agent hides the status of a failed install (it reports
// only "Non-zero exit code" as the handler status) and runs enable only
// after a successful one. So:
//
//   - install does the network work (identity, repository, packages) and
//     records its outcome as a hand-off in the state folder, tied to the
//     handler version, the sequence number and the boot id; after a
//     classified failure it still exits 0, so that enable runs;
//   - enable of the same sequence number consumes the hand-off: a failure
//     is reported with its code (22/23 transitioning, others error) and
//     exit code, a success after quick local checks only (no second
//     identity check, no second repository refresh);
//   - without a hand-off (settings change, agent restart, reboot) enable
//     converges as before.
//
// If the hand-off cannot be written, install exits with its code: then
// at least the agent's handler status carries our stderr line.

// handOff records install's outcome for enable and returns the exit code
// install ends with: 0 when enable will report the outcome.
func (inv *invocation) handOff(code failure.Code, msg string, subs []agent.SubStatus) failure.Code {
	h := state.HandOff{Version: inv.d.Version, Seq: inv.seq, Code: int(code), Message: msg, Notes: notesOf(subs), Time: inv.d.Clock.Now().UTC()}
	if err := inv.state.WriteHandOff(h); err != nil {
		inv.log.Log("event", "handoff-write-failed", "err", err)
		return code
	}
	inv.log.Log("event", "handoff-written", "code", int(code))
	return failure.OK
}

// fromHandOff turns install's hand-off for this sequence number into
// enable's outcome. handled is false when there is none (or it no longer
// matches the machine), and enable converges.
func (inv *invocation) fromHandOff(ctx context.Context) (rep report, handled bool, err error) {
	h, ok, terr := inv.state.TakeHandOff(inv.d.Version, inv.seq)
	if terr != nil {
		inv.log.Log("event", "handoff-take-failed", "err", terr)
	}
	if !ok {
		return report{}, false, nil
	}
	inv.log.Log("event", "handoff-taken", "code", h.Code)
	if h.Code != 0 {
		code := failure.Code(h.Code)
		if !slices.Contains(failure.Codes(), code) {
			code = failure.Internal
		}
		return report{}, true, failure.New(code, "%s", h.Message)
	}
	if err := inv.packagesInPlace(ctx); err != nil {
		inv.log.Log("event", "handoff-stale", "err", err)
		return report{}, false, nil
	}
	return report{message: h.Message, subs: subsOf(h.Notes)}, true, nil
}

// packagesInPlace is enable's quick local check after a successful
// install: the package is installed and its certificate handler exists.
// No network, no repository refresh.
func (inv *invocation) packagesInPlace(ctx context.Context) error {
	if !inv.d.Root.Exists(certHandler) {
		return fmt.Errorf("%s is missing", certHandler)
	}
	rel, err := release.DetectRelease(inv.d.Root)
	if err != nil {
		return err
	}
	plat, err := release.Resolve(rel)
	if err != nil {
		return err
	}
	got, err := inv.installer(plat, repo.Source{}).Query(ctx, "aadsshlogin")
	if err != nil {
		return err
	}
	if got["aadsshlogin"] == "" {
		return fmt.Errorf("aadsshlogin is not installed")
	}
	return nil
}

func notesOf(subs []agent.SubStatus) []state.Note {
	var out []state.Note
	for _, s := range subs {
		out = append(out, state.Note{Name: s.Name, Message: s.Message})
	}
	return out
}

// subsOf restores warning substatus from notes (only warnings are kept on
// a successful run).
func subsOf(notes []state.Note) []agent.SubStatus {
	var out []agent.SubStatus
	for _, n := range notes {
		out = append(out, agent.SubStatus{Name: n.Name, Status: agent.Warning, Message: n.Message})
	}
	return out
}
