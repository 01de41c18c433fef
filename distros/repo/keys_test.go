package repo

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
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

// armored wraps bin in an armored block with go-crypto's encoder, whose
// CRC-24 is independent of the one Dearmor checks.
func armored(kind string, bin []byte, headers map[string]string) []byte {
	var b bytes.Buffer
	w, err := armor.Encode(&b, "PGP "+kind, headers)
	if err != nil {
		panic(err)
	}
	w.Write(bin)
	w.Close()
	return append(b.Bytes(), '\n')
}

// rfcFingerprint is SHA-1 over 0x99, the 2-byte body length and the body of
// a version 4 public-key packet (RFC 4880 §12.2), the oracle for the
// fingerprints go-crypto computes from the parsed key.
func rfcFingerprint(body []byte) string {
	h := sha1.New()
	h.Write([]byte{0x99, byte(len(body) >> 8), byte(len(body))})
	h.Write(body)
	return strings.ToUpper(hex.EncodeToString(h.Sum(nil)))
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
	secret := append([]byte{0xC0 | 5, byte(len(body))}, body...)
	v3 := append([]byte{0xC0 | 6, 6}, 3, 0, 0, 0, 1, 1)
	v6 := append([]byte{0xC0 | 6, byte(len(body))}, append([]byte{6}, body[1:]...)...)
	// An ECDSA key (algorithm 19) on a curve OID nobody knows: the old
	// parser hashed any v4 body; go-crypto rejects what no tool can use.
	// The OID spells "NotQuoted", which no error may repeat.
	oddCurve := append([]byte{4, 0, 0, 0, 1, 19, 9}, "NotQuoted"...)
	oddCurve = append(append([]byte{0xC0 | 6, byte(len(oddCurve) + 4)}, oddCurve...), 0, 8, 0xff, 0)
	unknownAlgo := append([]byte{0xC0 | 6, byte(len(body))}, append([]byte{4, 0, 0, 0, 1, 99}, body[6:]...)...)
	trailing := append([]byte{0xC0 | 6, byte(len(body) + 1)}, append(append([]byte{}, body...), 0)...)
	partial := append([]byte{0xC0 | 6, 0xE0, body[0], byte(len(body) - 1)}, body[1:]...) // a 1-byte chunk, then the rest
	indeterminate := append([]byte{0x80 | 6<<2 | 3}, body...)
	shortMPI := append([]byte{0xC0 | 6, 9}, body[:9]...) // RSA modulus without exponent
	userID := []byte{0xC0 | 13, 1, 'x'}
	crlf := bytes.ReplaceAll(msKey, []byte("\n"), []byte("\r\n"))
	badCRC := bytes.Replace(msKey, []byte("=J6gs"), []byte("=J6gt"), 1)
	firstData := bytes.Index(msKey, []byte("\n\n")) + 2
	firstData += bytes.IndexByte(msKey[firstData:], '\n')
	longLine := append(append([]byte{}, msKey[:firstData]...), msKey[firstData+1:]...) // 128 characters
	noHeaders := armored("PUBLIC KEY BLOCK", msBin, nil)
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
		{"two keys", armored("PUBLIC KEY BLOCK", append(append([]byte{}, msBin...), newFmt...), map[string]string{"Comment": "x"}), []string{microsoftFingerprint, rfcFingerprint(body)}, nil},
		{"bad CRC", badCRC, nil, ErrBadArmor},
		{"private key block", armored("PRIVATE KEY BLOCK", secret, nil), nil, ErrNotPublicKey},
		{"secret packet in public armor", armored("PUBLIC KEY BLOCK", secret, nil), nil, ErrNotPublicKey},
		{"secret subkey after key", armored("PUBLIC KEY BLOCK", append(append([]byte{}, newFmt...), 0xC0|7, 0), nil), nil, ErrNotPublicKey},
		{"v3 key", armored("PUBLIC KEY BLOCK", v3, nil), nil, ErrNotPublicKey},
		{"v6 key", armored("PUBLIC KEY BLOCK", v6, nil), nil, ErrNotPublicKey},
		{"unknown curve OID", armored("PUBLIC KEY BLOCK", oddCurve, nil), nil, ErrNotPublicKey},
		{"unknown algorithm", armored("PUBLIC KEY BLOCK", unknownAlgo, nil), nil, ErrNotPublicKey},
		{"data after the key material", armored("PUBLIC KEY BLOCK", trailing, nil), nil, ErrNotPublicKey},
		{"partial body length", armored("PUBLIC KEY BLOCK", partial, nil), nil, ErrNotPublicKey},
		{"indeterminate length", armored("PUBLIC KEY BLOCK", indeterminate, nil), nil, ErrNotPublicKey},
		{"RSA key without exponent", armored("PUBLIC KEY BLOCK", shortMPI, nil), nil, ErrNotPublicKey},
		{"second key malformed", armored("PUBLIC KEY BLOCK", append(append([]byte{}, msBin...), oddCurve...), nil), nil, ErrNotPublicKey},
		{"headers without blank line", bytes.Replace(msKey, []byte("\n\n"), []byte("\n"), 1), nil, ErrBadArmor},
		{"user id first", armored("PUBLIC KEY BLOCK", append(userID, newFmt...), nil), nil, ErrNotPublicKey},
		{"truncated packet", armored("PUBLIC KEY BLOCK", newFmt[:5], nil), nil, ErrNotPublicKey},
		{"message not key", armored("MESSAGE", newFmt, nil), nil, ErrNotPublicKey},
		{"no end line", bytes.TrimSuffix(msKey, []byte("-----END PGP PUBLIC KEY BLOCK-----\n")), nil, ErrBadArmor},
		{"bad base64", []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n!!!!\n-----END PGP PUBLIC KEY BLOCK-----\n"), nil, ErrBadArmor},
		{"base64 line over 96 characters", longLine, nil, ErrBadArmor},
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
			if err != nil && strings.Contains(err.Error(), "4e6f7451756f746564") {
				t.Errorf("error quotes key bytes: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestOldFormatPacketLengths(t *testing.T) {
	body := []byte{4, 0, 0, 0, 1, 1, 0, 8, 0xff, 0, 8, 3}
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
		if err != nil || got[0] != newFP[0] || got[0] != rfcFingerprint(body) {
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
	f.Add(armored("PUBLIC KEY BLOCK", []byte{0xC6, 3, 4, 0, 0}, nil))
	oddCurve := append([]byte{0xC6, 20, 4, 0, 0, 0, 1, 19, 9}, "NotQuoted"...)
	f.Add(armored("PUBLIC KEY BLOCK", append(oddCurve, 0, 8, 0xff, 0), nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		fps, err := KeyFingerprints(data)
		if err != nil {
			if fps != nil {
				t.Fatal("fingerprints with error")
			}
			if bin, derr := Dearmor(data); derr == nil && quotes(err.Error(), bin) {
				t.Fatalf("error quotes the key: %v", err)
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
		again, err := KeyFingerprints(armored("PUBLIC KEY BLOCK", bin, nil))
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
	f.Add([]byte{0x99, 0, 12, 4, 0, 0, 0, 1, 1, 0, 8, 0xff, 0, 8, 3})
	f.Add([]byte{0xC6, 255, 0, 0, 0, 12, 4, 0, 0, 0, 1, 1, 0, 8, 0xff, 0, 8, 3})
	f.Add(append(append([]byte{0xC6, 20, 4, 0, 0, 0, 1, 19, 9}, "NotQuoted"...), 0, 8, 0xff, 0))
	f.Add([]byte{0xC6, 20, 4, 0, 0, 0, 1, 19, 8, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07, 0, 3, 4, 1, 2})
	f.Fuzz(func(t *testing.T, data []byte) {
		fps, err := fingerprintsOf(data)
		if err != nil {
			if !errors.Is(err, ErrNotPublicKey) {
				t.Fatalf("error does not wrap ErrNotPublicKey: %v", err)
			}
			if quotes(err.Error(), data) {
				t.Fatalf("error quotes the key: %v", err)
			}
			return
		}
		if len(fps) == 0 {
			t.Fatal("success without a fingerprint")
		}
		// Every primary key is a v4 public key whose RFC 4880 fingerprint
		// is what we reported, in order.
		var want []string
		r := packet.NewOpaqueReader(bytes.NewReader(data))
		for op, err := r.Next(); err == nil; op, err = r.Next() {
			if len(want) == 0 && op.Tag != tagPublicKey {
				t.Fatalf("accepted block starts with tag %d", op.Tag)
			}
			if op.Tag == tagPublicKey {
				want = append(want, rfcFingerprint(op.Contents))
			}
		}
		if !cmp.Equal(fps, want) {
			t.Fatalf("fingerprints %v, RFC formula gives %v", fps, want)
		}
	})
}

// quotes reports whether msg repeats four or more consecutive bytes of key
// as hex (as go-crypto's own errors do for curve OIDs).
func quotes(msg string, key []byte) bool {
	msg = strings.ToLower(msg)
	for i := 0; i+4 <= len(key); i++ {
		if strings.Contains(msg, hex.EncodeToString(key[i:i+4])) {
			return true
		}
	}
	return false
}
