package repo

import (
	"fmt"
	"net/netip"
	"net/url"
	"strings"
	"unicode"

	"github.com/Azure/aadsshlogin-extension-linux/handler/cloud"
	"github.com/Azure/aadsshlogin-extension-linux/handler/failure"
)

// Source is where packages come from: packages.microsoft.com, an
// air-gapped cloud's endpoint, or a private mirror from the settings.
type Source struct {
	// BaseURL replaces https://packages.microsoft.com; the layout below it
	// is the same as on packages.microsoft.com.
	BaseURL string
	// ArmoredKeys are the OpenPGP public keys trusted for this source.
	ArmoredKeys [][]byte
	// Mirror is true for a private mirror from the settings.
	Mirror bool
	// Fingerprints are the v4 fingerprints of ArmoredKeys, in order (for
	// the status message).
	Fingerprints []string
}

// maxMirrorURL caps the mirror URL length from settings.
const maxMirrorURL = 2048

// SourceFor chooses where packages come from. Without a mirror it is the
// cloud's package endpoint (packages.microsoft.com, or an air-gapped
// repodepot) with the pinned Microsoft keys. A private mirror needs an
// https URL without credentials, query or fragment, plus an armored public
// key; the mirror key is trusted for repository metadata and the pinned keys
// stay trusted for the Microsoft-signed packages. Invalid input is a
// failure.Config error that says what to fix; it never quotes the URL
// (see ValidateMirrorURL).
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
	base, err := ValidateMirrorURL(mirrorURL)
	if err != nil {
		return Source{}, err
	}
	// The messages below do not name the mirror either: its URL may come
	// from the protected settings.
	if len(mirrorKey) == 0 {
		return Source{}, failure.New(failure.Config,
			"the package mirror has no signing key; add the mirror's armored OpenPGP public key (gpg --armor --export <key id>) to the settings")
	}
	if _, err := ValidateArmoredKey(mirrorKey); err != nil {
		return Source{}, failure.Wrap(failure.Config, err,
			"the signing key given for the package mirror is unusable; give one ASCII-armored OpenPGP public key block (v4, at most %d KiB)", MaxKeySize>>10)
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

// Problems with a mirror URL. Each constant is the whole error message: it
// says what is wrong and what to do, and never quotes the URL, because a URL
// from the protected settings may name an internal address.
const (
	msgMirrorEmpty = "the package mirror URL is empty; give the https URL of a mirror of packages.microsoft.com " +
		"(for example https://mirror.example.com/microsoft), or remove the mirror setting to use packages.microsoft.com"
	msgMirrorTooLong = "the package mirror URL is longer than 2048 characters; " +
		"give the mirror's base URL, such as https://mirror.example.com/microsoft"
	msgMirrorChars = "the package mirror URL contains spaces or control characters; " +
		"remove them (write a space in the path as %20)"
	msgMirrorUnparsable = "the package mirror URL cannot be parsed; " +
		"give an https URL such as https://mirror.example.com/microsoft"
	msgMirrorScheme = "the package mirror URL must use https (https://host/path), so that packages and metadata " +
		"cannot be tampered with in transit; serve the mirror over https and give its https URL"
	msgMirrorNoHost = "the package mirror URL has no host name; " +
		"write it as https://host/path, such as https://mirror.example.com/microsoft"
	msgMirrorHostChars = "the package mirror URL's host is neither a DNS name (letters, digits, '-', '.', '_') " +
		"nor an IP address; give the host's DNS name (punycode xn--… for an international name) or its address"
	msgMirrorCredentials = "the package mirror URL contains credentials (user:password@), which would be written " +
		"into world-readable repository files; remove them and let the VM reach the mirror without them " +
		"(for example by network rules), or configure them in the package manager (apt auth.conf, .netrc)"
	msgMirrorQuery = "the package mirror URL contains a query (?…); " +
		"remove it: give the mirror's base URL, whose layout matches packages.microsoft.com"
	msgMirrorFragment = "the package mirror URL contains a fragment (#…); " +
		"remove it: give the mirror's base URL, whose layout matches packages.microsoft.com"
	msgMirrorPath = "the package mirror URL's path has '..' segments or characters not allowed in a repository URL " +
		"(quotes, brackets, backslash); give the mirror's plain base path, such as /microsoft"
)

// ValidateMirrorURL checks a private mirror URL from the settings and
// returns it normalised: scheme and host in lower case, no trailing slash.
// It is the one set of rules for the mirror URL: the settings parser and
// SourceFor both use it. Every error is a failure.Config whose message is a
// fixed text (it never quotes the URL).
func ValidateMirrorURL(raw string) (string, error) {
	bad := func(msg string) error { return failure.New(failure.Config, "%s", msg) }
	if raw == "" {
		return "", bad(msgMirrorEmpty)
	}
	if len(raw) > maxMirrorURL {
		return "", bad(msgMirrorTooLong)
	}
	for _, r := range raw {
		if unicode.IsControl(r) || unicode.IsSpace(r) || r == unicode.ReplacementChar {
			return "", bad(msgMirrorChars)
		}
	}
	u, err := url.Parse(raw)
	if err != nil {
		// err quotes the URL: do not wrap it.
		return "", bad(msgMirrorUnparsable)
	}
	if u.User != nil {
		return "", bad(msgMirrorCredentials)
	}
	if !strings.EqualFold(u.Scheme, "https") {
		return "", bad(msgMirrorScheme)
	}
	if u.Host == "" || u.Hostname() == "" || u.Opaque != "" {
		return "", bad(msgMirrorNoHost)
	}
	if !validMirrorHost(u.Host, u.Hostname()) {
		return "", bad(msgMirrorHostChars)
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return "", bad(msgMirrorFragment)
	}
	if u.RawQuery != "" || u.ForceQuery || strings.Contains(raw, "?") {
		return "", bad(msgMirrorQuery)
	}
	if strings.ContainsAny(u.Path, "[]\"'\\") || strings.Contains(u.Path, "/../") || strings.HasSuffix(u.Path, "/..") {
		return "", bad(msgMirrorPath)
	}
	u.Scheme = "https"
	u.Host = strings.TrimSuffix(strings.ToLower(u.Host), ":") // "host:" has no port
	return strings.TrimRight(u.String(), "/"), nil
}

// validMirrorHost accepts a DNS name (letters, digits, '-', '.', '_') or an
// IP address; an IPv6 address must be in brackets and have no zone.
func validMirrorHost(host, name string) bool {
	if strings.HasPrefix(host, "[") {
		a, err := netip.ParseAddr(name)
		return err == nil && a.Is6() && a.Zone() == ""
	}
	for _, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_'
		if !ok {
			return false
		}
	}
	return true
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
