package main

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Suite is one suite of the synthetic distro repository.
type Suite struct {
	Name     string
	Packages int
}

// DistroSuites mirrors the sources of a Debian 12 cloud image (the release,
// -updates, -security, -backports), with n packages in the release.
func DistroSuites(n int) []Suite {
	return []Suite{
		{"benchsuite", n},
		{"benchsuite-updates", max(n/100, 1)},
		{"benchsuite-security", max(n/100, 1)},
		{"benchsuite-backports", max(n/20, 1)},
	}
}

// WriteIndex writes n fake package stanzas to pkgs, shaped like a
// distribution's binary index (fields, lengths, random checksums), and their
// long descriptions to trans (Translation-en). The seed makes every run
// serve the same index.
func WriteIndex(pkgs, trans io.Writer, n int, arch string, seed uint64) error {
	rng := rand.New(rand.NewPCG(seed, uint64(n)))
	hex := func(nbytes int) string {
		b := make([]byte, nbytes)
		for i := range b {
			b[i] = byte(rng.UintN(256))
		}
		return fmt.Sprintf("%x", b)
	}
	words := []string{"library", "tools", "daemon", "plugin", "bindings", "data", "utilities", "server", "client", "documentation", "development", "files", "runtime", "module", "extension"}
	word := func() string { return words[rng.IntN(len(words))] }
	for i := range n {
		name := fmt.Sprintf("bench-%s-%05d", word(), i)
		ver := fmt.Sprintf("%d.%d.%d-%d", rng.IntN(10), rng.IntN(30), rng.IntN(100), 1+rng.IntN(5))
		dep := fmt.Sprintf("bench-%s-%05d (>= 1.0)", word(), rng.IntN(n))
		md5 := hex(16)
		_, err := fmt.Fprintf(pkgs, "Package: %s\nVersion: %s\nInstalled-Size: %d\nMaintainer: Bench Maintainers <bench@example.invalid>\nArchitecture: %s\n"+
			"Depends: libc6 (>= 2.34), %s\nDescription: %s %s for the benchmark\nHomepage: https://example.invalid/%s\n"+
			"Description-md5: %s\nSection: misc\nPriority: optional\nFilename: pool/main/b/%s/%s_%s_%s.deb\nSize: %d\nMD5sum: %s\nSHA256: %s\n\n",
			name, ver, 10+rng.IntN(50000), arch, dep, word(), word(), name, md5, name, name, ver, arch, 1000+rng.IntN(5000000), hex(16), hex(32))
		if err != nil {
			return err
		}
		long := strings.Repeat(" This "+word()+" package provides the "+word()+" of the benchmark.\n", 1+rng.IntN(4))
		if _, err := fmt.Fprintf(trans, "Package: %s\nDescription-md5: %s\nDescription-en: %s %s for the benchmark\n%s\n", name, md5, word(), word(), long); err != nil {
			return err
		}
	}
	return nil
}

// BuildDistroRepo writes dists/<suite>/{Release, main/binary-<arch>/Packages.xz,
// main/i18n/Translation-en.xz} below root for every suite and returns the
// total compressed and uncompressed index sizes. Release files are unsigned;
// the caller signs them (InRelease).
func BuildDistroRepo(root string, suites []Suite, arch string, now time.Time) (xzBytes, rawBytes int64, err error) {
	for i, s := range suites {
		var pkgs, trans bytes.Buffer
		if err := WriteIndex(&pkgs, &trans, s.Packages, arch, uint64(7+i)); err != nil {
			return 0, 0, err
		}
		files := map[string][]byte{}
		for name, raw := range map[string]*bytes.Buffer{"main/binary-" + arch + "/Packages.xz": &pkgs, "main/i18n/Translation-en.xz": &trans} {
			rawBytes += int64(raw.Len())
			xz, err := compressXZ(raw.Bytes())
			if err != nil {
				return 0, 0, err
			}
			xzBytes += int64(len(xz))
			p := filepath.Join(root, "dists", s.Name, name)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return 0, 0, err
			}
			if err := os.WriteFile(p, xz, 0o644); err != nil {
				return 0, 0, err
			}
			files[name] = xz
			// apt looks an index up by its uncompressed name; like
			// Debian's, the Release lists it too (not on the server).
			files[strings.TrimSuffix(name, ".xz")] = raw.Bytes()
		}
		if err := os.WriteFile(filepath.Join(root, "dists", s.Name, "Release"), ReleaseFile(s.Name, arch, now, files), 0o644); err != nil {
			return 0, 0, err
		}
	}
	return xzBytes, rawBytes, nil
}

func compressXZ(data []byte) ([]byte, error) {
	cmd := exec.Command("xz", "-3", "-T2", "-c")
	cmd.Stdin = bytes.NewReader(data)
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("xz: %w", err)
	}
	return out.Bytes(), nil
}

// ReleaseFile renders an apt Release file listing files (path → content).
func ReleaseFile(suite, arch string, now time.Time, files map[string][]byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "Origin: Bench\nLabel: Bench\nSuite: %s\nCodename: %s\nDate: %s\nArchitectures: %s\nComponents: main\nSHA256:\n",
		suite, suite, now.UTC().Format("Mon, 02 Jan 2006 15:04:05 UTC"), arch)
	for _, name := range sortedKeys(files) {
		fmt.Fprintf(&b, " %x %d %s\n", sha256.Sum256(files[name]), len(files[name]), name)
	}
	return b.Bytes()
}
