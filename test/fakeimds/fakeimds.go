// Package fakeimds is a scripted stand-in for Azure IMDS and Azure Arc HIMDS,
// for tests of handler/identity: as an http.Handler (httptest) and, through
// cmd/fakeimds, as a process bound to 169.254.169.254:80 inside a network
// namespace.
//
// A Scenario says how the token endpoint answers its n-th request (the last
// reply repeats), what compute metadata is served, and whether the Arc
// 401 challenge is played first. Every request is recorded (and written as
// a JSON line to the log writer, if any) so tests can assert on headers.
package fakeimds

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// Paths and fixed values.
const (
	TokenPath   = "/metadata/identity/oauth2/token"
	ComputePath = "/metadata/instance/compute"
	// ArcTokenDir is where HIMDS keeps its challenge files (under a test's root).
	ArcTokenDir = "/var/opt/azcmagent/tokens"
	// ArcKey is the secret in the good challenge file.
	ArcKey = "arc-secret-0123456789abcdef"

	// SystemMIResID is the xms_mirid of a VM's system-assigned identity.
	SystemMIResID = "/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/rg1/providers/Microsoft.Compute/virtualMachines/vm1"
	// UserMIResID is the xms_mirid of a user-assigned identity.
	UserMIResID = "/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/rg1/providers/Microsoft.ManagedIdentity/userAssignedIdentities/ua1"

	// Signature is the (fake) signature segment of every token served; it
	// must never show up in a client's logs or messages.
	Signature = "ZmFrZS1zaWduYXR1cmUtbmV2ZXItbG9nLW1l"

	// MissingBody is IMDS's answer when the VM has no identity.
	MissingBody = `{"error":"invalid_request","error_description":"Identity not found"}`
	// NoMetadataBody is IMDS's answer when the Metadata header is missing.
	NoMetadataBody = `{"error":"bad_request_102","error_description":"Required metadata header not specified"}`
)

// Token returns an unsigned JWT whose payload carries xms_mirid = miResID.
func Token(miResID string) string {
	enc := base64.RawURLEncoding
	header := enc.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT"}`))
	claims, _ := json.Marshal(map[string]any{
		"aud": "ce6ff14a-7fdc-4685-bbe0-f6afdfcfa8e0", "iss": "https://sts.windows.net/tenant/",
		"xms_mirid": miResID, "exp": 4102444800,
	})
	return header + "." + enc.EncodeToString(claims) + "." + Signature
}

// TokenBody is a 200 token response for miResID.
func TokenBody(miResID string) string {
	b, _ := json.Marshal(map[string]string{
		"access_token": Token(miResID), "refresh_token": "", "expires_in": "86399",
		"expires_on": "4102444800", "not_before": "4102358400",
		"resource": "ce6ff14a-7fdc-4685-bbe0-f6afdfcfa8e0", "token_type": "Bearer",
	})
	return string(b)
}

// ErrorBody is an IMDS error response.
func ErrorBody(code, desc string) string {
	b, _ := json.Marshal(map[string]string{"error": code, "error_description": desc})
	return string(b)
}

// Reply is one scripted answer of the token endpoint.
type Reply struct {
	Status int
	// Body defaults to a system-assigned token for 200 and to a generic
	// error body otherwise.
	Body string
	// Delay holds the answer back (ends early when the client gives up or
	// the server is closed). Used for the timeout scenario.
	Delay time.Duration
}

// Compute is the compute metadata served; Raw, when set, is served verbatim.
type Compute struct {
	AzEnvironment     string `json:"azEnvironment,omitempty"`
	Name              string `json:"name,omitempty"`
	ResourceGroupName string `json:"resourceGroupName,omitempty"`
	SubscriptionID    string `json:"subscriptionId,omitempty"`
	VMScaleSetName    string `json:"vmScaleSetName,omitempty"`
	Location          string `json:"location,omitempty"`
	Raw               string `json:"-"`
}

// Scenario scripts the fake.
type Scenario struct {
	Name        string
	Description string
	// Token[i] answers the i-th (authorised, for Arc) token request; the
	// last one repeats. Empty means a system-assigned token every time.
	Token   []Reply
	Compute Compute
	// Arc plays HIMDS: token requests without `Authorization: Basic ArcKey`
	// get 401 with `WWW-Authenticate: Basic realm=<ArcRealm>`; compute
	// metadata is not served (404).
	Arc      bool
	ArcRealm string
}

// DefaultCompute is the compute metadata of most scenarios.
func DefaultCompute() Compute {
	return Compute{
		AzEnvironment: "AzurePublicCloud", Name: "vm1", ResourceGroupName: "rg1",
		SubscriptionID: "00000000-0000-0000-0000-000000000000", Location: "westeurope",
	}
}

// Scenarios returns the scenario table (a fresh copy on every call).
func Scenarios() []Scenario {
	ok := Reply{Status: 200}
	miss := Reply{Status: 400, Body: MissingBody}
	st := func(code int) Reply { return Reply{Status: code} }
	vmss := DefaultCompute()
	vmss.VMScaleSetName = "vmss1"
	gov := DefaultCompute()
	gov.AzEnvironment = "AzureUSGovernmentCloud"
	arc := func(name, realm, desc string) Scenario {
		return Scenario{Name: name, Description: desc, Arc: true, ArcRealm: realm, Token: []Reply{ok}}
	}
	return []Scenario{
		{Name: "present", Description: "system-assigned token", Token: []Reply{ok}},
		{Name: "missing", Description: `400 invalid_request "Identity not found"`, Token: []Reply{miss}},
		{Name: "user-assigned", Description: "200 with a user-assigned identity's token",
			Token: []Reply{{Status: 200, Body: TokenBody(UserMIResID)}}},
		{Name: "missing-then-present", Description: "identity appears on the third request", Token: []Reply{miss, miss, ok}},
		{Name: "gone-then-present", Description: "410, 410, 200", Token: []Reply{st(410), st(410), ok}},
		{Name: "error-then-present", Description: "500, 500, 200", Token: []Reply{st(500), st(500), ok}},
		{Name: "throttled-then-present", Description: "429, 200", Token: []Reply{st(429), ok}},
		{Name: "notfound-then-present", Description: "404, 200", Token: []Reply{st(404), ok}},
		{Name: "always-500", Description: "500 forever", Token: []Reply{{Status: 500,
			Body: ErrorBody("unknown", "Failed to retrieve token from the Active directory")}}},
		{Name: "always-410", Description: "410 forever", Token: []Reply{st(410)}},
		{Name: "always-503", Description: "503 forever", Token: []Reply{st(503)}},
		{Name: "forbidden", Description: "403 unknown_source (not retried)", Token: []Reply{{Status: 403,
			Body: ErrorBody("unknown_source", "Unknown Source")}}},
		{Name: "bad-resource", Description: "400 invalid_resource (not retried)", Token: []Reply{{Status: 400,
			Body: ErrorBody("invalid_resource", "AADSTS50001: resource not found")}}},
		{Name: "slow", Description: "answers after 1 h (client must time out)", Token: []Reply{{Status: 200, Delay: time.Hour}}},
		{Name: "malformed", Description: "200 with a body that is not JSON", Token: []Reply{{Status: 200, Body: `{"access_token": `}}},
		{Name: "vmss-missing", Description: "missing identity on a scale-set instance", Token: []Reply{miss}, Compute: vmss},
		{Name: "gov-present", Description: "present, Azure Government compute metadata", Token: []Reply{ok}, Compute: gov},
		{Name: "compute-malformed", Description: "compute metadata is not JSON", Token: []Reply{miss},
			Compute: Compute{Raw: `{"name": 42, `}},
		arc("arc-present", ArcTokenDir+"/good.key", "Arc challenge with a good key file"),
		arc("arc-traversal", ArcTokenDir+"/../../../../etc/shadow", "realm escapes with ../"),
		arc("arc-symlink", ArcTokenDir+"/link.key", "realm is a symlink to the good key"),
		arc("arc-oversized", ArcTokenDir+"/big.key", "realm file is larger than 4096 bytes"),
		arc("arc-suffix", ArcTokenDir+"/secret.txt", "realm file does not end in .key"),
		arc("arc-missing", ArcTokenDir+"/missing.key", "realm file does not exist"),
		{Name: "arc-missing-identity", Description: "Arc challenge, then 400 invalid_request", Arc: true,
			ArcRealm: ArcTokenDir + "/good.key", Token: []Reply{miss}},
	}
}

// Lookup finds a scenario by name; compute metadata defaults to DefaultCompute.
func Lookup(name string) (Scenario, bool) {
	for _, s := range Scenarios() {
		if s.Name == name {
			if s.Compute == (Compute{}) && !s.Arc {
				s.Compute = DefaultCompute()
			}
			return s, true
		}
	}
	return Scenario{}, false
}

// Names lists the scenario names, sorted.
func Names() []string {
	var n []string
	for _, s := range Scenarios() {
		n = append(n, s.Name)
	}
	sort.Strings(n)
	return n
}

// PrepareArcRoot lays out HIMDS challenge files under root (a test's
// sysroot): good.key (ArcKey), link.key -> good.key, big.key (5000 bytes),
// secret.txt.
func PrepareArcRoot(root string) error {
	dir := filepath.Join(root, ArcTokenDir)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	files := map[string]string{
		"good.key":   ArcKey,
		"big.key":    strings.Repeat("x", 5000),
		"secret.txt": ArcKey,
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o640); err != nil {
			return err
		}
	}
	return os.Symlink("good.key", filepath.Join(dir, "link.key"))
}

// Request is one recorded request.
type Request struct {
	Method   string `json:"method"`
	Path     string `json:"path"`
	Query    string `json:"query"`
	Metadata string `json:"metadata"`
	// Authorization is "" or "Basic <n bytes>": the secret is not recorded.
	Authorization string `json:"authorization"`
	UserAgent     string `json:"user_agent"`
	// ProxyForm is true when the request line had an absolute URL, i.e. the
	// client treated us as a proxy.
	ProxyForm bool   `json:"proxy_form"`
	Status    int    `json:"status"`
	Forwarded string `json:"forwarded,omitempty"`
}

// Server is the fake. Safe for concurrent use.
type Server struct {
	sc   Scenario
	logw io.Writer
	done chan struct{}

	mu       sync.Mutex
	tokenN   int
	reqs     []Request
	closed   bool
	logError error
}

// New returns a fake serving sc; logw (may be nil) receives one JSON line per request.
func New(sc Scenario, logw io.Writer) *Server {
	return &Server{sc: sc, logw: logw, done: make(chan struct{})}
}

// SetScenario switches the fake to sc from the next request on (the token
// replies start over), e.g. when a test assigns the identity it lacked.
func (s *Server) SetScenario(sc Scenario) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sc, s.tokenN = sc, 0
}

// Close releases requests held back by Reply.Delay.
func (s *Server) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		close(s.done)
	}
}

// Requests returns the requests seen so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.reqs...)
}

// TokenRequests counts token requests (including Arc challenges).
func (s *Server) TokenRequests() int {
	n := 0
	for _, r := range s.Requests() {
		if r.Path == TokenPath {
			n++
		}
	}
	return n
}

// LogError reports the first failure to write the request log.
func (s *Server) LogError() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logError
}

func (s *Server) record(r *http.Request, status int) {
	rec := Request{
		Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
		Metadata: r.Header.Get("Metadata"), UserAgent: r.Header.Get("User-Agent"),
		ProxyForm: strings.HasPrefix(r.RequestURI, "http://") || strings.HasPrefix(r.RequestURI, "https://"),
		Status:    status, Forwarded: r.Header.Get("X-Forwarded-For"),
	}
	if a := r.Header.Get("Authorization"); a != "" {
		scheme, rest, _ := strings.Cut(a, " ")
		rec.Authorization = fmt.Sprintf("%s <%d bytes>", scheme, len(rest))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reqs = append(s.reqs, rec)
	if s.logw != nil {
		line, _ := json.Marshal(rec)
		if _, err := s.logw.Write(append(line, '\n')); err != nil && s.logError == nil {
			s.logError = err
		}
	}
}

func (s *Server) reply(w http.ResponseWriter, r *http.Request, status int, hdr map[string]string, body string) {
	for k, v := range hdr {
		w.Header().Set(k, v)
	}
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
	}
	w.Header().Set("Server", "fakeimds")
	s.record(r, status)
	w.WriteHeader(status)
	io.WriteString(w, body)
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Like IMDS: the Metadata header is mandatory, proxied requests are refused.
	if r.Header.Get("Metadata") != "true" {
		s.reply(w, r, 400, nil, NoMetadataBody)
		return
	}
	if r.Header.Get("X-Forwarded-For") != "" {
		s.reply(w, r, 400, nil, ErrorBody("bad_request", "Proxied requests are not allowed"))
		return
	}
	if r.Method != http.MethodGet {
		s.reply(w, r, 405, nil, ErrorBody("method_not_allowed", "GET only"))
		return
	}
	switch r.URL.Path {
	case TokenPath:
		s.token(w, r)
	case ComputePath:
		s.compute(w, r)
	default:
		s.reply(w, r, 404, nil, ErrorBody("not_found", "no such path"))
	}
}

func (s *Server) scenario() Scenario {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sc
}

func (s *Server) compute(w http.ResponseWriter, r *http.Request) {
	sc := s.scenario()
	if sc.Arc {
		s.reply(w, r, 404, nil, ErrorBody("not_found", "HIMDS serves no compute metadata for this client"))
		return
	}
	if r.URL.Query().Get("api-version") == "" {
		s.reply(w, r, 400, nil, ErrorBody("bad_request", "api-version missing"))
		return
	}
	body := sc.Compute.Raw
	if body == "" {
		b, _ := json.Marshal(sc.Compute)
		body = string(b)
	}
	s.reply(w, r, 200, nil, body)
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("api-version") == "" || q.Get("resource") == "" {
		s.reply(w, r, 400, nil, ErrorBody("invalid_request", "api-version and resource are required"))
		return
	}
	sc := s.scenario()
	if sc.Arc && r.Header.Get("Authorization") != "Basic "+ArcKey {
		s.reply(w, r, 401, map[string]string{"WWW-Authenticate": "Basic realm=" + sc.ArcRealm}, "")
		return
	}
	s.mu.Lock()
	n := s.tokenN
	s.tokenN++
	s.mu.Unlock()
	rep := Reply{Status: 200}
	if len(sc.Token) > 0 {
		rep = sc.Token[min(n, len(sc.Token)-1)]
	}
	if rep.Delay > 0 {
		// Recorded on arrival (status 0: held back), so a client that gives
		// up sees its request counted.
		s.record(r, 0)
		t := time.NewTimer(rep.Delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return
		case <-s.done:
			return
		}
		w.WriteHeader(rep.Status)
		io.WriteString(w, s.body(rep))
		return
	}
	s.reply(w, r, rep.Status, nil, s.body(rep))
}

func (s *Server) body(rep Reply) string {
	if rep.Body != "" {
		return rep.Body
	}
	if rep.Status == 200 {
		return TokenBody(SystemMIResID)
	}
	return ErrorBody("fake_error", fmt.Sprintf("scripted HTTP %d", rep.Status))
}
