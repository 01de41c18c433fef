package precheck

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"

	"github.com/Azure/aadsshlogin-extension-linux/handler/failure"
	"github.com/Azure/aadsshlogin-extension-linux/handler/sysroot"
)

// Layout of glibc's struct utmp on x86_64 and aarch64 (both little-endian,
// both use the 32-bit ut_tv layout for utmp files).
const (
	UtmpRecordSize = 384
	utUserProcess  = 7 // USER_PROCESS

	offType = 0   // int16 ut_type (+2 bytes padding)
	offPID  = 4   // int32 ut_pid
	offLine = 8   // char ut_line[32]
	offUser = 44  // char ut_user[32] (after ut_id[4] at 40)
	offHost = 76  // char ut_host[256]
	lenLine = 32  // remaining fields (exit, session, tv, addr_v6,
	lenUser = 32  // reserved) are not needed
	lenHost = 256 //
)

// utmpPaths are tried in order; /var/run is normally a link to /run.
var utmpPaths = [...]string{"/var/run/utmp", "/run/utmp"}

// UtmpRecord is the part of a utmp entry the handler uses.
type UtmpRecord struct {
	Type int16
	PID  int32
	Line string
	User string
	Host string
	// UserFull is set when ut_user has no NUL terminator (name cut at 32 bytes).
	UserFull bool
}

// ParseUtmp decodes the complete records of a utmp file. A trailing partial
// record (a file being written, or garbage) is ignored, never an error.
func ParseUtmp(data []byte) []UtmpRecord {
	n := len(data) / UtmpRecordSize
	out := make([]UtmpRecord, 0, n)
	for i := range n {
		r := data[i*UtmpRecordSize : (i+1)*UtmpRecordSize]
		user, full := cString(r[offUser : offUser+lenUser])
		line, _ := cString(r[offLine : offLine+lenLine])
		host, _ := cString(r[offHost : offHost+lenHost])
		out = append(out, UtmpRecord{
			Type:     int16(binary.LittleEndian.Uint16(r[offType:])),
			PID:      int32(binary.LittleEndian.Uint32(r[offPID:])),
			Line:     line,
			User:     user,
			Host:     host,
			UserFull: full,
		})
	}
	return out
}

// cString returns b up to its first NUL, and whether there was none.
func cString(b []byte) (string, bool) {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return string(b[:i]), false
	}
	return string(b), true
}

// IsEntraName reports whether a login name looks like a Microsoft Entra
// account: a UPN (contains '@') or an object id (a UUID). truncated says the
// name filled ut_user completely; then a UUID is cut to its first 32
// characters and only that prefix can be checked.
func IsEntraName(name string, truncated bool) bool {
	if strings.Contains(name, "@") {
		return true
	}
	if len(name) == len(uuidShape) {
		return matchesShape(name, uuidShape)
	}
	return truncated && len(name) == lenUser && matchesShape(name, uuidShape[:lenUser])
}

const uuidShape = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"

func matchesShape(s, shape string) bool {
	if len(s) != len(shape) {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if shape[i] == '-' {
			if c != '-' {
				return false
			}
			continue
		}
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// EntraSessions lists the logged-in sessions of Entra users (names like
// user@domain or object ids), read from utmp and completed with
// systemd-logind's session files (see logindSessions).
//
// utmp is not cleaned when a session dies without logging out (crash, OOM
// kill, power loss), so an entry is dropped when its process is gone: when
// the root has a procfs (/proc/1 exists) and /proc/<pid> does not. Without a
// procfs under the root every USER_PROCESS entry counts. When neither
// /var/run/utmp nor /run/utmp exists the machine keeps no utmp (some minimal
// or logind-only images): only logind's sessions count, and the package's
// own removal script remains the last guard.
func EntraSessions(root sysroot.Root) ([]Session, error) {
	var data []byte
	for _, p := range utmpPaths {
		b, err := root.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read logged-in users: %w", err)
		}
		data = b
		break
	}
	procfs := root.Exists("/proc/1")
	alive := func(pid int) bool {
		return !procfs || pid <= 0 || root.Exists("/proc/"+strconv.Itoa(pid))
	}
	var fromUtmp []Session
	for _, r := range ParseUtmp(data) {
		if r.Type != utUserProcess || !IsEntraName(r.User, r.UserFull) || !alive(int(r.PID)) {
			continue // not a login, not Entra, or stale
		}
		fromUtmp = append(fromUtmp, Session{User: r.User, TTY: r.Line, Host: r.Host, PID: int(r.PID), Truncated: r.UserFull})
	}
	var fromLogind []Session
	for _, s := range logindSessions(root) {
		if IsEntraName(s.User, false) && alive(s.PID) {
			fromLogind = append(fromLogind, s)
		}
	}
	return mergeSessions(fromUtmp, fromLogind), nil
}

// maxNamedSessions is how many sessions a message lists by name.
const maxNamedSessions = 5

// SessionsError returns the failure.UsersLoggedIn error of an uninstall
// whose package removal failed while Entra sessions that SessionEnder could
// not end were still open (cause is the removal's error), or nil for no
// sessions. The caller adds what was left behind and what to do next.
func SessionsError(sessions []Session, cause error) error {
	if len(sessions) == 0 {
		return nil
	}
	return failure.Wrap(failure.UsersLoggedIn, cause,
		"%d Microsoft Entra user session(s) could not be ended (%s), so the packages' removal failed; "+
			"end them as root (`loginctl terminate-user <user>`, `pkill -KILL -u <user>`, or `kill <pid>` with the pid `who -u` shows)",
		len(sessions), describeSessions(sessions))
}
