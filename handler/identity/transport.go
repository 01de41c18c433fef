package identity

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"time"
)

// The pipeline's Transporter (see "HTTP design" in pipeline.go): never
// proxied, no redirects, response bodies capped at maxBody.

// maxBody bounds any IMDS/HIMDS response body we read.
const maxBody = 1 << 20

// errBodyTooLarge is returned when a response body exceeds maxBody.
var errBodyTooLarge = errors.New("response body larger than 1 MiB")

// newTransport is the proxy-less transport for IMDS and HIMDS. dial may be
// nil (a plain dialer with a 5 s connect timeout).
func newTransport(dial func(ctx context.Context, network, addr string) (net.Conn, error)) *http.Transport {
	if dial == nil {
		dial = (&net.Dialer{Timeout: 5 * time.Second}).DialContext
	}
	return &http.Transport{
		Proxy:                 nil, // never proxy IMDS/HIMDS (see the package doc)
		DialContext:           dial,
		MaxIdleConns:          2,
		IdleConnTimeout:       30 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: 0, // bounded by the per-try context
	}
}

// limitedClient adapts an http.RoundTripper to policy.Transporter.
type limitedClient struct{ c *http.Client }

func newLimitedClient(rt http.RoundTripper) limitedClient {
	return limitedClient{c: &http.Client{
		Transport: rt,
		// IMDS does not redirect; following one could leave the link-local
		// network or hand an Arc secret to another host.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

func (l limitedClient) Do(r *http.Request) (*http.Response, error) {
	resp, err := l.c.Do(r)
	if err != nil {
		return nil, err
	}
	resp.Body = &limitedBody{rc: resp.Body, left: maxBody}
	return resp, nil
}

type limitedBody struct {
	rc   io.ReadCloser
	left int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left < 0 {
		return 0, errBodyTooLarge
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		return n, errBodyTooLarge
	}
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }
