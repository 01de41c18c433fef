package precheck

import (
	"bufio"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/Azure/aadsshlogin-extension-linux/handler/sysroot"
)

// logindSessionDir holds systemd-logind's per-session state files.
const logindSessionDir = "/run/systemd/sessions"

// logindSessions reads systemd-logind's session files as a complement to
// utmp: sshd writes utmp only for sessions with a terminal (not for
// `ssh vm command` or sftp), some newer systems keep no utmp at all, and
// logind records the full user name where utmp cuts it at 32 bytes.
//
// The files are logind's private state ("Do not parse"), so this is best
// effort: a missing or odd file yields fewer sessions, never an error. Only
// regular files are read (the directory also holds the sessions' FIFOs).
func logindSessions(root sysroot.Root) []Session {
	dir := root.Path(logindSessionDir)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []Session
	for _, e := range entries {
		if !e.Type().IsRegular() || strings.Contains(e.Name(), ".") {
			continue
		}
		data, err := readRegular(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		if s, ok := ParseLogindSession(data); ok {
			out = append(out, s)
		}
	}
	return out
}

var errNotRegular = errors.New("not a regular file")

func readRegular(p string) ([]byte, error) {
	fi, err := os.Lstat(p)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, errNotRegular
	}
	if fi.Size() > 64*1024 {
		return nil, fs.ErrInvalid
	}
	return os.ReadFile(p)
}

// ParseLogindSession reads one logind session file (KEY=VALUE lines). ok is
// false when it has no USER, or when it is the session of a user's service
// manager (CLASS=manager…, systemd >= 256), which is not a login.
func ParseLogindSession(data []byte) (s Session, ok bool) {
	var class string
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	sc.Buffer(make([]byte, 0, 1024), 64*1024)
	for sc.Scan() {
		k, v, found := strings.Cut(sc.Text(), "=")
		if !found {
			continue
		}
		switch k {
		case "USER":
			s.User = v
		case "TTY":
			s.TTY = strings.TrimPrefix(v, "/dev/")
		case "REMOTE_HOST":
			s.Host = v
		case "CLASS":
			class = v
		case "LEADER":
			if n, err := strconv.Atoi(v); err == nil && n > 0 {
				s.PID = n
			}
		}
	}
	if s.User == "" || strings.HasPrefix(class, "manager") {
		return Session{}, false
	}
	return s, true
}

// mergeSessions adds the logind sessions to the utmp ones. A logind session
// whose leader is a utmp entry's process is the same session: its full user
// name replaces a truncated utmp one.
func mergeSessions(utmp, logind []Session) []Session {
	out := append([]Session(nil), utmp...)
	byPID := map[int]int{}
	for i, s := range out {
		if s.PID > 0 {
			byPID[s.PID] = i
		}
	}
	sort.SliceStable(logind, func(i, j int) bool { return logind[i].PID < logind[j].PID })
	for _, l := range logind {
		if i, ok := byPID[l.PID]; ok && l.PID > 0 {
			if out[i].Truncated && strings.HasPrefix(l.User, out[i].User) {
				out[i].User, out[i].Truncated = l.User, false
			}
			continue
		}
		out = append(out, l)
		if l.PID > 0 {
			byPID[l.PID] = len(out) - 1
		}
	}
	return out
}
