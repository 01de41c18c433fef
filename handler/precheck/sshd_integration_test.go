package precheck

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/Azure/aadsshlogin-extension-linux/handler/run"
)

// realSSHD runs the machine's sshd in test mode (-T) on a configuration
// file. It never listens on a socket: -T only prints the configuration.
type realSSHD struct {
	bin, dir, hostKey string
	// asNobody wraps the call in setpriv when we are root but the
	// privilege-separation user "sshd" does not exist (sshd refuses then).
	asNobody bool
}

// newRealSSHD finds sshd (AADSSH_SSHD, else /usr/sbin/sshd) and prepares a
// host key. Without sshd the test is skipped, unless AADSSH_REQUIRE_INTEGRATION=1.
func newRealSSHD(t *testing.T) *realSSHD {
	t.Helper()
	bin := os.Getenv("AADSSH_SSHD")
	if bin == "" {
		for _, c := range []string{"/usr/sbin/sshd", "/usr/local/sbin/sshd"} {
			if _, err := os.Stat(c); err == nil {
				bin = c
				break
			}
		}
	}
	keygen, kerr := findProgram("ssh-keygen")
	if bin == "" || kerr != nil {
		msg := "sshd or ssh-keygen not installed (install openssh-server, or point AADSSH_SSHD at an sshd binary)"
		if os.Getenv("AADSSH_REQUIRE_INTEGRATION") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	s := &realSSHD{bin: bin, dir: t.TempDir()}
	if os.Geteuid() == 0 {
		// As root, sshd -T wants host state (the sshd user, /run/sshd);
		// unprivileged it only parses, which is all this test needs.
		s.asNobody = true
		// setpriv drops to uid 65534, which must reach the files.
		for _, d := range []string{s.dir, filepath.Dir(s.dir)} {
			if err := os.Chmod(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	s.hostKey = filepath.Join(s.dir, "hostkey")
	if _, err := (run.Exec{}).Run(context.Background(), run.Cmd{Path: keygen, Args: []string{"-q", "-t", "ed25519", "-N", "", "-f", s.hostKey}}); err != nil {
		t.Fatal(err)
	}
	// Run as nobody, sshd must be able to read the key; run as root it
	// insists on a private key file (ssh-keygen's 0600).
	if s.asNobody {
		if err := os.Chmod(s.hostKey, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func findProgram(name string) (string, error) {
	for _, d := range strings.Split(run.SafePath, ":") {
		if _, err := os.Stat(filepath.Join(d, name)); err == nil {
			return filepath.Join(d, name), nil
		}
	}
	return "", os.ErrNotExist
}

// test runs `sshd -T -f <config> -h <key> [extra...]` and parses the output.
func (s *realSSHD) test(t *testing.T, config string, extra ...string) map[string][]string {
	t.Helper()
	f := filepath.Join(s.dir, "sshd_config")
	if err := os.WriteFile(f, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"-T", "-f", f, "-h", s.hostKey}, extra...)
	c := run.Cmd{Path: s.bin, Args: args}
	if s.asNobody {
		c = run.Cmd{Path: "setpriv", Args: append([]string{"--reuid=65534", "--regid=65534", "--clear-groups", s.bin}, args...)}
	}
	if v := os.Getenv("LD_LIBRARY_PATH"); v != "" {
		c.Env = []string{"LD_LIBRARY_PATH=" + v}
	}
	res, err := (run.Exec{}).Run(context.Background(), c)
	if err != nil {
		t.Fatalf("%v\nconfig:\n%s", err, config)
	}
	return ParseSSHDTest(res.Stdout)
}

// TestSSHDSemanticsAgainstRealSSHD checks the model behind SSHD's warnings
// against the real sshd: global list values equal what `sshd -T` prints, and
// a Match-override warning appears exactly when sshd's effective value for an
// Entra user differs from what the aadsshlogin block sets.
func TestSSHDSemanticsAgainstRealSSHD(t *testing.T) {
	s := newRealSSHD(t)
	// Global values sshd needs when AuthorizedKeysCommand is set globally.
	const pre = "AuthorizedKeysCommandUser nobody\n"
	tests := []struct {
		name   string
		config string
	}{
		{"global values never override the package block", pre + "PubkeyAuthentication no\nAuthorizedKeysCommand /usr/bin/x\n" + aadBlock},
		{"Match all before the package block", "Match all\n PubkeyAuthentication no\n" + aadBlock},
		{"Match User * before", "Match User *\n AuthorizedKeysCommand /usr/bin/other %u\n AuthorizedKeysCommandUser nobody\n" + aadBlock},
		{"Match Address before", "Match Address 10.0.0.0/8\n PubkeyAuthentication no\n" + aadBlock},
		{"Match that excludes Entra users", "Match User *,!*@*,!????????-????-????-????-????????????\n PubkeyAuthentication no\n AllowGroups admins\n" + aadBlock},
		{"Match after the package block", aadBlock + "Match User *\n PubkeyAuthentication no\n"},
		{"Match Group", "Match Group wheel\n PubkeyAuthentication no\n" + aadBlock},
		{"Match User prefix, first value wins", "Match User alice*\n AuthenticationMethods publickey,password\nMatch all\n AuthenticationMethods publickey\n" + aadBlock},
		{"lists accumulate, Match all is global", "AllowGroups a b\nAllowGroups c\nDenyUsers root\nAllowUsers azureuser *@10.0.0.0/8\nMatch all\nDenyGroups z\n"},
		{"no package block yet", "Match User *\n PubkeyAuthentication no\n"},
		{"groups add up after the package block", aadBlock + "Match User *\n DenyGroups banned\nMatch User root\n AllowGroups wheel\n"},
		{"global groups", "AllowGroups admins\n" + aadBlock},
	}
	entra := []string{
		"user=" + sampleUPN + ",host=client.example,addr=10.1.2.3,laddr=10.0.0.4,lport=22",
		"user=" + sampleObjectID + ",host=client.example,addr=10.1.2.3,laddr=10.0.0.4,lport=22",
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ParseSSHDConfig("sshd_config", []byte(tc.config))
			if len(cfg.Problems) > 0 {
				t.Fatalf("parse problems: %q", cfg.Problems)
			}
			// 1. Global list values.
			got := s.test(t, tc.config)
			mine := cfg.globalValues()
			for _, k := range accessKeywords {
				if diff := cmp.Diff(patterns(got, k), patterns(mine, k)); diff != "" {
					t.Errorf("%s: sshd -T (-) vs parser (+):\n%s", k, diff)
				}
			}
			// 2. Effective values for Entra users vs override warnings.
			warned := map[string]bool{}
			for _, w := range matchWarnings(cfg) {
				for _, k := range []string{"pubkeyauthentication", "authorizedkeyscommanduser", "authorizedkeyscommand", "authenticationmethods"} {
					if strings.Contains(w.Message, "`"+k+" ") {
						warned[k] = true
						break
					}
				}
			}
			// Group lists: a warning exactly when an Entra user gets any.
			groupWarn := len(accessWarningsNamed(cfg, WarnAllowGroups, WarnDenyGroups)) > 0
			for _, w := range matchWarnings(cfg) {
				groupWarn = groupWarn || strings.Contains(w.Message, "`allowgroups ") || strings.Contains(w.Message, "`denygroups ")
			}
			for _, spec := range entra {
				eff := s.test(t, tc.config, "-C", spec)
				if got := len(eff["allowgroups"])+len(eff["denygroups"]) > 0; got != groupWarn {
					t.Errorf("%s: sshd group lists %q %q, warning=%v", spec, eff["allowgroups"], eff["denygroups"], groupWarn)
				}
			}
			// A warning means: some Entra user (UPN or object-id name) gets
			// a value that breaks sign-in.
			hasAAD := strings.Contains(tc.config, aadKeysCommand)
			broken := map[string]bool{}
			values := map[string][]string{}
			for _, spec := range entra {
				eff := s.test(t, tc.config, "-C", spec)
				one := func(k string) string {
					if v := eff[k]; len(v) > 0 {
						return v[0]
					}
					return ""
				}
				for k, b := range map[string]bool{
					"pubkeyauthentication":      one("pubkeyauthentication") != "yes",
					"authorizedkeyscommand":     !strings.Contains(one("authorizedkeyscommand"), aadKeysCommand),
					"authorizedkeyscommanduser": one("authorizedkeyscommanduser") != "root",
					"authenticationmethods":     !allowsPublickeyAlone(strings.Fields(one("authenticationmethods"))),
				} {
					broken[k] = broken[k] || b
					values[k] = append(values[k], one(k))
				}
			}
			for k, b := range broken {
				if !hasAAD {
					// Before install sshd shows globals too, which the
					// appended block will replace: only check no false alarm.
					if warned[k] && !b {
						t.Errorf("%s: warned, but sshd's values %q are fine", k, values[k])
					}
					continue
				}
				if b != warned[k] {
					t.Errorf("%s: sshd values %q (broken=%v), warning=%v", k, values[k], b, warned[k])
				}
			}
		})
	}
}

// TestParseOpenSSHVersionRealSSHD parses the banner of the installed sshd.
func TestParseOpenSSHVersionRealSSHD(t *testing.T) {
	s := newRealSSHD(t)
	c := run.Cmd{Path: s.bin, Args: []string{"-V"}}
	if v := os.Getenv("LD_LIBRARY_PATH"); v != "" {
		c.Env = []string{"LD_LIBRARY_PATH=" + v}
	}
	res, _ := (run.Exec{}).Run(context.Background(), c)
	v, err := ParseOpenSSHVersion(string(res.Stderr) + string(res.Stdout))
	if err != nil {
		t.Fatalf("%v: %q", err, res.Stderr)
	}
	if v.Major < 5 {
		t.Errorf("implausible version %+v", v)
	}
}

// accessWarningsNamed returns the global access warnings with the given names.
func accessWarningsNamed(cfg *SSHDConfig, names ...string) []Warning {
	var out []Warning
	for _, w := range accessWarnings(cfg.globalValues(), "test") {
		for _, n := range names {
			if w.Name == n {
				out = append(out, w)
			}
		}
	}
	return out
}
