package precheck

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/Azure/aadsshlogin-extension-linux/handler/failure"
)

// utmpEntry is a test record; encode writes it in glibc's x86_64 layout.
type utmpEntry struct {
	typ  int16
	pid  int32
	line string
	id   string
	user string
	host string
}

func (e utmpEntry) encode() []byte {
	b := make([]byte, UtmpRecordSize)
	binary.LittleEndian.PutUint16(b[0:], uint16(e.typ))
	binary.LittleEndian.PutUint32(b[4:], uint32(e.pid))
	copy(b[8:40], e.line)
	copy(b[40:44], e.id)
	copy(b[44:76], e.user)
	copy(b[76:332], e.host)
	binary.LittleEndian.PutUint32(b[336:], 42)         // ut_session
	binary.LittleEndian.PutUint32(b[340:], 1700000000) // ut_tv.tv_sec
	copy(b[348:352], []byte{10, 0, 0, 4})              // ut_addr_v6[0]
	return b
}

func utmpFile(entries ...utmpEntry) string {
	var out []byte
	for _, e := range entries {
		out = append(out, e.encode()...)
	}
	return string(out)
}

// A typical file: boot time, run level, getty, local and Entra logins.
var (
	bootTime  = utmpEntry{typ: 2, line: "~", id: "~~", user: "reboot", host: "6.8.0-1015-azure"}
	runLevel  = utmpEntry{typ: 1, line: "~", id: "~~", user: "runlevel", host: "6.8.0-1015-azure"}
	getty     = utmpEntry{typ: 6, pid: 812, line: "ttyS0", id: "tyS0", user: "LOGIN"}
	local     = utmpEntry{typ: 7, pid: 1001, line: "pts/0", id: "ts/0", user: "azureuser", host: "203.0.113.7"}
	upn       = utmpEntry{typ: 7, pid: 1002, line: "pts/1", id: "ts/1", user: "alice@contoso.com", host: "203.0.113.8"}
	objectID  = utmpEntry{typ: 7, pid: 1003, line: "pts/2", id: "ts/2", user: "0f1e2d3c-4b5a-4978-8a9b-0c1d2e3f4a5b", host: "2001:db8::1"}
	longUPN   = utmpEntry{typ: 7, pid: 1004, line: "pts/3", id: "ts/3", user: "firstname.lastname@fabrikam.onmicrosoft.com", host: "198.51.100.1"}
	deadEntra = utmpEntry{typ: 8, pid: 1005, line: "pts/4", id: "ts/4", user: "bob@contoso.com", host: "198.51.100.2"} // DEAD_PROCESS
	staleUPN  = utmpEntry{typ: 7, pid: 4242, line: "pts/5", id: "ts/5", user: "carol@contoso.com", host: "198.51.100.3"}
)

func TestParseUtmp(t *testing.T) {
	data := []byte(utmpFile(bootTime, upn, longUPN))
	want := []UtmpRecord{
		{Type: 2, Line: "~", User: "reboot", Host: "6.8.0-1015-azure"},
		{Type: 7, PID: 1002, Line: "pts/1", User: "alice@contoso.com", Host: "203.0.113.8"},
		{Type: 7, PID: 1004, Line: "pts/3", User: "firstname.lastname@fabrikam.onmi", Host: "198.51.100.1", UserFull: true},
	}
	if diff := cmp.Diff(want, ParseUtmp(data)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// A trailing partial record is ignored.
	if diff := cmp.Diff(want, ParseUtmp(append(data, make([]byte, 100)...))); diff != "" {
		t.Errorf("with partial tail (-want +got):\n%s", diff)
	}
	if got := ParseUtmp(data[:UtmpRecordSize-1]); len(got) != 0 {
		t.Errorf("short file gave %v", got)
	}
}

func TestIsEntraName(t *testing.T) {
	tests := []struct {
		name      string
		truncated bool
		want      bool
	}{
		{"alice@contoso.com", false, true},
		{"firstname.lastname@fabrikam.onmi", true, true},
		{"0f1e2d3c-4b5a-4978-8a9b-0c1d2e3f4a5b", false, true},
		{"0F1E2D3C-4B5A-4978-8A9B-0C1D2E3F4A5B", false, true},
		{"0f1e2d3c-4b5a-4978-8a9b-0c1d2e3f", true, true}, // object id cut at 32 bytes
		{"0f1e2d3c-4b5a-4978-8a9b-0c1d2e3f", false, false},
		{"0f1e2d3c-4b5a-4978-8a9b-0c1d2e3g4a5b", false, false},
		{"0f1e2d3c04b5a-4978-8a9b-0c1d2e3f4a5b", false, false},
		{"azureuser", false, false},
		{"a-very-long-local-account-name-x", true, false},
		{"", false, false},
	}
	for _, tc := range tests {
		if got := IsEntraName(tc.name, tc.truncated); got != tc.want {
			t.Errorf("IsEntraName(%q, %v) = %v, want %v", tc.name, tc.truncated, got, tc.want)
		}
	}
}

func TestEntraSessions(t *testing.T) {
	all := utmpFile(bootTime, runLevel, getty, local, upn, objectID, longUPN, deadEntra, staleUPN)
	alive := map[string]string{"/proc/1/": "", "/proc/1001/": "", "/proc/1002/": "", "/proc/1003/": "", "/proc/1004/": "", "/proc/1005/": ""}
	with := func(extra map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range alive {
			out[k] = v
		}
		for k, v := range extra {
			out[k] = v
		}
		return out
	}
	sUPN := Session{User: "alice@contoso.com", TTY: "pts/1", Host: "203.0.113.8", PID: 1002}
	// A 36-character object id never fits ut_user: utmp always holds its first 32 bytes.
	sOID := Session{User: "0f1e2d3c-4b5a-4978-8a9b-0c1d2e3f", TTY: "pts/2", Host: "2001:db8::1", PID: 1003, Truncated: true}
	sLong := Session{User: "firstname.lastname@fabrikam.onmi", TTY: "pts/3", Host: "198.51.100.1", PID: 1004, Truncated: true}
	sStale := Session{User: "carol@contoso.com", TTY: "pts/5", Host: "198.51.100.3", PID: 4242}
	tests := []struct {
		name  string
		files map[string]string
		want  []Session
	}{
		{name: "var/run, stale entry dropped", files: with(map[string]string{"/var/run/utmp": all}), want: []Session{sUPN, sOID, sLong}},
		{name: "fallback to /run/utmp", files: with(map[string]string{"/run/utmp": all}), want: []Session{sUPN, sOID, sLong}},
		{
			name:  "/var/run/utmp wins",
			files: with(map[string]string{"/var/run/utmp": utmpFile(upn), "/run/utmp": all}),
			want:  []Session{sUPN},
		},
		{
			name:  "no procfs under root: keep every entry",
			files: map[string]string{"/var/run/utmp": all},
			want:  []Session{sUPN, sOID, sLong, sStale},
		},
		{name: "only local users", files: with(map[string]string{"/var/run/utmp": utmpFile(bootTime, local, getty)})},
		{name: "no utmp at all", files: alive},
		{name: "garbage tail", files: with(map[string]string{"/var/run/utmp": utmpFile(upn) + "\xff\xff\x07"}), want: []Session{sUPN}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := EntraSessions(tree(t, tc.files))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestEntraSessionsUnreadable(t *testing.T) {
	// A directory where the file should be: a read error, not "no sessions".
	root := tree(t, map[string]string{"/var/run/utmp/": ""})
	if _, err := EntraSessions(root); err == nil {
		t.Fatal("want an error for an unreadable utmp")
	}
}

func TestSessionsError(t *testing.T) {
	if err := SessionsError(nil, errors.New("x")); err != nil {
		t.Fatalf("no sessions: %v", err)
	}
	var many []Session
	for i := range 7 {
		many = append(many, Session{User: "u" + string(rune('a'+i)) + "@contoso.com", TTY: "pts/" + string(rune('0'+i)), Host: "10.0.0.1", PID: 100 + i})
	}
	tests := []struct {
		name     string
		sessions []Session
		want     []string
		not      []string
	}{
		{
			name:     "one",
			sessions: []Session{{User: "alice@contoso.com", TTY: "pts/1", Host: "203.0.113.8", PID: 1002}},
			want: []string{"1 Microsoft Entra user session(s)", "alice@contoso.com on pts/1 from 203.0.113.8 (pid 1002)",
				"could not be ended", "loginctl terminate-user <user>", "pkill -KILL -u <user>", "prerm refused"},
		},
		{
			name:     "truncated name is marked",
			sessions: []Session{{User: "firstname.lastname@fabrikam.onmi", TTY: "pts/3", PID: 9, Truncated: true}},
			want:     []string{"firstname.lastname@fabrikam.onmi… on pts/3 (pid 9)", "kill <pid>"},
		},
		{
			name:     "at most five named",
			sessions: many,
			want:     []string{"7 Microsoft Entra", "ue@contoso.com", "and 2 more"},
			not:      []string{"uf@contoso.com", "ug@contoso.com"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := SessionsError(tc.sessions, errors.New("prerm refused"))
			if diff := cmp.Diff(failure.UsersLoggedIn, failure.CodeOf(err)); diff != "" {
				t.Fatalf("code (-want +got):\n%s", diff)
			}
			checkMessage(t, failure.Message(err), tc.want, tc.not)
		})
	}
}

func FuzzParseUtmp(f *testing.F) {
	f.Add([]byte(utmpFile(bootTime, upn, longUPN)))
	f.Add([]byte(utmpFile(objectID)[:200]))
	f.Add([]byte{})
	f.Add([]byte(strings.Repeat("\xff", UtmpRecordSize+7)))
	f.Fuzz(func(t *testing.T, data []byte) {
		recs := ParseUtmp(data)
		if len(recs) != len(data)/UtmpRecordSize {
			t.Fatalf("%d records from %d bytes", len(recs), len(data))
		}
		for i, r := range recs {
			rec := data[i*UtmpRecordSize : (i+1)*UtmpRecordSize]
			if len(r.User) > lenUser || len(r.Line) > lenLine || len(r.Host) > lenHost {
				t.Fatalf("field longer than its array: %+v", r)
			}
			if strings.ContainsRune(r.User, 0) || strings.ContainsRune(r.Host, 0) || strings.ContainsRune(r.Line, 0) {
				t.Fatalf("NUL kept in %+v", r)
			}
			if r.UserFull != (len(r.User) == lenUser) {
				t.Fatalf("UserFull %v for %d-byte name", r.UserFull, len(r.User))
			}
			if got := int32(binary.LittleEndian.Uint32(rec[4:])); got != r.PID {
				t.Fatalf("pid %d, raw %d", r.PID, got)
			}
			// Re-encoding the decoded fields reproduces the raw prefix.
			if !strings.HasPrefix(string(rec[offUser:offUser+lenUser]), r.User) {
				t.Fatalf("user %q is not the raw field's prefix", r.User)
			}
		}
	})
}

func BenchmarkParseUtmp(b *testing.B) {
	var entries []utmpEntry
	entries = append(entries, bootTime, runLevel, getty)
	for range 50 {
		entries = append(entries, local, upn, objectID, longUPN)
	}
	data := []byte(utmpFile(entries...))
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if len(ParseUtmp(data)) != len(entries) {
			b.Fatal("wrong record count")
		}
	}
}
