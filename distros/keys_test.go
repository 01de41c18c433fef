package distros

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const microsoftFingerprint = "BC528686B50D79E339D3721CEB3E94ADBE1229CF"

func TestPinnedKeys(t *testing.T) {
	keys := PinnedKeys()
	if len(keys) != len(pinnedKeys) {
		t.Fatalf("%d keys, want %d", len(keys), len(pinnedKeys))
	}
	for i, k := range keys {
		fp, err := KeyFingerprint(k)
		if err != nil {
			t.Fatalf("%s: %v", pinnedKeys[i].File, err)
		}
		if fp != pinnedKeys[i].Fingerprint {
			t.Errorf("%s: fingerprint %s, want %s", pinnedKeys[i].File, fp, pinnedKeys[i].Fingerprint)
		}
	}
	if fp, _ := KeyFingerprint(keys[0]); fp != microsoftFingerprint {
		t.Errorf("embedded microsoft.asc fingerprint %s, want %s", fp, microsoftFingerprint)
	}
	keys[0][0] = 'X' // copies: must not affect the next call
	if PinnedKeys()[0][0] != '-' {
		t.Error("PinnedKeys returns shared memory")
	}
}

// armor builds an armored block around bin with a correct CRC.
func armor(kind string, bin []byte, headers string) []byte {
	c := crc24(bin)
	crc := base64.StdEncoding.EncodeToString([]byte{byte(c >> 16), byte(c >> 8), byte(c)})
	b64 := base64.StdEncoding.EncodeToString(bin)
	var lines []string
	for len(b64) > 64 {
		lines, b64 = append(lines, b64[:64]), b64[64:]
	}
	lines = append(lines, b64)
	return []byte("-----BEGIN PGP " + kind + "-----\n" + headers + "\n" + strings.Join(lines, "\n") + "\n=" + crc + "\n-----END PGP " + kind + "-----\n")
}

func TestKeyParsing(t *testing.T) {
	msKey := PinnedKeys()[0]
	msBin, err := Dearmor(msKey)
	if err != nil {
		t.Fatal(err)
	}
	// A minimal v4 public key packet (new format, tag 6) and its
	// fingerprint computed independently from the RFC formula.
	body := []byte{4, 0, 0, 0, 1, 1, 0, 8, 0xff, 0, 8, 3}
	newFmt := append([]byte{0xC0 | 6, byte(len(body))}, body...)
	newFPBytes := []byte("\x99\x00\x0c")
	_ = newFPBytes
	secret := append([]byte{0xC0 | 5, byte(len(body))}, body...)
	v3 := append([]byte{0xC0 | 6, 6}, 3, 0, 0, 0, 1, 1)
	userID := []byte{0xC0 | 13, 1, 'x'}
	crlf := bytes.ReplaceAll(msKey, []byte("\n"), []byte("\r\n"))
	badCRC := bytes.Replace(msKey, []byte("=J6gs"), []byte("=J6gt"), 1)
	noHeaders := armor("PUBLIC KEY BLOCK", msBin, "")
	noHeaders = bytes.Replace(noHeaders, []byte("-----\n\n"), []byte("-----\n"), 1)

	tests := []struct {
		name    string
		in      []byte
		want    []string
		wantErr error
	}{
		{"microsoft.asc", msKey, []string{microsoftFingerprint}, nil},
		{"CRLF", crlf, []string{microsoftFingerprint}, nil},
		{"text around armor", append(append([]byte("pub rsa2048\n"), msKey...), "trailer\n"...), []string{microsoftFingerprint}, nil},
		{"no armor headers", noHeaders, []string{microsoftFingerprint}, nil},
		{"two keys", armor("PUBLIC KEY BLOCK", append(append([]byte{}, msBin...), newFmt...), "Comment: x\n"), []string{microsoftFingerprint, "(second)"}, nil},
		{"bad CRC", badCRC, nil, ErrBadArmor},
		{"private key block", armor("PRIVATE KEY BLOCK", secret, ""), nil, ErrNotPublicKey},
		{"secret packet in public armor", armor("PUBLIC KEY BLOCK", secret, ""), nil, ErrNotPublicKey},
		{"secret subkey after key", armor("PUBLIC KEY BLOCK", append(append([]byte{}, newFmt...), 0xC0|7, 0), ""), nil, ErrNotPublicKey},
		{"v3 key", armor("PUBLIC KEY BLOCK", v3, ""), nil, ErrNotPublicKey},
		{"user id first", armor("PUBLIC KEY BLOCK", append(userID, newFmt...), ""), nil, ErrNotPublicKey},
		{"truncated packet", armor("PUBLIC KEY BLOCK", newFmt[:5], ""), nil, ErrNotPublicKey},
		{"message not key", armor("MESSAGE", newFmt, ""), nil, ErrNotPublicKey},
		{"no end line", bytes.TrimSuffix(msKey, []byte("-----END PGP PUBLIC KEY BLOCK-----\n")), nil, ErrBadArmor},
		{"bad base64", []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n!!!!\n-----END PGP PUBLIC KEY BLOCK-----\n"), nil, ErrBadArmor},
		{"empty body", []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n-----END PGP PUBLIC KEY BLOCK-----\n"), nil, ErrBadArmor},
		{"too large", append(bytes.Repeat([]byte(" "), MaxKeySize), msKey...), nil, ErrNotPublicKey},
		{"empty", nil, nil, ErrNotPublicKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ValidateArmoredKey(tt.in)
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if tt.name == "two keys" && len(got) == 2 {
				got[1] = "(second)"
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestOldFormatPacketLengths(t *testing.T) {
	body := []byte{4, 0, 0, 0, 1, 1, 0, 8, 0xff}
	newFP, err := fingerprintsOf(append([]byte{0xC0 | 6, byte(len(body))}, body...))
	if err != nil {
		t.Fatal(err)
	}
	for _, hdr := range [][]byte{
		{0x80 | 6<<2, byte(len(body))}, // length type 0: one-byte length
		{0x80 | 6<<2 | 1, 0, byte(len(body))},
		{0x80 | 6<<2 | 2, 0, 0, 0, byte(len(body))},
		{0xC0 | 6, 255, 0, 0, 0, byte(len(body))},
	} {
		got, err := fingerprintsOf(append(append([]byte{}, hdr...), body...))
		if err != nil || got[0] != newFP[0] {
			t.Errorf("header % x: %v %v, want %v", hdr, got, err, newFP)
		}
	}
}

func TestFormatFingerprint(t *testing.T) {
	if got := FormatFingerprint(microsoftFingerprint); got != "BC52 8686 B50D 79E3 39D3 721C EB3E 94AD BE12 29CF" {
		t.Errorf("got %q", got)
	}
}

func FuzzKeyFingerprint(f *testing.F) {
	ms := PinnedKeys()[0]
	f.Add(ms)
	f.Add(bytes.ReplaceAll(ms, []byte("\n"), []byte("\r\n")))
	f.Add([]byte("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nxsBN\n=AAAA\n-----END PGP PUBLIC KEY BLOCK-----\n"))
	f.Add(armor("PUBLIC KEY BLOCK", []byte{0xC6, 3, 4, 0, 0}, ""))
	f.Fuzz(func(t *testing.T, data []byte) {
		fps, err := KeyFingerprints(data)
		if err != nil {
			if fps != nil {
				t.Fatal("fingerprints with error")
			}
			return
		}
		if len(fps) == 0 {
			t.Fatal("success without a fingerprint")
		}
		for _, fp := range fps {
			if len(fp) != 40 || strings.Trim(fp, "0123456789ABCDEF") != "" {
				t.Fatalf("bad fingerprint %q", fp)
			}
		}
		// A key that passed must survive re-armoring with the same result.
		bin, err := Dearmor(data)
		if err != nil {
			t.Fatalf("validated but Dearmor fails: %v", err)
		}
		again, err := KeyFingerprints(armor("PUBLIC KEY BLOCK", bin, ""))
		if err != nil || !cmp.Equal(fps, again) {
			t.Fatalf("re-armored: %v %v, want %v", again, err, fps)
		}
	})
}

func BenchmarkKeyFingerprint(b *testing.B) {
	key := PinnedKeys()[0]
	b.SetBytes(int64(len(key)))
	for b.Loop() {
		if _, err := KeyFingerprint(key); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzKeyPackets feeds binary key blocks straight to the packet parser,
// which base64 armor would otherwise shield from most mutations.
func FuzzKeyPackets(f *testing.F) {
	bin, err := Dearmor(PinnedKeys()[0])
	if err != nil {
		f.Fatal(err)
	}
	f.Add(bin)
	f.Add([]byte{0x99, 0, 6, 4, 0, 0, 0, 1, 1})
	f.Add([]byte{0xC6, 255, 0, 0, 0, 6, 4, 0, 0, 0, 1, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		fps, err := fingerprintsOf(data)
		if err != nil {
			if !errors.Is(err, ErrNotPublicKey) {
				t.Fatalf("error does not wrap ErrNotPublicKey: %v", err)
			}
			return
		}
		if len(fps) == 0 {
			t.Fatal("success without a fingerprint")
		}
		// The first packet must be a v4 public key whose fingerprint is
		// what we reported.
		p, _, err := readPacket(data)
		if err != nil || p.tag != tagPublicKey {
			t.Fatalf("accepted block does not start with a public key: %v", err)
		}
		if fp, _ := v4Fingerprint(p.body); fp != fps[0] {
			t.Fatalf("fingerprint %s, first packet gives %s", fps[0], fp)
		}
	})
}
