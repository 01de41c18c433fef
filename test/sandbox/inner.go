package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/Azure/aadsshlogin-extension-linux/test/fakeimds"
	"github.com/Azure/aadsshlogin-extension-linux/test/fixtures"
)

// Serve makes this process the inner side when it was started by
// Host.Call: it runs the requested mode (ModeScenario or one of modes) and
// exits. Otherwise it returns at once. Call it first in main or TestMain.
func Serve(modes map[string]Mode) {
	if len(os.Args) != 3 || os.Args[1] != serveArg {
		return
	}
	// Host.Call interrupts this process when its context ends: the mode's
	// context ends too, so that the deferred clean-up (servers, the VM's
	// processes) runs before the exit.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := serve(ctx, os.Args[2], modes, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "sandbox:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func serve(ctx context.Context, reqPath string, modes map[string]Mode, out io.Writer) error {
	data, err := os.ReadFile(reqPath)
	if err != nil {
		return err
	}
	var req call
	if err := json.Unmarshal(data, &req); err != nil {
		return fmt.Errorf("call: %w", err)
	}
	mode, ok := modes[req.Mode]
	if req.Mode == ModeScenario {
		mode, ok = scenarioMode, true
	}
	if !ok {
		names := make([]string, 0, len(modes))
		for n := range modes {
			names = append(names, n)
		}
		return fmt.Errorf("unknown mode %q (this binary serves %s, %s)", req.Mode, ModeScenario, strings.Join(names, ", "))
	}
	e, err := Enter(ctx, req.Config, req.IMDS)
	if err != nil {
		return err
	}
	defer e.Close()
	res, err := mode(ctx, e, req.Args, out)
	if err != nil {
		return err
	}
	data, err = json.Marshal(res)
	if err != nil {
		return fmt.Errorf("result: %w", err)
	}
	return os.WriteFile(req.Result, data, 0o600)
}

// scenarioMode runs the plan the host prepared.
func scenarioMode(ctx context.Context, e *Env, _ json.RawMessage, out io.Writer) (any, error) {
	return nil, e.RunPlan(ctx, out)
}

// Env is the inner side of a sandbox, inside the network namespace: the
// servers are running and the chroot trusts the repository's CA.
type Env struct {
	Config innerConfig
	// ChrootDir is the VM's "/" as seen from the inner process.
	ChrootDir string
	IMDS      *fakeimds.Server
	Repo      *fixtures.Server
	// Zips are the handler packages' paths inside the chroot ("" if absent).
	Zips [2]string
	// SettingsFile and ProtectedFile (paths inside the chroot) configure
	// the private mirror, in public and protected settings respectively.
	SettingsFile, ProtectedFile string
	// MirrorURL is the repository URL the settings name.
	MirrorURL string
	// Proxy is the recording forward proxy of a ProxyUp plan (else nil).
	Proxy *fixtures.Proxy
	// AgentEnv is the guest agent's own environment on top of the chroot's
	// (the proxy variables of walinuxagent.service), inherited by the
	// extension commands as the real agent does.
	AgentEnv []string
	closers  []func()
}

// Close stops the servers.
func (e *Env) Close() {
	for i := len(e.closers) - 1; i >= 0; i-- {
		e.closers[i]()
	}
	e.closers = nil
}

// Chroot returns a command running name inside the VM (chroot), with a
// clean environment plus env.
func (e *Env) Chroot(ctx context.Context, env []string, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "chroot", append([]string{e.ChrootDir, name}, args...)...)
	cmd.Env = append([]string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8", "HOME=/root"}, env...)
	return cmd
}

// Enter sets up the inside of a sandbox from the host's config file: the
// loopback with 169.254.169.254, the fake IMDS (with imdsScenario, or the
// plan's when empty), the HTTPS repository and the mirror settings files.
func Enter(ctx context.Context, cfgPath, imdsScenario string) (*Env, error) {
	data, err := os.ReadFile(cfgPath)
	if err != nil {
		return nil, err
	}
	e := &Env{}
	if err := json.Unmarshal(data, &e.Config); err != nil {
		return nil, fmt.Errorf("inner config: %w", err)
	}
	cfg := e.Config
	e.ChrootDir, e.Zips = cfg.ChrootDir, cfg.Zips
	if err := checkIsolated(cfg.HostNetNS); err != nil {
		return nil, err
	}
	// A namespace entered before (another Call) already has the address.
	_ = exec.CommandContext(ctx, "ip", "addr", "del", "169.254.169.254/32", "dev", "lo").Run()
	for _, args := range [][]string{{"link", "set", "lo", "up"}, {"addr", "add", "169.254.169.254/32", "dev", "lo"}} {
		if res, err := runCmd(ctx, "ip", args...); err != nil {
			return nil, fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, res)
		}
	}
	if imdsScenario == "" {
		imdsScenario = cfg.Plan.IMDSScenario
	}
	sc, ok := fakeimds.Lookup(imdsScenario)
	if !ok {
		return nil, fmt.Errorf("unknown IMDS scenario %q", imdsScenario)
	}
	imdsLog, err := os.Create(filepath.Join(cfg.WorkDir, "imds-requests.jsonl"))
	if err != nil {
		return nil, err
	}
	e.closers = append(e.closers, func() { imdsLog.Close() })
	e.IMDS = fakeimds.New(sc, imdsLog)
	e.closers = append(e.closers, e.IMDS.Close)
	// An Arc server has HIMDS on localhost:40342 and no IMDS at all.
	addr := "169.254.169.254:80"
	if cfg.Plan.Arc {
		addr = "127.0.0.1:40342"
		if err := fakeimds.PrepareArcRoot(cfg.ChrootDir); err != nil {
			e.Close()
			return nil, err
		}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		e.Close()
		return nil, fmt.Errorf("fake IMDS: %w", err)
	}
	imdsSrv := &http.Server{Handler: e.IMDS, ReadHeaderTimeout: 10 * time.Second}
	go imdsSrv.Serve(ln)
	e.closers = append(e.closers, func() { imdsSrv.Close() })
	if e.Repo, err = fixtures.NewServer(cfg.WorkDir, cfg.RepoRoot); err != nil {
		e.Close()
		return nil, fmt.Errorf("repository server: %w", err)
	}
	e.closers = append(e.closers, func() { e.Repo.Close() })
	if err := trustCA(ctx, cfg.ChrootDir, e.Repo.CAPEM); err != nil {
		e.Close()
		return nil, err
	}
	mirrorURL, err := e.setupProxy()
	e.MirrorURL = mirrorURL
	if err != nil {
		e.Close()
		return nil, err
	}
	pub, _ := json.Marshal(map[string]any{"mirror": map[string]string{"url": mirrorURL, "publicKey": cfg.PublicKey}})
	prot, _ := json.Marshal(map[string]any{"mirror": map[string]string{"url": mirrorURL}})
	e.SettingsFile, e.ProtectedFile = InsideDir+"/settings.json", InsideDir+"/protected.json"
	for name, body := range map[string][]byte{e.SettingsFile: pub, e.ProtectedFile: prot} {
		if err := os.WriteFile(filepath.Join(cfg.ChrootDir, name), body, 0o600); err != nil {
			e.Close()
			return nil, err
		}
	}
	return e, nil
}

// proxiedRepo is the repository's address in a ProxyUp plan: nothing
// listens there, the proxy routes it to the real server.
const proxiedRepo = "127.0.0.1:443"

// agentNoProxy is the agent's no_proxy: it deliberately does not list
// 169.254.169.254, so only the handler itself keeps IMDS off the proxy.
const agentNoProxy = "localhost"

// setupProxy starts the plan's proxy (if any), sets AgentEnv and returns
// the mirror URL the settings name.
func (e *Env) setupProxy() (string, error) {
	proxyEnv := func(u string) []string {
		return []string{"http_proxy=" + u, "https_proxy=" + u, "no_proxy=" + agentNoProxy}
	}
	switch e.Config.Plan.Proxy {
	case "":
		return e.Repo.URL, nil
	case ProxyUp:
		p, err := fixtures.NewProxy()
		if err != nil {
			return "", fmt.Errorf("proxy: %w", err)
		}
		e.Proxy = p
		e.closers = append(e.closers, func() { p.Close() })
		p.Route(proxiedRepo, strings.TrimPrefix(e.Repo.URL, "https://"))
		e.AgentEnv = proxyEnv(p.URL)
		return "https://127.0.0.1", nil
	case ProxyDown:
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", err
		}
		dead := ln.Addr().String()
		ln.Close()
		e.AgentEnv = proxyEnv("http://" + dead)
		return e.Repo.URL, nil
	}
	return "", fmt.Errorf("unknown proxy mode %q", e.Config.Plan.Proxy)
}

// describeProxy tells the transcript how the agent reaches the network and,
// for ProxyUp, checks that the repository is not directly reachable.
func (e *Env) describeProxy(out io.Writer) error {
	switch e.Config.Plan.Proxy {
	case ProxyUp:
		c, err := net.DialTimeout("tcp", proxiedRepo, 2*time.Second)
		if err == nil {
			c.Close()
			return fmt.Errorf("something listens on %s: the repository must be reachable only through the proxy", proxiedRepo)
		}
		fmt.Fprintf(out, "-- agent environment: %s; a direct connection to %s is refused, the proxy routes it to the repository\n",
			strings.Join(e.AgentEnv, " "), proxiedRepo)
	case ProxyDown:
		fmt.Fprintf(out, "-- agent environment: %s (nothing listens there)\n", strings.Join(e.AgentEnv, " "))
	}
	return nil
}

// checkProxy prints who went through the proxy and checks it: the package
// manager did (ProxyUp) or could not go around it (ProxyDown), and IMDS
// never did.
func (e *Env) checkProxy(out io.Writer) error {
	mode := e.Config.Plan.Proxy
	if mode == "" {
		return nil
	}
	direct, proxied := 0, 0
	for _, r := range e.IMDS.Requests() {
		switch {
		case r.ProxyForm || r.Forwarded != "":
			proxied++
		case r.Path == fakeimds.TokenPath:
			direct++
		}
	}
	fmt.Fprintf(out, "IMDS: %d token request(s) direct, %d in proxy form\n", direct, proxied)
	var errs []error
	if direct == 0 {
		errs = append(errs, errors.New("IMDS saw no direct token request"))
	}
	if proxied != 0 {
		errs = append(errs, fmt.Errorf("IMDS saw %d request(s) in proxy form", proxied))
	}
	switch mode {
	case ProxyUp:
		repo, imds := e.Proxy.Count(http.MethodConnect, proxiedRepo), e.Proxy.Count("", "169.254.169.254")
		fmt.Fprintf(out, "proxy: %d CONNECT to the repository, %d to IMDS, %d request(s) in all\n", repo, imds, len(e.Proxy.Requests()))
		if repo == 0 {
			errs = append(errs, errors.New("the proxy saw no CONNECT to the repository: the package manager did not use the agent's proxy"))
		}
		if imds != 0 {
			errs = append(errs, fmt.Errorf("the proxy saw %d request(s) for IMDS", imds))
		}
	case ProxyDown:
		n := len(e.Repo.Log())
		fmt.Fprintf(out, "repository: %d request(s) reached it directly while the proxy was down\n", n)
		if n != 0 {
			errs = append(errs, fmt.Errorf("the package manager went around the agent's proxy (%d direct request(s))", n))
		}
	}
	return errors.Join(errs...)
}

// RunPlan runs the plan the host prepared: its setup, then every phase.
func (e *Env) RunPlan(ctx context.Context, out io.Writer) error {
	fmt.Fprintf(out, "-- private mirror %s (signing key of the sandbox repository)\n", e.MirrorURL)
	if err := e.describeProxy(out); err != nil {
		return err
	}
	if err := e.setup(ctx, e.Config.Plan.Setup, out); err != nil {
		return err
	}
	run := e.newAgentRun()
	for i, ph := range e.Config.Plan.Phases {
		fmt.Fprintf(out, "\n## %d. %s\n", i+1, ph.Title)
		if ph.Check != "" {
			if err := e.runCheck(ctx, ph.Check, out); err != nil {
				return err
			}
			continue
		}
		if ph.Diagnose {
			if err := e.diagnose(ctx, ph.DiagnoseExit, out); err != nil {
				return err
			}
			continue
		}
		if ph.Fix != "" {
			if err := e.fix(ctx, ph.Fix, out); err != nil {
				return fmt.Errorf("phase %q: %w", ph.Title, err)
			}
			continue
		}
		if err := e.agentPhase(ctx, run, ph, out); err != nil {
			return fmt.Errorf("phase %q: %w", ph.Title, err)
		}
	}
	if err := e.checkProxy(out); err != nil {
		return err
	}
	fmt.Fprintf(out, "\n-- IMDS answered %d token request(s); the repository served %d request(s)\n", e.IMDS.TokenRequests(), len(e.Repo.Log()))
	return nil
}

// checkIsolated refuses to run in the host's network namespace (as recorded
// by the outer side), so the fake IMDS address can never be configured on,
// or requested from, the host.
func checkIsolated(host string) error {
	self, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		return err
	}
	if host == "" || self == host {
		return errors.New("sandbox inner side is in the host's network namespace; refusing to bind 169.254.169.254")
	}
	return nil
}

func trustCA(ctx context.Context, root string, caPEM []byte) error {
	p := filepath.Join(root, "usr/local/share/ca-certificates/aadssh-sandbox.crt")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(p, caPEM, 0o644); err != nil {
		return err
	}
	if res, err := runCmd(ctx, "chroot", root, "update-ca-certificates", "--fresh"); err != nil {
		return fmt.Errorf("update-ca-certificates in the chroot: %w: %s", err, res)
	}
	return nil
}

// diagnose runs `scripts/aadsshlogin-shim diagnose` of the installed
// extension inside the VM and checks its exit code.
func (e *Env) diagnose(ctx context.Context, want int, out io.Writer) error {
	shims, _ := filepath.Glob(filepath.Join(e.ChrootDir, "var/lib/waagent", HandlerName+"-*", "scripts", "aadsshlogin-shim"))
	if len(shims) != 1 {
		return fmt.Errorf("want one installed extension, found %d", len(shims))
	}
	inside := strings.TrimPrefix(shims[0], e.ChrootDir)
	fmt.Fprintf(out, "$ %s diagnose\n", inside)
	cmd := e.Chroot(ctx, nil, inside, "diagnose")
	cmd.Stdout, cmd.Stderr = out, out
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		return err
	}
	fmt.Fprintf(out, "(exit %d)\n", code)
	if code != want {
		return fmt.Errorf("diagnose exited %d, want %d", code, want)
	}
	return nil
}

func checkPackage(ctx context.Context, root, want string, out io.Writer) error {
	res, err := runCmd(ctx, "chroot", root, "dpkg-query", "-W", "-f=${Status} ${Version}", "aadsshlogin")
	installed := err == nil && strings.HasPrefix(res, "install ok installed")
	fmt.Fprintf(out, "dpkg-query aadsshlogin: %s\n", orText(res, "not installed"))
	switch {
	case want == "installed" && !installed:
		return errors.New("aadsshlogin should be installed but is not")
	case want == "absent" && installed:
		return errors.New("aadsshlogin should not be installed but is")
	}
	return nil
}

func orText(s, alt string) string {
	if strings.TrimSpace(s) == "" {
		return alt
	}
	return s
}
