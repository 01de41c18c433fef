package config

import (
	"encoding/base64"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/Azure/aadsshlogin-extension-linux/distros/repo"
	"github.com/Azure/aadsshlogin-extension-linux/handler/agent"
	"github.com/Azure/aadsshlogin-extension-linux/handler/failure"
)

// realKey is the pinned Microsoft signing key: a real armored public key.
func realKey(t testing.TB) string {
	t.Helper()
	keys := repo.PinnedKeys()
	if len(keys) == 0 {
		t.Fatal("no pinned key")
	}
	return string(keys[0])
}

func jsonString(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	return string(b)
}

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

// armoredBlock wraps data in public-key armor without a checksum line.
func armoredBlock(data []byte) string {
	return "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n" + base64.StdEncoding.EncodeToString(data) + "\n-----END PGP PUBLIC KEY BLOCK-----\n"
}

func TestParse(t *testing.T) {
	key := realKey(t)
	k := jsonString(key)
	mirror := func(url, key string) string {
		return `{"mirror":{"url":` + jsonString(url) + `,"publicKey":` + jsonString(key) + `}}`
	}
	tests := []struct {
		name    string
		pub     string
		prot    string
		want    Config
		wantErr string
		forbid  []string // must not appear in the error (parts of a protected URL)
	}{
		{name: "no settings"},
		{name: "empty objects", pub: `{}`, prot: `{}`},
		{name: "null mirror", pub: `{"mirror":null}`},
		{name: "public mirror", pub: `{"mirror":{"url":"https://m.example.com/ms","publicKey":` + k + `}}`,
			want: Config{Mirror: &Mirror{URL: "https://m.example.com/ms", PublicKey: key}}},
		{name: "protected url wins", pub: `{"mirror":{"url":"https://a.example.com","publicKey":` + k + `}}`, prot: `{"mirror":{"url":"https://b.internal.example/x"}}`,
			want: Config{Mirror: &Mirror{URL: "https://b.internal.example/x", PublicKey: key, Secret: true}}},
		{name: "empty protected url keeps the public one", pub: `{"mirror":{"url":"https://a.example.com","publicKey":` + k + `}}`, prot: `{"mirror":{"url":" "}}`,
			want: Config{Mirror: &Mirror{URL: "https://a.example.com", PublicKey: key}}},
		{name: "credentials refused", pub: `{"mirror":{"url":"https://u:p@m.example.com","publicKey":` + k + `}}`, wantErr: "credentials"},
		{name: "credentials message says what to do", pub: mirror("https://u:p@m.example.com", key), wantErr: "world-readable repository files"},
		{name: "credentials message names the package manager way", pub: mirror("https://u:p@m.example.com", key), wantErr: "apt auth.conf"},
		{name: "credentials in protected refused without echo", pub: `{"mirror":{"publicKey":` + k + `}}`, prot: `{"mirror":{"url":"https://u:hunter2@m.example.com"}}`, wantErr: "credentials",
			forbid: []string{"m.example.com", "u:"}},
		{name: "upper-case scheme", pub: `{"mirror":{"url":"HTTPS://m.example.com/ms","publicKey":` + k + `}}`,
			want: Config{Mirror: &Mirror{URL: "https://m.example.com/ms", PublicKey: key}}},
		{name: "normalised: host case, trailing slash, blanks", pub: mirror("  https://M.Example.COM/Ms/  ", key),
			want: Config{Mirror: &Mirror{URL: "https://m.example.com/Ms", PublicKey: key}}},
		{name: "unknown key", pub: `{"mirrror":{}}`, wantErr: "public settings are invalid"},
		{name: "wrong type", pub: `{"mirror":"https://x"}`, wantErr: "public settings are invalid"},
		{name: "trailing data", pub: `{} {}`, wantErr: "public settings are invalid"},
		{name: "protected unknown key", prot: `{"mirror":{"url":"https://x","user":"hunter2"}}`, wantErr: "protected settings are invalid"},
		{name: "http", pub: `{"mirror":{"url":"http://m.example.com","publicKey":` + k + `}}`, wantErr: "must use https"},
		{name: "file url", pub: `{"mirror":{"url":"file:///etc/passwd","publicKey":` + k + `}}`, wantErr: "must use https"},
		{name: "space", pub: `{"mirror":{"url":"https://m.example.com/a b","publicKey":` + k + `}}`, wantErr: "control characters"},
		{name: "newline", pub: `{"mirror":{"url":"https://m.example.com/\nx","publicKey":` + k + `}}`, wantErr: "control characters"},
		{name: "replacement character", pub: mirror("https://m.example.com/\ufffd", key), wantErr: "control characters"},
		{name: "too long", pub: mirror("https://m.example.com/"+strings.Repeat("a", 2048), key), wantErr: "longer than 2048"},
		{name: "query", pub: `{"mirror":{"url":"https://m.example.com/?a=b","publicKey":` + k + `}}`, wantErr: "query"},
		{name: "forced empty query", pub: mirror("https://m/?", key), wantErr: "query"},
		{name: "fragment", pub: mirror("https://m.example.com/#top", key), wantErr: "fragment"},
		{name: "dotdot path", pub: mirror("https://m.example.com/a/../b", key), wantErr: "'..' segments"},
		{name: "bracket in path", pub: mirror("https://m.example.com/[trusted=yes]", key), wantErr: "not allowed in a repository URL"},
		{name: "no host", pub: `{"mirror":{"url":"https:///x","publicKey":` + k + `}}`, wantErr: "no host"},
		{name: "opaque", pub: mirror("https:m.example.com", key), wantErr: "no host"},
		{name: "bad host characters", pub: mirror("https://m'x/", key), wantErr: "host"},
		{name: "empty url", pub: `{"mirror":{"publicKey":` + k + `}}`, wantErr: "URL is empty"},
		{name: "empty protected url and no public one", prot: `{"mirror":{"url":""}}`, wantErr: "URL is empty"},
		{name: "no key", pub: `{"mirror":{"url":"https://m.example.com"}}`, wantErr: "publicKey is missing"},
		{name: "blank key", pub: mirror("https://m.example.com", " \n"), wantErr: "publicKey is missing"},
		{name: "private key", pub: `{"mirror":{"url":"https://m.example.com","publicKey":"-----BEGIN PGP PRIVATE KEY BLOCK-----"}}`, wantErr: "armored OpenPGP public key"},
		{name: "private key named", pub: mirror("https://m.example.com", "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nxcA=\n-----END PGP PRIVATE KEY BLOCK-----\n"), wantErr: "PRIVATE"},
		{name: "begin line only", pub: mirror("https://m.example.com", "-----BEGIN PGP PUBLIC KEY BLOCK-----"), wantErr: "publicKey is unusable"},
		{name: "fake armored key", pub: mirror("https://m.example.com", "-----BEGIN PGP PUBLIC KEY BLOCK-----\nabc\n-----END PGP PUBLIC KEY BLOCK-----\n"), wantErr: "publicKey is unusable"},
		{name: "armored block that is not a key", pub: mirror("https://m.example.com", armoredBlock([]byte("hello, this is not a key"))), wantErr: "not an OpenPGP public key"},
		{name: "secret key packet in public armor", pub: mirror("https://m.example.com", armoredBlock([]byte{0xC5, 1, 4})), wantErr: "secret key material"},
		{name: "damaged key", pub: mirror("https://m.example.com", strings.Replace(key, "mQ", "mR", 1)), wantErr: "publicKey is unusable"},
		{name: "oversized key", pub: mirror("https://m.example.com", key+strings.Repeat("#", repo.MaxKeySize)), wantErr: "more than the"},
		{name: "bad protected keeps secret", prot: `{"mirror":{"url":"https://u:hunter2@x","extra":1}}`, wantErr: "protected settings are invalid"},
		{name: "bad protected url keeps secret", pub: `{"mirror":{"publicKey":` + k + `}}`, prot: `{"mirror":{"url":"http://u:hunter2@x"}}`, wantErr: "(protected) is invalid"},
		{name: "protected url with a secret path", pub: mirror("", key), prot: `{"mirror":{"url":"https://repo.corp.internal/tok3n-s3cret/?x"}}`, wantErr: "(protected) is invalid",
			forbid: []string{"repo.corp.internal", "corp", "tok3n", "s3cret", "?x"}},
		{name: "protected http url", pub: mirror("", key), prot: `{"mirror":{"url":"http://10.1.2.3/tok3n-s3cret"}}`, wantErr: "(protected) is invalid",
			forbid: []string{"10.1.2.3", "tok3n", "s3cret"}},
		{name: "protected dotdot url", pub: mirror("", key), prot: `{"mirror":{"url":"https://repo.corp.internal/tok3n/../s3cret"}}`, wantErr: "(protected) is invalid",
			forbid: []string{"repo.corp.internal", "tok3n", "s3cret"}},
		{name: "protected url, bad key", pub: mirror("", "not a key"), prot: `{"mirror":{"url":"https://repo.corp.internal/tok3n-s3cret"}}`, wantErr: "publicKey is unusable",
			forbid: []string{"repo.corp.internal", "tok3n"}},
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
				for _, f := range append(tc.forbid, "hunter2") {
					if strings.Contains(err.Error(), f) {
						t.Errorf("error leaks %q of a protected value: %v", f, err)
					}
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

// fixedTexts are the messages Parse gives whatever the URL: a protected URL
// found in an error is a leak only if it is not part of these texts.
func fixedTexts(key string) string {
	var b strings.Builder
	for _, u := range []string{"", strings.Repeat("a", 3000), "https://m/ x", "https://m/%zz", "http://m",
		"https:///", "https://m'/", "https://u@m", "https://m/?", "https://m/#", "https://m/[", "https://m/x"} {
		for _, pub := range []string{`{"mirror":{"publicKey":` + jsonString(key) + `}}`, `{"mirror":{}}`, `{"mirror":{"publicKey":"x"}}`} {
			if _, err := Parse(settings(pub, `{"mirror":{"url":`+jsonString(u)+`}}`)); err != nil {
				b.WriteString(err.Error() + "\n")
			}
		}
	}
	_, err := Parse(settings("", `{"x":1}`))
	b.WriteString(err.Error())
	return b.String()
}

// publicStrings are the public settings as given and every string in them
// (keys and values): an error may quote public content.
func publicStrings(pub string) []string {
	out := []string{pub}
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case string:
			out = append(out, v)
		case []any:
			for _, e := range v {
				walk(e)
			}
		case map[string]any:
			for k, e := range v {
				out = append(out, k)
				walk(e)
			}
		}
	}
	var v any
	if json.Unmarshal([]byte(pub), &v) == nil {
		walk(v)
	}
	return out
}

func FuzzParse(f *testing.F) {
	key := realKey(f)
	fixed := fixedTexts(key)
	f.Add(`{"mirror":{"url":"https://m.example.com","publicKey":"-----BEGIN PGP PUBLIC KEY BLOCK-----"}}`, `{"mirror":{"url":"https://x.example.com"}}`)
	f.Add(`{"mirror":{"url":"https://m.example.com/ms/","publicKey":`+jsonString(key)+`}}`, ``)
	f.Add(`{"mirror":{"publicKey":`+jsonString(key)+`}}`, `{"mirror":{"url":"HTTPS://Repo.Corp.Internal/tok3n/"}}`)
	f.Add(`{"mirror":{"publicKey":`+jsonString(key)+`}}`, `{"mirror":{"url":"https://u:hunter2@repo.corp.internal/x"}}`)
	f.Add(`{"mirror":{"publicKey":`+jsonString(key)+`}}`, `{"mirror":{"url":"https://repo.corp.internal/a/../b?"}}`)
	f.Add(`{"mirror":{"url":"https://m/","publicKey":`+jsonString(armoredBlock([]byte{0x99, 0, 1, 4}))+`}}`, ``)
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
			var p protectedJSON
			if json.Unmarshal([]byte(prot), &p) != nil || p.Mirror == nil {
				return
			}
			secret := strings.TrimSpace(p.Mirror.URL)
			if secret == "" || !strings.Contains(err.Error(), secret) || strings.Contains(fixed, secret) {
				return
			}
			for _, s := range publicStrings(pub) {
				if strings.Contains(s, secret) {
					return // the text may come from the public settings
				}
			}
			t.Fatalf("error quotes the protected URL %q: %v", secret, err)
		}
		m := c.Mirror
		if m == nil {
			return
		}
		u, perr := url.Parse(m.URL)
		if perr != nil || u.Scheme != "https" || u.Hostname() == "" || u.User != nil ||
			u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
			t.Fatalf("accepted mirror %q is not an https URL with a host and without credentials, query or fragment", m.URL)
		}
		if again, err := repo.ValidateMirrorURL(m.URL); err != nil || again != m.URL {
			t.Fatalf("stored URL %q is not normalised: %q, %v", m.URL, again, err)
		}
		if _, err := repo.ValidateArmoredKey([]byte(m.PublicKey)); err != nil {
			t.Fatalf("accepted a key the installer refuses: %v", err)
		}
	})
}
