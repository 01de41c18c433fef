package lifecycle

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/Azure/aadsshlogin-extension-linux/distros/repo"
)

// fakeInternet answers every outbound request with 200 and records hosts.
type fakeInternet struct {
	mu    sync.Mutex
	hosts []string
}

func (f *fakeInternet) RoundTrip(r *http.Request) (*http.Response, error) {
	f.mu.Lock()
	f.hosts = append(f.hosts, r.URL.Host)
	f.mu.Unlock()
	return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader("")), Request: r}, nil
}

// diagnoseJSON runs `diagnose -json` and decodes its rows.
func diagnoseJSON(t *testing.T, h *harness, d Deps) (int, []Check) {
	t.Helper()
	code := Main([]string{"h", "diagnose", "-json"}, d)
	var checks []Check
	if err := json.Unmarshal(h.stdout.Bytes(), &checks); err != nil {
		t.Fatalf("diagnose -json output: %v\n%s", err, h.stdout.String())
	}
	return code, checks
}

func TestDiagnose(t *testing.T) {
	tests := []struct {
		name  string
		ident string
		// noInstance: IMDS's instance metadata fails (install and enable
		// go on without it).
		noInstance bool
		wantCode   int
		// wantResults maps check name to result for the rows that matter.
		wantResults map[string]string
	}{
		{name: "identity present", ident: "present", wantCode: 0,
			wantResults: map[string]string{"managed identity": "ok", "distribution": "ok", "memory": "ok", "endpoint: packages": "ok"}},
		{name: "identity missing", ident: "missing", wantCode: 22,
			wantResults: map[string]string{"managed identity": "FAIL", "distribution": "ok"}},
		{name: "instance metadata unavailable", ident: "present", noInstance: true, wantCode: 0,
			wantResults: map[string]string{"instance metadata": "warning", "managed identity": "ok", "distribution": "ok"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.ident, h.noInstance = tc.ident, tc.noInstance
			net := &fakeInternet{}
			d := h.deps()
			d.Outbound = net
			code, checks := diagnoseJSON(t, h, d)
			got := map[string]string{}
			for _, c := range checks {
				if _, ok := tc.wantResults[c.Name]; ok {
					got[c.Name] = string(c.Result)
				}
			}
			if d := cmp.Diff(tc.wantResults, got); d != "" {
				t.Errorf("results (-want +got):\n%s\n%s", d, h.stdout.String())
			}
			if code != tc.wantCode {
				t.Errorf("exit %d, want %d", code, tc.wantCode)
			}
			if len(h.runner.Calls) > 0 {
				for _, l := range h.runner.Lines() {
					if strings.Contains(l, "install") || strings.Contains(l, "update") {
						t.Errorf("diagnose changed the machine: %s", l)
					}
				}
			}
			wantHosts := []string{"packages.microsoft.com", "login.microsoftonline.com", "pas.windows.net"}
			if d := cmp.Diff(wantHosts, net.hosts); d != "" {
				t.Errorf("endpoints tried (-want +got):\n%s", d)
			}
		})
	}
}

func TestDiagnoseTable(t *testing.T) {
	h := newHarness(t)
	d := h.deps()
	d.Outbound = &fakeInternet{}
	Main([]string{"h", "diagnose"}, d)
	out := h.stdout.String()
	if !strings.HasPrefix(out, "CHECK") || !strings.Contains(out, "managed identity") {
		t.Errorf("table output:\n%s", out)
	}
	if code := Main([]string{"h", "diagnose", "-bogus"}, d); code != 2 {
		t.Errorf("bad flag exit %d", code)
	}
}

func TestProxyFor(t *testing.T) {
	env := map[string]string{"https_proxy": "http://proxy.corp:3128", "no_proxy": "169.254.169.254,.internal"}
	get := func(k string) string { return env[k] }
	tests := []struct {
		url  string
		want string
	}{
		{"https://packages.microsoft.com/keys/microsoft.asc", "http://proxy.corp:3128"},
		{"https://repo.internal/x", ""},
		{"http://169.254.169.254/metadata", ""},
	}
	for _, tc := range tests {
		u, _ := url.Parse(tc.url)
		p, err := proxyFor(get, u)
		got := ""
		if p != nil {
			got = p.String()
		}
		if err != nil || got != tc.want {
			t.Errorf("proxyFor(%s) = %q, %v; want %q", tc.url, got, err, tc.want)
		}
	}
}

func TestDiagnoseChecksConfiguredMirror(t *testing.T) {
	h := newHarness(t)
	key, _ := json.Marshal(string(repo.PinnedKeys()[0]))
	h.settings(0, `{"mirror":{"url":"https://mirror.example.com/ms","publicKey":`+string(key)+`}}`)
	net := &fakeInternet{}
	d := h.deps()
	d.Outbound = net
	Main([]string{"h", "diagnose", "-json"}, d)
	if len(net.hosts) == 0 || net.hosts[0] != "mirror.example.com" {
		t.Errorf("endpoints tried: %v, want the mirror first", net.hosts)
	}
	if !strings.Contains(h.stdout.String(), "private mirror https://mirror.example.com/ms") {
		t.Errorf("no settings row:\n%s", h.stdout.String())
	}
}

func TestDiagnoseReportsBadSettings(t *testing.T) {
	tests := []struct {
		name, settings, want string
	}{
		{"key that is not a key", `{"mirror":{"url":"https://mirror.example.com/ms","publicKey":"-----BEGIN PGP PUBLIC KEY BLOCK-----\\nx\\n-----END PGP PUBLIC KEY BLOCK-----"}}`, "mirror.publicKey"},
		{"http mirror", `{"mirror":{"url":"http://mirror.example.com/ms"}}`, "mirror.url"},
		{"unknown key", `{"mirrror":{}}`, "public settings are invalid"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.settings(0, tc.settings)
			net := &fakeInternet{}
			d := h.deps()
			d.Outbound = net
			code, checks := diagnoseJSON(t, h, d)
			var got *Check
			for i := range checks {
				if checks[i].Name == "settings" {
					got = &checks[i]
				}
			}
			if got == nil {
				t.Fatalf("no settings row:\n%s", h.stdout.String())
			}
			if got.Result != resultFail || got.Code != 53 || !strings.Contains(got.Detail, tc.want) {
				t.Errorf("settings row = %+v, want FAIL, code 53, detail containing %q", *got, tc.want)
			}
			if code == 0 {
				t.Errorf("diagnose exit = 0 with invalid settings")
			}
		})
	}
}

func TestPackageProxy(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"none", nil, ""},
		{"https_proxy wins", map[string]string{"https_proxy": "http://p1:3128", "HTTPS_PROXY": "http://p2:3128", "http_proxy": "http://p3:80"}, "http://p1:3128"},
		{"upper case", map[string]string{"HTTPS_PROXY": "http://p2:3128"}, "http://p2:3128"},
		{"http_proxy as fallback", map[string]string{"http_proxy": "http://p3:80"}, "http://p3:80"},
		{"credentials and path dropped", map[string]string{"https_proxy": "http://user:hunter2@proxy.corp:8080/x?y=1"}, "http://proxy.corp:8080"},
		{"bare host:port", map[string]string{"https_proxy": "proxy.corp:8080"}, "http://proxy.corp:8080"},
		{"unparsable", map[string]string{"https_proxy": "http://[::1"}, "(the unparsable value of https_proxy)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := packageProxy(func(k string) string { return tc.env[k] })
			if got != tc.want {
				t.Errorf("packageProxy = %q, want %q", got, tc.want)
			}
			if strings.Contains(got, "hunter2") {
				t.Errorf("credentials leaked: %q", got)
			}
		})
	}
}
