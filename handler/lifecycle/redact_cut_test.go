package lifecycle

import (
	"strings"
	"testing"

	"github.com/Azure/aadsshlogin-extension-linux/distros/repo"
	"github.com/Azure/aadsshlogin-extension-linux/handler/config"
)

// minLeak is the shortest fragment of a secret piece the redaction must
// hide; shorter leftovers at a cut say nothing about the path.
const minLeak = 3

// secretPieces are the parts of a protected mirror URL that must never be
// shown, computed independently of the redactor: each path segment of at
// least minLeak characters that is not a word of the public
// packages.microsoft.com layout.
func secretPieces(t testing.TB, raw string) []string {
	t.Helper()
	var out []string
	path := raw[len("https://"):]
	if i := strings.IndexByte(path, '/'); i >= 0 {
		path = path[i:]
	} else {
		path = ""
	}
	for _, seg := range strings.Split(path, "/") {
		if len(seg) >= minLeak && !publicWords[strings.ToLower(seg)] {
			out = append(out, seg)
		}
	}
	return out
}

// leaks returns the fragments (minLeak characters or more) of the secret
// pieces that got shows although the public text (everything the message
// may show: its filler, the host, the layout below the mirror) lacks them.
func leaks(pieces []string, got, public string) []string {
	var out []string
	for _, p := range pieces {
		for n := minLeak; n <= len(p); n++ {
			for i := 0; i+n <= len(p); i++ {
				q := p[i : i+n]
				if strings.Contains(got, q) && !strings.Contains(public, q) {
					out = append(out, q)
				}
			}
		}
	}
	return out
}

// aptFailure is a package manager's line quoting a URL below the mirror.
func aptFailure(base string) string {
	return "E: Failed to fetch " + base + "/repos/microsoft-debian-bookworm-prod/pool/main/a/aadsshlogin/aadsshlogin_1.0.030000001_amd64.deb  404  Not Found [IP: 10.0.0.7 443]"
}

// checkCuts cuts line at every start offset (run.Result.Tail keeps the end
// of a package manager's output, prefixed with "…") and at every end offset,
// and fails on any leaked fragment.
func checkCuts(t testing.TB, r redactor, raw, base, line string) {
	t.Helper()
	pieces := secretPieces(t, raw)
	u := raw[:len("https://")+strings.IndexByte(raw[len("https://"):]+"/", '/')]
	public := strings.ReplaceAll(line, base, u) + " cannot install: … (exit 100) " + r.shown
	for i := 0; i <= len(line); i++ {
		for _, cut := range []string{line[i:], line[:i]} {
			msg := "cannot install: …" + cut + " (exit 100)"
			got := r.str(msg)
			if l := leaks(pieces, got, public); len(l) > 0 {
				t.Fatalf("cut at %d: %q shows %q of the protected path %v", i, got, l, pieces)
			}
		}
	}
}

// TestRedactorCutOffURL: when a message keeps only the tail of a package
// manager's output, the mirror URL is cut somewhere (…ror.corp.example/
// internal-path/…); no fragment of its secret path may get through.
func TestRedactorCutOffURL(t *testing.T) {
	for _, raw := range []string{
		"https://mirror.corp.example/internal-path/aad-2024",
		"https://Mirror.Corp.Example/internal-path/",
		"https://10.1.2.3:8443/tenant-7f3a/microsoft",
		"https://m.example/a/internal/b",
	} {
		t.Run(raw, func(t *testing.T) {
			base, err := repo.ValidateMirrorURL(raw)
			if err != nil {
				t.Fatal(err)
			}
			r := redactorFor(config.Config{Mirror: &config.Mirror{URL: raw, Secret: true}}, base)
			checkCuts(t, r, raw, base, aptFailure(base))
			// The public layout words stay readable.
			if got := r.str("configured /etc/apt/sources.list.d/microsoft-prod.list"); got != "configured /etc/apt/sources.list.d/microsoft-prod.list" {
				t.Errorf("a line without the URL changed: %q", got)
			}
		})
	}
}

// FuzzRedactorCutOffURL: for a random protected URL, no secret piece of it
// survives in any substring cut of a package manager's line quoting it.
func FuzzRedactorCutOffURL(f *testing.F) {
	f.Add("mirror.corp.example", "internal-path", "aad-2024", uint16(27), uint16(80))
	f.Add("m.x", "abc", "abd", uint16(0), uint16(0))
	f.Add("h.example", "repos-secret", "", uint16(30), uint16(31))
	f.Fuzz(func(t *testing.T, host, seg1, seg2 string, i, j uint16) {
		clean := func(s string) string {
			return strings.Map(func(r rune) rune {
				if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' || r == '~' {
					return r
				}
				return -1
			}, s)
		}
		host, seg1, seg2 = clean(host), clean(seg1), clean(seg2)
		if host == "" || len(host) > 40 || len(seg1)+len(seg2) > 60 || seg1 == "" {
			return
		}
		raw := "https://" + host + "/" + seg1
		if seg2 != "" {
			raw += "/" + seg2
		}
		base, err := repo.ValidateMirrorURL(raw)
		if err != nil || base != raw {
			return
		}
		r := redactorFor(config.Config{Mirror: &config.Mirror{URL: raw, Secret: true}}, base)
		line := aptFailure(base)
		a, b := int(i)%(len(line)+1), int(j)%(len(line)+1)
		if a > b {
			a, b = b, a
		}
		pieces := secretPieces(t, raw)
		public := strings.ReplaceAll(line, base, "https://"+host) + " cannot install: … (exit 100) " + r.shown
		msg := "cannot install: …" + line[a:b] + "… (exit 100)"
		if l := leaks(pieces, r.str(msg), public); len(l) > 0 {
			t.Fatalf("cut [%d:%d] of %q: %q shows %q of %v", a, b, line, r.str(msg), l, pieces)
		}
	})
}

// TestRedactorUserinfoAndQuery: the validator refuses credentials and
// queries in the mirror URL, but should one reach a message anyway (the raw
// protected setting), neither its userinfo nor its query shows, whole or cut.
func TestRedactorUserinfoAndQuery(t *testing.T) {
	raw := "https://deploy:s3cretpw@mirror.corp.example/internal-path?token=abc123xyz"
	r := redactorFor(config.Config{Mirror: &config.Mirror{URL: raw, Secret: true}}, "")
	for i := 0; i <= len(raw); i++ {
		got := r.str("failed: …" + raw[i:] + " (exit 100)")
		for _, secret := range []string{"s3cretpw", "cretpw", "abc123xyz", "123xyz", "deploy:", "internal-path", "nal-path", "token="} {
			if strings.Contains(got, secret) {
				t.Fatalf("cut at %d: %q shows %q", i, got, secret)
			}
		}
	}
}

// TestRedactorKeepsWordsReadable: a short secret piece does not eat the
// words that merely contain it, nor the host the status shows on purpose,
// but goes wherever it stands on its own (also in apt's list file names).
func TestRedactorKeepsWordsReadable(t *testing.T) {
	raw := "https://aad.corp.example/aad"
	r := redactorFor(config.Config{Mirror: &config.Mirror{URL: raw, Secret: true}}, raw)
	tests := []struct{ in, want string }{
		{"aadsshlogin 1.0.030000001 from https://aad.corp.example/aad/repos/x", "aadsshlogin 1.0.030000001 from https://aad.corp.example/…/repos/x"},
		{"…rp.example/aad/repos/microsoft-debian-bookworm-prod", "…rp.example/…/repos/microsoft-debian-bookworm-prod"},
		{"E: Could not open /var/lib/apt/lists/aad.corp.example_aad_repos_microsoft-debian-bookworm-prod_dists_bookworm_InRelease",
			"E: Could not open /var/lib/apt/lists/aad.corp.example_…_repos_microsoft-debian-bookworm-prod_dists_bookworm_InRelease"},
		// '_' separates the pieces in apt's list names, so a piece between
		// underscores goes even in a word of our own: safe over readable.
		{"pam_aad and aad_certhandler are configured", "pam_… and …_certhandler are configured"},
	}
	for _, tc := range tests {
		if got := r.str(tc.in); got != tc.want {
			t.Errorf("str(%q)\n  = %q\nwant %q", tc.in, got, tc.want)
		}
	}
}
