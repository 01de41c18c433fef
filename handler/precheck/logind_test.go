package precheck

import (
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const logindAlice = `# This is private data. Do not parse.
UID=1000001
USER=alice@contoso.com
ACTIVE=1
IS_DISPLAY=0
STATE=active
REMOTE=1
TYPE=tty
CLASS=user
SCOPE=session-3.scope
FIFO=/run/systemd/sessions/3.ref
SERVICE=sshd
REMOTE_HOST=203.0.113.8
TTY=/dev/pts/1
LEADER=1002
`

func TestParseLogindSession(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		want   Session
		wantOK bool
	}{
		{name: "ssh session", in: logindAlice, want: Session{User: "alice@contoso.com", TTY: "pts/1", Host: "203.0.113.8", PID: 1002}, wantOK: true},
		{name: "no tty (ssh vm command)", in: "USER=bob@contoso.com\nLEADER=77\nCLASS=user\n", want: Session{User: "bob@contoso.com", PID: 77}, wantOK: true},
		{name: "user manager is not a login", in: "USER=bob@contoso.com\nLEADER=78\nCLASS=manager\n"},
		{name: "no user", in: "LEADER=5\n"},
		{name: "bad leader", in: "USER=x@y\nLEADER=-3\n", want: Session{User: "x@y"}, wantOK: true},
		{name: "empty", in: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := ParseLogindSession([]byte(tc.in))
			if ok != tc.wantOK {
				t.Fatalf("ok = %v, want %v", ok, tc.wantOK)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestEntraSessionsWithLogind(t *testing.T) {
	files := map[string]string{
		"/proc/1/": "", "/proc/1002/": "", "/proc/1004/": "", "/proc/2000/": "",
		"/var/run/utmp": utmpFile(upn, longUPN),
		// Same session as the utmp entry with pid 1004: full name recovered.
		"/run/systemd/sessions/4": "USER=firstname.lastname@fabrikam.onmicrosoft.com\nTTY=/dev/pts/3\nREMOTE_HOST=198.51.100.1\nLEADER=1004\nCLASS=user\n",
		// Same as utmp pid 1002: not duplicated.
		"/run/systemd/sessions/3": logindAlice,
		// A command session without a terminal: only logind knows it.
		"/run/systemd/sessions/7": "USER=dave@contoso.com\nREMOTE_HOST=192.0.2.9\nLEADER=2000\nCLASS=user\n",
		// Stale, local and manager sessions are ignored.
		"/run/systemd/sessions/8":  "USER=erin@contoso.com\nLEADER=3000\nCLASS=user\n",
		"/run/systemd/sessions/9":  "USER=azureuser\nLEADER=2000\nCLASS=user\n",
		"/run/systemd/sessions/10": "USER=dave@contoso.com\nLEADER=2000\nCLASS=manager\n",
	}
	root := tree(t, files)
	// The directory also holds FIFOs; reading one would block forever.
	if err := syscall.Mkfifo(root.Path("/run/systemd/sessions/3.ref"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(root.Path("/run/systemd/sessions/11"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := EntraSessions(root)
	if err != nil {
		t.Fatal(err)
	}
	want := []Session{
		{User: "alice@contoso.com", TTY: "pts/1", Host: "203.0.113.8", PID: 1002},
		{User: "firstname.lastname@fabrikam.onmicrosoft.com", TTY: "pts/3", Host: "198.51.100.1", PID: 1004},
		{User: "dave@contoso.com", Host: "192.0.2.9", PID: 2000},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func FuzzParseLogindSession(f *testing.F) {
	f.Add([]byte(logindAlice))
	f.Add([]byte("USER=\nLEADER=99999999999999999999\n"))
	f.Add([]byte("CLASS=manager-early\nUSER=a@b\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, ok := ParseLogindSession(data)
		if !ok {
			if s != (Session{}) {
				t.Fatalf("not ok but %+v", s)
			}
			return
		}
		if s.User == "" || s.PID < 0 || strings.ContainsRune(s.User, '\n') {
			t.Fatalf("bad session %+v", s)
		}
		if !strings.Contains(string(data), "USER="+s.User) {
			t.Fatalf("user %q not in input", s.User)
		}
	})
}
