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
// portal and ARM). The URL and key rules are distros' (ValidateMirrorURL,
// ValidateArmoredKey), the same ones the installer applies, so a bad mirror
// is reported here, while the settings are parsed, with exit 53. Unknown
// keys are rejected, so a typo is reported instead of silently ignored.
package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/url"
	"strings"

	"github.com/Azure/aadsshlogin-extension-linux/distros/repo"
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
	// URL is the normalised base URL (repo.ValidateMirrorURL).
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
	base, err := repo.ValidateMirrorURL(m.URL)
	if err != nil {
		// distros' messages never quote the URL, so they are safe to show
		// even for a protected one.
		if m.Secret {
			return Config{}, failure.Wrap(failure.Config, err, "settings mirror.url (protected) is invalid")
		}
		return Config{}, failure.Wrap(failure.Config, err, "settings mirror.url is invalid")
	}
	m.URL = base
	if strings.TrimSpace(m.PublicKey) == "" {
		return Config{}, failure.New(failure.Config,
			"settings mirror.publicKey is missing: a private mirror needs the armored OpenPGP public key that signs it (gpg --armor --export <key id>)")
	}
	if _, err := repo.ValidateArmoredKey([]byte(m.PublicKey)); err != nil {
		return Config{}, failure.Wrap(failure.Config, err,
			"settings mirror.publicKey is unusable; give the mirror's signing key as one ASCII-armored OpenPGP public key block (gpg --armor --export <key id>; v4, at most %d KiB)", repo.MaxKeySize>>10)
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
