package distros

import (
	"bytes"
	"crypto/sha1"
	"embed"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
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
			panic("distros: embedded key missing: " + k.File) // build defect
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

// Dearmor decodes an ASCII-armored public key block (RFC 4880 §6) and checks
// its CRC24 when present. Text before the BEGIN line is ignored.
func Dearmor(armored []byte) ([]byte, error) {
	text := strings.ReplaceAll(string(armored), "\r\n", "\n")
	if strings.Contains(text, "PRIVATE KEY BLOCK-----") {
		return nil, fmt.Errorf("%w: it is a PRIVATE key; give the public key only (gpg --armor --export)", ErrNotPublicKey)
	}
	start := strings.Index(text, armorPublicBegin+"\n")
	if start < 0 {
		return nil, fmt.Errorf("%w: no %q line", ErrNotPublicKey, armorPublicBegin)
	}
	rest := text[start+len(armorPublicBegin)+1:]
	end := strings.Index(rest, armorPublicEnd)
	if end < 0 {
		return nil, fmt.Errorf("%w: no %q line", ErrBadArmor, armorPublicEnd)
	}
	lines := strings.Split(rest[:end], "\n")
	// Armor headers run up to the first empty line; a block without
	// headers may start with the data right away.
	i := 0
	if hasArmorHeaders(lines) {
		for i < len(lines) && strings.TrimSpace(lines[i]) != "" {
			i++
		}
	}
	var body strings.Builder
	var crc string
	for _, l := range lines[i:] {
		l = strings.TrimSpace(l)
		switch {
		case l == "":
		case strings.HasPrefix(l, "="):
			crc = l[1:]
		case crc != "":
			return nil, fmt.Errorf("%w: data after the checksum line", ErrBadArmor)
		default:
			body.WriteString(l)
		}
	}
	bin, err := base64.StdEncoding.DecodeString(body.String())
	if err != nil {
		return nil, fmt.Errorf("%w: base64: %v", ErrBadArmor, err)
	}
	if len(bin) == 0 {
		return nil, fmt.Errorf("%w: empty key block", ErrBadArmor)
	}
	if crc != "" {
		want, err := base64.StdEncoding.DecodeString(crc)
		if err != nil || len(want) != 3 {
			return nil, fmt.Errorf("%w: bad checksum line %q", ErrBadArmor, crc)
		}
		got := crc24(bin)
		if uint32(want[0])<<16|uint32(want[1])<<8|uint32(want[2]) != got {
			return nil, fmt.Errorf("%w: CRC24 mismatch (the key was damaged in transit)", ErrBadArmor)
		}
	}
	return bin, nil
}

func hasArmorHeaders(lines []string) bool {
	for _, l := range lines {
		l = strings.TrimSpace(l)
		if l == "" {
			return true
		}
		if strings.Contains(l, ": ") {
			continue
		}
		return false
	}
	return false
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

// packet is one OpenPGP packet.
type packet struct {
	tag  int
	body []byte
}

// readPacket parses one packet header (old or new format, RFC 4880 §4.2).
// Partial body lengths are rejected: key material never uses them.
func readPacket(data []byte) (packet, []byte, error) {
	if len(data) < 2 {
		return packet{}, nil, errors.New("truncated packet header")
	}
	h := data[0]
	if h&0x80 == 0 {
		return packet{}, nil, fmt.Errorf("invalid packet header byte 0x%02x", h)
	}
	var tag, hdr int
	var n uint64
	if h&0x40 != 0 { // new format
		tag = int(h & 0x3f)
		switch l := data[1]; {
		case l < 192:
			n, hdr = uint64(l), 2
		case l < 224:
			if len(data) < 3 {
				return packet{}, nil, errors.New("truncated packet length")
			}
			n, hdr = (uint64(l)-192)<<8+uint64(data[2])+192, 3
		case l == 255:
			if len(data) < 6 {
				return packet{}, nil, errors.New("truncated packet length")
			}
			n, hdr = uint64(binary.BigEndian.Uint32(data[2:6])), 6
		default:
			return packet{}, nil, errors.New("partial body length in a key block")
		}
	} else { // old format
		tag = int(h>>2) & 0x0f
		switch h & 3 {
		case 0:
			n, hdr = uint64(data[1]), 2
		case 1:
			if len(data) < 3 {
				return packet{}, nil, errors.New("truncated packet length")
			}
			n, hdr = uint64(binary.BigEndian.Uint16(data[1:3])), 3
		case 2:
			if len(data) < 5 {
				return packet{}, nil, errors.New("truncated packet length")
			}
			n, hdr = uint64(binary.BigEndian.Uint32(data[1:5])), 5
		default:
			return packet{}, nil, errors.New("indeterminate packet length in a key block")
		}
	}
	if n > uint64(len(data)-hdr) {
		return packet{}, nil, errors.New("packet longer than the key block")
	}
	end := hdr + int(n)
	return packet{tag: tag, body: data[hdr:end]}, data[end:], nil
}

// fingerprintsOf walks the packets of a binary key block.
func fingerprintsOf(bin []byte) ([]string, error) {
	var fps []string
	first := true
	for len(bin) > 0 {
		p, rest, err := readPacket(bin)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrNotPublicKey, err)
		}
		bin = rest
		switch {
		case p.tag == tagSecretKey || p.tag == tagSecretSubkey:
			return nil, fmt.Errorf("%w: it contains secret key material; give the public key only", ErrNotPublicKey)
		case first && p.tag != tagPublicKey:
			return nil, fmt.Errorf("%w: first packet has tag %d, want a public key (6)", ErrNotPublicKey, p.tag)
		case p.tag == tagPublicKey:
			fp, err := v4Fingerprint(p.body)
			if err != nil {
				return nil, err
			}
			fps = append(fps, fp)
		}
		first = false
	}
	if len(fps) == 0 {
		return nil, fmt.Errorf("%w: no public key packet", ErrNotPublicKey)
	}
	return fps, nil
}

// v4Fingerprint is SHA-1 over 0x99, the 2-byte body length and the body of
// a version 4 public-key packet (RFC 4880 §12.2).
func v4Fingerprint(body []byte) (string, error) {
	if len(body) < 6 {
		return "", fmt.Errorf("%w: public key packet too short", ErrNotPublicKey)
	}
	if body[0] != 4 {
		return "", fmt.Errorf("%w: key version %d is not supported (only v4 keys)", ErrNotPublicKey, body[0])
	}
	if len(body) > 0xffff {
		return "", fmt.Errorf("%w: public key packet too long", ErrNotPublicKey)
	}
	h := sha1.New()
	h.Write([]byte{0x99, byte(len(body) >> 8), byte(len(body))})
	h.Write(body)
	return strings.ToUpper(hex.EncodeToString(h.Sum(nil))), nil
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
