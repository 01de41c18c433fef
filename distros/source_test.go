package distros

import (
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
		{"http", "http://mirror.example.com/pmc", key, "must be https", ""},
		{"ftp", "ftp://mirror.example.com", key, "must be https", ""},
		{"file", "file:///etc/passwd", key, "must be https", ""},
		{"no scheme", "mirror.example.com/pmc", key, "must be https", ""},
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
		{"missing key", "https://mirror.example.com/", nil, "no signing key", ""},
		{"key without url", "", key, "without a mirror URL", ""},
		{"garbage key", "https://mirror.example.com/", []byte("not a key"), "unusable", ""},
		{"private key", "https://mirror.example.com/", armor("PRIVATE KEY BLOCK", []byte{0xC5, 1, 4}, ""), "PRIVATE", ""},
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
