package identity

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/google/go-cmp/cmp"

	"github.com/Azure/aadsshlogin-extension-linux/handler/clock/clocktest"
	"github.com/Azure/aadsshlogin-extension-linux/handler/failure"
	"github.com/Azure/aadsshlogin-extension-linux/handler/sysroot"
	"github.com/Azure/aadsshlogin-extension-linux/test/fakeimds"
)

func newFakeClock() *clocktest.Fake {
	return clocktest.New(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
}

// costlyTransport makes every try cost d on the fake clock (worst-case timing).
type costlyTransport struct {
	clk *clocktest.Fake
	d   time.Duration
}

func (t costlyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	t.clk.Advance(t.d)
	return newTransport(nil).RoundTrip(r)
}

// env is a Getenv over a map.
func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func secs(v ...int) []time.Duration {
	var d []time.Duration
	for _, s := range v {
		d = append(d, time.Duration(s)*time.Second)
	}
	return d
}

// outcome is what a table case compares.
type outcome struct {
	Code          failure.Code
	Transitioning bool
	Kind          Kind
	UserAssigned  bool
	// NotInMessage lists expected substrings missing from the message.
	NotInMessage  []string
	Sleeps        []time.Duration
	TokenRequests int
	// BadRequests counts requests without Metadata: true or in proxy form.
	BadRequests int
}

func startFake(t testing.TB, name string) (*fakeimds.Server, *httptest.Server) {
	t.Helper()
	sc, ok := fakeimds.Lookup(name)
	if !ok {
		t.Fatalf("unknown scenario %q", name)
	}
	fake := fakeimds.New(sc, nil)
	hs := httptest.NewServer(fake)
	t.Cleanup(func() { fake.Close(); hs.Close() })
	return fake, hs
}

// scenarioProber returns a Prober that talks to hs, which plays scenario
// name: for an Arc scenario the Arc variables point at hs and the root holds
// the HIMDS challenge files.
func scenarioProber(t testing.TB, name string, hs *httptest.Server) *Prober {
	t.Helper()
	root := t.TempDir()
	if err := fakeimds.PrepareArcRoot(root); err != nil {
		t.Fatal(err)
	}
	sc, ok := fakeimds.Lookup(name)
	if !ok {
		t.Fatalf("unknown scenario %q", name)
	}
	e := map[string]string{}
	if sc.Arc {
		e = map[string]string{"IDENTITY_ENDPOINT": hs.URL + fakeimds.TokenPath, "IMDS_ENDPOINT": hs.URL}
	}
	return &Prober{Clock: newFakeClock(), IMDSBase: hs.URL, Getenv: env(e), Root: sysroot.Root(root)}
}

func badRequests(reqs []fakeimds.Request) int {
	n := 0
	for _, r := range reqs {
		if r.Metadata != "true" || r.ProxyForm || r.Forwarded != "" {
			n++
		}
	}
	return n
}

func missingFrom(msg string, want []string) []string {
	var out []string
	for _, w := range want {
		if !strings.Contains(msg, w) {
			out = append(out, w)
		}
	}
	return out
}

func TestCheckScenarios(t *testing.T) {
	sevenProbes := secs(10, 10, 10, 10, 10, 10)
	tests := []struct {
		scenario string
		window   time.Duration
		contains []string
		want     outcome
	}{
		{scenario: "present", want: outcome{Kind: AzureVM, TokenRequests: 1}},
		{scenario: "gov-present", want: outcome{Kind: AzureVM, TokenRequests: 1}},
		{scenario: "missing",
			contains: []string{"no system-assigned managed identity", "`az vm identity assign -g rg1 -n vm1`", "7 probe(s) over 1m0s", `"invalid_request"`},
			want:     outcome{Code: 22, Transitioning: true, Kind: AzureVM, Sleeps: sevenProbes, TokenRequests: 7}},
		{scenario: "missing", window: 5 * time.Second,
			contains: []string{"`az vm identity assign -g rg1 -n vm1`", "1 probe(s)"},
			want:     outcome{Code: 22, Transitioning: true, Kind: AzureVM, TokenRequests: 1}},
		{scenario: "missing", window: time.Hour, // clamped to the 150 s bound
			contains: []string{"15 probe(s) over 2m20s"},
			want: outcome{Code: 22, Transitioning: true, Kind: AzureVM,
				Sleeps: secs(10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10), TokenRequests: 15}},
		{scenario: "user-assigned",
			contains: []string{"user-assigned managed identity", "userAssignedIdentities/ua1", "no system-assigned one", "`az vm identity assign -g rg1 -n vm1`"},
			want:     outcome{Code: 22, Transitioning: true, Kind: AzureVM, UserAssigned: true, Sleeps: sevenProbes, TokenRequests: 7}},
		{scenario: "vmss-missing",
			contains: []string{"`az vmss identity assign -g rg1 -n vmss1`"},
			want:     outcome{Code: 22, Transitioning: true, Kind: AzureVM, Sleeps: sevenProbes, TokenRequests: 7}},
		{scenario: "compute-malformed",
			contains: []string{"`az vm identity assign -g <resource-group> -n <vm-name>`"},
			want:     outcome{Code: 22, Transitioning: true, Kind: AzureVM, Sleeps: sevenProbes, TokenRequests: 7}},
		{scenario: "missing-then-present", want: outcome{Kind: AzureVM, Sleeps: secs(10, 10), TokenRequests: 3}},
		{scenario: "gone-then-present", want: outcome{Kind: AzureVM, Sleeps: secs(2, 6), TokenRequests: 3}},
		{scenario: "error-then-present", want: outcome{Kind: AzureVM, Sleeps: secs(2, 6), TokenRequests: 3}},
		{scenario: "throttled-then-present", want: outcome{Kind: AzureVM, Sleeps: secs(2), TokenRequests: 2}},
		{scenario: "notfound-then-present", want: outcome{Kind: AzureVM, Sleeps: secs(2), TokenRequests: 2}},
		{scenario: "always-500",
			contains: []string{"kept answering HTTP 500", `error "unknown"`, "5 attempt(s) over 52s"},
			want:     outcome{Code: 52, Kind: AzureVM, Sleeps: secs(2, 6, 14, 30), TokenRequests: 5}},
		{scenario: "always-503",
			contains: []string{"kept answering HTTP 503"},
			want:     outcome{Code: 52, Kind: AzureVM, Sleeps: secs(2, 6, 14, 30), TokenRequests: 5}},
		{scenario: "always-410", // retried until 70 s after the first try
			contains: []string{"kept answering HTTP 410", "7 attempt(s) over 1m10s"},
			want:     outcome{Code: 52, Kind: AzureVM, Sleeps: secs(2, 6, 14, 30, 10, 8), TokenRequests: 7}},
		{scenario: "forbidden",
			contains: []string{"HTTP 403", `"unknown_source"`, "not retried"},
			want:     outcome{Code: 52, Kind: AzureVM, TokenRequests: 1}},
		{scenario: "bad-resource",
			contains: []string{"HTTP 400", `"invalid_resource"`, "not retried"},
			want:     outcome{Code: 52, Kind: AzureVM, TokenRequests: 1}},
		{scenario: "malformed",
			contains: []string{"not with a token response", "must not be proxied"},
			want:     outcome{Code: 52, Kind: AzureVM, TokenRequests: 1}},
		{scenario: "slow",
			contains: []string{"timed out after 5 attempt(s)", "no_proxy=169.254.169.254"},
			want:     outcome{Code: 52, Kind: AzureVM, Sleeps: secs(2, 6, 14, 30), TokenRequests: 5}},
	}
	for _, tc := range tests {
		t.Run(tc.scenario+"/"+tc.window.String(), func(t *testing.T) {
			fake, hs := startFake(t, tc.scenario)
			clk := newFakeClock()
			// A short try timeout only where the fake holds answers back:
			// elsewhere a loaded machine must not turn answers into timeouts.
			tryTimeout := 5 * time.Second
			if tc.scenario == "slow" {
				tryTimeout = 100 * time.Millisecond
			}
			p := &Prober{Clock: clk, IMDSBase: hs.URL, Getenv: env(nil), Root: sysroot.Root(t.TempDir()),
				Window: tc.window, TryTimeout: tryTimeout}
			id, err := p.Check(context.Background(), nil)
			code := failure.CodeOf(err)
			got := outcome{
				Code: code, Transitioning: code.Transitioning(), Kind: id.Kind, UserAssigned: id.UserAssigned,
				NotInMessage: missingFrom(failure.Message(err), tc.contains), Sleeps: clk.Sleeps(),
				TokenRequests: fake.TokenRequests(), BadRequests: badRequests(fake.Requests()),
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Check(%s) mismatch (-want +got):\n%s\nmessage: %v\nrequests: %+v", tc.scenario, diff, err, fake.Requests())
			}
		})
	}
}

// On the exit-22 path the az command's names come from the caller's
// instance metadata when it has them: no second compute request then. Only a
// caller without them makes Check ask IMDS (once, no retries).
func TestCheckKnownInstance(t *testing.T) {
	type result struct {
		Code            failure.Code
		NotInMessage    []string
		TokenRequests   int
		ComputeRequests int
	}
	tests := []struct {
		name     string
		scenario string
		known    *Instance
		contains []string
		want     result
	}{
		{name: "known VM", scenario: "missing", known: &Instance{ResourceGroup: "rg-known", Name: "vm-known"},
			contains: []string{"`az vm identity assign -g rg-known -n vm-known`"},
			want:     result{Code: 22, TokenRequests: 1}},
		{name: "known scale set", scenario: "user-assigned", known: &Instance{ResourceGroup: "rg-known", Name: "vm_0", VMScaleSetName: "ss-known"},
			contains: []string{"`az vmss identity assign -g rg-known -n ss-known`"},
			want:     result{Code: 22, TokenRequests: 1}},
		{name: "known but empty: placeholders, still no fetch", scenario: "missing", known: &Instance{},
			contains: []string{"`az vm identity assign -g <resource-group> -n <vm-name>`"},
			want:     result{Code: 22, TokenRequests: 1}},
		{name: "unknown: one fallback fetch", scenario: "missing",
			contains: []string{"`az vm identity assign -g rg1 -n vm1`"},
			want:     result{Code: 22, TokenRequests: 1, ComputeRequests: 1}},
		{name: "unknown, compute unusable: one try, placeholders", scenario: "compute-malformed",
			contains: []string{"`az vm identity assign -g <resource-group> -n <vm-name>`"},
			want:     result{Code: 22, TokenRequests: 1, ComputeRequests: 1}},
		{name: "identity present: names never needed", scenario: "present",
			want: result{TokenRequests: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fake, hs := startFake(t, tc.scenario)
			p := scenarioProber(t, tc.scenario, hs)
			p.Window = time.Second // one probe
			_, err := p.Check(context.Background(), tc.known)
			got := result{Code: failure.CodeOf(err), NotInMessage: missingFrom(failure.Message(err), tc.contains),
				TokenRequests: fake.TokenRequests()}
			for _, r := range fake.Requests() {
				if r.Path == computePath {
					got.ComputeRequests++
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Check mismatch (-want +got):\n%s\nmessage: %v\nrequests: %+v", diff, err, fake.Requests())
			}
		})
	}
}

// An unreachable IMDS is a network problem (52), never a missing identity (22).
func TestCheckUnreachable(t *testing.T) {
	addr := refusedAddr(t) // nothing listens there: connection refused
	clk := newFakeClock()
	p := &Prober{Clock: clk, IMDSBase: "http://" + addr, Getenv: env(nil), Root: sysroot.Root(t.TempDir())}
	_, err := p.Check(context.Background(), nil)
	type result struct {
		Code         failure.Code
		NotInMessage []string
		Sleeps       []time.Duration
	}
	got := result{failure.CodeOf(err), missingFrom(failure.Message(err),
		[]string{"connection refused after 5 attempt(s)", "no_proxy=169.254.169.254", "must not be proxied"}), clk.Sleeps()}
	want := result{Code: 52, Sleeps: secs(2, 6, 14, 30)}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("mismatch (-want +got):\n%s\n%v", diff, err)
	}
}

// Whatever IMDS does, and even when every try takes the full TryTimeout,
// Check finishes within MaxCheckDuration on its clock.
func TestCheckHardBound(t *testing.T) {
	// costlyTransport makes every try last the full DefaultTryTimeout on
	// the clock, i.e. it plays the "slow" scenario against every script.
	for _, name := range []string{"missing", "user-assigned", "always-500", "always-410", "missing-then-present", "arc-missing-identity", "arc-present"} {
		t.Run(name, func(t *testing.T) {
			_, hs := startFake(t, name)
			clk := newFakeClock()
			p := scenarioProber(t, name, hs)
			p.Clock, p.Window, p.Transport = clk, time.Hour, costlyTransport{clk, DefaultTryTimeout}
			start := clk.Now()
			p.Check(context.Background(), nil)
			took := clk.Now().Sub(start)
			t.Logf("Check took %s on its clock", took)
			if took > MaxCheckDuration {
				t.Errorf("Check took %s on its clock, more than MaxCheckDuration %s", took, MaxCheckDuration)
			}
		})
	}
}

// The caller's cancellation ends Check with exit 52, not 22.
func TestCheckCancelled(t *testing.T) {
	_, hs := startFake(t, "missing")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p := &Prober{Clock: newFakeClock(), IMDSBase: hs.URL, Getenv: env(nil), Root: sysroot.Root(t.TempDir())}
	_, err := p.Check(ctx, nil)
	if got := failure.CodeOf(err); got != failure.Dependency {
		t.Errorf("cancelled Check: code %d (%v), want 52", got, err)
	}
}

func TestCheckRequestShape(t *testing.T) {
	fake, hs := startFake(t, "present")
	p := &Prober{Clock: newFakeClock(), IMDSBase: hs.URL, Getenv: env(nil), Root: sysroot.Root(t.TempDir())}
	if _, err := p.Check(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	reqs := fake.Requests()
	if len(reqs) != 1 {
		t.Fatalf("got %d requests, want 1: %+v", len(reqs), reqs)
	}
	r := reqs[0]
	type shape struct{ Method, Path, Query, Metadata, Authorization string }
	got := shape{r.Method, r.Path, r.Query, r.Metadata, r.Authorization}
	want := shape{"GET", "/metadata/identity/oauth2/token", "api-version=2018-02-01&resource=ce6ff14a-7fdc-4685-bbe0-f6afdfcfa8e0", "true", ""}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("token request (-want +got):\n%s", diff)
	}
	if !strings.Contains(r.UserAgent, "AADSSHLoginForLinux") {
		t.Errorf("User-Agent %q lacks the application ID", r.UserAgent)
	}
}

// Every request of every flow carries Metadata: true: a recording transport
// sees them all, including retries, compute metadata and Arc's two steps.
func TestMetadataHeaderAlwaysSent(t *testing.T) {
	for _, name := range []string{"present", "missing", "always-500", "gone-then-present", "arc-present", "arc-missing-identity"} {
		t.Run(name, func(t *testing.T) {
			_, hs := startFake(t, name)
			rec := &recordingTransport{next: newTransport(nil)}
			p := scenarioProber(t, name, hs)
			p.Transport = rec
			p.Check(context.Background(), nil)
			p.Instance(context.Background())
			n, without := rec.counts()
			if n == 0 || without != 0 {
				t.Errorf("%d requests, %d without Metadata: true; want >0 and 0", n, without)
			}
		})
	}
}

type recordingTransport struct {
	next    http.RoundTripper
	mu      sync.Mutex
	n, miss int
}

func (r *recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.n++
	if req.Header.Get("Metadata") != "true" {
		r.miss++
	}
	r.mu.Unlock()
	return r.next.RoundTrip(req)
}

func (r *recordingTransport) counts() (int, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n, r.miss
}

// The token (and the Arc secret) never reaches the logs or the messages.
func TestTokenNeverLogged(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	logger := log.NewLogfmtLogger(log.NewSyncWriter(&lockedWriter{&buf, &mu}))
	var msgs []string
	for _, name := range []string{"present", "user-assigned", "malformed", "gone-then-present", "arc-present", "arc-missing-identity"} {
		_, hs := startFake(t, name)
		p := scenarioProber(t, name, hs)
		p.Logger = logger
		_, err := p.Check(context.Background(), nil)
		msgs = append(msgs, failure.Message(err))
	}
	mu.Lock()
	logs := buf.String()
	mu.Unlock()
	// The logs are not empty: they do record the identity's resource ID.
	if !strings.Contains(logs, "userAssignedIdentities/ua1") {
		t.Fatalf("logs lack the user-assigned resource ID; the test would prove nothing:\n%s", logs)
	}
	all := logs + strings.Join(msgs, "\n")
	for _, secret := range []string{
		fakeimds.Signature, fakeimds.Token(fakeimds.SystemMIResID), fakeimds.Token(fakeimds.UserMIResID),
		strings.Split(fakeimds.Token(fakeimds.SystemMIResID), ".")[1], fakeimds.ArcKey, "access_token",
	} {
		if strings.Contains(all, secret) {
			t.Errorf("secret %q found in logs or messages:\n%s", secret, all)
		}
	}
}

type lockedWriter struct {
	b  *bytes.Buffer
	mu *sync.Mutex
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func TestInstance(t *testing.T) {
	tests := []struct {
		scenario string
		arc      bool
		want     Instance
		wantCode failure.Code
	}{
		{scenario: "present", want: Instance{AzEnvironment: "AzurePublicCloud", Name: "vm1", ResourceGroup: "rg1",
			SubscriptionID: "00000000-0000-0000-0000-000000000000", Location: "westeurope"}},
		{scenario: "vmss-missing", want: Instance{AzEnvironment: "AzurePublicCloud", Name: "vm1", ResourceGroup: "rg1",
			SubscriptionID: "00000000-0000-0000-0000-000000000000", Location: "westeurope", VMScaleSetName: "vmss1"}},
		{scenario: "gov-present", want: Instance{AzEnvironment: "AzureUSGovernmentCloud", Name: "vm1", ResourceGroup: "rg1",
			SubscriptionID: "00000000-0000-0000-0000-000000000000", Location: "westeurope"}},
		{scenario: "compute-malformed", wantCode: failure.Dependency},
		{scenario: "arc-present", arc: true},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			fake, hs := startFake(t, tc.scenario)
			e := map[string]string{}
			if tc.arc {
				e = map[string]string{"IDENTITY_ENDPOINT": hs.URL + fakeimds.TokenPath, "IMDS_ENDPOINT": hs.URL}
			}
			p := &Prober{Clock: newFakeClock(), IMDSBase: hs.URL, Getenv: env(e), Root: sysroot.Root(t.TempDir())}
			got, err := p.Instance(context.Background())
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Instance (-want +got):\n%s", diff)
			}
			if code := failure.CodeOf(err); code != tc.wantCode {
				t.Errorf("code %d (%v), want %d", code, err, tc.wantCode)
			}
			wantReqs := 1
			if tc.arc {
				wantReqs = 0
			}
			if n := len(fake.Requests()); n != wantReqs {
				t.Errorf("%d requests, want %d", n, wantReqs)
			}
			if !tc.arc && fake.Requests()[0].Query != "api-version=2021-02-01" {
				t.Errorf("query %q", fake.Requests()[0].Query)
			}
		})
	}
}

func TestInstanceUnreachable(t *testing.T) {
	addr := refusedAddr(t)
	p := &Prober{Clock: newFakeClock(), IMDSBase: "http://" + addr, Getenv: env(nil), Root: sysroot.Root(t.TempDir())}
	_, err := p.Instance(context.Background())
	if failure.CodeOf(err) != failure.Dependency || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("got %v, want exit 52 naming the refused connection", err)
	}
}

func TestIsArc(t *testing.T) {
	withHimds := t.TempDir()
	if err := os.MkdirAll(filepath.Join(withHimds, "opt/azcmagent/bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(withHimds, HIMDSBinary), nil, 0o755); err != nil {
		t.Fatal(err)
	}
	both := map[string]string{"IDENTITY_ENDPOINT": "http://localhost:40342/metadata/identity/oauth2/token", "IMDS_ENDPOINT": "http://localhost:40342"}
	tests := []struct {
		name string
		env  map[string]string
		root string
		want bool
	}{
		{"plain VM", nil, t.TempDir(), false},
		{"both variables", both, t.TempDir(), true},
		{"only IDENTITY_ENDPOINT", map[string]string{"IDENTITY_ENDPOINT": both["IDENTITY_ENDPOINT"]}, t.TempDir(), false},
		{"himds binary", nil, withHimds, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &Prober{Getenv: env(tc.env), Root: sysroot.Root(tc.root)}
			if got := p.IsArc(); got != tc.want {
				t.Errorf("IsArc = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestFixCommand(t *testing.T) {
	tests := []struct {
		in   Instance
		want string
	}{
		{Instance{}, "az vm identity assign -g <resource-group> -n <vm-name>"},
		{Instance{Name: "vm1", ResourceGroup: "rg1"}, "az vm identity assign -g rg1 -n vm1"},
		{Instance{Name: "vm1_0", ResourceGroup: "rg1", VMScaleSetName: "ss"}, "az vmss identity assign -g rg1 -n ss"},
		{Instance{Name: "vm", ResourceGroup: "my(rg)"}, "az vm identity assign -g 'my(rg)' -n vm"},
		{Instance{Name: "a'b", ResourceGroup: "rg\n"}, "az vm identity assign -g <resource-group> -n <vm-name>"},
		{Instance{ResourceGroup: "rg"}, "az vm identity assign -g rg -n <vm-name>"},
	}
	for _, tc := range tests {
		if got := fixCommand(tc.in); got != tc.want {
			t.Errorf("fixCommand(%+v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// Oversized bodies are refused, not read into memory without bound.
func TestBodyLimit(t *testing.T) {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		chunk := bytes.Repeat([]byte("a"), 64<<10)
		for i := 0; i < 40; i++ {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	defer hs.Close()
	p := &Prober{Clock: newFakeClock(), IMDSBase: hs.URL, Getenv: env(nil), Root: sysroot.Root(t.TempDir())}
	_, err := p.Check(context.Background(), nil)
	if failure.CodeOf(err) != failure.Dependency || !errors.Is(err, errBodyTooLarge) {
		t.Errorf("got %v, want exit 52 wrapping errBodyTooLarge", err)
	}
}

func BenchmarkCheckHealthy(b *testing.B) {
	_, hs := startFake(b, "present")
	p := &Prober{Clock: newFakeClock(), IMDSBase: hs.URL, Getenv: env(nil), Root: sysroot.Root(b.TempDir())}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Check(ctx, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// The unreachable-IMDS advice names the guest agent's unit of the machine:
// waagent.service on RHEL, walinuxagent.service on Debian.
func TestUnreachableNamesAgentUnit(t *testing.T) {
	addr := refusedAddr(t)
	for _, tc := range []struct{ osRelease, want, notWant string }{
		{"ID=\"rhel\"\nVERSION_ID=\"9.4\"\n", "waagent.service", "walinuxagent"},
		{"ID=debian\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\n", "walinuxagent.service", "`systemctl edit waagent`"},
	} {
		root := t.TempDir()
		if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, "etc", "os-release"), []byte(tc.osRelease), 0o644); err != nil {
			t.Fatal(err)
		}
		p := &Prober{Clock: newFakeClock(), IMDSBase: "http://" + addr, Getenv: env(nil), Root: sysroot.Root(root)}
		_, err := p.Check(context.Background(), nil)
		if msg := failure.Message(err); !strings.Contains(msg, tc.want) || strings.Contains(msg, tc.notWant) {
			t.Errorf("%q: message should name %q and not %q: %s", tc.osRelease, tc.want, tc.notWant, msg)
		}
	}
}

// refusedAddr returns a loopback address nothing listens on (connection
// refused).
func refusedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
