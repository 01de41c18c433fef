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
	"path/filepath"
	"strings"
	"time"

	"github.com/Azure/aadsshlogin-extension-linux/test/fakeimds"
	"github.com/Azure/aadsshlogin-extension-linux/test/fixtures"
)

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
	closers                     []func()
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
	pub, _ := json.Marshal(map[string]any{"mirror": map[string]string{"url": e.Repo.URL, "publicKey": cfg.PublicKey}})
	prot, _ := json.Marshal(map[string]any{"mirror": map[string]string{"url": e.Repo.URL}})
	e.SettingsFile, e.ProtectedFile = InsideDir+"/settings.json", InsideDir+"/protected.json"
	for name, body := range map[string][]byte{e.SettingsFile: pub, e.ProtectedFile: prot} {
		if err := os.WriteFile(filepath.Join(cfg.ChrootDir, name), body, 0o600); err != nil {
			e.Close()
			return nil, err
		}
	}
	return e, nil
}

// Agentsim returns the command running the simulator inside the VM with the
// agent's real folders (and, on Arc, the variables the Arc agent sets
// system-wide for extension processes).
func (e *Env) Agentsim(ctx context.Context, args ...string) *exec.Cmd {
	base := []string{"-lib", "/var/lib/waagent", "-log", "/var/log/azure/" + HandlerName}
	if e.Config.Plan.Arc {
		base = append(base, "-env", "IDENTITY_ENDPOINT=http://localhost:40342/metadata/identity/oauth2/token",
			"-env", "IMDS_ENDPOINT=http://localhost:40342")
	}
	return e.Chroot(ctx, nil, InsideDir+"/agentsim", append(base, args...)...)
}

// Inner is the inner side of Run: it enters the sandbox and runs the plan.
func Inner(ctx context.Context, cfgPath string, out io.Writer) error {
	e, err := Enter(ctx, cfgPath, "")
	if err != nil {
		return err
	}
	defer e.Close()
	fmt.Fprintf(out, "-- private mirror %s (signing key of the sandbox repository)\n", e.Repo.URL)
	for i, ph := range e.Config.Plan.Phases {
		fmt.Fprintf(out, "\n## %d. %s\n", i+1, ph.Title)
		if ph.Check != "" {
			if err := checkPackage(ctx, e.ChrootDir, ph.Check, out); err != nil {
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
		args := []string{"-scenario", ph.Scenario, "-settings", e.SettingsFile}
		switch {
		case ph.Scenario == "update" && ph.Downgrade:
			args = append(args, "-zip", e.Zips[1], "-zip2", e.Zips[0])
		case ph.Scenario == "update":
			args = append(args, "-zip", e.Zips[0], "-zip2", e.Zips[1])
		case ph.Zip == 2:
			args = append(args, "-zip", e.Zips[1])
		default:
			args = append(args, "-zip", e.Zips[0])
		}
		if ph.Protected {
			args = append(args, "-protected", e.ProtectedFile)
		}
		for _, x := range ph.Expect {
			args = append(args, "-expect", x)
		}
		cmd := e.Agentsim(ctx, args...)
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("phase %q: agentsim: %w", ph.Title, err)
		}
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
