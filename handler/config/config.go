// Package config parses and validates the extension's settings.
//
// AADSSHLoginForLinux needs no settings: deployments, templates and Azure
// Policy send none. The one optional setting is a private package mirror:
//
//	public:    {"mirror": {"url": "https://mirror.example.com/microsoft", "publicKey": "-----BEGIN PGP PUBLIC KEY BLOCK-----..."}}
//	protected: {"mirror": {"url": "https://mirror.internal.example/microsoft"}}
//
// A URL in the protected settings takes precedence over the public one and
// is never logged or shown in full (it keeps an internal address out of the
// portal and ARM). Credentials in the URL are refused: they would end up in
// world-readable repository files. Unknown keys are rejected, so a typo is
// reported instead of silently ignored.
package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/Azure/aadsshlogin-extension-linux/handler/agent"
	"github.com/Azure/aadsshlogin-extension-linux/handler/failure"
)

// Config is the validated configuration.
type Config struct {
	// Mirror is nil unless a private mirror is configured.
	Mirror *Mirror
}

// Mirror is a private repository that mirrors packages.microsoft.com's layout.
type Mirror struct {
	URL string
	// PublicKey is the armored OpenPGP public key that signs the mirror.
	PublicKey string
	// Secret is true when URL came from the protected settings.
	Secret bool
}

// Redacted is the URL without credentials, safe for logs and status.
func (m Mirror) Redacted() string {
	u, err := url.Parse(m.URL)
	if err != nil {
		return "<unparsable URL>"
	}
	u.User = nil
	u.RawQuery = ""
	if m.Secret {
		return u.Scheme + "://" + u.Host + "/… (from protected settings)"
	}
	return u.String()
}

type mirrorJSON struct {
	URL       string `json:"url"`
	PublicKey string `json:"publicKey"`
}

type publicJSON struct {
	Mirror *mirrorJSON `json:"mirror"`
}

type protectedJSON struct {
	Mirror *struct {
		URL string `json:"url"`
	} `json:"mirror"`
}

// maxKeySize bounds an armored key in the settings.
const maxKeySize = 64 << 10

// Parse validates settings; every problem is a failure.Config (exit 53).
func Parse(s agent.Settings) (Config, error) {
	var pub publicJSON
	if err := strictDecode(s.Public, &pub); err != nil {
		return Config{}, failure.Wrap(failure.Config, err,
			`the public settings are invalid (accepted: {"mirror": {"url": "https://…", "publicKey": "-----BEGIN PGP PUBLIC KEY BLOCK-----…"}} or no settings at all)`)
	}
	var prot protectedJSON
	if err := strictDecode(s.Protected, &prot); err != nil {
		// Never echo protected content: report only the structural problem.
		return Config{}, failure.New(failure.Config,
			`the protected settings are invalid (accepted: {"mirror": {"url": "https://…"}}); check their keys and JSON types`)
	}
	var c Config
	if pub.Mirror == nil && prot.Mirror == nil {
		return c, nil
	}
	m := &Mirror{}
	if pub.Mirror != nil {
		m.URL, m.PublicKey = strings.TrimSpace(pub.Mirror.URL), pub.Mirror.PublicKey
	}
	if prot.Mirror != nil && strings.TrimSpace(prot.Mirror.URL) != "" {
		m.URL, m.Secret = strings.TrimSpace(prot.Mirror.URL), true
	}
	if err := checkURL(m.URL); err != nil {
		if m.Secret {
			// The reason never quotes the URL, so it is safe to show.
			return Config{}, failure.New(failure.Config, "settings mirror.url (protected) is invalid: %s", err)
		}
		return Config{}, failure.Wrap(failure.Config, err, "settings mirror.url is invalid")
	}
	if strings.TrimSpace(m.PublicKey) == "" {
		return Config{}, failure.New(failure.Config,
			"settings mirror.publicKey is missing: a private mirror needs the armored OpenPGP public key that signs it")
	}
	if len(m.PublicKey) > maxKeySize || !strings.Contains(m.PublicKey, "-----BEGIN PGP PUBLIC KEY BLOCK-----") {
		return Config{}, failure.New(failure.Config,
			"settings mirror.publicKey must be an ASCII-armored OpenPGP public key block (at most 64 KiB)")
	}
	c.Mirror = m
	return c, nil
}

func strictDecode(raw json.RawMessage, v any) error {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the JSON object")
	}
	return nil
}

var errURL = errors.New("invalid URL")

func checkURL(raw string) error {
	bad := func(why string) error { return fmt.Errorf("%w: %s", errURL, why) }
	if raw == "" {
		return bad("it is empty")
	}
	if len(raw) > 2048 {
		return bad("it is longer than 2048 characters")
	}
	for _, r := range raw {
		if r < 0x21 || r == 0x7f {
			return bad("it contains spaces or control characters")
		}
	}
	u, err := url.Parse(raw)
	if err != nil {
		return bad("it does not parse")
	}
	if u.Scheme != "https" {
		return bad("it must use https:// so packages and metadata cannot be tampered with in transit")
	}
	if u.Host == "" || u.Hostname() == "" {
		return bad("it has no host")
	}
	if u.User != nil {
		return bad("credentials (user:password@) are not supported, because they would be written into world-readable repository files; allow the VM to reach the mirror without credentials (for example by network rules)")
	}
	if u.Fragment != "" || u.RawQuery != "" {
		return bad("it must not have a query or fragment")
	}
	return nil
}
