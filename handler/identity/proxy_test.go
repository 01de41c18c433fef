package identity

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/Azure/aadsshlogin-extension-linux/handler/sysroot"
	"github.com/Azure/aadsshlogin-extension-linux/test/fakeimds"
)

// fakeIMDSHost is a non-loopback name (Go never proxies loopback targets);
// the test's dialer maps it to the loopback fake, so nothing leaves the host.
const fakeIMDSHost = "imds.invalid:80"

// TestNoProxy proves IMDS requests bypass the proxy named by the
// environment. net/http reads the proxy variables once per process, so the
// real check runs in a child process started with them set; the proxy is a
// loopback server here that counts hits.
func TestNoProxy(t *testing.T) {
	if os.Getenv("IDENTITY_PROXY_CHILD") != "" {
		t.Skip("parent only")
	}
	var hits atomic.Int32
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("X-Test-Proxy", "hit")
		http.Error(w, "proxied", http.StatusBadGateway)
	}))
	defer proxy.Close()

	cmd := exec.Command(os.Args[0], "-test.run=^TestNoProxyChild$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "IDENTITY_PROXY_CHILD=1",
		"http_proxy="+proxy.URL, "HTTP_PROXY="+proxy.URL, "https_proxy="+proxy.URL, "HTTPS_PROXY="+proxy.URL,
		"ALL_PROXY="+proxy.URL, "no_proxy=", "NO_PROXY=")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestNoProxyChild") {
		t.Fatalf("child failed: %v\n%s", err, out)
	}
	// Exactly one hit: the child's control request, which uses
	// http.ProxyFromEnvironment on purpose. The prober's requests add none.
	if n := hits.Load(); n != 1 {
		t.Errorf("proxy saw %d requests, want 1 (the control); output:\n%s", n, out)
	}
}

func TestNoProxyChild(t *testing.T) {
	if os.Getenv("IDENTITY_PROXY_CHILD") == "" {
		t.Skip("runs as TestNoProxy's child")
	}
	sc, _ := fakeimds.Lookup("present")
	fake := fakeimds.New(sc, nil)
	imds := httptest.NewServer(fake)
	defer imds.Close()
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		if addr == fakeIMDSHost {
			addr = imds.Listener.Addr().String()
		}
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}

	// Control: a transport that honours the environment reaches the proxy,
	// so this setup would catch a prober that did.
	ctl := newTransport(dial)
	ctl.Proxy = http.ProxyFromEnvironment
	req, _ := http.NewRequest(http.MethodGet, "http://"+fakeIMDSHost+"/metadata/instance/compute?api-version=2021-02-01", nil)
	req.Header.Set("Metadata", "true")
	resp, err := ctl.RoundTrip(req)
	if err != nil {
		t.Fatalf("control request: %v", err)
	}
	resp.Body.Close()
	if resp.Header.Get("X-Test-Proxy") != "hit" {
		t.Fatalf("control request did not go through the proxy (env %q); the test proves nothing", os.Getenv("HTTP_PROXY"))
	}

	// The prober's default transport has no proxy function at all.
	if tr, ok := (&Prober{}).settings().transport.(*http.Transport); !ok || tr.Proxy != nil {
		t.Fatalf("default transport %T has a Proxy function", (&Prober{}).settings().transport)
	}
	// A caller's transport loses its proxy function too.
	withProxy := newTransport(dial)
	withProxy.Proxy = http.ProxyFromEnvironment
	if tr, ok := (&Prober{Transport: withProxy}).settings().transport.(*http.Transport); !ok || tr.Proxy != nil || withProxy.Proxy == nil {
		t.Fatalf("a caller's proxying transport was not replaced by a proxy-less clone (or was modified in place)")
	}
	// And requests built on it go straight to IMDS despite the environment.
	p := &Prober{Clock: newFakeClock(), IMDSBase: "http://" + fakeIMDSHost, Transport: newTransport(dial),
		Getenv: env(nil), Root: sysroot.Root(t.TempDir())}
	if _, err := p.Check(context.Background(), nil); err != nil {
		t.Fatalf("Check: %v", err)
	}
	if _, err := p.Instance(context.Background()); err != nil {
		t.Fatalf("Instance: %v", err)
	}
	reqs := fake.Requests()
	if len(reqs) != 2 || badRequests(reqs) != 0 {
		t.Errorf("IMDS saw %+v, want 2 direct requests", reqs)
	}
	fmt.Println("child: prober requests went direct")
}
