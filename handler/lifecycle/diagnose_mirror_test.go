package lifecycle

import (
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/Azure/aadsshlogin-extension-linux/distros/repo"
)

// answering is an internet where the packages endpoint answers with a fixed
// HTTP status and every other host with 200.
type answering struct {
	host   string
	status int
}

func (a answering) RoundTrip(r *http.Request) (*http.Response, error) {
	code := http.StatusOK
	if r.URL.Host == a.host {
		code = a.status
	}
	return &http.Response{StatusCode: code, Body: io.NopCloser(strings.NewReader("")), Request: r}, nil
}

func checkNamed(checks []Check, name string) *Check {
	for i := range checks {
		if checks[i].Name == name {
			return &checks[i]
		}
	}
	return nil
}

// TestDiagnoseJudgesMirrorAnswer: the packages endpoint is judged by its
// HTTP status, not "ok" for any answer: 2xx/3xx are fine, 401/403 point at
// credentials or a firewall, 404 at a URL that is not a mirror, 407 at the
// proxy, 5xx at the server.
func TestDiagnoseJudgesMirrorAnswer(t *testing.T) {
	tests := []struct {
		status int
		result result
		want   string // in Detail+Fix
	}{
		{200, resultOK, "HTTP 200"},
		{204, resultOK, "HTTP 204"},
		{302, resultOK, "HTTP 302"},
		{401, resultFail, "credentials"},
		{403, resultFail, "firewall"},
		{404, resultFail, "keys/microsoft.asc"},
		{407, resultFail, "proxy"},
		{410, resultFail, "HTTP 410"},
		{500, resultFail, "HTTP 500"},
		{503, resultFail, "HTTP 503"},
	}
	key, _ := json.Marshal(string(repo.PinnedKeys()[0]))
	for _, tc := range tests {
		t.Run(http.StatusText(tc.status), func(t *testing.T) {
			h := newHarness(t)
			h.settings(0, `{"mirror":{"url":"https://mirror.example.com/ms","publicKey":`+string(key)+`}}`)
			d := h.deps()
			d.Outbound = answering{host: "mirror.example.com", status: tc.status}
			code, checks := diagnoseJSON(t, h, d)
			got := checkNamed(checks, "endpoint: packages")
			if got == nil {
				t.Fatalf("no packages endpoint row:\n%s", h.stdout.String())
			}
			if got.Result != tc.result || !strings.Contains(got.Detail+" "+got.Fix, tc.want) {
				t.Errorf("row = %+v, want %s mentioning %q", *got, tc.result, tc.want)
			}
			if tc.result == resultFail && (got.Code != 52 || code != 52) {
				t.Errorf("code %d, exit %d; want 52", got.Code, code)
			}
		})
	}
}

// TestDiagnoseShowsOnlyTheHostOfAProtectedMirror: diagnose prints the
// protected mirror as its host, in the settings row and the endpoint row,
// whatever the mirror answers.
func TestDiagnoseShowsOnlyTheHostOfAProtectedMirror(t *testing.T) {
	for _, status := range []int{200, 404} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			h := newHarness(t)
			d := h.deps()
			d.Runner = opensslThrough{fake: h.runner}
			thumb := agentCert(t, h)
			prot := encryptFor(t, h, thumb, `{"mirror":{"url":"https://mirror.corp.example/internal-path/aad-2024"}}`)
			key, _ := json.Marshal(string(repo.PinnedKeys()[0]))
			h.write(filepath.Join(h.base, "config", "0.settings"), rawSettings(`{"mirror":{"publicKey":`+string(key)+`}}`, jsonStr(prot), jsonStr(thumb)))
			d.Outbound = answering{host: "mirror.corp.example", status: status}
			for _, args := range [][]string{{"h", "diagnose"}, {"h", "diagnose", "-json"}} {
				h.stdout.Reset()
				h.stderr.Reset()
				Main(args, d)
				out := h.stdout.String() + h.stderr.String()
				if !strings.Contains(out, "mirror.corp.example") {
					t.Errorf("%v does not name the mirror's host:\n%s", args, out)
				}
				for _, secret := range []string{"internal-path", "aad-2024"} {
					if strings.Contains(out, secret) {
						t.Errorf("%v shows %q of the protected mirror URL:\n%s", args, secret, out)
					}
				}
			}
		})
	}
}

// headRefusing answers HEAD with 405 (some artifact stores do) and GET with 200.
type headRefusing struct{}

func (headRefusing) RoundTrip(r *http.Request) (*http.Response, error) {
	code := http.StatusOK
	if r.Method == http.MethodHead {
		code = http.StatusMethodNotAllowed
	}
	return &http.Response{StatusCode: code, Body: io.NopCloser(strings.NewReader("")), Request: r}, nil
}

// TestDiagnoseMirrorRefusingHEAD: a mirror that does not implement HEAD is
// asked again with GET before its answer is judged.
func TestDiagnoseMirrorRefusingHEAD(t *testing.T) {
	key, _ := json.Marshal(string(repo.PinnedKeys()[0]))
	h := newHarness(t)
	h.settings(0, `{"mirror":{"url":"https://mirror.example.com/ms","publicKey":`+string(key)+`}}`)
	d := h.deps()
	d.Outbound = headRefusing{}
	_, checks := diagnoseJSON(t, h, d)
	if got := checkNamed(checks, "endpoint: packages"); got == nil || got.Result != resultOK || !strings.Contains(got.Detail, "HTTP 200") {
		t.Errorf("packages row = %+v, want ok with the GET answer (HTTP 200)", got)
	}
}
