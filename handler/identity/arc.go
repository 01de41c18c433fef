package identity

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/Azure/aadsshlogin-extension-linux/handler/failure"
)

// arcEndpoint returns HIMDS's token URL: IDENTITY_ENDPOINT or the default.
// Only loopback http(s) URLs are accepted: the challenge secret is sent to
// it, and HIMDS always listens on the machine itself.
func (s settings) arcEndpoint() (string, error) {
	ep := s.getenv("IDENTITY_ENDPOINT")
	if ep == "" {
		ep = DefaultArcIdentityEndpoint
	}
	u, err := url.Parse(ep)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.User != nil {
		return "", failure.New(failure.Dependency,
			"IDENTITY_ENDPOINT=%q is not an http(s) URL; the Azure Arc agent sets it to %s: check the Arc agent "+
				"(`azcmagent show`) and /lib/systemd/system.conf.d/azcmagent.conf", printable(ep, 200), DefaultArcIdentityEndpoint)
	}
	if h := u.Hostname(); h != "localhost" {
		if ip := net.ParseIP(h); ip == nil || !ip.IsLoopback() {
			return "", failure.New(failure.Dependency,
				"IDENTITY_ENDPOINT=%q does not point at this machine; Azure Arc HIMDS listens on localhost and the "+
					"handler will not send its secret elsewhere: check /lib/systemd/system.conf.d/azcmagent.conf and `azcmagent show`",
				printable(ep, 200))
		}
	}
	return ep, nil
}

// probeArc runs HIMDS's challenge flow once: an unauthenticated request is
// answered 401 with `WWW-Authenticate: Basic realm=<key file>`; the request
// is sent again with `Authorization: Basic <key file contents>`.
func (s settings) probeArc(ctx context.Context) probeResult {
	ep, err := s.arcEndpoint()
	if err != nil {
		return probeResult{state: failed, err: err}
	}
	sep := "?"
	if strings.Contains(ep, "?") {
		sep = "&"
	}
	u := ep + sep + "api-version=" + arcTokenAPIVersion + "&resource=" + url.QueryEscape(SignInResource)
	resp, body, st, err := s.get(ctx, u, "")
	if err != nil {
		return probeResult{state: failed, err: s.arcUnreachable(ep, st, err)}
	}
	if resp.StatusCode != http.StatusUnauthorized {
		// No challenge: let the ordinary rules judge the answer.
		return s.classify(Arc, resp, body, st)
	}
	realm, ok := parseRealm(resp.Header.Values("WWW-Authenticate"))
	if !ok {
		return probeResult{state: failed, err: failure.New(failure.Dependency,
			"Azure Arc HIMDS answered 401 without a `Basic realm=<file>` challenge; check that the Arc agent "+
				"(himdsd) is what listens on %s (`azcmagent show`), "+failure.SetAgain, ep)}
	}
	secret, err := s.readArcKey(realm)
	if err != nil {
		return probeResult{state: failed, err: failure.Wrap(failure.Dependency, err,
			"Azure Arc HIMDS asked for the secret file %q, which the handler refuses to read. It must be a regular "+
				"file (no symlinks on the way) directly under %s, named *.key, at most %d bytes; check the Arc agent "+
				"(`azcmagent show`) and that nothing else listens on %s", printable(realm, 300), ArcTokenDir, ArcKeyMaxBytes, ep)}
	}
	resp, body, st, err = s.get(ctx, u, "Basic "+secret)
	if err != nil {
		return probeResult{state: failed, err: s.arcUnreachable(ep, st, err)}
	}
	if resp.StatusCode == http.StatusUnauthorized {
		return probeResult{state: failed, err: failure.New(failure.Dependency,
			"Azure Arc HIMDS rejected the secret from its own challenge file; restart the Arc agent "+
				"(`systemctl restart himdsd`), check `azcmagent show`, "+failure.SetAgain)}
	}
	return s.classify(Arc, resp, body, st)
}

func (s settings) arcUnreachable(ep string, st stats, err error) error {
	if errors.Is(err, context.Canceled) {
		return interrupted(err)
	}
	return failure.Wrap(failure.Dependency, err,
		"cannot reach Azure Arc HIMDS at %s (%d attempt(s)); the Arc agent must be running and connected: "+
			"run `azcmagent show` (Agent Status Connected) and `systemctl status himdsd`, "+failure.SetAgain,
		ep, st.attempts)
}

// errArcPath explains why a realm path is refused.
type errArcPath struct{ reason string }

func (e *errArcPath) Error() string { return e.reason }

func refuse(format string, args ...any) error {
	return &errArcPath{reason: fmt.Sprintf(format, args...)}
}

// checkArcKeyPath validates a challenge path syntactically: absolute, clean,
// no "..", directly under ArcTokenDir, named *.key.
func checkArcKeyPath(p string) error {
	if !strings.HasPrefix(p, "/") {
		return refuse("the path is not absolute")
	}
	if strings.ContainsRune(p, 0) {
		return refuse("the path contains a NUL byte")
	}
	// Stricter than needed (a name like "a..key" is harmless), on purpose.
	if strings.Contains(p, "..") {
		return refuse("the path contains \"..\"")
	}
	if path.Clean(p) != p {
		return refuse("the path is not in canonical form")
	}
	if path.Dir(p) != ArcTokenDir {
		return refuse("the file is not directly under %s", ArcTokenDir)
	}
	if base := path.Base(p); !strings.HasSuffix(base, ".key") || len(base) == len(".key") {
		return refuse("the file name does not end in .key")
	}
	return nil
}

// readArcKey validates the challenge file and returns its contents (with a
// trailing newline removed). The file must be a regular file, no component
// of its path (under Root) may be a symlink, and its size is at most
// ArcKeyMaxBytes.
func (s settings) readArcKey(p string) (string, error) {
	if err := checkArcKeyPath(p); err != nil {
		return "", err
	}
	// Lstat every component below the root: /var, /var/opt, ..., the file.
	var final os.FileInfo
	cur := ""
	comps := strings.Split(strings.TrimPrefix(p, "/"), "/")
	for i, c := range comps {
		cur += "/" + c
		fi, err := os.Lstat(s.root.Path(cur))
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return "", refuse("%s does not exist", cur)
			}
			return "", fmt.Errorf("inspecting %s: %w", cur, err)
		}
		if fi.Mode()&os.ModeSymlink != 0 {
			return "", refuse("%s is a symbolic link", cur)
		}
		last := i == len(comps)-1
		if !last && !fi.IsDir() {
			return "", refuse("%s is not a directory", cur)
		}
		if last {
			if !fi.Mode().IsRegular() {
				return "", refuse("%s is not a regular file", cur)
			}
			if fi.Size() > ArcKeyMaxBytes {
				return "", refuse("%s has %d bytes, more than %d", cur, fi.Size(), ArcKeyMaxBytes)
			}
			final = fi
		}
	}
	full := s.root.Path(p)
	// Belt and braces: resolving the path must stay in the token directory.
	resolved, err := filepath.EvalSymlinks(full)
	if err != nil {
		return "", fmt.Errorf("resolving %s: %w", p, err)
	}
	dir, err := filepath.EvalSymlinks(s.root.Path(ArcTokenDir))
	if err != nil {
		return "", fmt.Errorf("resolving %s: %w", ArcTokenDir, err)
	}
	if filepath.Dir(resolved) != dir {
		return "", refuse("%s resolves outside %s", p, ArcTokenDir)
	}
	// O_NOFOLLOW + same-file check close the window between Lstat and open.
	f, err := os.OpenFile(full, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return "", fmt.Errorf("opening %s: %w", p, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("inspecting %s: %w", p, err)
	}
	if !fi.Mode().IsRegular() || !os.SameFile(fi, final) {
		return "", refuse("%s changed while being checked", p)
	}
	data, err := io.ReadAll(io.LimitReader(f, ArcKeyMaxBytes+1))
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", p, err)
	}
	if len(data) > ArcKeyMaxBytes {
		return "", refuse("%s grew beyond %d bytes", p, ArcKeyMaxBytes)
	}
	data = bytes.TrimRight(data, "\r\n")
	if len(data) == 0 {
		return "", refuse("%s is empty", p)
	}
	for _, b := range data {
		if b < 0x20 || b == 0x7f {
			return "", refuse("%s contains control characters", p)
		}
	}
	return string(data), nil
}
