package config

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/Azure/aadsshlogin-extension-linux/handler/agent"
	"github.com/Azure/aadsshlogin-extension-linux/handler/failure"
)

const key = "-----BEGIN PGP PUBLIC KEY BLOCK-----\nabc\n-----END PGP PUBLIC KEY BLOCK-----\n"

func settings(pub, prot string) agent.Settings {
	var s agent.Settings
	if pub != "" {
		s.Public = json.RawMessage(pub)
	}
	if prot != "" {
		s.Protected = json.RawMessage(prot)
	}
	return s
}

func TestParse(t *testing.T) {
	keyJSON, _ := json.Marshal(key)
	k := string(keyJSON)
	tests := []struct {
		name    string
		pub     string
		prot    string
		want    Config
		wantErr string
	}{
		{name: "no settings"},
		{name: "empty objects", pub: `{}`, prot: `{}`},
		{name: "public mirror", pub: `{"mirror":{"url":"https://m.example.com/ms","publicKey":` + k + `}}`,
			want: Config{Mirror: &Mirror{URL: "https://m.example.com/ms", PublicKey: key}}},
		{name: "protected url wins", pub: `{"mirror":{"url":"https://a.example.com","publicKey":` + k + `}}`, prot: `{"mirror":{"url":"https://b.internal.example/x"}}`,
			want: Config{Mirror: &Mirror{URL: "https://b.internal.example/x", PublicKey: key, Secret: true}}},
		{name: "credentials refused", pub: `{"mirror":{"url":"https://u:p@m.example.com","publicKey":` + k + `}}`, wantErr: "credentials"},
		{name: "credentials in protected refused without echo", pub: `{"mirror":{"publicKey":` + k + `}}`, prot: `{"mirror":{"url":"https://u:hunter2@m.example.com"}}`, wantErr: "credentials"},
		{name: "upper-case scheme", pub: `{"mirror":{"url":"HTTPS://m.example.com/ms","publicKey":` + k + `}}`,
			want: Config{Mirror: &Mirror{URL: "HTTPS://m.example.com/ms", PublicKey: key}}},
		{name: "unknown key", pub: `{"mirrror":{}}`, wantErr: "public settings are invalid"},
		{name: "wrong type", pub: `{"mirror":"https://x"}`, wantErr: "public settings are invalid"},
		{name: "http", pub: `{"mirror":{"url":"http://m.example.com","publicKey":` + k + `}}`, wantErr: "must use https"},
		{name: "file url", pub: `{"mirror":{"url":"file:///etc/passwd","publicKey":` + k + `}}`, wantErr: "must use https"},
		{name: "space", pub: `{"mirror":{"url":"https://m.example.com/a b","publicKey":` + k + `}}`, wantErr: "control characters"},
		{name: "newline", pub: `{"mirror":{"url":"https://m.example.com/\nx","publicKey":` + k + `}}`, wantErr: "control characters"},
		{name: "query", pub: `{"mirror":{"url":"https://m.example.com/?a=b","publicKey":` + k + `}}`, wantErr: "query or fragment"},
		{name: "no host", pub: `{"mirror":{"url":"https:///x","publicKey":` + k + `}}`, wantErr: "no host"},
		{name: "empty url", pub: `{"mirror":{"publicKey":` + k + `}}`, wantErr: "empty"},
		{name: "no key", pub: `{"mirror":{"url":"https://m.example.com"}}`, wantErr: "publicKey is missing"},
		{name: "private key", pub: `{"mirror":{"url":"https://m.example.com","publicKey":"-----BEGIN PGP PRIVATE KEY BLOCK-----"}}`, wantErr: "armored OpenPGP public key"},
		{name: "bad protected keeps secret", prot: `{"mirror":{"url":"https://u:hunter2@x","extra":1}}`, wantErr: "protected settings are invalid"},
		{name: "bad protected url keeps secret", pub: `{"mirror":{"publicKey":` + k + `}}`, prot: `{"mirror":{"url":"http://u:hunter2@x"}}`, wantErr: "(protected) is invalid"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(settings(tc.pub, tc.prot))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				if failure.CodeOf(err) != failure.Config {
					t.Errorf("code = %d, want 53", failure.CodeOf(err))
				}
				if strings.Contains(err.Error(), "hunter2") {
					t.Errorf("error leaks a protected value: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

func TestRedacted(t *testing.T) {
	for _, tc := range []struct {
		m    Mirror
		want string
	}{
		{Mirror{URL: "https://m.example.com/ms"}, "https://m.example.com/ms"},
		{Mirror{URL: "https://m.internal.example/ms", Secret: true}, "https://m.internal.example/… (from protected settings)"},
	} {
		if got := tc.m.Redacted(); got != tc.want {
			t.Errorf("Redacted(%q) = %q, want %q", tc.m.URL, got, tc.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(`{"mirror":{"url":"https://m.example.com","publicKey":"-----BEGIN PGP PUBLIC KEY BLOCK-----"}}`, `{"mirror":{"url":"https://x.example.com"}}`)
	f.Add(`{}`, ``)
	f.Fuzz(func(t *testing.T, pub, prot string) {
		if !json.Valid([]byte(pub)) || (prot != "" && !json.Valid([]byte(prot))) {
			return
		}
		c, err := Parse(settings(pub, prot))
		if err != nil {
			if failure.CodeOf(err) != failure.Config {
				t.Fatalf("error not classified as 53: %v", err)
			}
			return
		}
		// The scheme is case-insensitive; distros.SourceFor normalises it
		// before writing repository files (seed from FuzzParse: hTtps://0).
		if c.Mirror != nil && !strings.HasPrefix(strings.ToLower(c.Mirror.URL), "https://") {
			t.Fatalf("accepted non-https mirror %q", c.Mirror.URL)
		}
	})
}
