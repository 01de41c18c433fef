package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
	"time"

	"github.com/go-kit/log"

	"github.com/Azure/aadsshlogin-extension-linux/handler/agent"
	"github.com/Azure/aadsshlogin-extension-linux/handler/atomicfile"
	"github.com/Azure/aadsshlogin-extension-linux/handler/failure"
	"github.com/Azure/aadsshlogin-extension-linux/handler/logging"
	"github.com/Azure/aadsshlogin-extension-linux/handler/state"
)

// report is a command's successful outcome.
type report struct {
	message string
	subs    []agent.SubStatus
}

// invocation is one run of an agent command.
type invocation struct {
	d      Deps
	verb   string
	op     string
	env    agent.Environment
	seq    int
	log    log.Logger
	status agent.StatusWriter
	events agent.EventWriter
	state  state.Dir
}

// lockWait bounds the wait for another invocation of the handler; a run
// that waited that long still has most of its budget left.
const lockWait = 120 * time.Second

func runAgentCommand(ctx context.Context, d Deps, verb string, cmd command) int {
	env, err := agent.LoadEnvironment(d.Getenv, d.Executable)
	if err != nil {
		fmt.Fprintf(d.Stderr, "%s failed (exit %d): the agent's HandlerEnvironment.json is unusable, so no status can be reported: %v; %s, and if it persists, collect /var/log/waagent.log.\n",
			cmd.operation, failure.BadEnvironment, err, failure.Reinstall)
		return int(failure.BadEnvironment)
	}
	seq, err := agent.SequenceNumber(d.Getenv, env.ConfigFolder)
	if err != nil {
		fmt.Fprintf(d.Stderr, "%s failed (exit %d): %v. The agent sets ConfigSequenceNumber and writes config/<n>.settings; %s.\n",
			cmd.operation, failure.BadEnvironment, err, failure.Reinstall)
		return int(failure.BadEnvironment)
	}
	var logw io.Writer = io.Discard
	if f, err := logging.Open(env.LogFolder, logging.DefaultMaxSize); err == nil {
		defer f.Close()
		logw = f
	} else {
		fmt.Fprintf(d.Stderr, "warning: cannot write the handler log: %v\n", err)
	}
	inv := &invocation{
		d: d, verb: verb, op: cmd.operation, env: env, seq: seq,
		log:    logging.New(logw, "op", verb, "seq", seq, "version", d.Version, "pid", d.PID),
		status: agent.StatusWriter{Folder: env.StatusFolder, Name: HandlerName, Now: d.Clock.Now},
		events: agent.EventWriter{
			Folder: env.EventsFolder, Enabled: agent.TelemetryEnabled(d.Getenv), Version: d.Version,
			OperationID: fmt.Sprintf("%s-%d-%d", verb, seq, d.PID), PID: d.PID, Now: d.Clock.Now,
		},
		state: state.Dir{Path: d.Root.Path(state.DefaultDir), Clock: d.Clock, PID: d.PID, Boot: state.BootID(d.Root)},
	}
	inv.log.Log("event", "start", "env", env.BaseDir)
	ctx, cancel := context.WithTimeout(ctx, cmd.budget)
	defer cancel()

	if verb == "enable" && inv.alreadyProcessed() {
		inv.log.Log("event", "skip", "reason", "sequence number already processed successfully")
		return inv.finish(inv.alreadyDone(), nil)
	}
	unlock, err := inv.state.Lock(ctx, lockWait)
	if err != nil {
		return inv.finish(report{}, lockFailure(err, inv.state.Path, cmd.operation))
	}
	defer unlock()
	// A run killed by the agent's timeout may have left temporary files.
	for _, dir := range []string{env.StatusFolder, env.BaseDir, inv.state.Path} {
		if n := atomicfile.SweepTemps(dir); n > 0 {
			inv.log.Log("event", "swept-temp-files", "dir", dir, "count", n)
		}
	}
	if verb == "enable" && inv.alreadyProcessed() {
		// Another enable of the same sequence number completed it while we
		// waited for the lock: no package manager.
		inv.log.Log("event", "skip", "reason", "sequence number completed by another run while this one waited for the lock")
		return inv.finish(inv.alreadyDone(), nil)
	}
	inv.progress("started")
	rep, err := inv.runSafely(ctx, cmd)
	if err != nil && failure.CodeOf(err) == failure.Internal && errors.Is(err, context.DeadlineExceeded) {
		err = failure.Wrap(failure.Dependency, err, "the %s did not finish within %s; the package manager or a network endpoint is too slow; check the network and the package manager, %s", strings.ToLower(cmd.operation), cmd.budget, failure.NextStep(cmd.operation))
	}
	return inv.finish(rep, err)
}

// runSafely runs the command, turning a panic (a bug) into an internal
// error with a status and a stack trace in the log instead of a crash.
func (inv *invocation) runSafely(ctx context.Context, cmd command) (rep report, err error) {
	defer func() {
		if r := recover(); r != nil {
			inv.log.Log("event", "panic", "value", fmt.Sprint(r), "stack", string(debug.Stack()))
			rep, err = report{}, failure.New(failure.Internal,
				"internal error in the extension handler (%v); please report it with %s", r, "/var/log/azure/"+HandlerName+"/handler.log")
		}
	}()
	return cmd.run(ctx, inv)
}

// progress writes a transitioning status with a progress line.
func (inv *invocation) progress(msg string) {
	inv.log.Log("event", "progress", "msg", msg)
	err := inv.status.Write(inv.seq, agent.Report{Operation: inv.op, Status: agent.Transitioning,
		Message: inv.op + " in progress: " + msg})
	if err != nil {
		inv.log.Log("event", "status-write-failed", "err", err)
	}
}

// finish reports the outcome and returns the exit code.
func (inv *invocation) finish(rep report, err error) int {
	code := failure.CodeOf(err)
	st, msg, level := agent.Success, rep.message, agent.LevelInformational
	if err != nil {
		st, msg, level = agent.Error, failure.Message(err), agent.LevelError
		if code.Transitioning() {
			st = agent.Transitioning
		}
	}
	if werr := inv.status.Write(inv.seq, agent.Report{Operation: inv.op, Status: st, Code: int(code), Message: msg, SubStatus: rep.subs}); werr != nil {
		inv.log.Log("event", "status-write-failed", "err", werr)
		fmt.Fprintf(inv.d.Stderr, "warning: cannot write the status file: %v\n", werr)
	}
	if eerr := inv.events.Write(level, inv.op, fmt.Sprintf("exit=%d %s", code, msg)); eerr != nil {
		inv.log.Log("event", "event-write-failed", "err", eerr)
	}
	exit := code
	if inv.verb == "install" {
		exit = inv.handOff(code, msg, rep.subs)
	}
	inv.log.Log("event", "end", "exit", int(exit), "status", st, "msg", msg)
	switch {
	case err != nil && exit == failure.OK:
		fmt.Fprintf(inv.d.Stderr, "%s found a problem (code %d), which enable reports: %s\n", inv.op, code, stderrLine(msg))
	case err != nil:
		fmt.Fprintf(inv.d.Stderr, "%s failed (exit %d): %s\n", inv.op, code, stderrLine(msg))
	default:
		fmt.Fprintf(inv.d.Stdout, "%s: %s\n", inv.op, msg)
	}
	return int(exit)
}

// stderrLine joins the lines of a message (a tool's multi-line error output)
// for the single stderr line the agent shows.
func stderrLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " | ")), " ")
}

// alreadyDone is the fast path's report: a fresh Enable status saying
// what the last successful enable of this sequence number found, so that
// no status of another operation (a disable in between) stays in place.
func (inv *invocation) alreadyDone() report {
	rec, _ := inv.state.LastSuccess()
	msg := rec.Message
	if msg == "" {
		msg = "Microsoft Entra ID sign-in is ready: the aadsshlogin packages are installed."
	}
	return report{message: msg, subs: subsOf(rec.Notes)}
}

// alreadyProcessed is enable's fast path: the sequence number was completed
// successfully by this version and the sign-in packages are still in place.
// It reads three small files and stats one; no network, no package manager.
func (inv *invocation) alreadyProcessed() bool {
	done, ok := agent.MRSeqIn(inv.env.BaseDir).Load()
	if !ok || done != inv.seq {
		return false
	}
	rec, ok := inv.state.LastSuccess()
	if !ok || rec.Seq != inv.seq || rec.Version != inv.d.Version {
		return false
	}
	if st, _, err := inv.status.Read(inv.seq); err != nil || st != agent.Success {
		return false
	}
	return inv.d.Root.Exists(certHandler)
}

// certHandler is the program the aadsshlogin package wires into sshd.
const certHandler = "/usr/sbin/aad_certhandler"
