package identity

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"

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
