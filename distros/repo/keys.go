package repo

import (
	"bytes"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

//go:embed keys/*.asc
var keyFiles embed.FS

// pinnedKey is a key compiled into the handler and its expected fingerprint.
type pinnedKey struct {
	File        string
	Fingerprint string
}

// pinnedKeys are the Microsoft package-signing keys trusted for
// packages.microsoft.com and the air-gapped endpoints.
//
// HOOK microsoft-2025: to trust the 2025 key (repos created from 2025 on:
// debian/13, rhel/10, …), put its armored text in keys/microsoft-2025.asc,
// verify its fingerprint against a Microsoft source, and add
// {"keys/microsoft-2025.asc", "AA86F75E427A19DD33346403EE4D7792F748182B"}
// here; TestPinnedKeys then checks the file against the fingerprint.
var pinnedKeys = [...]pinnedKey{
	{File: "keys/microsoft.asc", Fingerprint: "BC528686B50D79E339D3721CEB3E94ADBE1229CF"},
}

// PinnedKeys returns copies of the armored keys compiled into the handler.
func PinnedKeys() [][]byte {
	out := make([][]byte, 0, len(pinnedKeys))
	for _, k := range pinnedKeys {
		data, err := keyFiles.ReadFile(k.File)
		if err != nil {
			panic("repo: embedded key missing: " + k.File) // build defect
		}
		out = append(out, data)
	}
	return out
}

// MaxKeySize caps an armored key accepted from settings.
const MaxKeySize = 64 << 10

// OpenPGP packet tags we care about (RFC 4880 §4.3).
const (
	tagSecretKey    = 5
	tagPublicKey    = 6
	tagSecretSubkey = 7
)

const (
	armorPublicBegin = "-----BEGIN PGP PUBLIC KEY BLOCK-----"
	armorPublicEnd   = "-----END PGP PUBLIC KEY BLOCK-----"
)

// Errors of the key parser (wrapped with detail).
var (
	ErrNotPublicKey = errors.New("not an OpenPGP public key block")
	ErrBadArmor     = errors.New("malformed OpenPGP armor")
)

// KeyFingerprint returns the v4 fingerprint (40 upper-case hex digits) of the
// first primary key in an armored public key block.
func KeyFingerprint(armored []byte) (string, error) {
	fps, err := KeyFingerprints(armored)
	if err != nil {
		return "", err
	}
	return fps[0], nil
}

// KeyFingerprints returns the fingerprints of every primary key in an
// armored public key block (at least one).
func KeyFingerprints(armored []byte) ([]string, error) {
	if len(armored) > MaxKeySize {
		return nil, fmt.Errorf("%w: %d bytes, more than the %d allowed", ErrNotPublicKey, len(armored), MaxKeySize)
	}
	bin, err := Dearmor(armored)
	if err != nil {
		return nil, err
	}
	return fingerprintsOf(bin)
}

// ValidateArmoredKey checks that data is one size-capped, CRC-correct
// armored OpenPGP public key block holding at least one v4 primary key and
// no secret key material. It returns the fingerprints.
func ValidateArmoredKey(data []byte) ([]string, error) { return KeyFingerprints(data) }

// Dearmor decodes an ASCII-armored public key block (RFC 4880 §6) with
// go-crypto's armor reader and checks its CRC24 when present. Text before
// the BEGIN line is ignored.
func Dearmor(armored []byte) ([]byte, error) {
	text := strings.ReplaceAll(string(armored), "\r\n", "\n")
	if strings.Contains(text, "PRIVATE KEY BLOCK-----") {
		return nil, fmt.Errorf("%w: it is a PRIVATE key; give the public key only (gpg --armor --export)", ErrNotPublicKey)
	}
	start := strings.Index(text, armorPublicBegin+"\n")
	if start < 0 {
		return nil, fmt.Errorf("%w: no %q line", ErrNotPublicKey, armorPublicBegin)
	}
	body, _, found := strings.Cut(text[start+len(armorPublicBegin)+1:], armorPublicEnd)
	if !found {
		return nil, fmt.Errorf("%w: no %q line", ErrBadArmor, armorPublicEnd)
	}
	// The armor reader wants the blank line that ends the header section;
	// keys pasted without headers and without that line are accepted too
	// (base64 never contains the ':' of a header).
	if first, _, _ := strings.Cut(body, "\n"); strings.TrimSpace(first) != "" && !strings.Contains(first, ":") {
		body = "\n" + body
	}
	block, err := armor.Decode(strings.NewReader(armorPublicBegin + "\n" + body + armorPublicEnd + "\n"))
	if err != nil {
		return nil, fmt.Errorf("%w: the header section does not end", ErrBadArmor)
	}
	bin, err := io.ReadAll(block.Body)
	if errors.Is(err, armor.ArmorCorrupt) {
		return nil, fmt.Errorf("%w: a line is longer than 96 characters; give the key as gpg --armor --export writes it", ErrBadArmor)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: base64: %v", ErrBadArmor, err)
	}
	if len(bin) == 0 {
		return nil, fmt.Errorf("%w: empty key block", ErrBadArmor)
	}
	if err := checkCRC(body, bin); err != nil {
		return nil, err
	}
	return bin, nil
}

// checkCRC compares the armor's "=XXXX" checksum line, if any, with the
// decoded data. go-crypto no longer checks it (RFC 9580 §6.1 makes it
// optional), but a mismatch means the key was damaged on its way into the
// settings, and it is better said now than by the package manager.
func checkCRC(body string, bin []byte) error {
	for l := range strings.Lines(body) {
		l = strings.TrimSpace(l)
		if len(l) != 5 || l[0] != '=' { // the line the armor reader stops at
			continue
		}
		want, err := base64.StdEncoding.DecodeString(l[1:])
		if err != nil || len(want) != 3 {
			return fmt.Errorf("%w: bad checksum line", ErrBadArmor)
		}
		if uint32(want[0])<<16|uint32(want[1])<<8|uint32(want[2]) != crc24(bin) {
			return fmt.Errorf("%w: CRC24 mismatch (the key was damaged in transit)", ErrBadArmor)
		}
		return nil
	}
	return nil
}

// crc24 is the OpenPGP armor checksum (RFC 4880 §6.1).
func crc24(data []byte) uint32 {
	const init, poly = 0xB704CE, 0x1864CFB
	crc := uint32(init)
	for _, b := range data {
		crc ^= uint32(b) << 16
		for range 8 {
			crc <<= 1
			if crc&0x1000000 != 0 {
				crc ^= poly
			}
		}
	}
	return crc & 0xFFFFFF
}

// fingerprintsOf walks the packets of a binary key block with go-crypto's
// packet reader: the block starts with a public key, holds no secret key
// material, and every primary key parses as a v4 key.
func fingerprintsOf(bin []byte) ([]string, error) {
	var fps []string
	rest := bytes.NewReader(bin)
	r := packet.NewOpaqueReader(rest)
	for first := true; ; first = false {
		header := bin[len(bin)-rest.Len():]
		op, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %s", ErrNotPublicKey, describe(err))
		}
		if !definiteLength(header) {
			return nil, fmt.Errorf("%w: a packet has no definite length", ErrNotPublicKey)
		}
		switch {
		case op.Tag == tagSecretKey || op.Tag == tagSecretSubkey:
			return nil, fmt.Errorf("%w: it contains secret key material; give the public key only", ErrNotPublicKey)
		case first && op.Tag != tagPublicKey:
			return nil, fmt.Errorf("%w: first packet has tag %d, want a public key (6)", ErrNotPublicKey, op.Tag)
		case op.Tag == tagPublicKey:
			fp, err := v4Fingerprint(op)
			if err != nil {
				return nil, err
			}
			fps = append(fps, fp)
		}
	}
	if len(fps) == 0 {
		return nil, fmt.Errorf("%w: no public key packet", ErrNotPublicKey)
	}
	return fps, nil
}

// definiteLength reports whether the packet header go-crypto just framed
// gives the body's length. go-crypto also frames partial and indeterminate
// lengths, which RFC 4880 §4.2.2.4 allows for data packets only, not in a
// key block (main's hand parser refused them too).
func definiteLength(header []byte) bool {
	if header[0]&0x40 == 0 { // old format: length type 3 is indeterminate
		return header[0]&3 != 3
	}
	return header[1] < 224 || header[1] == 255 // 224–254 start a partial length
}

// v4Fingerprint parses a public-key packet and returns its fingerprint.
func v4Fingerprint(op *packet.OpaquePacket) (string, error) {
	if len(op.Contents) > 0 && op.Contents[0] != 4 {
		return "", fmt.Errorf("%w: key version %d is not supported (only v4 keys)", ErrNotPublicKey, op.Contents[0])
	}
	p, err := op.Parse()
	if err != nil {
		return "", fmt.Errorf("%w: public key packet: %s", ErrNotPublicKey, describe(err))
	}
	pk, ok := p.(*packet.PublicKey)
	if !ok || pk.Version != 4 || !serializesTo(pk, op.Contents) {
		// go-crypto hashes the key it understood; bytes it skipped would
		// give GnuPG, apt and rpm another fingerprint than the one we show.
		return "", fmt.Errorf("%w: public key packet has data after the key", ErrNotPublicKey)
	}
	return strings.ToUpper(hex.EncodeToString(pk.Fingerprint)), nil
}

// serializesTo reports whether go-crypto writes pk back as exactly body.
func serializesTo(pk *packet.PublicKey, body []byte) bool {
	var b bytes.Buffer
	if pk.Serialize(&b) != nil {
		return false
	}
	op, err := packet.NewOpaqueReader(&b).Next()
	return err == nil && bytes.Equal(op.Contents, body)
}

// describe names the kind of a go-crypto error without its text, which
// may quote bytes of the key (an unknown curve OID, say).
func describe(err error) string {
	var unsupported pgperrors.UnsupportedError
	switch {
	case errors.As(err, &unsupported):
		return "it uses an algorithm or parameter that is not supported"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "it is truncated"
	default:
		return "it is malformed"
	}
}

// FormatFingerprint groups a fingerprint in blocks of four for messages.
func FormatFingerprint(fp string) string {
	var b bytes.Buffer
	for i := 0; i < len(fp); i += 4 {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(fp[i:min(i+4, len(fp))])
	}
	return b.String()
}
