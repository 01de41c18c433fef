package precheck

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSplitConfigLine(t *testing.T) {
	tests := []struct {
		in      string
		keyword string
		args    []string
		wantErr bool
	}{
		{in: "", keyword: ""},
		{in: "   # comment", keyword: ""},
		{in: "PubkeyAuthentication yes", keyword: "pubkeyauthentication", args: []string{"yes"}},
		{in: "\tAllowGroups  admins\twheel ", keyword: "allowgroups", args: []string{"admins", "wheel"}},
		{in: "PermitRootLogin=no", keyword: "permitrootlogin", args: []string{"no"}},
		{in: "PermitRootLogin = no", keyword: "permitrootlogin", args: []string{"no"}},
		{in: "AuthorizedKeysCommand /usr/sbin/aad_certhandler %u %k", keyword: "authorizedkeyscommand", args: []string{"/usr/sbin/aad_certhandler", "%u", "%k"}},
		{in: `Banner "/etc/my banner"`, keyword: "banner", args: []string{"/etc/my banner"}},
		{in: `AllowUsers 'a b'c d`, keyword: "allowusers", args: []string{"a bc", "d"}},
		{in: "Match User *@*,????????-????-????-????-???????????? # Added by aadsshlogin installer", keyword: "match", args: []string{"User", "*@*,????????-????-????-????-????????????"}},
		{in: "Port 22#not-a-comment", keyword: "port", args: []string{"22#not-a-comment"}},
		{in: "X \"unterminated", keyword: "x", wantErr: true},
		{in: "=yes", wantErr: true},
		{in: "UsePAM yes\r", keyword: "usepam", args: []string{"yes"}},
	}
	for _, tc := range tests {
		kw, args, err := splitConfigLine(tc.in)
		if (err != nil) != tc.wantErr {
			t.Errorf("%q: err = %v, wantErr %v", tc.in, err, tc.wantErr)
		}
		if diff := cmp.Diff(tc.keyword, kw); diff != "" {
			t.Errorf("%q keyword (-want +got):\n%s", tc.in, diff)
		}
		if diff := cmp.Diff(tc.args, args); diff != "" {
			t.Errorf("%q args (-want +got):\n%s", tc.in, diff)
		}
	}
}

// aadBlock is what the aadsshlogin package appends to sshd_config.
const aadBlock = `Match User *@*,????????-????-????-????-????????????    # Added by aadsshlogin installer
AuthenticationMethods publickey
PubkeyAuthentication yes
AuthorizedKeysCommand /usr/sbin/aad_certhandler %u %k
AuthorizedKeysCommandUser root
`

// flat renders directives as "file:line keyword args [match chain]" for diffs.
func flat(cfg *SSHDConfig) []string {
	var out []string
	for _, d := range cfg.Directives {
		s := fmt.Sprintf("%s:%d %s %s", d.File, d.Line, d.Keyword, d.Value())
		for _, m := range d.Match {
			s += " [" + m.String() + " @" + m.Where() + "]"
		}
		out = append(out, s)
	}
	return out
}

func TestParseSSHDConfig(t *testing.T) {
	src := "Port 22\nInclude sshd_config.d/*.conf\nMatch Address 10.0.0.0/8 User admin\n  X11Forwarding no\nMatch all\nAllowGroups ops\nMatch User\nPasswordAuthentication no\n"
	cfg := ParseSSHDConfig("/etc/ssh/sshd_config", []byte(src))
	want := []string{
		"/etc/ssh/sshd_config:1 port 22",
		"/etc/ssh/sshd_config:2 include sshd_config.d/*.conf",
		"/etc/ssh/sshd_config:4 x11forwarding no [Match Address 10.0.0.0/8 User admin @/etc/ssh/sshd_config:3]",
		"/etc/ssh/sshd_config:6 allowgroups ops [Match all @/etc/ssh/sshd_config:5]",
		"/etc/ssh/sshd_config:8 passwordauthentication no [Match User @/etc/ssh/sshd_config:7]",
	}
	if diff := cmp.Diff(want, flat(cfg)); diff != "" {
		t.Errorf("directives (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{`/etc/ssh/sshd_config:7: bad Match condition "User" (sshd refuses to start with it)`}, cfg.Problems); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
	if !cfg.Directives[3].isGlobal() || cfg.Directives[2].isGlobal() || !cfg.Directives[0].isGlobal() {
		t.Error("isGlobal: want true for top level and Match all only")
	}
}

func TestLoadSSHDConfig(t *testing.T) {
	tests := []struct {
		name     string
		files    map[string]string
		want     []string
		problems []string
	}{
		{
			name: "relative glob, sorted, Match ends with the included file",
			files: map[string]string{
				"/etc/ssh/sshd_config":                      "Include sshd_config.d/*.conf\nPort 22\n" + aadBlock,
				"/etc/ssh/sshd_config.d/50-cloud-init.conf": "PasswordAuthentication yes\n",
				"/etc/ssh/sshd_config.d/10-site.conf":       "Match User bob\nAllowGroups ops\n",
				"/etc/ssh/sshd_config.d/README":             "Nonsense here\n",
			},
			want: []string{
				"/etc/ssh/sshd_config:1 include sshd_config.d/*.conf",
				"/etc/ssh/sshd_config.d/10-site.conf:2 allowgroups ops [Match User bob @/etc/ssh/sshd_config.d/10-site.conf:1]",
				"/etc/ssh/sshd_config.d/50-cloud-init.conf:1 passwordauthentication yes",
				"/etc/ssh/sshd_config:2 port 22",
				"/etc/ssh/sshd_config:4 authenticationmethods publickey [Match User *@*,????????-????-????-????-???????????? @/etc/ssh/sshd_config:3]",
				"/etc/ssh/sshd_config:5 pubkeyauthentication yes [Match User *@*,????????-????-????-????-???????????? @/etc/ssh/sshd_config:3]",
				"/etc/ssh/sshd_config:6 authorizedkeyscommand /usr/sbin/aad_certhandler %u %k [Match User *@*,????????-????-????-????-???????????? @/etc/ssh/sshd_config:3]",
				"/etc/ssh/sshd_config:7 authorizedkeyscommanduser root [Match User *@*,????????-????-????-????-???????????? @/etc/ssh/sshd_config:3]",
			},
		},
		{
			name: "Include inside Match, absolute path, several patterns",
			files: map[string]string{
				"/etc/ssh/sshd_config": "Match Address 10.*\nInclude /etc/ssh/a.conf b.conf missing*.conf\nPort 2\n",
				"/etc/ssh/a.conf":      "Banner none\nMatch User x\nBanner x\n",
				"/etc/ssh/b.conf":      "MaxSessions 3\n",
			},
			want: []string{
				"/etc/ssh/sshd_config:2 include /etc/ssh/a.conf b.conf missing*.conf [Match Address 10.* @/etc/ssh/sshd_config:1]",
				"/etc/ssh/a.conf:1 banner none [Match Address 10.* @/etc/ssh/sshd_config:1]",
				"/etc/ssh/a.conf:3 banner x [Match Address 10.* @/etc/ssh/sshd_config:1] [Match User x @/etc/ssh/a.conf:2]",
				"/etc/ssh/b.conf:1 maxsessions 3 [Match Address 10.* @/etc/ssh/sshd_config:1]",
				"/etc/ssh/sshd_config:3 port 2 [Match Address 10.* @/etc/ssh/sshd_config:1]",
			},
		},
		{
			name: "cycle",
			files: map[string]string{
				"/etc/ssh/sshd_config": "Include a.conf\n",
				"/etc/ssh/a.conf":      "Include sshd_config\nPort 1\n",
			},
			want: []string{
				"/etc/ssh/sshd_config:1 include a.conf",
				"/etc/ssh/a.conf:1 include sshd_config",
				"/etc/ssh/a.conf:2 port 1",
			},
			problems: []string{"/etc/ssh/a.conf:1: Include cycle: /etc/ssh/a.conf includes /etc/ssh/sshd_config again"},
		},
		{
			name:     "include without argument",
			files:    map[string]string{"/etc/ssh/sshd_config": "Include\n"},
			want:     []string{"/etc/ssh/sshd_config:1 include "},
			problems: []string{"/etc/ssh/sshd_config:1: Include without a file name"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := LoadSSHDConfig(tree(t, tc.files))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, flat(cfg)); diff != "" {
				t.Errorf("directives (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.problems, cfg.Problems); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadSSHDConfigDepth(t *testing.T) {
	files := map[string]string{"/etc/ssh/sshd_config": "Include d0.conf\n"}
	for i := range 20 {
		files[fmt.Sprintf("/etc/ssh/d%d.conf", i)] = fmt.Sprintf("Include d%d.conf\nPort %d\n", i+1, i)
	}
	cfg, err := LoadSSHDConfig(tree(t, files))
	if err != nil {
		t.Fatal(err)
	}
	ports := 0
	for _, d := range cfg.Directives {
		if d.Keyword == "port" {
			ports++
		}
	}
	if ports != maxIncludeDepth {
		t.Errorf("followed %d levels, want %d", ports, maxIncludeDepth)
	}
	if len(cfg.Problems) != 1 || !strings.Contains(cfg.Problems[0], "deeper than 16") {
		t.Errorf("problems = %q", cfg.Problems)
	}
}

func TestLoadSSHDConfigMissing(t *testing.T) {
	if _, err := LoadSSHDConfig(tree(t, map[string]string{"/etc/ssh/": ""})); err == nil {
		t.Fatal("want an error without sshd_config")
	}
}

func FuzzParseSSHDConfig(f *testing.F) {
	f.Add([]byte("Port 22\nAllowGroups a b\n" + aadBlock))
	f.Add([]byte("Match all\nX 'y z'\nMatch\nInclude *.conf\n=x\n\"\n"))
	f.Add([]byte("Match User a Address\n\tk=v # c\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg := ParseSSHDConfig("f", data)
		lines := strings.Count(string(data), "\n") + 1
		if len(cfg.Directives) > lines {
			t.Fatalf("%d directives from %d lines", len(cfg.Directives), lines)
		}
		last := 0
		for _, d := range cfg.Directives {
			if d.Keyword == "" || d.Keyword != strings.ToLower(d.Keyword) || strings.ContainsAny(d.Keyword, " \t=") {
				t.Fatalf("bad keyword %q", d.Keyword)
			}
			if d.Keyword == "match" {
				t.Fatal("Match lines must not become directives")
			}
			if d.Line <= last || d.Line > lines {
				t.Fatalf("line %d after %d (of %d)", d.Line, last, lines)
			}
			last = d.Line
			if len(d.Match) > 1 {
				t.Fatalf("nested Match without includes: %d", len(d.Match))
			}
			for _, m := range d.Match {
				if m.Line >= d.Line {
					t.Fatalf("Match at %d governs earlier line %d", m.Line, d.Line)
				}
			}
		}
		// Parsing is deterministic.
		if diff := cmp.Diff(flat(cfg), flat(ParseSSHDConfig("f", data))); diff != "" {
			t.Fatalf("second parse differs:\n%s", diff)
		}
		// The warning logic must cope with whatever the parser produced.
		_ = matchWarnings(cfg)
		_ = accessWarnings(cfg.globalValues(), "f")
	})
}

func benchConfig() []byte {
	var b strings.Builder
	b.WriteString("# Ubuntu-like sshd_config\nInclude /etc/ssh/sshd_config.d/*.conf\n")
	for i := range 100 {
		fmt.Fprintf(&b, "#Option%d value\nKbdInteractiveAuthentication no\nUsePAM yes\nAcceptEnv LANG LC_*\n", i)
	}
	b.WriteString("Subsystem sftp /usr/lib/openssh/sftp-server\nMatch User anoncvs\n\tX11Forwarding no\n" + aadBlock)
	return []byte(b.String())
}

func BenchmarkParseSSHDConfig(b *testing.B) {
	data := benchConfig()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if cfg := ParseSSHDConfig("/etc/ssh/sshd_config", data); len(cfg.Directives) == 0 {
			b.Fatal("no directives")
		}
	}
}

func BenchmarkLoadSSHDConfig(b *testing.B) {
	root := tree(b, map[string]string{
		"/etc/ssh/sshd_config":                      string(benchConfig()),
		"/etc/ssh/sshd_config.d/50-cloud-init.conf": "PasswordAuthentication no\n",
	})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := LoadSSHDConfig(root); err != nil {
			b.Fatal(err)
		}
	}
}
