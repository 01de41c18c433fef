package lifecycle

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/Azure/aadsshlogin-extension-linux/handler/agent"
	"github.com/Azure/aadsshlogin-extension-linux/handler/run"
	"github.com/Azure/aadsshlogin-extension-linux/handler/run/runtest"
	"github.com/Azure/aadsshlogin-extension-linux/handler/state"
	"github.com/Azure/aadsshlogin-extension-linux/handler/sysroot"
)

// opensslThrough runs openssl for real (protected settings are decrypted
// with it) and everything else through the scripted fake.
type opensslThrough struct{ fake *runtest.Fake }

func (r opensslThrough) Run(ctx context.Context, c run.Cmd) (run.Result, error) {
	if c.Path == "openssl" {
		return run.Exec{}.Run(ctx, c)
	}
	return r.fake.Run(ctx, c)
}

// agentCert creates the agent's certificate pair <lib>/<THUMB>.crt/.prv
// (lib is two folders above the config folder) and returns the thumbprint.
func agentCert(t *testing.T, h *harness) string {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		if os.Getenv("AADSSH_REQUIRE_INTEGRATION") == "1" {
			t.Fatal("openssl is not installed (make deps installs it)")
		}
		t.Skip("openssl is not installed; protected-settings cases need it")
	}
	lib := filepath.Dir(h.base)
	crt, key := filepath.Join(lib, "tmp.crt"), filepath.Join(lib, "tmp.prv")
	out, err := exec.Command("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", crt,
		"-days", "2", "-subj", "/CN=badinput").CombinedOutput()
	if err != nil {
		t.Fatalf("openssl req: %v: %s", err, out)
	}
	der, err := exec.Command("openssl", "x509", "-in", crt, "-outform", "DER").Output()
	if err != nil {
		t.Fatal(err)
	}
	sum := sha1.Sum(der)
	thumb := strings.ToUpper(hex.EncodeToString(sum[:]))
	for _, p := range [][2]string{{crt, thumb + ".crt"}, {key, thumb + ".prv"}} {
		if err := os.Rename(p[0], filepath.Join(lib, p[1])); err != nil {
			t.Fatal(err)
		}
	}
	return thumb
}

// encryptFor encrypts plain to the agent certificate as the agent does.
func encryptFor(t *testing.T, h *harness, thumb, plain string) string {
	t.Helper()
	cmd := exec.Command("openssl", "cms", "-encrypt", "-outform", "DER", "-aes256", filepath.Join(filepath.Dir(h.base), thumb+".crt"))
	cmd.Stdin = strings.NewReader(plain)
	der, err := cmd.Output()
	if err != nil {
		t.Fatalf("openssl cms -encrypt: %v", err)
	}
	return base64.StdEncoding.EncodeToString(der)
}

func rawSettings(public, protected, thumb string) string {
	return fmt.Sprintf(`{"runtimeSettings":[{"handlerSettings":{"publicSettings":%s,"protectedSettings":%s,"protectedSettingsCertThumbprint":%s}}]}`,
		public, protected, thumb)
}

func jsonStr(s string) string { return fmt.Sprintf("%q", s) }

// TestBadInput is the bad-input battery: hostile HandlerEnvironment.json,
// settings files, protected settings and sequence numbers. Every case runs
// after a successful install+enable of sequence 0 and must end with the
// documented exit code, one clear stderr line, no panic, and sequence 0's
// status, mrseq and state record intact.
func TestBadInput(t *testing.T) {
	const seq1 = "1"
	envFile := func(h *harness) string { return filepath.Join(h.base, agent.EnvironmentFile) }
	settings1 := func(h *harness, body string) { h.write(filepath.Join(h.base, "config", "1.settings"), body) }
	tests := []struct {
		name string
		// setup breaks something; seq is ConfigSequenceNumber afterwards.
		setup func(t *testing.T, h *harness)
		seq   string
		want  int
		// wantIn is in the stderr line (and the status message, if any).
		wantIn string
		// noStatus: the case cannot write a status (81).
		noStatus bool
	}{
		// HandlerEnvironment.json
		{name: "env: relative logFolder", want: 81, wantIn: "not an absolute path", noStatus: true, seq: seq1, setup: func(t *testing.T, h *harness) {
			h.write(envFile(h), fmt.Sprintf(`[{"name":"x","version":1.0,"handlerEnvironment":{"logFolder":"../../etc","configFolder":%q,"statusFolder":%q}}]`,
				filepath.Join(h.base, "config"), filepath.Join(h.base, "status")))
		}},
		{name: "env: newline in statusFolder", want: 81, wantIn: "control characters", noStatus: true, seq: seq1, setup: func(t *testing.T, h *harness) {
			h.write(envFile(h), fmt.Sprintf(`[{"handlerEnvironment":{"logFolder":"/tmp","configFolder":%q,"statusFolder":"/tmp/a\nb"}}]`, filepath.Join(h.base, "config")))
		}},
		{name: "env: two elements", want: 81, wantIn: "2 elements", noStatus: true, seq: seq1, setup: func(t *testing.T, h *harness) {
			h.write(envFile(h), `[{"handlerEnvironment":{}},{"handlerEnvironment":{}}]`)
		}},
		{name: "env: null", want: 81, wantIn: "HandlerEnvironment.json", noStatus: true, seq: seq1, setup: func(t *testing.T, h *harness) {
			h.write(envFile(h), `null`)
		}},
		{name: "env: version is text", want: 81, wantIn: "not a number", noStatus: true, seq: seq1, setup: func(t *testing.T, h *harness) {
			b, _ := os.ReadFile(envFile(h))
			h.write(envFile(h), strings.Replace(string(b), `"version":1.0`, `"version":"one"`, 1))
		}},
		{name: "env: 1 MiB of whitespace and brackets", want: 81, wantIn: "HandlerEnvironment.json", noStatus: true, seq: seq1, setup: func(t *testing.T, h *harness) {
			h.write(envFile(h), strings.Repeat("[", 1<<20))
		}},
		{name: "env: a directory", want: 81, wantIn: "HandlerEnvironment.json", noStatus: true, seq: seq1, setup: func(t *testing.T, h *harness) {
			os.Remove(envFile(h))
			os.Mkdir(envFile(h), 0o700)
		}},
		// Sequence numbers
		{name: "seq: text", seq: "seven", want: 81, wantIn: "sequence number", noStatus: true},
		{name: "seq: negative", seq: "-1", want: 81, wantIn: "sequence number", noStatus: true},
		{name: "seq: overflows int32", seq: "99999999999", want: 81, wantIn: "sequence number", noStatus: true},
		{name: "seq: path traversal", seq: "../../0", want: 81, wantIn: "sequence number", noStatus: true},
		{name: "seq: hex", seq: "0x10", want: 81, wantIn: "sequence number", noStatus: true},
		{name: "seq: no settings file for it", seq: "5", want: 53, wantIn: "settings"},
		// Settings files
		{name: "settings: truncated JSON", seq: seq1, want: 53, wantIn: "settings", setup: func(t *testing.T, h *harness) {
			settings1(h, `{"runtimeSettings":[{"handlerSettings":{"publicSettings":{"mirror"`)
		}},
		{name: "settings: larger than 1 MiB", seq: seq1, want: 53, wantIn: "settings", setup: func(t *testing.T, h *harness) {
			settings1(h, rawSettings(`{"pad":"`+strings.Repeat("x", 1<<20)+`"}`, "null", "null"))
		}},
		{name: "settings: symlink to /dev/zero", seq: seq1, want: 53, wantIn: "settings", setup: func(t *testing.T, h *harness) {
			if err := os.Symlink("/dev/zero", filepath.Join(h.base, "config", "1.settings")); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "settings: deeply nested", seq: seq1, want: 53, wantIn: "settings", setup: func(t *testing.T, h *harness) {
			settings1(h, rawSettings(strings.Repeat(`{"a":`, 20000)+"1"+strings.Repeat("}", 20000), "null", "null"))
		}},
		{name: "settings: publicSettings is a string", seq: seq1, want: 53, wantIn: "settings", setup: func(t *testing.T, h *harness) {
			settings1(h, rawSettings(`"{\"mirror\":{}}"`, "null", "null"))
		}},
		{name: "settings: invalid UTF-8 and NUL", seq: seq1, want: 53, wantIn: "settings", setup: func(t *testing.T, h *harness) {
			settings1(h, rawSettings("{\"mirror\":{\"url\":\"https://m\xff\x00.example\"}}", "null", "null"))
		}},
		{name: "settings: mirror URL with shell metacharacters", seq: seq1, want: 53, wantIn: "mirror", setup: func(t *testing.T, h *harness) {
			settings1(h, rawSettings(`{"mirror":{"url":"https://m.example/$(reboot);rm -rf /","publicKey":"-----BEGIN PGP PUBLIC KEY BLOCK-----"}}`, "null", "null"))
		}},
		// Protected settings
		{name: "protected: garbage base64", seq: seq1, want: 53, wantIn: "base64", setup: func(t *testing.T, h *harness) {
			settings1(h, rawSettings("{}", jsonStr("%%% not base64 %%%"), jsonStr(strings.Repeat("AB", 20))))
		}},
		{name: "protected: thumbprint is a path", seq: seq1, want: 53, wantIn: "thumbprint", setup: func(t *testing.T, h *harness) {
			settings1(h, rawSettings("{}", jsonStr("TUlJQg=="), jsonStr("../../../../etc/shadow")))
		}},
		{name: "protected: no thumbprint", seq: seq1, want: 53, wantIn: "thumbprint", setup: func(t *testing.T, h *harness) {
			settings1(h, rawSettings("{}", jsonStr("TUlJQg=="), "null"))
		}},
		{name: "protected: wrong thumbprint (no such certificate)", seq: seq1, want: 53, wantIn: "decrypt", setup: func(t *testing.T, h *harness) {
			thumb := agentCert(t, h)
			blob := encryptFor(t, h, thumb, `{}`)
			settings1(h, rawSettings("{}", jsonStr(blob), jsonStr(strings.Repeat("0", 40))))
		}},
		{name: "protected: private key missing", seq: seq1, want: 53, wantIn: "decrypt", setup: func(t *testing.T, h *harness) {
			thumb := agentCert(t, h)
			blob := encryptFor(t, h, thumb, `{}`)
			os.Remove(filepath.Join(filepath.Dir(h.base), thumb+".prv"))
			settings1(h, rawSettings("{}", jsonStr(blob), jsonStr(thumb)))
		}},
		{name: "protected: valid base64 of garbage", seq: seq1, want: 53, wantIn: "decrypt", setup: func(t *testing.T, h *harness) {
			thumb := agentCert(t, h)
			settings1(h, rawSettings("{}", jsonStr(base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x30, 0x82}, 500))), jsonStr(thumb)))
		}},
		{name: "protected: decrypts to non-JSON", seq: seq1, want: 53, wantIn: "protected", setup: func(t *testing.T, h *harness) {
			thumb := agentCert(t, h)
			settings1(h, rawSettings("{}", jsonStr(encryptFor(t, h, thumb, "mirror=https://x")), jsonStr(thumb)))
		}},
		{name: "protected: unknown key", seq: seq1, want: 53, wantIn: "protected settings are invalid", setup: func(t *testing.T, h *harness) {
			thumb := agentCert(t, h)
			settings1(h, rawSettings("{}", jsonStr(encryptFor(t, h, thumb, `{"password":"hunter2"}`)), jsonStr(thumb)))
		}},
	}
	clear, kept, skipped := 0, 0, 0
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if t.Skipped() {
					skipped++
				}
			}()
			h := newHarness(t)
			fakeDebian(h)
			for _, verb := range []string{"install", "enable"} {
				if code := h.run(verb); code != 0 {
					t.Fatalf("%s of sequence 0: exit %d: %s", verb, code, h.stderr.String())
				}
			}
			if tc.setup != nil {
				tc.setup(t, h)
			}
			if tc.seq != "" {
				h.env["ConfigSequenceNumber"] = tc.seq
			}
			for _, verb := range []string{"enable", "install"} {
				h.stdout.Reset()
				h.stderr.Reset()
				d := h.deps()
				d.Runner = opensslThrough{fake: h.runner}
				code := Main([]string{"aadsshlogin-handler", verb}, d)
				line := strings.TrimSpace(h.stderr.String())
				// install hands its failure to enable and exits 0 (the
				// agent would hide its status otherwise).
				wantExit, wantLine := tc.want, "failed (exit "
				if verb == "install" && tc.want != 81 { // 81: no status at all
					wantExit, wantLine = 0, fmt.Sprintf("found a problem (code %d)", tc.want)
				}
				if code != wantExit {
					t.Errorf("%s: exit %d, want %d; stderr %q", verb, code, wantExit, line)
				}
				if !strings.Contains(line, tc.wantIn) || strings.Contains(line, "\n") || !strings.Contains(line, wantLine) {
					t.Errorf("%s: stderr is not one clear line naming %q: %q", verb, tc.wantIn, line)
				}
				if strings.Contains(line, "hunter2") {
					t.Errorf("%s: stderr shows protected content: %q", verb, line)
				}
				if !tc.noStatus && !strings.HasPrefix(tc.seq, "..") {
					seq := 1
					fmt.Sscan(tc.seq, &seq)
					got := h.status(seq)
					if got.Status != "error" || got.Code != tc.want || !strings.Contains(got.Message, tc.wantIn) {
						t.Errorf("%s: status %+v, want error %d naming %q", verb, got, tc.want, tc.wantIn)
					}
				}
			}
			logData, _ := os.ReadFile(filepath.Join(h.root, "var/log/azure", HandlerName, "handler.log"))
			if bytes.Contains(logData, []byte("panic")) || bytes.Contains(logData, []byte("hunter2")) {
				t.Errorf("handler.log shows a panic or protected content:\n%s", logData)
			}
			clearOK := !t.Failed()
			// Nothing written before is lost.
			if got := h.status(0); got.Status != "success" || got.Operation != "Enable" {
				t.Errorf("sequence 0's status changed: %+v", got)
			}
			if seq, ok := agent.MRSeqIn(h.base).Load(); !ok || seq != 0 {
				t.Errorf("mrseq = %d, %v; want 0", seq, ok)
			}
			st := state.Dir{Path: sysroot.Root(h.root).Path(state.DefaultDir), Clock: h.clk}
			if rec, ok := st.LastSuccess(); !ok || rec.Seq != 0 {
				t.Errorf("state record %+v, %v; want sequence 0", rec, ok)
			}
			if clearOK {
				clear++
			}
			if !t.Failed() {
				kept++
			}
		})
	}
	t.Logf("bad input battery: %d cases × install and enable, %d with the documented exit code and one clear line, 0 panics, earlier status/mrseq/record kept in %d, %d skipped",
		len(tests), clear, kept, skipped)
	if kept+skipped != len(tests) {
		t.Errorf("%d of %d cases failed", len(tests)-kept-skipped, len(tests))
	}
}
