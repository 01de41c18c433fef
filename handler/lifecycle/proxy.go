package lifecycle

import (
	"net/url"
	"strings"

	"golang.org/x/net/http/httpproxy"
)

// proxyFor applies the proxy variables from getenv (lower case first, as
// curl and the package managers read them) to u. IMDS traffic never comes
// here: it uses the identity package's proxy-less transport.
func proxyFor(getenv func(string) string, u *url.URL) (*url.URL, error) {
	pick := func(lower, upper string) string {
		if v := getenv(lower); v != "" {
			return v
		}
		return getenv(upper)
	}
	cfg := httpproxy.Config{
		HTTPProxy:  pick("http_proxy", "HTTP_PROXY"),
		HTTPSProxy: pick("https_proxy", "HTTPS_PROXY"),
		NoProxy:    pick("no_proxy", "NO_PROXY"),
	}
	return cfg.ProxyFunc()(u)
}

// packageProxy is the proxy the package managers inherit for an https
// repository (https_proxy, else HTTPS_PROXY; http_proxy as a fallback, as
// some managers use it for both schemes), reduced to scheme://host[:port]
// so that credentials in it never reach a message. It only shapes error
// messages, so no_proxy is not evaluated (each package manager reads it
// in its own way); "" when no variable is set.
func packageProxy(getenv func(string) string) string {
	for _, k := range []string{"https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY"} {
		v := strings.TrimSpace(getenv(k))
		if v == "" {
			continue
		}
		if !strings.Contains(v, "://") {
			v = "http://" + v // curl and apt accept host:port
		}
		u, err := url.Parse(v)
		if err != nil || u.Host == "" {
			return "(the unparsable value of " + k + ")"
		}
		return u.Scheme + "://" + u.Host
	}
	return ""
}
