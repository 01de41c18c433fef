package lifecycle

import (
	"net/url"

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
