// Package release identifies the running Linux distribution and decides
// whether and how AADSSHLoginForLinux supports it: os-release parsing
// (ParseOSRelease, DetectRelease), the support matrix (Resolve,
// SupportMatrix, MarkdownTable, SupportedSummary) and the distribution facts
// messages need (AgentUnit, ProxyAdvice).
//
// One support table (matrix) drives Resolve, the unsupported-OS message and
// the README table. Open doc ranges stop before the next major release
// (RHEL 10, SLES/Leap 16), whose repositories use the microsoft-2025 key
// that is not shipped. EL derivatives (AlmaLinux, Rocky, Oracle) use PMC's
// rhel/<major> tree; a fixed table instead of an HTTP probe keeps the choice
// offline and identical on air-gapped endpoints.
package release

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/Azure/aadsshlogin-extension-linux/handler/failure"
	"github.com/Azure/aadsshlogin-extension-linux/handler/sysroot"
)

// Release is the parsed content of /etc/os-release.
type Release struct {
	ID         string
	IDLike     []string
	VersionID  string
	Codename   string
	PrettyName string
	Name       string
	Version    string
}

// maxOSReleaseSize caps what DetectRelease reads; real files are < 1 KiB.
const maxOSReleaseSize = 64 << 10

// osReleasePaths are tried in order (os-release(5)).
var osReleasePaths = [...]string{"/etc/os-release", "/usr/lib/os-release"}

// ParseOSRelease parses os-release content (os-release(5)): KEY=VALUE lines,
// values optionally in single or double quotes, backslash escapes inside
// double quotes and unquoted values, '#' comments and blank lines. Lines
// that are not assignments are ignored, as systemd does. The only error is
// content without any assignment at all. IDs are lower-cased; ID_LIKE is
// split on whitespace; the codename comes from VERSION_CODENAME, then
// UBUNTU_CODENAME, then (Debian only) the word in parentheses of VERSION.
func ParseOSRelease(data []byte) (Release, error) {
	var rel Release
	var ubuntuCodename string
	found := false
	for _, line := range bytes.Split(data, []byte("\n")) {
		key, val, ok := parseOSReleaseLine(string(line))
		if !ok {
			continue
		}
		found = true
		switch key {
		case "ID":
			rel.ID = strings.ToLower(val)
		case "ID_LIKE":
			rel.IDLike = strings.Fields(strings.ToLower(val))
		case "VERSION_ID":
			rel.VersionID = val
		case "VERSION":
			rel.Version = val
		case "VERSION_CODENAME":
			rel.Codename = strings.ToLower(val)
		case "UBUNTU_CODENAME":
			ubuntuCodename = strings.ToLower(val)
		case "PRETTY_NAME":
			rel.PrettyName = val
		case "NAME":
			rel.Name = val
		}
	}
	if !found {
		return Release{}, errors.New("os-release: no KEY=VALUE assignment found")
	}
	if rel.Codename == "" {
		rel.Codename = ubuntuCodename
	}
	if rel.Codename == "" && rel.ID == "debian" {
		rel.Codename = codenameFromVersion(rel.Version)
	}
	return rel, nil
}

// parseOSReleaseLine returns the key and unquoted value of one assignment.
func parseOSReleaseLine(line string) (key, val string, ok bool) {
	line = strings.TrimSpace(strings.TrimSuffix(line, "\r"))
	if line == "" || line[0] == '#' {
		return "", "", false
	}
	eq := strings.IndexByte(line, '=')
	if eq <= 0 {
		return "", "", false
	}
	key = line[:eq]
	for i, c := range key {
		if !(c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || i > 0 && c >= '0' && c <= '9') {
			return "", "", false
		}
	}
	val, ok = unquoteOSReleaseValue(line[eq+1:])
	return key, val, ok
}

// unquoteOSReleaseValue undoes shell-style quoting as far as os-release
// allows it. An unterminated quote makes the line invalid.
func unquoteOSReleaseValue(raw string) (string, bool) {
	var b strings.Builder
	var quote byte
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case quote == '\'':
			if c == '\'' {
				quote = 0
			} else {
				b.WriteByte(c)
			}
		case c == '\\':
			if i+1 >= len(raw) {
				return "", false
			}
			i++
			n := raw[i]
			if quote == '"' && !strings.ContainsRune("$\"\\`\n", rune(n)) {
				// Inside double quotes only these are escapes.
				b.WriteByte('\\')
			}
			b.WriteByte(n)
		case quote == '"':
			if c == '"' {
				quote = 0
			} else {
				b.WriteByte(c)
			}
		case c == '"' || c == '\'':
			quote = c
		case c == ' ' || c == '\t':
			// Unquoted whitespace ends the value; a trailing comment or
			// garbage after it is ignored.
			return b.String(), true
		default:
			b.WriteByte(c)
		}
	}
	if quote != 0 {
		return "", false
	}
	return b.String(), true
}

// codenameFromVersion returns "stretch" for `9 (stretch)`.
func codenameFromVersion(v string) string {
	open, end := strings.IndexByte(v, '('), strings.LastIndexByte(v, ')')
	if open < 0 || end <= open+1 {
		return ""
	}
	word := strings.ToLower(strings.TrimSpace(v[open+1 : end]))
	if strings.ContainsAny(word, " \t") {
		return ""
	}
	return word
}

// DetectRelease reads /etc/os-release, falling back to /usr/lib/os-release,
// below root.
func DetectRelease(root sysroot.Root) (Release, error) {
	var tried []string
	for _, p := range osReleasePaths {
		data, err := root.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			tried = append(tried, p)
			continue
		}
		if err != nil {
			return Release{}, failure.Wrap(failure.UnsupportedOS, err,
				"cannot read %s to identify the Linux distribution; make sure the file is readable by root", p)
		}
		if len(data) > maxOSReleaseSize {
			data = data[:maxOSReleaseSize]
		}
		rel, err := ParseOSRelease(data)
		if err != nil {
			return Release{}, failure.Wrap(failure.UnsupportedOS, err,
				"%s does not identify the Linux distribution; restore it from the distribution's base-files/release package", p)
		}
		return rel, nil
	}
	return Release{}, failure.New(failure.UnsupportedOS,
		"cannot identify the Linux distribution: neither %s exists; restore os-release from the distribution's release package",
		strings.Join(tried, " nor "))
}

// String renders a release for messages: PRETTY_NAME (ID=…, VERSION_ID=…).
func (r Release) String() string {
	name := r.PrettyName
	if name == "" {
		name = r.Name
	}
	if name == "" {
		name = "unknown Linux"
	}
	return fmt.Sprintf("%s (ID=%q, VERSION_ID=%q)", name, r.ID, r.VersionID)
}
