package precheck

import (
	"context"
	"errors"
	"maps"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/Azure/aadsshlogin-extension-linux/handler/run"
	"github.com/Azure/aadsshlogin-extension-linux/handler/run/runtest"
)

func TestWildcardMatch(t *testing.T) {
	tests := []struct {
		s, pat string
		want   bool
	}{
		{"alice@contoso.com", "*", true},
		{"alice@contoso.com", "*@*", true},
		{"azureuser", "*@*", false},
		{"0f1e2d3c-4b5a-4978-8a9b-0c1d2e3f4a5b", "????????-????-????-????-????????????", true},
		{"0f1e2d3c-4b5a-4978-8a9b-0c1d2e3f4a5", "????????-????-????-????-????????????", false},
		{"abc", "a*c", true},
		{"ac", "a*?c", false},
		{"", "", true},
		{"", "*", true},
		{"a", "", false},
		{"Alice", "alice", false},
		{"*0", "*", true}, // a literal '*' in the name must not eat the pattern's wildcard (found by fuzzing)
		{"a*b", "a*", true},
		{strings.Repeat("a", 200), strings.Repeat("*a", 50) + "b", false},
	}
	for _, tc := range tests {
		if got := wildcardMatch(tc.s, tc.pat); got != tc.want {
			t.Errorf("wildcardMatch(%q, %q) = %v, want %v", tc.s, tc.pat, got, tc.want)
		}
	}
}

func TestMatchPatternList(t *testing.T) {
	tests := []struct {
		s, list string
		want    int
	}{
		{sampleUPN, "*@*,????????-????-????-????-????????????", 1},
		{sampleObjectID, "*@*,????????-????-????-????-????????????", 1},
		{"azureuser", "*@*,????????-????-????-????-????????????", 0},
		{sampleUPN, "*,!*@*", -1},
		{"azureuser", "*,!*@*", 1},
		{"azureuser", "!root", 0}, // only negations never match
		{"root", "!root,*", -1},
	}
	for _, tc := range tests {
		if got := matchPatternList(tc.s, tc.list); got != tc.want {
			t.Errorf("matchPatternList(%q, %q) = %d, want %d", tc.s, tc.list, got, tc.want)
		}
	}
}

func TestMatchUserPattern(t *testing.T) {
	tests := []struct {
		pat  string
		want bool
	}{
		{"*", true},
		{"*@*", true},                // USER "*" from any host
		{"alice@contoso.com", false}, // USER "alice" from host contoso.com
		{"*@10.0.0.0/8", true},
		{"azureuser", false},
		{"alice*", true},
	}
	for _, tc := range tests {
		if got := matchUserPattern(sampleUPN, tc.pat); got != tc.want {
			t.Errorf("matchUserPattern(%q, %q) = %v, want %v", sampleUPN, tc.pat, got, tc.want)
		}
	}
}

func TestAppliesToEntra(t *testing.T) {
	tests := []struct {
		match string
		want  bool
	}{
		{"all", true},
		{"User *", true},
		{"User *@*", true},
		{"User ????????-????-????-????-????????????", true},
		{"User azureuser,root", false},
		{"User *,!*@*,!????????-????-????-????-????????????", false},
		{"Address 10.0.0.0/8", true},
		{"LocalPort 2222 User *", true},
		{"LocalPort 2222 User root", false},
		{"Group wheel", false},
		{"User", false}, // bad line
		{"Unknown x", false},
	}
	for _, tc := range tests {
		m := parseMatch(strings.Fields(tc.match), "f", 1)
		if got := appliesToEntra([]*MatchBlock{m}); got != tc.want {
			t.Errorf("Match %s: appliesToEntra = %v, want %v", tc.match, got, tc.want)
		}
	}
	if appliesToEntra(nil) {
		t.Error("no Match chain must not count as a Match block")
	}
	all := parseMatch([]string{"all"}, "f", 1)
	root := parseMatch([]string{"User", "root"}, "f", 2)
	if appliesToEntra([]*MatchBlock{all, root}) {
		t.Error("nested chain: every block must apply")
	}
}

func TestParseOpenSSHVersion(t *testing.T) {
	tests := []struct {
		in      string
		want    OpenSSHVersion
		wantErr bool
	}{
		{in: "OpenSSH_7.4p1, OpenSSL 1.0.2k-fips  26 Jan 2017\n", want: OpenSSHVersion{Raw: "OpenSSH_7.4p1", Major: 7, Minor: 4, Portable: 1}},
		{in: "OpenSSH_9.6p1 Ubuntu-3ubuntu13.5, OpenSSL 3.0.13 30 Jan 2024", want: OpenSSHVersion{Raw: "OpenSSH_9.6p1", Major: 9, Minor: 6, Portable: 1}},
		{in: "sshd: illegal option -- V\nOpenSSH_7.4p1, OpenSSL 1.0.2k-fips\nusage: sshd [-46DdeiqTt]", want: OpenSSHVersion{Raw: "OpenSSH_7.4p1", Major: 7, Minor: 4, Portable: 1}},
		{in: "OpenSSH_8.0", want: OpenSSHVersion{Raw: "OpenSSH_8.0", Major: 8, Minor: 0}},
		{in: "OpenSSH_10.0p2 Debian-7", want: OpenSSHVersion{Raw: "OpenSSH_10.0p2", Major: 10, Minor: 0, Portable: 2}},
		{in: "OpenSSH_x OpenSSH_7.9p", want: OpenSSHVersion{Raw: "OpenSSH_7.9", Major: 7, Minor: 9}},
		{in: "OpenSSH_7.", wantErr: true},
		{in: "OpenSSH_7", wantErr: true},
		{in: "Dropbear v2022.83", wantErr: true},
		{in: "", wantErr: true},
	}
	for _, tc := range tests {
		got, err := ParseOpenSSHVersion(tc.in)
		if (err != nil) != tc.wantErr {
			t.Errorf("%q: err = %v, wantErr %v", tc.in, err, tc.wantErr)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%q (-want +got):\n%s", tc.in, diff)
		}
	}
}

func TestOpenSSHVersionLess(t *testing.T) {
	tests := []struct {
		v    OpenSSHVersion
		want bool
	}{
		{OpenSSHVersion{Major: 7, Minor: 4}, true},
		{OpenSSHVersion{Major: 7, Minor: 7}, true},
		{OpenSSHVersion{Major: 7, Minor: 8}, false},
		{OpenSSHVersion{Major: 7, Minor: 10}, false}, // numeric, not string, order
		{OpenSSHVersion{Major: 6, Minor: 99}, true},
		{OpenSSHVersion{Major: 9, Minor: 6}, false},
	}
	for _, tc := range tests {
		if got := tc.v.Less(rsaSHA2CertServerVersion); got != tc.want {
			t.Errorf("%d.%d < %s = %v, want %v", tc.v.Major, tc.v.Minor, rsaSHA2CertServerVersion, got, tc.want)
		}
	}
}

func FuzzParseOpenSSHVersion(f *testing.F) {
	for _, s := range []string{"OpenSSH_7.4p1, OpenSSL 1.0.2k-fips", "OpenSSH_9.6p1 Ubuntu", "OpenSSH_", "OpenSSH_1.", "OpenSSH_99999999.1p99999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseOpenSSHVersion(s)
		if err != nil {
			if v != (OpenSSHVersion{}) {
				t.Fatalf("error with value %+v", v)
			}
			return
		}
		if !strings.HasPrefix(v.Raw, "OpenSSH_") || !strings.Contains(s, v.Raw) {
			t.Fatalf("raw %q not taken from %q", v.Raw, s)
		}
		if v.Major < 0 || v.Minor < 0 || v.Portable < 0 || v.Major > 999999 || v.Minor > 999999 {
			t.Fatalf("out of range: %+v", v)
		}
		_ = v.Less(rsaSHA2CertServerVersion) // must not panic
	})
}

// sshdT is `sshd -T` output for a typical Ubuntu machine (trimmed).
const sshdT = `port 22
addressfamily any
usepam yes
pubkeyauthentication yes
authorizedkeyscommand none
`

func names(ws []Warning) []string {
	var out []string
	for _, w := range ws {
		out = append(out, w.Name)
	}
	return out
}

func TestSSHD(t *testing.T) {
	const (
		v96  = "OpenSSH_9.6p1 Ubuntu-3ubuntu13.5, OpenSSL 3.0.13 30 Jan 2024\n"
		v74  = "OpenSSH_7.4p1, OpenSSL 1.0.2k-fips  26 Jan 2017\n"
		main = "Include /etc/ssh/sshd_config.d/*.conf\nUsePAM yes\n"
	)
	noHostKeys := runtest.Response{ExitCode: 1, Stderr: "sshd: no hostkeys available -- exiting.\n"}
	tests := []struct {
		name  string
		files map[string]string
		// responses answer the commands; `sshd -V` prints v96 unless a
		// case scripts it (or "sshd" as a whole).
		responses map[string]runtest.Response
		// known is the caller's `sshd -T` result (SSHD); then sshd -T
		// must not run again.
		known    *run.Result
		want     []string
		contains map[string][]string // warning name → substrings
	}{
		{
			name:      "clean machine",
			files:     map[string]string{"/etc/ssh/sshd_config": main + aadBlock},
			responses: map[string]runtest.Response{"sshd -T": {Stdout: sshdT}},
		},
		{
			name:  "sshd -T reports AllowGroups and DenyGroups",
			files: map[string]string{"/etc/ssh/sshd_config": main},
			responses: map[string]runtest.Response{
				"sshd -T": {Stdout: sshdT + "allowgroups admins\nallowgroups ops\ndenygroups contractors\n"},
			},
			want: []string{WarnAllowGroups, WarnDenyGroups},
			contains: map[string][]string{
				WarnAllowGroups: {"AllowGroups (admins ops)", "(sshd -T)", "first sign-in", "Match User *,!*@*,!????????-????-????-????-????????????"},
				WarnDenyGroups:  {"DenyGroups (contractors)"},
			},
		},
		{
			name: "no host keys: fall back to the files",
			files: map[string]string{
				"/etc/ssh/sshd_config":                main,
				"/etc/ssh/sshd_config.d/site.conf":    "AllowGroups admins\nAllowUsers azureuser root@10.0.0.1\n",
				"/etc/ssh/sshd_config.d/local.conf.x": "DenyGroups ignored\n",
			},
			responses: map[string]runtest.Response{"sshd -T": noHostKeys},
			want:      []string{WarnAllowGroups, WarnAllowUsers},
			contains: map[string][]string{
				WarnAllowGroups: {"(/etc/ssh/sshd_config)"},
				WarnAllowUsers:  {"AllowUsers (azureuser root@10.0.0.1)", "first '@'", "Match User *,!*@*"},
			},
		},
		{
			name:      "AllowUsers covering everyone is fine, DenyUsers hitting Entra is not",
			files:     map[string]string{"/etc/ssh/sshd_config": "AllowUsers azureuser *@*\nDenyUsers *@*.example\n"},
			responses: map[string]runtest.Response{"sshd -T": noHostKeys},
			want:      []string{WarnDenyUsers},
		},
		{
			name:      "AllowGroups inside a Match for local users only is fine",
			files:     map[string]string{"/etc/ssh/sshd_config": main + "Match User *,!*@*,!????????-????-????-????-????????????\n  AllowGroups admins\n" + aadBlock},
			responses: map[string]runtest.Response{"sshd -T": noHostKeys},
		},
		{
			name:      "AllowGroups under Match all counts as global",
			files:     map[string]string{"/etc/ssh/sshd_config": "Match all\nAllowGroups admins\n"},
			responses: map[string]runtest.Response{"sshd -T": noHostKeys},
			want:      []string{WarnAllowGroups},
		},
		{
			name: "earlier Match block overrides the package block",
			files: map[string]string{
				"/etc/ssh/sshd_config":             main + aadBlock,
				"/etc/ssh/sshd_config.d/site.conf": "Match Address 10.0.0.0/8\n  PubkeyAuthentication no\n  PubkeyAuthentication yes\nMatch User *\n  AuthorizedKeysCommand /usr/bin/other %u\n",
			},
			responses: map[string]runtest.Response{"sshd -T": {Stdout: sshdT}},
			want:      []string{WarnMatchOverride, WarnMatchOverride},
			contains: map[string][]string{WarnMatchOverride: {
				"`Match Address 10.0.0.0/8` (/etc/ssh/sshd_config.d/site.conf:1)", "`pubkeyauthentication no` (/etc/ssh/sshd_config.d/site.conf:2)",
				"turns public-key authentication off", "adding `User *,!*@*",
			}},
		},
		{
			name: "Match blocks after the package block and global settings do not override",
			files: map[string]string{
				"/etc/ssh/sshd_config": "PubkeyAuthentication no\nAuthorizedKeysCommand /usr/bin/x\n" + aadBlock + "Match User *\n  PubkeyAuthentication no\n",
			},
			responses: map[string]runtest.Response{"sshd -T": {Stdout: sshdT}},
		},
		{
			name:      "before install, any Entra-wide Match block overrides (package appends at the end)",
			files:     map[string]string{"/etc/ssh/sshd_config": "Match User *\n  AuthenticationMethods publickey,password\n  AuthorizedKeysCommandUser nobody\n"},
			responses: map[string]runtest.Response{"sshd -T": {Stdout: sshdT}},
			want:      []string{WarnMatchOverride, WarnMatchOverride},
			contains:  map[string][]string{WarnMatchOverride: {"requires more than a public key", "to its User list"}},
		},
		{
			name:      "AllowGroups in a Match block that reaches Entra users",
			files:     map[string]string{"/etc/ssh/sshd_config": "Match Address 10.0.0.0/8\n  AllowGroups admins\n" + aadBlock},
			responses: map[string]runtest.Response{"sshd -T": {Stdout: sshdT}},
			want:      []string{WarnMatchOverride},
			contains:  map[string][]string{WarnMatchOverride: {"first sign-in", "`allowgroups admins`"}},
		},
		{
			name:      "AllowGroups in a Match block after the package block still counts",
			files:     map[string]string{"/etc/ssh/sshd_config": aadBlock + "Match User *\n  DenyGroups banned\n"},
			responses: map[string]runtest.Response{"sshd -T": {Stdout: sshdT}},
			want:      []string{WarnMatchOverride},
			contains:  map[string][]string{WarnMatchOverride: {"`denygroups banned`", "to its User list"}},
		},
		{
			name:      "Match all before the package block",
			files:     map[string]string{"/etc/ssh/sshd_config": "Match all\n  PubkeyAuthentication no\n" + aadBlock},
			responses: map[string]runtest.Response{"sshd -T": {Stdout: sshdT}},
			want:      []string{WarnMatchOverride},
			contains:  map[string][]string{WarnMatchOverride: {"Replace `Match all` with `Match User *,!*@*"}},
		},
		{
			name:      "empty sshd -T output falls back to the files",
			files:     map[string]string{"/etc/ssh/sshd_config": "DenyGroups x\n"},
			responses: map[string]runtest.Response{"sshd -T": {}},
			want:      []string{WarnDenyGroups},
			contains:  map[string][]string{WarnDenyGroups: {"(/etc/ssh/sshd_config)"}},
		},
		{
			name:      "old OpenSSH from sshd -V on a 7.4 server (no -V option, exit 1)",
			files:     map[string]string{"/etc/ssh/sshd_config": main + aadBlock},
			responses: map[string]runtest.Response{"sshd -T": {Stdout: sshdT}, "sshd -V": {ExitCode: 1, Stderr: "sshd: illegal option -- V\n" + v74 + "usage: sshd [-46DdeiqTt]\n"}},
			want:      []string{WarnOldOpenSSH},
			contains: map[string][]string{WarnOldOpenSSH: {
				"OpenSSH_7.4p1", "older than 7.8",
				`az ssh vm -n <vm> -g <rg> -- -A -o "PubkeyAcceptedKeyTypes= +ssh-rsa-cert-v01@openssh.com"`,
			}},
		},
		{
			name:  "version from ssh -V when sshd says nothing useful",
			files: map[string]string{"/etc/ssh/sshd_config": main + aadBlock},
			responses: map[string]runtest.Response{
				"sshd -T": {Stdout: sshdT}, "sshd -V": {ExitCode: 1, Stderr: "weird\n"}, "ssh -V": {Stderr: "OpenSSH_7.7p1, LibreSSL 2.7.3\n"},
			},
			want: []string{WarnOldOpenSSH},
		},
		{
			name:      "sshd -T rejects the configuration",
			files:     map[string]string{"/etc/ssh/sshd_config": "Bogus yes\n"},
			responses: map[string]runtest.Response{"sshd -T": {ExitCode: 255, Stderr: "/etc/ssh/sshd_config: line 1: Bad configuration option: Bogus\n"}},
			want:      []string{WarnConfigTestFail},
			contains:  map[string][]string{WarnConfigTestFail: {"Bad configuration option: Bogus", "sshd -t"}},
		},
		{
			name:      "privsep directory missing: fallback, no warning",
			files:     map[string]string{"/etc/ssh/sshd_config": "AllowGroups admins\n"},
			responses: map[string]runtest.Response{"sshd -T": {ExitCode: 255, Stderr: "Missing privilege separation directory: /run/sshd\n"}},
			want:      []string{WarnAllowGroups},
		},
		{
			name:      "directive not allowed in Match",
			files:     map[string]string{"/etc/ssh/sshd_config": "Match all\nPort 2\n"},
			responses: map[string]runtest.Response{"sshd -T": {ExitCode: 255, Stderr: "/etc/ssh/sshd_config line 2: Directive 'Port' is not allowed within a Match block\n"}},
			want:      []string{WarnConfigTestFail},
		},
		{
			name:      "known sshd -T output is used, sshd -T not run again",
			files:     map[string]string{"/etc/ssh/sshd_config": main + aadBlock},
			responses: map[string]runtest.Response{},
			known:     &run.Result{Stdout: []byte(sshdT + "denygroups contractors\n")},
			want:      []string{WarnDenyGroups},
			contains:  map[string][]string{WarnDenyGroups: {"DenyGroups (contractors)", "(sshd -T)"}},
		},
		{
			name:      "known but empty sshd -T output falls back to the files",
			files:     map[string]string{"/etc/ssh/sshd_config": "AllowGroups admins\n"},
			responses: map[string]runtest.Response{},
			known:     &run.Result{},
			want:      []string{WarnAllowGroups},
			contains:  map[string][]string{WarnAllowGroups: {"(/etc/ssh/sshd_config)"}},
		},
		{
			name:  "no openssh at all",
			files: map[string]string{"/etc/": ""},
			responses: map[string]runtest.Response{
				"sshd": {Err: run.ErrNotFound}, "ssh -V": {Err: run.ErrNotFound},
			},
			want:     []string{WarnConfigUnread},
			contains: map[string][]string{WarnConfigUnread: {"openssh-server", "/etc/ssh/sshd_config"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			responses := map[string]runtest.Response{}
			if _, scripted := tc.responses["sshd"]; !scripted {
				responses["sshd -V"] = runtest.Response{Stderr: v96}
			}
			maps.Copy(responses, tc.responses)
			fake := runtest.New(t, responses)
			var got []Warning
			var err error
			if tc.known == nil {
				got, err = SSHD(context.Background(), tree(t, tc.files), fake, SSHDKnown{})
			} else {
				got, err = SSHD(context.Background(), tree(t, tc.files), fake, SSHDKnown{Test: tc.known})
			}
			if err != nil {
				t.Fatal(err)
			}
			wantTests := 1
			if tc.known != nil {
				wantTests = 0
			}
			if n := countLines(fake.Lines(), "sshd -T"); n != wantTests {
				t.Errorf("sshd -T ran %d times, want %d: %q", n, wantTests, fake.Lines())
			}
			if diff := cmp.Diff(tc.want, names(got)); diff != "" {
				t.Errorf("warnings (-want +got):\n%s\n%+v", diff, got)
			}
			for name, subs := range tc.contains {
				for _, c := range subs {
					found := false
					for _, w := range got {
						found = found || (w.Name == name && strings.Contains(w.Message, c))
					}
					if !found {
						t.Errorf("no %s warning contains %q:\n%+v", name, c, got)
					}
				}
			}
			for _, c := range fake.Calls {
				if c.Path != "sshd" && c.Path != "ssh" {
					t.Errorf("unexpected program %q", c.Path)
				}
			}
		})
	}
}

func countLines(lines []string, line string) int {
	n := 0
	for _, l := range lines {
		if l == line {
			n++
		}
	}
	return n
}

func TestSSHDCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	fake := runtest.New(t, map[string]runtest.Response{"sshd": {Err: context.Canceled}, "ssh": {Err: context.Canceled}})
	_, err := SSHD(ctx, tree(t, map[string]string{"/etc/ssh/sshd_config": "Port 22\n"}), fake, SSHDKnown{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestParseSSHDTest(t *testing.T) {
	got := ParseSSHDTest([]byte("port 22\nAllowGroups a\nallowgroups b c\n\nauthorizedkeyscommand /usr/sbin/aad_certhandler %u %k\nlonely\n"))
	want := map[string][]string{
		"port":                  {"22"},
		"allowgroups":           {"a", "b c"},
		"authorizedkeyscommand": {"/usr/sbin/aad_certhandler %u %k"},
		"lonely":                {""},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func FuzzParseSSHDTest(f *testing.F) {
	f.Add([]byte(sshdT + "allowgroups a\nallowgroups b\n"))
	f.Add([]byte("\n\n x\t y \r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		vals := ParseSSHDTest(data)
		n := 0
		for k, vs := range vals {
			if k == "" || k != strings.ToLower(k) || strings.ContainsAny(k, " \n") {
				t.Fatalf("bad key %q", k)
			}
			for _, v := range vs {
				if strings.Contains(v, "\n") || v != strings.TrimSpace(v) {
					t.Fatalf("bad value %q", v)
				}
			}
			n += len(vs)
		}
		if lines := strings.Count(string(data), "\n") + 1; n > lines {
			t.Fatalf("%d values from %d lines", n, lines)
		}
	})
}

// Real sshd messages (OpenSSH 9.2, Debian 12 chroot, and servconf.c).
func TestClassifySSHDTestFailure(t *testing.T) {
	tests := []struct {
		name, out string
		want      SSHDTestVerdict
	}{
		{"bad option", "/etc/ssh/sshd_config: line 3: Bad configuration option: Foo\n/etc/ssh/sshd_config: terminating, 1 bad configuration options\n", SSHDConfigRejected},
		{"match directive", "/etc/ssh/sshd_config line 9: Directive 'Port' is not allowed within a Match block\n", SSHDConfigRejected},
		{"included file", "/etc/ssh/sshd_config.d/50-x.conf line 2: unsupported option \"x\".\n", SSHDConfigRejected},
		{"privsep dir", "Missing privilege separation directory: /run/sshd\r\n", SSHDHostState},
		{"no host keys", "sshd: no hostkeys available -- exiting.\r\n", SSHDHostState},
		{"unreadable key then none", "Unable to load host key: /etc/ssh/ssh_host_rsa_key\r\nsshd: no hostkeys available -- exiting.\r\n", SSHDHostState},
		{"privsep user", "Privilege separation user sshd does not exist\r\n", SSHDHostState},
		{"empty", "", SSHDUnexplained},
		{"other", "xmalloc: out of memory\n", SSHDUnexplained},
		{"line without number", "online help\n", SSHDUnexplained},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, ClassifySSHDTestFailure(tc.out)); diff != "" {
				t.Errorf("ClassifySSHDTestFailure(%q) (-want +got):\n%s", tc.out, diff)
			}
		})
	}
}

func FuzzClassifySSHDTestFailure(f *testing.F) {
	for _, s := range []string{"line 3: Bad configuration option: x", "Missing privilege separation directory: /run/sshd", "line ", "LINE 9", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, out string) {
		v := ClassifySSHDTestFailure(out)
		if v < SSHDConfigRejected || v > SSHDUnexplained {
			t.Fatalf("verdict %d out of range", v)
		}
	})
}

// FuzzWildcardMatch compares wildcardMatch with a regular-expression
// reference on ASCII inputs ('?' is one byte in sshd, one rune in regexp).
func FuzzWildcardMatch(f *testing.F) {
	f.Add("alice@contoso.com", "*@*")
	f.Add("0f1e2d3c-4b5a-4978-8a9b-0c1d2e3f4a5b", "????????-????-????-????-????????????")
	f.Add("aaaaaaaaaaaaaaaaaaaaaaaab", "*a*a*a*a*a*a*c")
	f.Fuzz(func(t *testing.T, s, pat string) {
		if len(s) > 64 || len(pat) > 64 || !isASCII(s) || !isASCII(pat) {
			return
		}
		var re strings.Builder
		re.WriteString(`(?s)\A`)
		for _, c := range pat {
			switch c {
			case '*':
				re.WriteString(".*")
			case '?':
				re.WriteString(".")
			default:
				re.WriteString(regexp.QuoteMeta(string(c)))
			}
		}
		re.WriteString(`\z`)
		want := regexp.MustCompile(re.String()).MatchString(s)
		if got := wildcardMatch(s, pat); got != want {
			t.Fatalf("wildcardMatch(%q, %q) = %v, regexp says %v", s, pat, got, want)
		}
	})
}

func isASCII(s string) bool {
	for i := range len(s) {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
