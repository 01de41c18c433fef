package precheck

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/Azure/aadsshlogin-extension-linux/handler/clock"
	"github.com/Azure/aadsshlogin-extension-linux/handler/run"
	"github.com/Azure/aadsshlogin-extension-linux/handler/sysroot"
)

// Removing the extension removes Microsoft Entra sign-in. The package's
// removal script refuses while an Entra user is logged in, and the agent
// swallows a failed uninstall and deletes the extension folder, so a
// refusal would leave sign-in on, silently. SessionEnder therefore
// announces a bounded grace period on the users' terminals, waits for them
// to log out, then ends their sessions. This is the one part of precheck
// that acts on the machine.

// DefaultGrace is how long logged-in Entra users get to log out; well within
// the uninstall budget (270 s) with the escalation and the removal after it.
const DefaultGrace = 60 * time.Second

// SessionEnder ends the Entra sessions before an uninstall.
type SessionEnder struct {
	Root   sysroot.Root
	Runner run.Runner
	Clock  clock.Clock
	// Terminal opens a session's terminal (utmp ut_line, e.g. "pts/3") for
	// the notice; nil: no notice.
	Terminal func(line string) (io.WriteCloser, error)
	// Signal sends sig to pid; nil: no process is signalled.
	Signal func(pid int, sig syscall.Signal) error
	// Grace is the announced wait (DefaultGrace when 0).
	Grace time.Duration
	// Self is the handler's own pid, never signalled.
	Self     int
	Progress func(string)
	Log      func(kv ...any)
}

// pollEvery is how often utmp is read again while waiting.
const pollEvery = 5 * time.Second

// escalation is how long each signal gets before the next, harder one.
const escalation = 5 * time.Second

// Notice is the text written to the users' terminals.
func Notice(grace time.Duration) string {
	return fmt.Sprintf("\r\n*** Microsoft Entra ID sign-in is being removed from this machine (the AADSSHLoginForLinux extension was removed). "+
		"Save your work and log out: this session will be ended in %d seconds. ***\r\n", int(grace.Seconds()))
}

// End announces the grace period to the sessions, waits for their users to
// log out (reading utmp again every few seconds, for at most Grace as counted
// in sleeps, so a clock step cannot stretch it), ends the sessions that
// remain and returns those still open afterwards (nil when all ended).
func (e SessionEnder) End(ctx context.Context, sessions []Session) ([]Session, error) {
	grace := e.Grace
	if grace <= 0 {
		grace = DefaultGrace
	}
	e.announce(sessions, grace)
	e.progress("%d Microsoft Entra user session(s) are open (%s); they were told that Entra sign-in is being removed and that their sessions end in %d s",
		len(sessions), describeSessions(sessions), int(grace.Seconds()))
	open, err := e.waitGone(ctx, grace)
	if err != nil || len(open) == 0 {
		return open, err
	}
	e.progress("ending %d Microsoft Entra user session(s) after the %d s grace period: %s", len(open), int(grace.Seconds()), describeSessions(open))
	if open, err = e.terminateUsers(ctx, open); err != nil || len(open) == 0 {
		return open, err
	}
	for _, sig := range []syscall.Signal{syscall.SIGHUP, syscall.SIGTERM, syscall.SIGKILL} {
		e.signal(open, sig)
		if open, err = e.waitGone(ctx, escalation); err != nil || len(open) == 0 {
			return open, err
		}
	}
	return open, nil
}

func (e SessionEnder) progress(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	e.log("event", "end-sessions", "msg", msg)
	if e.Progress != nil {
		e.Progress(msg)
	}
}

func (e SessionEnder) log(kv ...any) {
	if e.Log != nil {
		e.Log(kv...)
	}
}

// ttyLine is a terminal name as utmp records it; anything else (a path
// with "..", a name someone wrote into utmp) is never opened.
var ttyLine = regexp.MustCompile(`^(pts/[0-9]{1,6}|tty[A-Za-z0-9]{1,8}|hvc[0-9]{1,3}|console)$`)

func (e SessionEnder) announce(sessions []Session, grace time.Duration) {
	if e.Terminal == nil {
		return
	}
	seen := map[string]bool{}
	for _, s := range sessions {
		if !ttyLine.MatchString(s.TTY) || seen[s.TTY] {
			continue
		}
		seen[s.TTY] = true
		w, err := e.Terminal(s.TTY)
		if err == nil {
			_, err = io.WriteString(w, Notice(grace))
			err = errors.Join(err, w.Close())
		}
		if err != nil {
			e.log("event", "notice-failed", "tty", s.TTY, "err", err)
		}
	}
}

// waitGone reads the sessions again every pollEvery until none is left or
// d has been slept.
func (e SessionEnder) waitGone(ctx context.Context, d time.Duration) ([]Session, error) {
	for slept := time.Duration(0); ; {
		open, err := EntraSessions(e.Root)
		if err != nil || len(open) == 0 || slept >= d {
			return open, err
		}
		step := min(pollEvery, d-slept)
		if err := e.Clock.Sleep(ctx, step); err != nil {
			return open, err
		}
		slept += step
	}
}

// terminateUsers asks systemd-logind to end the users' sessions where it
// runs. Users whose name utmp cut short are left to the signals.
func (e SessionEnder) terminateUsers(ctx context.Context, open []Session) ([]Session, error) {
	if e.Runner == nil || !e.Root.Exists("/run/systemd/system") {
		return open, nil
	}
	users := map[string]bool{}
	for _, s := range open {
		if !s.Truncated {
			users[s.User] = true
		}
	}
	if len(users) == 0 {
		return open, nil
	}
	names := make([]string, 0, len(users))
	for u := range users {
		names = append(names, u)
	}
	sort.Strings(names)
	for _, u := range names {
		if res, err := e.Runner.Run(ctx, run.Cmd{Path: "loginctl", Args: []string{"terminate-user", u}}); err != nil {
			e.log("event", "loginctl-failed", "user", u, "err", err, "stderr", res.Tail(300))
		}
	}
	return e.waitGone(ctx, escalation)
}

// signal sends sig to each session's process that is still alive under the
// root's procfs (never pid 1 or below, never ourselves). Without a procfs
// under the root liveness cannot be told, and nothing is signalled.
func (e SessionEnder) signal(open []Session, sig syscall.Signal) {
	if e.Signal == nil || !e.Root.Exists("/proc/1") {
		return
	}
	for _, s := range open {
		if s.PID <= 1 || s.PID == e.Self || !e.Root.Exists("/proc/"+strconv.Itoa(s.PID)) {
			continue
		}
		err := e.Signal(s.PID, sig)
		e.log("event", "signal-session", "user", s.User, "pid", s.PID, "signal", sig.String(), "err", err)
	}
}

// OpenTerminal opens /dev/<line> below root for writing a notice: without
// becoming our controlling terminal, without blocking on a stuck one, and
// only if it is a character device (never a file a crafted utmp line points
// at).
func OpenTerminal(root sysroot.Root) func(line string) (io.WriteCloser, error) {
	return func(line string) (io.WriteCloser, error) {
		if !ttyLine.MatchString(line) {
			return nil, fmt.Errorf("%q is not a terminal name", line)
		}
		f, err := os.OpenFile(root.Path("/dev/"+line), os.O_WRONLY|os.O_APPEND|syscall.O_NOCTTY|syscall.O_NONBLOCK|syscall.O_NOFOLLOW, 0)
		if err != nil {
			return nil, err
		}
		fi, err := f.Stat()
		if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
			f.Close()
			return nil, fmt.Errorf("/dev/%s is not a terminal", line)
		}
		return f, nil
	}
}

// describeSessions names the sessions for messages (at most
// maxNamedSessions by name).
func describeSessions(sessions []Session) string {
	var list []string
	for i, s := range sessions {
		if i == maxNamedSessions {
			list = append(list, fmt.Sprintf("and %d more", len(sessions)-maxNamedSessions))
			break
		}
		d := s.User
		if s.Truncated {
			d += "…"
		}
		if s.TTY != "" {
			d += " on " + s.TTY
		}
		if s.Host != "" {
			d += " from " + s.Host
		}
		if s.PID > 0 {
			d += " (pid " + strconv.Itoa(s.PID) + ")"
		}
		list = append(list, d)
	}
	return strings.Join(list, ", ")
}
