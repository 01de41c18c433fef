package agent

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/Azure/aadsshlogin-extension-linux/handler/run"
)

// maxSettingsSize bounds a settings file; the agent's are a few KiB.
const maxSettingsSize = 1 << 20

// RawSettings is one parsed <seq>.settings file before decryption.
type RawSettings struct {
	// Public is the publicSettings JSON object, nil when absent or null.
	Public json.RawMessage
	// ProtectedBlob is the base64 CMS blob, "" when absent or null.
	ProtectedBlob string
	Thumbprint    string
}

// Settings are the handler's settings for one sequence number.
type Settings struct {
	Public json.RawMessage
	// Protected is the decrypted protectedSettings object; it must never be
	// logged. Use String/GoString (which redact it) when printing Settings.
	Protected json.RawMessage
}

// String redacts the protected settings.
func (s Settings) String() string {
	return fmt.Sprintf("{public:%s protected:<%d bytes redacted>}", compact(s.Public), len(s.Protected))
}

// GoString redacts the protected settings for %#v as well.
func (s Settings) GoString() string { return s.String() }

func compact(b json.RawMessage) string {
	if len(b) == 0 {
		return "null"
	}
	var buf bytes.Buffer
	if json.Compact(&buf, b) != nil {
		return "<invalid>"
	}
	return buf.String()
}

// isThumbprint tells whether s is a certificate thumbprint: 40 (SHA-1) or
// 64 (SHA-256) hexadecimal digits. A loop rather than a package-level
// regexp: compiling one ran on every handler start (about 0.1 ms and 200
// allocations, a twentieth of a no-op enable).
func isThumbprint(s string) bool {
	if len(s) != 40 && len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// ParseSettings parses settings file content. An empty (or blank) file means
// "no settings", as the agent writes when the extension has none.
func ParseSettings(data []byte) (RawSettings, error) {
	data = bytes.TrimSpace(trimBOM(data))
	if len(data) == 0 {
		return RawSettings{}, nil
	}
	var doc struct {
		RuntimeSettings []struct {
			HandlerSettings *struct {
				PublicSettings    json.RawMessage `json:"publicSettings"`
				ProtectedSettings json.RawMessage `json:"protectedSettings"`
				Thumbprint        *string         `json:"protectedSettingsCertThumbprint"`
			} `json:"handlerSettings"`
		} `json:"runtimeSettings"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return RawSettings{}, fmt.Errorf("settings file is not valid JSON: %w", err)
	}
	if doc.RuntimeSettings == nil {
		return RawSettings{}, errors.New("settings file has no runtimeSettings array")
	}
	if len(doc.RuntimeSettings) != 1 {
		return RawSettings{}, fmt.Errorf("settings file has %d runtimeSettings, want exactly 1", len(doc.RuntimeSettings))
	}
	hs := doc.RuntimeSettings[0].HandlerSettings
	if hs == nil {
		return RawSettings{}, nil
	}
	var rs RawSettings
	if p := bytes.TrimSpace(hs.PublicSettings); len(p) > 0 && string(p) != "null" {
		if p[0] != '{' {
			return RawSettings{}, errors.New("publicSettings is not a JSON object")
		}
		rs.Public = p
	}
	if p := bytes.TrimSpace(hs.ProtectedSettings); len(p) > 0 && string(p) != "null" {
		if err := json.Unmarshal(p, &rs.ProtectedBlob); err != nil {
			return RawSettings{}, errors.New("protectedSettings is not a string")
		}
		rs.ProtectedBlob = strings.TrimSpace(rs.ProtectedBlob)
	}
	if hs.Thumbprint != nil {
		rs.Thumbprint = strings.TrimSpace(*hs.Thumbprint)
	}
	if rs.ProtectedBlob != "" {
		if rs.Thumbprint == "" {
			return RawSettings{}, errors.New("protectedSettings present but protectedSettingsCertThumbprint is empty")
		}
		if !isThumbprint(rs.Thumbprint) {
			return RawSettings{}, fmt.Errorf("protectedSettingsCertThumbprint %q is not a hexadecimal certificate thumbprint", truncate(rs.Thumbprint, 80))
		}
	}
	return rs, nil
}

// Decrypter decrypts a DER CMS/PKCS#7 enveloped-data blob with a certificate
// and private key on disk.
type Decrypter interface {
	Decrypt(ctx context.Context, der []byte, certFile, keyFile string) ([]byte, error)
}

// OpenSSL decrypts with the openssl command, as Microsoft's handlers do:
// `openssl cms` first (FIPS-friendly), `openssl smime` as a fallback for
// old openssl builds. Every Azure Linux image ships openssl.
type OpenSSL struct{ Runner run.Runner }

// Decrypt implements Decrypter. The plaintext travels only through the
// child's stdout; errors carry openssl's stderr, never the plaintext.
func (o OpenSSL) Decrypt(ctx context.Context, der []byte, certFile, keyFile string) ([]byte, error) {
	var errs []error
	for _, sub := range []string{"cms", "smime"} {
		res, err := o.Runner.Run(ctx, run.Cmd{
			Path:  "openssl",
			Args:  []string{sub, "-inform", "DER", "-decrypt", "-recip", certFile, "-inkey", keyFile},
			Stdin: der,
		})
		if err == nil {
			return res.Stdout, nil
		}
		errs = append(errs, fmt.Errorf("openssl %s: %s", sub, truncate(strings.TrimSpace(string(res.Stderr)), 300)))
		if errors.Is(err, run.ErrNotFound) {
			break
		}
	}
	return nil, errors.Join(errs...)
}

// ReadSettings reads and decrypts <configFolder>/<seq>.settings. The
// certificate pair <THUMBPRINT>.crt/.prv lives two folders above configFolder
// (the agent's lib dir).
func ReadSettings(ctx context.Context, env Environment, seq int, dec Decrypter) (Settings, error) {
	path := seqFile(env.ConfigFolder, seq, ".settings")
	data, err := readCapped(path, maxSettingsSize)
	if err != nil {
		return Settings{}, fmt.Errorf("read settings: %w", err)
	}
	raw, err := ParseSettings(data)
	if err != nil {
		return Settings{}, fmt.Errorf("%s: %w", path, err)
	}
	s := Settings{Public: raw.Public}
	if raw.ProtectedBlob == "" {
		return s, nil
	}
	der, err := base64.StdEncoding.DecodeString(raw.ProtectedBlob)
	if err != nil {
		return Settings{}, fmt.Errorf("%s: protectedSettings is not base64: %w", path, err)
	}
	libDir := filepath.Dir(filepath.Dir(filepath.Clean(env.ConfigFolder)))
	thumb := strings.ToUpper(raw.Thumbprint)
	crt, prv := filepath.Join(libDir, thumb+".crt"), filepath.Join(libDir, thumb+".prv")
	plain, err := dec.Decrypt(ctx, der, crt, prv)
	if err != nil {
		return Settings{}, fmt.Errorf("decrypt protectedSettings with certificate %s: %w", thumb, err)
	}
	plain = bytes.TrimSpace(plain)
	if len(plain) == 0 || string(plain) == "null" {
		return s, nil
	}
	if plain[0] != '{' || !json.Valid(plain) {
		return Settings{}, errors.New("decrypted protectedSettings is not a JSON object")
	}
	s.Protected = plain
	return s, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
