package agentsim

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// DefaultHandlerName is <Publisher>.<Type> of the AADSSHLoginForLinux handler.
const DefaultHandlerName = "Microsoft.Azure.ActiveDirectory.AADSSHLoginForLinux"

// Handler states (config/HandlerState).
const (
	StateNotInstalled  = "NotInstalled"
	StateInstalled     = "Installed"
	StateEnabled       = "Enabled"
	StateFailedUpgrade = "FailedUpgrade"
)

// Options configures a Simulator.
type Options struct {
	// LibDir stands for /var/lib/waagent (required).
	LibDir string
	// LogDir stands for /var/log/azure/<HandlerName> (required): logFolder
	// of HandlerEnvironment.json, CommandExecution.log, events/.
	LogDir string
	// HandlerName is <Publisher>.<Type>; default DefaultHandlerName.
	HandlerName string
	// TimeoutScale multiplies the agent's command timeouts (900 s / 300 s)
	// and its one-second post-exit pause; default 1.
	TimeoutScale float64
	// Timeouts overrides the (scaled) timeout of single verbs, e.g. to make
	// only enable time out quickly in a test.
	Timeouts map[Verb]time.Duration
	// StatusRetryDelay is the pause between the five status-file reads;
	// default 2 s × TimeoutScale.
	StatusRetryDelay time.Duration
	// Env is added on top of the inherited environment of every command
	// (KEY=VALUE), e.g. to point a handler at a sandbox root.
	Env []string
	// NoInheritEnv starts commands without the simulator's own environment
	// (only the agent variables and Env).
	NoInheritEnv bool
	// WireServer is AZURE_GUEST_AGENT_WIRE_PROTOCOL_ADDRESS; default 168.63.129.16.
	WireServer string
	// OpenSSL is the openssl program used to encrypt protected settings;
	// default "openssl".
	OpenSSL string
	// Progress, when set, receives one transcript line per step as it ends.
	Progress io.Writer
}

// Simulator drives one handler in one lib dir. It is not safe for
// concurrent use.
type Simulator struct {
	opt      Options
	cert     certificate
	scenario string
	steps    []Step
	// current is the settings of the last goal state processed, reused
	// when the agent "restarts".
	current *Settings
	// processed is set once a goal state was processed (current may be nil:
	// no settings).
	processed bool
}

// New validates opt, fills defaults and returns a Simulator.
func New(opt Options) (*Simulator, error) {
	if opt.LibDir == "" || opt.LogDir == "" {
		return nil, errors.New("agentsim: Options.LibDir and Options.LogDir are required (temporary stand-ins for /var/lib/waagent and /var/log/azure/<name>)")
	}
	var err error
	if opt.LibDir, err = filepath.Abs(opt.LibDir); err != nil {
		return nil, err
	}
	if opt.LogDir, err = filepath.Abs(opt.LogDir); err != nil {
		return nil, err
	}
	if opt.HandlerName == "" {
		opt.HandlerName = DefaultHandlerName
	}
	if opt.TimeoutScale <= 0 {
		opt.TimeoutScale = 1
	}
	if opt.StatusRetryDelay <= 0 {
		opt.StatusRetryDelay = time.Duration(float64(defaultStatusRetryGap) * opt.TimeoutScale)
	}
	if opt.WireServer == "" {
		opt.WireServer = WireServer
	}
	if opt.OpenSSL == "" {
		opt.OpenSSL = "openssl"
	}
	if err := os.MkdirAll(opt.LibDir, 0o755); err != nil {
		return nil, fmt.Errorf("agentsim: lib dir: %w", err)
	}
	return &Simulator{opt: opt}, nil
}

// Options returns the effective options.
func (s *Simulator) Options() Options { return s.opt }

// SetScenario labels the steps that follow (for transcripts).
func (s *Simulator) SetScenario(name string) { s.scenario = name }

// Steps returns every step recorded so far.
func (s *Simulator) Steps() []Step { return append([]Step(nil), s.steps...) }

// BaseDir returns <lib>/<HandlerName>-<version>.
func (s *Simulator) BaseDir(version string) string { return s.inst(version).baseDir() }

// ZipPath returns the cached package path <lib>/<HandlerName>__<version>.zip.
func (s *Simulator) ZipPath(version string) string { return s.inst(version).zipPath() }

// CertPaths returns the .crt and .prv of the protected-settings certificate
// (empty before any protected settings were written).
func (s *Simulator) CertPaths() (crt, prv, thumbprint string) {
	return s.cert.CrtPath, s.cert.PrvPath, s.cert.Thumbprint
}

func (s *Simulator) eventsDir() string { return filepath.Join(s.opt.LogDir, "events") }

func (s *Simulator) inst(version string) instance { return instance{sim: s, version: version} }

// HandlerState reads config/HandlerState of version (NotInstalled when absent).
func (s *Simulator) HandlerState(version string) string {
	b, err := os.ReadFile(filepath.Join(s.inst(version).configDir(), "HandlerState"))
	if err != nil {
		return StateNotInstalled
	}
	return string(b)
}

func (s *Simulator) setState(in instance, state string) error {
	if err := os.MkdirAll(in.configDir(), 0o700); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(in.configDir(), "HandlerState"), []byte(state), 0o600)
}

// HandlerStatus is config/HandlerStatus, the handler-level status.
type HandlerStatus struct {
	Status  string `json:"status"`
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func (s *Simulator) setHandlerStatus(in instance, hs HandlerStatus) error {
	if err := os.MkdirAll(in.configDir(), 0o700); err != nil {
		return err
	}
	var b strings.Builder
	b.WriteString(`{"name": `)
	b.WriteString(pyQuote(s.opt.HandlerName))
	b.WriteString(`, "version": ` + pyQuote(in.version))
	b.WriteString(`, "status": ` + pyQuote(hs.Status))
	b.WriteString(`, "code": ` + strconv.Itoa(hs.Code))
	b.WriteString(`, "message": ` + pyQuote(hs.Message))
	b.WriteString(`, "supports_multi_config": false, "extension_status": null}`)
	return os.WriteFile(filepath.Join(in.configDir(), "HandlerStatus"), []byte(b.String()), 0o600)
}

// InstalledVersion is the agent's get_installed_version: the highest
// <Name>-<ver> directory whose HandlerState is neither missing,
// NotInstalled nor FailedUpgrade.
func (s *Simulator) InstalledVersion() (string, bool) {
	matches, _ := filepath.Glob(filepath.Join(s.opt.LibDir, s.opt.HandlerName+"-*"))
	best := ""
	for _, m := range matches {
		if st, err := os.Stat(m); err != nil || !st.IsDir() {
			continue
		}
		v := m[strings.LastIndex(m, "-")+1:]
		b, err := os.ReadFile(filepath.Join(m, "config", "HandlerState"))
		if err != nil || string(b) == StateNotInstalled || string(b) == StateFailedUpgrade {
			continue
		}
		if best == "" || CompareVersions(v, best) > 0 {
			best = v
		}
	}
	return best, best != ""
}

// CompareVersions compares dotted versions numerically (FlexibleVersion
// for plain numeric versions); non-numeric parts compare as strings.
func CompareVersions(a, b string) int {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < max(len(pa), len(pb)); i++ {
		var x, y string
		if i < len(pa) {
			x = pa[i]
		}
		if i < len(pb) {
			y = pb[i]
		}
		xi, errx := strconv.Atoi(orZero(x))
		yi, erry := strconv.Atoi(orZero(y))
		switch {
		case errx == nil && erry == nil && xi != yi:
			if xi < yi {
				return -1
			}
			return 1
		case (errx != nil || erry != nil) && x != y:
			return strings.Compare(x, y)
		}
	}
	return 0
}

func orZero(s string) string {
	if s == "" {
		return "0"
	}
	return s
}
