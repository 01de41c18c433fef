package repo

import (
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/Azure/aadsshlogin-extension-linux/handler/cloud"
	"github.com/Azure/aadsshlogin-extension-linux/handler/failure"
)

func TestSourceForDefaults(t *testing.T) {
	tests := []struct {
		env  string
		want string
	}{
		{"AzurePublicCloud", "https://packages.microsoft.com"},
		{"AzureChinaCloud", "https://packages.microsoft.com"},
		{"USNat", "https://repodepot.azure.eaglex.ic.gov/microsoft"},
		{"USSec", "https://repodepot.azure.microsoft.scloud/microsoft"},
	}
	for _, tt := range tests {
		t.Run(tt.env, func(t *testing.T) {
			s, err := SourceFor(cloud.ForEnvironment(tt.env), "", nil)
			if err != nil {
				t.Fatal(err)
			}
			got := Source{BaseURL: s.BaseURL, Mirror: s.Mirror, Fingerprints: s.Fingerprints}
			want := Source{BaseURL: tt.want, Fingerprints: []string{microsoftFingerprint}}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if len(s.ArmoredKeys) != 1 {
				t.Errorf("%d keys", len(s.ArmoredKeys))
			}
		})
	}
	s, err := SourceFor(cloud.Endpoints{}, "", nil)
	if err != nil || s.BaseURL != cloud.DefaultPackages {
		t.Errorf("empty endpoints: %v %v", s.BaseURL, err)
	}
}

const mirrorFingerprint = "C4DAC41FB568AD34782701D4C45DB3E0CDE9CBA3"

func mirrorKey(t testing.TB) []byte {
	t.Helper()
	data, err := os.ReadFile("testdata/mirror-test-key.asc")
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestSourceForMirror(t *testing.T) {
	key := mirrorKey(t)
	s, err := SourceFor(cloud.ForEnvironment("AzurePublicCloud"), "https://Mirror.Example.com:8443/pmc/", key)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Source{BaseURL: "https://mirror.example.com:8443/pmc", Mirror: true,
		Fingerprints: []string{mirrorFingerprint, microsoftFingerprint}}, Source{BaseURL: s.BaseURL, Mirror: s.Mirror, Fingerprints: s.Fingerprints}); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// The pinned key given as the mirror key is not listed twice.
	s, err = SourceFor(cloud.ForEnvironment(""), "https://m.example.com", PinnedKeys()[0])
	if err != nil || len(s.ArmoredKeys) != 1 {
		t.Errorf("duplicate key: %d keys, %v", len(s.ArmoredKeys), err)
	}
}

func TestSourceForHostileMirror(t *testing.T) {
	key := PinnedKeys()[0]
	tests := []struct {
		name   string
		url    string
		key    []byte
		want   string // substring of the message
		forbid string // must not appear in the message
	}{
		{"http", "http://mirror.example.com/pmc", key, "must use https", ""},
		{"ftp", "ftp://mirror.example.com", key, "must use https", ""},
		{"file", "file:///etc/passwd", key, "must use https", ""},
		{"no scheme", "mirror.example.com/pmc", key, "must use https", ""},
		{"credentials", "https://user:s3cret@mirror.example.com/", key, "credentials", "s3cret"},
		{"user only", "https://admin@mirror.example.com/", key, "credentials", "admin@"},
		{"fragment", "https://mirror.example.com/#frag", key, "fragment", ""},
		{"empty fragment", "https://mirror.example.com/#", key, "fragment", ""},
		{"query", "https://mirror.example.com/?a=b", key, "query", ""},
		{"space", "https://mirror.example.com/a b", key, "spaces or control", ""},
		{"newline injection", "https://mirror.example.com/\ndeb http://evil/ x main", key, "spaces or control", ""},
		{"tab", "https://mirror.example.com/\t", key, "spaces or control", ""},
		{"nul", "https://mirror.example.com/\x00", key, "spaces or control", ""},
		{"bracket injection", "https://mirror.example.com/[trusted=yes]", key, "not allowed", ""},
		{"dotdot", "https://mirror.example.com/a/../b", key, "not allowed", ""},
		{"no host", "https:///path", key, "no host", ""},
		{"too long", "https://mirror.example.com/" + strings.Repeat("a", 3000), key, "longer", ""},
		{"forced empty query", "https://mirror.example.com/?", key, "query", ""},
		{"missing key", "https://mirror.example.com/", nil, "no signing key", "mirror.example.com"},
		{"key without url", "", key, "without a mirror URL", ""},
		{"garbage key", "https://mirror.example.com/", []byte("not a key"), "unusable", "mirror.example.com"},
		{"private key", "https://mirror.example.com/", armored("PRIVATE KEY BLOCK", []byte{0xC5, 1, 4}, nil), "PRIVATE", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := SourceFor(cloud.ForEnvironment(""), tt.url, tt.key)
			if failure.CodeOf(err) != failure.Config {
				t.Fatalf("err = %v, want failure.Config", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.want) {
				t.Errorf("message %q lacks %q", msg, tt.want)
			}
			if tt.forbid != "" && strings.Contains(msg, tt.forbid) {
				t.Errorf("message leaks %q: %s", tt.forbid, msg)
			}
		})
	}
}

// mirrorURLMessages are every message ValidateMirrorURL can give; the
// fuzz target checks that a rejection is exactly one of them, so nothing of
// the URL can reach the message.
var mirrorURLMessages = [...]string{msgMirrorEmpty, msgMirrorTooLong, msgMirrorChars, msgMirrorUnparsable,
	msgMirrorScheme, msgMirrorNoHost, msgMirrorHostChars, msgMirrorCredentials, msgMirrorQuery,
	msgMirrorFragment, msgMirrorPath}

func TestValidateMirrorURL(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // normalised URL, or "" when rejected
		msg  string // the whole message when rejected
	}{
		{name: "plain", in: "https://mirror.example.com/microsoft", want: "https://mirror.example.com/microsoft"},
		{name: "trailing slashes", in: "https://mirror.example.com/microsoft//", want: "https://mirror.example.com/microsoft"},
		{name: "host only", in: "https://mirror.example.com/", want: "https://mirror.example.com"},
		{name: "case of scheme and host, not path", in: "HTTPS://Mirror.Example.COM:8443/PMC/", want: "https://mirror.example.com:8443/PMC"},
		{name: "mixed-case scheme", in: "hTtps://0", want: "https://0"},
		{name: "empty port dropped", in: "https://m.example.com:/x", want: "https://m.example.com/x"},
		{name: "IPv4", in: "https://127.0.0.1:36183", want: "https://127.0.0.1:36183"},
		{name: "IPv6", in: "https://[FD00::1]:8443/pmc", want: "https://[fd00::1]:8443/pmc"},
		{name: "underscore host", in: "https://pkg_mirror.corp/x", want: "https://pkg_mirror.corp/x"},
		{name: "encoded path kept", in: "https://m.example.com/a%20b/c", want: "https://m.example.com/a%20b/c"},
		{name: "empty", in: "", msg: msgMirrorEmpty},
		{name: "too long", in: "https://m.example.com/" + strings.Repeat("a", 2048), msg: msgMirrorTooLong},
		{name: "space", in: "https://m.example.com/a b", msg: msgMirrorChars},
		{name: "newline injection", in: "https://m.example.com/\ndeb http://evil/ x main", msg: msgMirrorChars},
		{name: "DEL", in: "https://m.example.com/\x7f", msg: msgMirrorChars},
		{name: "C1 control", in: "https://m.example.com/\u0085", msg: msgMirrorChars},
		{name: "no-break space", in: "https://m.example.com/\u00a0", msg: msgMirrorChars},
		{name: "invalid UTF-8", in: "https://m.example.com/\xff", msg: msgMirrorChars},
		{name: "replacement character", in: "https://m.example.com/\ufffd", msg: msgMirrorChars},
		{name: "bad escape", in: "https://m.example.com/%zz", msg: msgMirrorUnparsable},
		{name: "bad port", in: "https://m.example.com:port/", msg: msgMirrorUnparsable},
		{name: "http", in: "http://m.example.com", msg: msgMirrorScheme},
		{name: "file", in: "file:///etc/passwd", msg: msgMirrorScheme},
		{name: "no scheme", in: "m.example.com/pmc", msg: msgMirrorScheme},
		{name: "scheme-relative", in: "//m.example.com/pmc", msg: msgMirrorScheme},
		{name: "no host", in: "https:///pmc", msg: msgMirrorNoHost},
		{name: "port only", in: "https://:443/pmc", msg: msgMirrorNoHost},
		{name: "opaque", in: "https:m.example.com/pmc", msg: msgMirrorNoHost},
		{name: "quote in host", in: "https://m'x.example.com/", msg: msgMirrorHostChars},
		{name: "dollar in host", in: "https://m$(x).example.com/", msg: msgMirrorHostChars},
		{name: "IPv6 zone", in: "https://[fe80::1%25eth0]/", msg: msgMirrorHostChars},
		{name: "credentials", in: "https://user:s3cret@m.example.com/", msg: msgMirrorCredentials},
		{name: "user only", in: "https://admin@m.example.com/", msg: msgMirrorCredentials},
		{name: "credentials over http", in: "http://u:p@m.example.com/", msg: msgMirrorCredentials},
		{name: "query", in: "https://m.example.com/?a=b", msg: msgMirrorQuery},
		{name: "forced empty query", in: "https://m.example.com/?", msg: msgMirrorQuery},
		{name: "fragment", in: "https://m.example.com/#frag", msg: msgMirrorFragment},
		{name: "empty fragment", in: "https://m.example.com/#", msg: msgMirrorFragment},
		{name: "dotdot", in: "https://m.example.com/a/../b", msg: msgMirrorPath},
		{name: "trailing dotdot", in: "https://m.example.com/a/..", msg: msgMirrorPath},
		{name: "encoded dotdot", in: "https://m.example.com/a/%2e%2e/b", msg: msgMirrorPath},
		{name: "bracket injection", in: "https://m.example.com/[trusted=yes]", msg: msgMirrorPath},
		{name: "double quote", in: "https://m.example.com/a\"b", msg: msgMirrorPath},
		{name: "single quote", in: "https://m.example.com/a'b", msg: msgMirrorPath},
		{name: "backslash", in: `https://m.example.com/a\b`, msg: msgMirrorPath},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ValidateMirrorURL(tt.in)
			msg := ""
			if err != nil {
				msg = err.Error()
				if failure.CodeOf(err) != failure.Config {
					t.Errorf("code = %d, want %d", failure.CodeOf(err), failure.Config)
				}
			}
			if diff := cmp.Diff([2]string{tt.want, tt.msg}, [2]string{got, msg}); diff != "" {
				t.Errorf("ValidateMirrorURL(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func FuzzValidateMirrorURL(f *testing.F) {
	for _, s := range []string{"https://mirror.example.com/microsoft/", "HTTPS://M.example.com:8443/x", "hTtps://0",
		"https://[::1]:1/", "https://m:/", "https://u:p@m/", "https://m/?", "https://m/#", "https://m/a/../b",
		"https://m/%2e%2e", "https:m", "https://m/[x]", "https://m/\x00", "https://m/a%2Fb//", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got, err := ValidateMirrorURL(raw)
		if err != nil {
			if failure.CodeOf(err) != failure.Config {
				t.Fatalf("error not classified as 53: %v", err)
			}
			// The message is a fixed text, so nothing of the URL is in it.
			found := false
			for _, m := range mirrorURLMessages {
				found = found || err.Error() == m
			}
			if !found {
				t.Fatalf("message is not one of the fixed texts: %q", err.Error())
			}
			return
		}
		u, perr := url.Parse(got)
		if perr != nil || u.Scheme != "https" || u.Hostname() == "" || u.User != nil ||
			u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.HasSuffix(got, "/") || got != strings.ToLower(got[:len("https://")+len(u.Host)])+got[len("https://")+len(u.Host):] {
			t.Fatalf("ValidateMirrorURL(%q) accepted as %q, which is not a normalised https base URL", raw, got)
		}
		again, err := ValidateMirrorURL(got)
		if err != nil || again != got {
			t.Fatalf("not idempotent: %q -> %q -> %q, %v", raw, got, again, err)
		}
	})
}

func TestSourceDescribe(t *testing.T) {
	s, _ := SourceFor(cloud.ForEnvironment(""), "", nil)
	if got, want := s.Describe(), "https://packages.microsoft.com (signing key BC52 8686 B50D 79E3 39D3 721C EB3E 94AD BE12 29CF)"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	m, _ := SourceFor(cloud.ForEnvironment(""), "https://m.example.com/x", mirrorKey(t))
	if got, want := m.Describe(), "mirror https://m.example.com/x (signing keys C4DA C41F B568 AD34 7827 01D4 C45D B3E0 CDE9 CBA3, BC52 8686 B50D 79E3 39D3 721C EB3E 94AD BE12 29CF)"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
