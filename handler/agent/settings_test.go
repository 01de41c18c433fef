package agent

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/Azure/aadsshlogin-extension-linux/handler/run"
)

const thumb = "0123456789ABCDEF0123456789ABCDEF01234567"

func TestParseSettings(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    RawSettings
		wantErr string
	}{
		{name: "empty file", in: ""},
		{name: "blank file", in: " \n"},
		{name: "all null", in: `{"runtimeSettings":[{"handlerSettings":{"publicSettings":null,"protectedSettings":null,"protectedSettingsCertThumbprint":null}}]}`},
		{name: "empty public", in: `{"runtimeSettings":[{"handlerSettings":{"publicSettings":{}}}]}`, want: RawSettings{Public: json.RawMessage(`{}`)}},
		{name: "no handlerSettings", in: `{"runtimeSettings":[{}]}`},
		{name: "public and protected", in: `{"runtimeSettings":[{"handlerSettings":{"publicSettings":{"a":1},"protectedSettings":"QUJD","protectedSettingsCertThumbprint":"` + thumb + `"}}]}`,
			want: RawSettings{Public: json.RawMessage(`{"a":1}`), ProtectedBlob: "QUJD", Thumbprint: thumb}},
		{name: "not json", in: `{runtimeSettings`, wantErr: "not valid JSON"},
		{name: "no runtimeSettings", in: `{}`, wantErr: "no runtimeSettings"},
		{name: "two runtimeSettings", in: `{"runtimeSettings":[{},{}]}`, wantErr: "exactly 1"},
		{name: "public not object", in: `{"runtimeSettings":[{"handlerSettings":{"publicSettings":"x"}}]}`, wantErr: "not a JSON object"},
		{name: "protected not string", in: `{"runtimeSettings":[{"handlerSettings":{"protectedSettings":{}}}]}`, wantErr: "not a string"},
		{name: "protected without thumbprint", in: `{"runtimeSettings":[{"handlerSettings":{"protectedSettings":"QUJD"}}]}`, wantErr: "Thumbprint is empty"},
		{name: "hostile thumbprint", in: `{"runtimeSettings":[{"handlerSettings":{"protectedSettings":"QUJD","protectedSettingsCertThumbprint":"../../etc/shadow"}}]}`, wantErr: "not a hexadecimal"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseSettings([]byte(tc.in))
			checkParsed(t, got, err, tc.want, tc.wantErr)
		})
	}
}

func FuzzParseSettings(f *testing.F) {
	f.Add([]byte(`{"runtimeSettings":[{"handlerSettings":{"publicSettings":{"a":1},"protectedSettings":"QUJD","protectedSettingsCertThumbprint":"` + thumb + `"}}]}`))
	f.Add([]byte(``))
	f.Add([]byte(`{"runtimeSettings":[{"handlerSettings":null}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		rs, err := ParseSettings(data)
		if err != nil {
			return
		}
		if rs.Public != nil && !json.Valid(rs.Public) {
			t.Fatalf("accepted invalid public JSON %q", rs.Public)
		}
		if rs.ProtectedBlob != "" && !thumbprintRE.MatchString(rs.Thumbprint) {
			t.Fatalf("accepted protected settings with thumbprint %q", rs.Thumbprint)
		}
	})
}

func TestSettingsStringRedacts(t *testing.T) {
	s := Settings{Public: json.RawMessage(`{"a": 1}`), Protected: json.RawMessage(`{"secret":"hunter2"}`)}
	for _, out := range []string{s.String(), fmt.Sprintf("%v", s), fmt.Sprintf("%+v", s), fmt.Sprintf("%#v", s)} {
		if strings.Contains(out, "hunter2") {
			t.Errorf("protected value leaked: %s", out)
		}
	}
}

// writeCert creates a self-signed certificate pair the way the agent stores
// goal-state certificates and returns its thumbprint.
func writeCert(t *testing.T, dir string) string {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha1.Sum(der)
	tp := strings.ToUpper(hex.EncodeToString(sum[:]))
	crt := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	prv := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	if err := os.WriteFile(filepath.Join(dir, tp+".crt"), crt, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, tp+".prv"), prv, 0o600); err != nil {
		t.Fatal(err)
	}
	return tp
}

func encrypt(t *testing.T, certFile string, plain []byte) string {
	t.Helper()
	cmd := exec.Command("openssl", "cms", "-encrypt", "-binary", "-outform", "DER", "-aes256", certFile)
	cmd.Stdin = bytes.NewReader(plain)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("openssl encrypt: %v", err)
	}
	return base64.StdEncoding.EncodeToString(out)
}

func TestReadSettingsDecryptsWithOpenSSL(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed")
	}
	lib := t.TempDir()
	config := filepath.Join(lib, "Ext-1.0", "config")
	if err := os.MkdirAll(config, 0o700); err != nil {
		t.Fatal(err)
	}
	tp := writeCert(t, lib)
	blob := encrypt(t, filepath.Join(lib, tp+".crt"), []byte(`{"mirror":{"url":"https://user:secret@example.invalid/"}}`))
	write := func(seq int, body string) {
		if err := os.WriteFile(filepath.Join(config, fmt.Sprintf("%d.settings", seq)), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(1, `{"runtimeSettings":[{"handlerSettings":{"publicSettings":{"x":1},"protectedSettings":"`+blob+`","protectedSettingsCertThumbprint":"`+strings.ToLower(tp)+`"}}]}`)
	write(2, `{"runtimeSettings":[{"handlerSettings":{"protectedSettings":"`+blob+`","protectedSettingsCertThumbprint":"`+thumb+`"}}]}`)
	write(3, `{"runtimeSettings":[{"handlerSettings":{"protectedSettings":"not base64!","protectedSettingsCertThumbprint":"`+tp+`"}}]}`)
	write(4, ``)
	env := Environment{ConfigFolder: config}
	dec := OpenSSL{Runner: run.Exec{}}
	ctx := context.Background()

	got, err := ReadSettings(ctx, env, 1, dec)
	if err != nil {
		t.Fatal(err)
	}
	want := Settings{Public: json.RawMessage(`{"x":1}`), Protected: json.RawMessage(`{"mirror":{"url":"https://user:secret@example.invalid/"}}`)}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	for seq, wantErr := range map[int]string{2: "decrypt protectedSettings with certificate " + thumb, 3: "not base64", 5: "read settings"} {
		_, err := ReadSettings(ctx, env, seq, dec)
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("seq %d: err = %v, want %q", seq, err, wantErr)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("seq %d: error leaks the plaintext: %v", seq, err)
		}
	}
	if got, err := ReadSettings(ctx, env, 4, dec); err != nil || got.Public != nil || got.Protected != nil {
		t.Errorf("empty settings: %v, %v", got, err)
	}
}
