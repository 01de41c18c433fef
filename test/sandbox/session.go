package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/Azure/aadsshlogin-extension-linux/test/fixtures"
)

// entraUser is the Entra account whose session the entra-session scenario
// plays.
const entraUser = "alice@contoso.com"

// loginSession is an Entra user's session inside the VM: a process (a
// `sleep`, which SIGHUP ends like a login shell) with a utmp USER_PROCESS
// record naming it, as sshd writes one.
type loginSession struct {
	cmd  *exec.Cmd
	done chan error
}

// entraLogin starts the session in the chroot.
func (e *Env) entraLogin(ctx context.Context, out io.Writer) (*loginSession, error) {
	cmd := exec.Command("chroot", e.ChrootDir, "sleep", "3600")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the session process: %w", err)
	}
	s := &loginSession{cmd: cmd, done: make(chan error, 1)}
	go func() { s.done <- cmd.Wait() }()
	rec := fixtures.UtmpRecord(7, int32(cmd.Process.Pid), "pts/7", entraUser, "203.0.113.8")
	path := e.utmpPath()
	if err := os.WriteFile(path, rec, 0o664); err != nil {
		s.end()
		return nil, fmt.Errorf("write utmp: %w", err)
	}
	fmt.Fprintf(out, "%s logged in on pts/7 (session process %d, utmp record in %s)\n", entraUser, cmd.Process.Pid, path)
	return s, nil
}

// utmpPath is the VM's utmp. /var/run is usually a link to /run: resolve
// it inside the chroot, never on the host (an absolute link would lead to
// the host's own utmp).
func (e *Env) utmpPath() string {
	if fi, err := os.Lstat(filepath.Join(e.ChrootDir, "var/run")); err == nil && fi.Mode()&os.ModeSymlink != 0 {
		return filepath.Join(e.ChrootDir, "run/utmp")
	}
	return filepath.Join(e.ChrootDir, "var/run/utmp")
}

// stuckEntraLogin records an Entra session that cannot be ended: its utmp
// record names pid 1, a process that is alive and that the handler never
// signals (as a session stuck in uninterruptible sleep would resist), so
// the fake package's removal script keeps refusing.
func (e *Env) stuckEntraLogin(out io.Writer) error {
	rec := fixtures.UtmpRecord(7, 1, "pts/7", entraUser, "203.0.113.8")
	if err := os.WriteFile(e.utmpPath(), rec, 0o664); err != nil {
		return fmt.Errorf("write utmp: %w", err)
	}
	fmt.Fprintf(out, "%s logged in on pts/7 with a session that cannot be ended (utmp names pid 1)\n", entraUser)
	return nil
}

// ended reports how the session ended (waiting at most a few seconds) and
// what the handler's log says it announced.
func (s *loginSession) ended(chroot string, out io.Writer) error {
	if s == nil {
		return errors.New("no session was started")
	}
	select {
	case err := <-s.done:
		fmt.Fprintf(out, "the session process ended: %v\n", err)
	case <-time.After(5 * time.Second):
		return errors.New("the Entra user's session is still running after the uninstall")
	}
	log, err := os.ReadFile(filepath.Join(chroot, "var/log/azure", HandlerName, "handler.log"))
	if err != nil {
		return err
	}
	for _, l := range strings.Split(string(log), "\n") {
		if strings.Contains(l, "event=end-sessions") {
			fmt.Fprintf(out, "handler.log: %s\n", l)
		}
	}
	return nil
}

// end kills the session process (cleanup).
func (s *loginSession) end() {
	if s != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
	}
}
