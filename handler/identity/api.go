// Package identity checks, through Azure IMDS or the Azure Arc HIMDS
// endpoint, that the machine has a system-assigned managed identity, and
// reads the instance metadata the handler needs (cloud, names for messages).
//
// Lifecycle code calls, in this order:
//
//	p := &identity.Prober{Logger: logger}        // zero fields get defaults
//	inst, err := p.Instance(ctx)                  // cloud + names (zero on Arc)
//	id, err := p.CheckWith(ctx, &inst)            // nil, or failure 22 / 52
//
// (CheckWith gets nil instead of &inst when Instance failed; it then reads
// the names for its exit-22 message itself. Check is CheckWith(ctx, nil).)
//
// Check never takes longer than MaxCheckDuration (150 s), well below the
// guest agent's 300 s enable timeout; Instance takes at most 102 s (one
// request with the retry schedule). Errors are *failure.Error: exit 22
// (failure.NoSystemIdentity, status "transitioning") or 52 (failure.Dependency).
package identity

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/go-kit/log"

	"github.com/Azure/aadsshlogin-extension-linux/handler/clock"
	"github.com/Azure/aadsshlogin-extension-linux/handler/failure"
	"github.com/Azure/aadsshlogin-extension-linux/handler/sysroot"
)

// Kind tells which metadata endpoint answered.
type Kind string

// The kinds of machine.
const (
	AzureVM Kind = "azure-vm"
	Arc     Kind = "arc"
)

// Endpoints, API versions and the resource the token is requested for.
const (
	// SignInResource is the application ID of "Azure Linux VM Sign-In", the
	// resource the aadsshlogin package itself requests tokens for.
	SignInResource = "ce6ff14a-7fdc-4685-bbe0-f6afdfcfa8e0"
	// DefaultIMDSBase is Azure's Instance Metadata Service. It is never
	// reached through a proxy.
	DefaultIMDSBase = "http://169.254.169.254"
	// DefaultArcIdentityEndpoint is HIMDS's token URL when IDENTITY_ENDPOINT
	// is not set.
	DefaultArcIdentityEndpoint = "http://localhost:40342/metadata/identity/oauth2/token"
	// ArcTokenDir is the only directory HIMDS challenge files may live in.
	ArcTokenDir = "/var/opt/azcmagent/tokens"
	// ArcKeyMaxBytes bounds the size of a HIMDS challenge file.
	ArcKeyMaxBytes = 4096
	// HIMDSBinary marks an Arc-enabled server when the environment does not.
	HIMDSBinary = "/opt/azcmagent/bin/himds"

	tokenPath           = "/metadata/identity/oauth2/token"
	computePath         = "/metadata/instance/compute"
	imdsTokenAPIVersion = "2018-02-01"
	arcTokenAPIVersion  = "2019-11-01"
	computeAPIVersion   = "2021-02-01"
)

// Timing. All sleeps go through Prober.Clock; only the per-try timeout (which
// bounds network I/O) is a real-time context.
//
// Worst case of Check, reached only when IMDS never answers usefully:
//   - one probe with transient failures: 5 tries of at most TryTimeout (10 s)
//     plus the back-off sleeps 2+6+14+30 s = 102 s;
//   - HTTP 410 extends that schedule with 10 s steps until GoneBudget
//     (70 s) after the first try (last try <= 80 s), so never beyond 102 s;
//   - a missing identity is re-probed every ReprobeInterval for Window (60 s).
//
// Their combinations would exceed 150 s, so Check also enforces
// MaxCheckDuration as a hard deadline: no sleep or try starts that could end
// after it (measured on Prober.Clock), and a real-time context deadline of the
// same length backs that up. Check therefore returns within 150 s.
const (
	// MaxCheckDuration is the hard upper bound of Check's run time.
	MaxCheckDuration = 150 * time.Second
	// DefaultWindow is how long a missing identity is re-probed.
	DefaultWindow = 60 * time.Second
	// ReprobeInterval separates probes while the identity is missing.
	ReprobeInterval = 10 * time.Second
	// DefaultTryTimeout bounds one HTTP request (connect to last body byte).
	DefaultTryTimeout = 10 * time.Second
	// GoneBudget is how long HTTP 410 ("IMDS is updating") is retried,
	// counted from the first try of a probe.
	GoneBudget = 70 * time.Second
	// goneStep is the delay between 410 retries once the normal schedule is used up.
	goneStep = 10 * time.Second
)

// DefaultRetryDelays is the delay before each try of one request: the first
// try goes at once, then after ~2, 6, 14 and 30 s (the IMDS documentation's
// exponential back-off with a 2 s delta, without jitter: one VM, one client).
func DefaultRetryDelays() []time.Duration {
	return []time.Duration{0, 2 * time.Second, 6 * time.Second, 14 * time.Second, 30 * time.Second}
}

// Identity is a positive answer of Check. The token itself is never kept.
type Identity struct {
	Kind Kind
	// UserAssigned is true when the token came from a user-assigned identity
	// (the VM then has no system-assigned one of its own); Check then also
	// returns a failure.NoSystemIdentity error.
	UserAssigned bool
}

// Instance is the subset of IMDS compute metadata the handler uses.
type Instance struct {
	AzEnvironment  string
	Name           string
	ResourceGroup  string
	SubscriptionID string
	VMScaleSetName string
	Location       string
}

// Prober talks to IMDS (Azure VM) or HIMDS (Arc). Zero fields get defaults.
// A Prober holds no state between calls; it is safe for concurrent use.
type Prober struct {
	// Transport performs HTTP; it must not use a proxy (the default does
	// not, and an *http.Transport's Proxy function is dropped).
	Transport http.RoundTripper
	Clock     clock.Clock
	Getenv    func(string) string
	Root      sysroot.Root
	Logger    log.Logger
	// IMDSBase defaults to http://169.254.169.254.
	IMDSBase string
	// Window bounds how long a missing identity is re-probed before Check
	// concludes it is missing (a fresh assignment takes time to appear).
	// Default DefaultWindow; values beyond MaxCheckDuration are clamped.
	Window time.Duration
	// TryTimeout bounds each HTTP try; default DefaultTryTimeout.
	TryTimeout time.Duration
	// RetryDelays overrides DefaultRetryDelays (tests, integration runs).
	RetryDelays []time.Duration
}

// settings are a Prober's fields with the defaults filled in.
type settings struct {
	transport   http.RoundTripper
	ownsTr      bool
	clk         clock.Clock
	getenv      func(string) string
	root        sysroot.Root
	logger      log.Logger
	imdsBase    string
	window      time.Duration
	tryTimeout  time.Duration
	retryDelays []time.Duration
}

func (p *Prober) settings() settings {
	s := settings{
		transport:   p.Transport,
		clk:         p.Clock,
		getenv:      p.Getenv,
		root:        p.Root,
		logger:      p.Logger,
		imdsBase:    p.IMDSBase,
		window:      p.Window,
		tryTimeout:  p.TryTimeout,
		retryDelays: p.RetryDelays,
	}
	if s.transport == nil {
		s.transport = newTransport(nil)
		s.ownsTr = true
	} else if t, ok := s.transport.(*http.Transport); ok && t.Proxy != nil {
		// IMDS must never be proxied, even through a caller's transport.
		t = t.Clone()
		t.Proxy = nil
		s.transport = t
		s.ownsTr = true
	}
	if s.clk == nil {
		s.clk = clock.Real{}
	}
	if s.getenv == nil {
		s.getenv = os.Getenv
	}
	if s.logger == nil {
		s.logger = log.NewNopLogger()
	}
	if s.imdsBase == "" {
		s.imdsBase = DefaultIMDSBase
	}
	if s.window <= 0 {
		s.window = DefaultWindow
	}
	s.window = min(s.window, MaxCheckDuration)
	if s.tryTimeout <= 0 {
		s.tryTimeout = DefaultTryTimeout
	}
	if len(s.retryDelays) == 0 {
		s.retryDelays = DefaultRetryDelays()
	}
	return s
}

func (s settings) close() {
	if s.ownsTr {
		if t, ok := s.transport.(interface{ CloseIdleConnections() }); ok {
			t.CloseIdleConnections()
		}
	}
}

// IsArc reports whether this machine is an Azure Arc-enabled server: both
// IDENTITY_ENDPOINT and IMDS_ENDPOINT are set (systemd exports them to the
// Arc extension service), or the HIMDS binary is installed.
func (p *Prober) IsArc() bool {
	s := p.settings()
	defer s.close()
	return s.isArc()
}

func (s settings) isArc() bool {
	if s.getenv("IDENTITY_ENDPOINT") != "" && s.getenv("IMDS_ENDPOINT") != "" {
		return true
	}
	return s.root.Exists(HIMDSBinary)
}

// state is the verdict of one probe.
type state int

const (
	present state = iota
	missing
	userAssigned
	failed
)

// probeResult is one probe's verdict plus what the messages need.
type probeResult struct {
	state state
	// miResID is xms_mirid of a user-assigned token.
	miResID string
	// errCode is IMDS's "error" of a missing-identity answer.
	errCode string
	err     error
}

// Check returns the identity, or an error classified as
// failure.NoSystemIdentity (exit 22) or failure.Dependency (exit 52).
//
// It returns within MaxCheckDuration (see the timing constants).
func (p *Prober) Check(ctx context.Context) (Identity, error) {
	return p.CheckWith(ctx, nil)
}

// CheckWith is Check for a caller that already read the instance metadata
// (Instance): the exit-22 message names the resource group and VM or scale
// set from known instead of asking IMDS again. With known nil it asks, one
// short try, as Check does.
func (p *Prober) CheckWith(ctx context.Context, known *Instance) (Identity, error) {
	s := p.settings()
	defer s.close()
	ctx, cancel := context.WithTimeout(ctx, MaxCheckDuration)
	defer cancel()
	start := s.clk.Now()
	ctx = withControl(ctx, &control{deadline: start.Add(MaxCheckDuration)})

	kind := AzureVM
	if s.isArc() {
		kind = Arc
	}
	var res probeResult
	probes := 0
	for {
		probes++
		if kind == Arc {
			res = s.probeArc(ctx)
		} else {
			res = s.probeIMDS(ctx)
		}
		switch res.state {
		case present:
			s.logger.Log("msg", "managed identity present", "kind", kind, "probes", probes)
			return Identity{Kind: kind}, nil
		case failed:
			return Identity{Kind: kind}, res.err
		}
		now := s.clk.Now()
		if now.Sub(start)+ReprobeInterval > s.window ||
			now.Add(ReprobeInterval+s.tryTimeout).After(start.Add(MaxCheckDuration)) {
			break
		}
		s.logger.Log("msg", "system-assigned identity not visible yet, probing again",
			"kind", kind, "probe", probes, "next_in", ReprobeInterval, "window", s.window)
		if err := s.clk.Sleep(ctx, ReprobeInterval); err != nil {
			return Identity{Kind: kind}, interrupted(err)
		}
	}
	waited := s.clk.Now().Sub(start).Round(time.Second)
	s.logger.Log("msg", "no system-assigned identity", "kind", kind, "probes", probes, "waited", waited)
	id := Identity{Kind: kind, UserAssigned: res.state == userAssigned}
	return id, s.noIdentityError(ctx, kind, res, probes, waited, known)
}

// noIdentityError builds the exit-22 error whose message names the fix;
// known, when set, supplies the names for the az command.
func (s settings) noIdentityError(ctx context.Context, kind Kind, res probeResult, probes int, waited time.Duration, known *Instance) error {
	seen := fmt.Sprintf("%d probe(s) over %s", probes, waited)
	if kind == Arc {
		return failure.New(failure.NoSystemIdentity,
			"the Azure Arc agent (HIMDS) reports no managed identity for this machine (%s, %s). "+
				"The Arc agent must be connected: run `azcmagent show` and check that Agent Status is Connected "+
				"(reconnect with `azcmagent connect` if not), "+failure.SetAgain,
			describeMissing(res), seen)
	}
	// Best effort: names for the az command, from the caller or else from a
	// single short try, never past the deadline; placeholders when unknown.
	var inst Instance
	if known != nil {
		inst = *known
	} else {
		var err error
		if inst, err = s.instance(withSingleTry(ctx)); err != nil {
			s.logger.Log("msg", "instance metadata unavailable for the message", "err", err)
		}
	}
	fix, again := fixCommand(inst), setAgain(inst)
	if res.state == userAssigned {
		return failure.New(failure.NoSystemIdentity,
			"IMDS answered with a user-assigned managed identity (%s), but the VM has no system-assigned one, "+
				"which AADSSHLoginForLinux needs (%s). Enable it with `%s` (user-assigned identities stay as they are), %s",
			res.miResID, seen, fix, again)
	}
	return failure.New(failure.NoSystemIdentity,
		"the VM has no system-assigned managed identity (IMDS: %s, %s), which AADSSHLoginForLinux needs. "+
			"Enable it with `%s` (a new identity can take a minute to appear), %s",
		describeMissing(res), seen, fix, again)
}

func describeMissing(res probeResult) string {
	if res.errCode == "" {
		return "identity not found"
	}
	return fmt.Sprintf("HTTP 400 %q", res.errCode)
}

// interrupted classifies a cancelled wait.
func interrupted(err error) error {
	return failure.Wrap(failure.Dependency, err,
		"the managed-identity check was interrupted or ran out of time before IMDS answered; "+failure.SetAgain)
}

// Instance reads compute metadata (Azure VMs only; Arc returns zero values).
// Failures are classified failure.Dependency.
func (p *Prober) Instance(ctx context.Context) (Instance, error) {
	s := p.settings()
	defer s.close()
	if s.isArc() {
		return Instance{}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, MaxCheckDuration)
	defer cancel()
	ctx = withControl(ctx, &control{deadline: s.clk.Now().Add(MaxCheckDuration)})
	return s.instance(ctx)
}

func (s settings) instance(ctx context.Context) (Instance, error) {
	u := s.imdsBase + computePath + "?api-version=" + computeAPIVersion
	resp, body, st, err := s.get(ctx, u, "")
	if err != nil {
		return Instance{}, s.unreachable(u, st, err)
	}
	if resp.StatusCode != http.StatusOK {
		return Instance{}, failure.New(failure.Dependency,
			"IMDS answered HTTP %d to the instance metadata request%s after %d attempt(s); check that 169.254.169.254 "+
				"is reached directly (no proxy), "+failure.SetAgain,
			resp.StatusCode, errorSuffix(body), st.attempts)
	}
	inst, err := parseInstance(body)
	if err != nil {
		return Instance{}, failure.Wrap(failure.Dependency, err,
			"IMDS instance metadata is not valid JSON; check that 169.254.169.254 is really IMDS (no transparent proxy), "+
				failure.SetAgain)
	}
	return inst, nil
}
