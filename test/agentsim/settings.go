package agentsim

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Settings is the extension configuration of one goal state.
type Settings struct {
	// Seq is the sequence number (ConfigSequenceNumber, <seq>.settings).
	Seq int
	// Public is the ARM "settings" object; nil is written as null.
	Public json.RawMessage
	// Protected is the ARM "protectedSettings" object in clear text; nil
	// means none (protectedSettings and the thumbprint are written as null).
	Protected json.RawMessage
	// File, when not nil, is written verbatim as <seq>.settings instead of
	// rendering Public and Protected: a goal state replayed from disk.
	File []byte
}

// seqOf returns the sequence number of s; a nil Settings (no settings at
// all) is sequence 0, matching the empty 0.settings.
func seqOf(s *Settings) int {
	if s == nil {
		return 0
	}
	return s.Seq
}

// certificate is the goal-state certificate the agent stores in the lib dir.
type certificate struct {
	Thumbprint string
	CrtPath    string
	PrvPath    string
}

// ensureCert creates the simulator's certificate once: a self-signed RSA
// certificate saved as <lib>/<THUMB>.crt and <lib>/<THUMB>.prv (PEM),
// THUMB being the uppercase hex SHA-1 of the DER certificate.
func (s *Simulator) ensureCert() (certificate, error) {
	if s.cert.Thumbprint != "" {
		return s.cert, nil
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return certificate{}, fmt.Errorf("generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		return certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "Windows Azure CRP Certificate Generator"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageKeyEncipherment | x509.KeyUsageDataEncipherment,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return certificate{}, fmt.Errorf("create certificate: %w", err)
	}
	sum := sha1.Sum(der)
	thumb := strings.ToUpper(hex.EncodeToString(sum[:]))
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return certificate{}, err
	}
	c := certificate{
		Thumbprint: thumb,
		CrtPath:    filepath.Join(s.opt.LibDir, thumb+".crt"),
		PrvPath:    filepath.Join(s.opt.LibDir, thumb+".prv"),
	}
	if err := os.MkdirAll(s.opt.LibDir, 0o755); err != nil {
		return certificate{}, err
	}
	if err := os.WriteFile(c.CrtPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return certificate{}, err
	}
	if err := os.WriteFile(c.PrvPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return certificate{}, err
	}
	s.cert = c
	return c, nil
}

// encrypt returns base64(DER CMS EnvelopedData) of plain for the
// simulator's certificate, made with the openssl command line.
func (s *Simulator) encrypt(ctx context.Context, plain []byte) (string, certificate, error) {
	c, err := s.ensureCert()
	if err != nil {
		return "", c, err
	}
	cmd := exec.CommandContext(ctx, s.opt.OpenSSL, "cms", "-encrypt", "-binary", "-outform", "DER", "-aes256", c.CrtPath)
	cmd.Stdin = bytes.NewReader(plain)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", c, fmt.Errorf("openssl cms -encrypt: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return base64.StdEncoding.EncodeToString(stdout.Bytes()), c, nil
}

// settingsFile renders <seq>.settings as the agent does; nil settings give
// an empty file (the agent's "no settings" case).
func (s *Simulator) settingsFile(ctx context.Context, set *Settings) ([]byte, error) {
	if set == nil {
		return []byte{}, nil
	}
	if set.File != nil {
		return set.File, nil
	}
	pub := json.RawMessage("null")
	if len(set.Public) > 0 {
		if !json.Valid(set.Public) {
			return nil, fmt.Errorf("public settings are not valid JSON")
		}
		pub = set.Public
	}
	prot, thumb := json.RawMessage("null"), json.RawMessage("null")
	if len(set.Protected) > 0 {
		if !json.Valid(set.Protected) {
			return nil, fmt.Errorf("protected settings are not valid JSON")
		}
		// The agent hands over what CRP encrypted: the JSON text of the
		// protected settings object.
		var compact bytes.Buffer
		if err := json.Compact(&compact, set.Protected); err != nil {
			return nil, err
		}
		b64, c, err := s.encrypt(ctx, compact.Bytes())
		if err != nil {
			return nil, err
		}
		prot, _ = json.Marshal(b64)
		thumb, _ = json.Marshal(c.Thumbprint)
	}
	doc := fmt.Sprintf(`{"runtimeSettings":[{"handlerSettings":{"publicSettings":%s,"protectedSettings":%s,"protectedSettingsCertThumbprint":%s}}]}`,
		pub, prot, thumb)
	return pyDumps([]byte(doc))
}

// writeSettings is the agent's update_settings().
func (s *Simulator) writeSettings(ctx context.Context, in instance, set *Settings) error {
	data, err := s.settingsFile(ctx, set)
	if err != nil {
		return fmt.Errorf("settings: %w", err)
	}
	return os.WriteFile(filepath.Join(in.configDir(), fmt.Sprintf("%d.settings", seqOf(set))), data, 0o644)
}
