package distros

import (
	"fmt"
	"net/url"
	"strings"
	"unicode"

	"github.com/Azure/aadsshlogin-extension-linux/handler/cloud"
	"github.com/Azure/aadsshlogin-extension-linux/handler/failure"
)

// maxMirrorURL caps the mirror URL length from settings.
const maxMirrorURL = 2048

// SourceFor chooses where packages come from. Without a mirror it is the
// cloud's package endpoint (packages.microsoft.com, or an air-gapped
// repodepot) with the pinned Microsoft keys. A private mirror needs an
// https URL without credentials, query or fragment, plus an armored public
// key; the mirror key is trusted for repository metadata and the pinned keys
// stay trusted for the Microsoft-signed packages. Invalid input is a
// failure.Config error that says what to fix (the URL is never echoed
// with credentials).
func SourceFor(endpoints cloud.Endpoints, mirrorURL string, mirrorKey []byte) (Source, error) {
	pinned := PinnedKeys()
	if mirrorURL == "" && len(mirrorKey) == 0 {
		base := strings.TrimRight(endpoints.Packages, "/")
		if base == "" {
			base = cloud.DefaultPackages
		}
		return newSource(base, pinned, false)
	}
	if mirrorURL == "" {
		return Source{}, failure.New(failure.Config,
			"a mirror key was given without a mirror URL; set both (an https URL and its armored public key) or neither")
	}
	base, err := validateMirrorURL(mirrorURL)
	if err != nil {
		return Source{}, err
	}
	if len(mirrorKey) == 0 {
		return Source{}, failure.New(failure.Config,
			"the package mirror %s has no signing key; add the mirror's armored OpenPGP public key (gpg --armor --export <key id>) to the settings", base)
	}
	if _, err := ValidateArmoredKey(mirrorKey); err != nil {
		return Source{}, failure.Wrap(failure.Config, err,
			"the signing key given for the package mirror %s is unusable; give one ASCII-armored OpenPGP public key block (v4, at most %d KiB)", base, MaxKeySize>>10)
	}
	return newSource(base, append([][]byte{append([]byte(nil), mirrorKey...)}, pinned...), true)
}

// newSource fills in the fingerprints, dropping keys given twice.
func newSource(base string, keys [][]byte, mirror bool) (Source, error) {
	s := Source{BaseURL: base, Mirror: mirror}
	seen := map[string]bool{}
	for _, k := range keys {
		fp, err := KeyFingerprint(k)
		if err != nil {
			return Source{}, failure.Wrap(failure.Internal, err, "a trusted key cannot be parsed")
		}
		if seen[fp] {
			continue
		}
		seen[fp] = true
		s.ArmoredKeys = append(s.ArmoredKeys, k)
		s.Fingerprints = append(s.Fingerprints, fp)
	}
	return s, nil
}

// validateMirrorURL returns the normalised base URL (no trailing slash).
func validateMirrorURL(raw string) (string, error) {
	bad := func(what string) error {
		return failure.New(failure.Config,
			"the package mirror URL is invalid: %s; give an https URL such as https://mirror.example.com/microsoft whose layout matches packages.microsoft.com", what)
	}
	if len(raw) > maxMirrorURL {
		return "", bad("longer than 2048 characters")
	}
	for _, r := range raw {
		if unicode.IsControl(r) || unicode.IsSpace(r) || r == unicode.ReplacementChar {
			return "", bad("it contains spaces or control characters")
		}
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", bad("it cannot be parsed")
	}
	if u.User != nil {
		return "", bad("it contains credentials (user:password@); configure credentials in the package manager (apt auth.conf, .netrc) instead")
	}
	if !strings.EqualFold(u.Scheme, "https") {
		return "", bad("the scheme must be https")
	}
	if u.Host == "" || u.Hostname() == "" || u.Opaque != "" {
		return "", bad("it has no host name")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return "", bad("it contains a fragment (#…)")
	}
	if u.RawQuery != "" || u.ForceQuery {
		return "", bad("it contains a query (?…)")
	}
	if strings.ContainsAny(u.Path, "[]\"'\\") || strings.Contains(u.Path, "/../") || strings.HasSuffix(u.Path, "/..") {
		return "", bad("the path contains characters not allowed in a repository URL")
	}
	u.Scheme = "https"
	u.Host = strings.ToLower(u.Host)
	return strings.TrimRight(u.String(), "/"), nil
}

// Describe names the source and its trusted keys for a status message, e.g.
// "https://packages.microsoft.com (signing key BC52 8686 … 29CF)".
func (s Source) Describe() string {
	fps := make([]string, len(s.Fingerprints))
	for i, fp := range s.Fingerprints {
		fps[i] = FormatFingerprint(fp)
	}
	kind := ""
	if s.Mirror {
		kind = "mirror "
	}
	noun := "signing key"
	if len(fps) > 1 {
		noun = "signing keys"
	}
	return fmt.Sprintf("%s%s (%s %s)", kind, s.BaseURL, noun, strings.Join(fps, ", "))
}
