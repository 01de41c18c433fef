// Package sandbox runs the real extension zip on a simulated Azure VM built
// from real parts, and is what `make demo`, the end-to-end tests and the
// fault batteries use:
//
//   - a Debian 12 chroot (mmdebstrap, cached) whose apt, dpkg and os-release
//     are the ones a VM has;
//   - a network namespace created for the run, in which a fake IMDS answers
//     on 169.254.169.254:80 and a loopback HTTPS repository, laid out and
//     signed like packages.microsoft.com, serves fake aadsshlogin packages
//     (the handler reaches it through its private-mirror setting);
//   - the guest-agent simulator (test/agentsim), run inside the chroot and the
//     namespace, driving the zip through install, enable, settings change,
//     agent restart, version update and removal.
//
// Nothing leaves the machine: the namespace has only its own loopback.
//
// The host side (Run) prepares the chroot, repository and binaries, creates
// the namespace and re-executes a binary in it (ip netns exec … <self> inner);
// that inner side (Inner) starts the servers and runs the simulator.
package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/Azure/aadsshlogin-extension-linux/test/fixtures"
)

// HandlerName is the extension's name as the agent knows it.
const HandlerName = "Microsoft.Azure.ActiveDirectory.AADSSHLoginForLinux"

// Options describe one sandbox run.
type Options struct {
	// Zip and NextZip are the handler packages of the first version and of
	// the version to update to (NextZip may be empty: no update phase).
	Zip, NextZip string
	// Scenario is one of Scenarios().
	Scenario string
	// Self is a binary that runs Inner when called as `<Self> inner <config>`
	// (the demo command itself, or a test-built copy of it).
	Self string
	// Agentsim is a static build of test/agentsim/cmd/agentsim.
	Agentsim string
	// WorkDir is a scratch folder (deleted afterwards unless Keep).
	WorkDir string
	// CacheDir holds the chroot tarball cache ("" = fixtures default).
	CacheDir string
	Keep     bool
	// Out receives the human transcript.
	Out io.Writer
}

// Phase is one agentsim invocation (or machine check) of a scenario.
type Phase struct {
	Title string `json:"title"`
	// Scenario is the agentsim scenario run ("" for a check).
	Scenario string `json:"scenario,omitempty"`
	// Zip selects the package: 1 = Zip, 2 = NextZip (update).
	Zip int `json:"zip,omitempty"`
	// Downgrade makes an update phase go from NextZip back to Zip.
	Downgrade bool `json:"downgrade,omitempty"`
	// Expect are agentsim -expect arguments (verb=N).
	Expect []string `json:"expect,omitempty"`
	// Check, for a check phase: "installed" or "absent" (aadsshlogin in
	// dpkg), or one of the first-boot checks (firstboot.go).
	Check string `json:"check,omitempty"`
	// Protected adds protected settings carrying the mirror URL.
	Protected bool `json:"protected,omitempty"`
	// Diagnose runs the installed handler's `diagnose` command as a person
	// would; DiagnoseExit is the exit code expected from it.
	Diagnose     bool `json:"diagnose,omitempty"`
	DiagnoseExit int  `json:"diagnoseExit,omitempty"`
	// StatusHas, after an agentsim phase, prints the handler's last status
	// message in full and requires each of these substrings in it.
	StatusHas []string `json:"statusHas,omitempty"`
}

// Proxy modes of a plan: the guest agent's service carries http_proxy and
// https_proxy (as `systemctl edit walinuxagent` would set them), which the
// agent passes on to extension commands through its own environment.
const (
	// ProxyUp points them at a recording forward proxy, the only way to the
	// repository: the mirror URL names https://127.0.0.1 (port 443, where
	// nothing listens) and the proxy routes that to the real server.
	ProxyUp = "up"
	// ProxyDown points them at a loopback port nothing listens on, while
	// the repository stays directly reachable.
	ProxyDown = "down"
)

// Plan is what a scenario does.
type Plan struct {
	Name         string `json:"name"`
	Description  string `json:"description"`
	IMDSScenario string `json:"imdsScenario"`
	Legacy       bool   `json:"legacy,omitempty"`
	// Arc plays an Azure Arc-enabled server: HIMDS on localhost:40342 with
	// its key-file challenge, and no IMDS on 169.254.169.254.
	Arc bool `json:"arc,omitempty"`
	// Proxy is "", ProxyUp or ProxyDown.
	Proxy string `json:"proxy,omitempty"`
	// FirstBoot plays a VM still booting (see firstboot.go).
	FirstBoot bool    `json:"firstBoot,omitempty"`
	Phases    []Phase `json:"phases"`
}

// Scenarios lists the plans by name.
func Scenarios() map[string]Plan {
	return map[string]Plan{
		"full": {Name: "full", IMDSScenario: "present",
			Description: "install, enable, settings change, agent restart, update to the next version, removal",
			Phases: []Phase{
				{Title: "first deployment: install + enable", Scenario: "first", Zip: 1},
				{Title: "aadsshlogin is installed", Check: "installed"},
				{Title: "an operator runs `diagnose` (read-only; the sandbox has no internet, so the Entra endpoints fail with 52)",
					Diagnose: true, DiagnoseExit: 52},
				{Title: "settings change: new sequence number, enable only", Scenario: "settings", Zip: 1, Protected: true},
				{Title: "agent restart: enable again with the same sequence number (no-op)", Scenario: "restart", Zip: 1},
				{Title: "version update: old disable, new update, old uninstall, new install + enable", Scenario: "update", Zip: 2},
				{Title: "aadsshlogin is still installed after the update", Check: "installed"},
				{Title: "removal: disable, uninstall", Scenario: "remove", Zip: 2},
				{Title: "aadsshlogin is gone", Check: "absent"},
			}},
		"no-identity": {Name: "no-identity", IMDSScenario: "missing",
			Description: "the VM has no system-assigned managed identity: install reports transitioning and exits 22",
			Phases: []Phase{
				{Title: "first deployment without a managed identity", Scenario: "first", Zip: 1, Expect: []string{"install=22"}},
				{Title: "nothing was installed", Check: "absent"},
			}},
		"downgrade": {Name: "downgrade", IMDSScenario: "present",
			Description: "install the next version, then downgrade: the agent runs the newer version's update, the packages stay",
			Phases: []Phase{
				{Title: "first deployment of the next version", Scenario: "first", Zip: 2},
				{Title: "downgrade: old disable, the newer version's update, old uninstall, new install + enable", Scenario: "update", Downgrade: true},
				{Title: "aadsshlogin is still installed after the downgrade", Check: "installed"},
				{Title: "removal", Scenario: "remove", Zip: 1},
				{Title: "aadsshlogin is gone", Check: "absent"},
			}},
		"arc": {Name: "arc", IMDSScenario: "arc-present", Arc: true,
			Description: "an Azure Arc-enabled server: the identity comes from HIMDS and its key-file challenge",
			Phases: []Phase{
				{Title: "first deployment on an Arc-enabled server", Scenario: "first", Zip: 1},
				{Title: "aadsshlogin is installed", Check: "installed"},
				{Title: "removal", Scenario: "remove", Zip: 1},
				{Title: "aadsshlogin is gone", Check: "absent"},
			}},
		"arc-hostile-realm": {Name: "arc-hostile-realm", IMDSScenario: "arc-traversal", Arc: true,
			Description: "HIMDS points its challenge outside /var/opt/azcmagent/tokens: the handler refuses to read it (exit 52)",
			Phases: []Phase{
				{Title: "first deployment with a hostile HIMDS challenge", Scenario: "first", Zip: 1, Expect: []string{"install=52"}},
				{Title: "nothing was installed", Check: "absent"},
			}},
		"proxy": {Name: "proxy", IMDSScenario: "present", Proxy: ProxyUp,
			Description: "the agent's service sets http_proxy/https_proxy (no_proxy without 169.254.169.254): apt goes through the proxy, IMDS never does",
			Phases: []Phase{
				{Title: "first deployment behind a proxy: install + enable", Scenario: "first", Zip: 1},
				{Title: "aadsshlogin is installed", Check: "installed"},
			}},
		"proxy-down": {Name: "proxy-down", IMDSScenario: "present", Proxy: ProxyDown,
			Description: "the agent's proxy is down: install exits 52 and says how to set the proxy on walinuxagent.service",
			Phases: []Phase{
				{Title: "first deployment with a dead proxy", Scenario: "first", Zip: 1, Expect: []string{"install=52"},
					StatusHas: []string{"cannot be reached through the proxy. Check that the proxy http://127.0.0.1:", "is up and lets the VM reach", "walinuxagent.service", "no_proxy=169.254.169.254"}},
				{Title: "nothing was installed", Check: "absent"},
			}},
		"first-boot": {Name: "first-boot", IMDSScenario: "present", FirstBoot: true,
			Description: "a VM still booting: sshd not started, unattended-upgrades taking the dpkg locks between steps, a 1 GiB VM's MemTotal, another product rewriting microsoft-prod.list",
			Phases: []Phase{
				{Title: "the freshly booted VM", Check: CheckFirstBoot},
				{Title: "first deployment: install + enable while the locks change hands", Scenario: "first", Zip: 1,
					StatusHas: []string{"Microsoft Entra ID sign-in is ready", "sshd has not started yet"}},
				{Title: "aadsshlogin is installed", Check: "installed"},
				{Title: "the handler waited for unattended-upgrades between its steps", Check: CheckLockWaits},
				{Title: "an operator runs `diagnose`: memory is a 1 GiB VM's (the Entra endpoints fail with 52 offline)",
					Diagnose: true, DiagnoseExit: 52},
				{Title: "another Microsoft product rewrites microsoft-prod.list", Check: CheckForeignRepo},
				{Title: "settings change: enable leaves that file alone", Scenario: "settings", Zip: 1, Protected: true,
					StatusHas: []string{"Microsoft Entra ID sign-in is ready"}},
				{Title: "microsoft-prod.list is still the other product's", Check: CheckForeignRepoIntact},
				{Title: "removal: disable, uninstall", Scenario: "remove", Zip: 1},
				{Title: "aadsshlogin is gone", Check: "absent"},
				{Title: "microsoft-prod.list is still the other product's", Check: CheckForeignRepoIntact},
			}},
		"legacy": {Name: "legacy", IMDSScenario: "present", Legacy: true,
			Description: "the legacy AADLoginForLinux package aadlogin is installed: install reports transitioning and exits 23",
			Phases: []Phase{
				{Title: "first deployment next to the legacy aadlogin package", Scenario: "first", Zip: 1, Expect: []string{"install=23"}},
				{Title: "aadsshlogin was not installed", Check: "absent"},
			}},
	}
}

// innerConfig is handed to the inner side as a JSON file.
type innerConfig struct {
	Plan      Plan   `json:"plan"`
	ChrootDir string `json:"chrootDir"`
	RepoRoot  string `json:"repoRoot"`
	WorkDir   string `json:"workDir"`
	PublicKey string `json:"publicKey"`
	// HostNetNS identifies the namespace the run started in.
	HostNetNS string `json:"hostNetNS"`
	// Zips are the paths inside the chroot of package 1 and 2.
	Zips [2]string `json:"zips"`
}

// Run prepares the sandbox and runs the scenario; a nil error means every
// phase met its expectation.
func Run(ctx context.Context, opt Options) error {
	plan, ok := Scenarios()[opt.Scenario]
	if !ok {
		return fmt.Errorf("unknown scenario %q", opt.Scenario)
	}
	start := time.Now()
	out := opt.out()
	fmt.Fprintf(out, "== sandbox: scenario %q: %s\n", plan.Name, plan.Description)
	h, err := Prepare(ctx, opt, plan)
	if err != nil {
		return err
	}
	defer h.Close()
	fmt.Fprintf(out, "-- network namespace %s: fake IMDS (%s) on 169.254.169.254:80, HTTPS repository on 127.0.0.1 (prepared in %s)\n",
		h.NetNS, plan.IMDSScenario, time.Since(start).Round(time.Second))
	if err := h.Exec(ctx, out, opt.Self, "inner"); err != nil {
		return fmt.Errorf("scenario %q failed: %w", plan.Name, err)
	}
	fmt.Fprintf(out, "== sandbox: scenario %q passed in %s\n", plan.Name, time.Since(start).Round(time.Second))
	return nil
}

func (opt Options) out() io.Writer {
	if opt.Out == nil {
		return io.Discard
	}
	return opt.Out
}

// Host is a prepared sandbox seen from the host: a chroot with the binaries
// and zips in it, a signed repository tree and a network namespace.
type Host struct {
	// NetNS is the name of the network namespace created for the run.
	NetNS string
	// ConfigPath is the file handed to the inner side.
	ConfigPath string
	Chroot     *fixtures.Chroot
	PMC        *fixtures.PMC
	Key        *fixtures.Key
	cleanups   []func()
}

// Close deletes the namespace, unmounts and removes the chroot.
func (h *Host) Close() {
	for i := len(h.cleanups) - 1; i >= 0; i-- {
		h.cleanups[i]()
	}
	h.cleanups = nil
}

// Exec runs `ip netns exec <ns> <self> <mode> <config>`: self's main must
// call Enter (or Inner) for that mode. Output goes to out.
func (h *Host) Exec(ctx context.Context, out io.Writer, self, mode string, extra ...string) error {
	args := append([]string{"netns", "exec", h.NetNS, self, mode, h.ConfigPath}, extra...)
	cmd := exec.CommandContext(ctx, "ip", args...)
	cmd.Stdout, cmd.Stderr = out, out
	return cmd.Run()
}

// InsideDir is where the sandbox puts its files inside the chroot.
const InsideDir = "/opt/aadssh-sandbox"

// Prepare builds the chroot, the signed repository and the namespace, and
// copies agentsim and the zips into the chroot. Call Close on the result.
func Prepare(ctx context.Context, opt Options, plan Plan) (_ *Host, err error) {
	if missing := fixtures.HaveTools("ip", "mmdebstrap", "dpkg-deb", "apt-ftparchive", "gpg", "createrepo_c", "rpmbuild"); len(missing) > 0 {
		return nil, fmt.Errorf("missing tools: %s (run `make deps`)", strings.Join(missing, ", "))
	}
	out := opt.out()
	cache := opt.CacheDir
	if cache == "" {
		if cache, err = fixtures.DefaultCacheDir(); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(opt.WorkDir, 0o755); err != nil {
		return nil, err
	}
	h := &Host{}
	defer func() {
		if err != nil {
			h.Close()
		}
	}()
	fmt.Fprintf(out, "-- preparing a Debian 12 chroot (cache %s)\n", cache)
	h.Chroot, err = fixtures.NewChroot(cache, filepath.Join(opt.WorkDir, "chroot"))
	if err != nil {
		return nil, fmt.Errorf("chroot: %w", err)
	}
	h.cleanups = append(h.cleanups, func() {
		if cerr := h.Chroot.Close(); cerr != nil {
			fmt.Fprintf(out, "warning: chroot cleanup: %v\n", cerr)
		}
	})
	fmt.Fprintln(out, "-- building signed fake aadsshlogin packages and a packages.microsoft.com look-alike repository")
	if h.Key, err = fixtures.NewKey(opt.WorkDir, "sandbox-repo"); err != nil {
		return nil, err
	}
	h.cleanups = append(h.cleanups, h.Key.Close)
	repoRoot := filepath.Join(opt.WorkDir, "pmc")
	if h.PMC, err = fixtures.BuildPMC(repoRoot, h.Key, fixtures.DefaultPackages()); err != nil {
		return nil, fmt.Errorf("repository: %w", err)
	}
	if plan.FirstBoot {
		if err := prepareFirstBoot(h, opt.WorkDir, out); err != nil {
			return nil, fmt.Errorf("first boot: %w", err)
		}
	}
	if plan.Legacy {
		fmt.Fprintln(out, "-- installing the legacy aadlogin package in the VM")
		if err := installLegacy(h); err != nil {
			return nil, err
		}
	}
	// Like every VM, the sandbox resolves localhost (mmdebstrap writes no
	// /etc/hosts); Arc's HIMDS endpoint is http://localhost:40342.
	hosts := "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
	if err := os.WriteFile(h.Chroot.Path("/etc/hosts"), []byte(hosts), 0o644); err != nil {
		return nil, err
	}
	hostNS, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		return nil, err
	}
	cfg := innerConfig{HostNetNS: hostNS, Plan: plan, ChrootDir: h.Chroot.Dir, RepoRoot: repoRoot, WorkDir: opt.WorkDir, PublicKey: string(h.Key.Armored)}
	if err := os.MkdirAll(h.Chroot.Path(InsideDir), 0o755); err != nil {
		return nil, err
	}
	if opt.Agentsim != "" {
		if err := copyFile(opt.Agentsim, h.Chroot.Path(InsideDir+"/agentsim"), 0o755); err != nil {
			return nil, err
		}
	}
	for i, z := range []string{opt.Zip, opt.NextZip} {
		if z == "" {
			continue
		}
		inside := InsideDir + "/" + filepath.Base(z)
		if err := copyFile(z, h.Chroot.Path(inside), 0o644); err != nil {
			return nil, err
		}
		cfg.Zips[i] = inside
	}
	h.ConfigPath = filepath.Join(opt.WorkDir, "inner.json")
	data, _ := json.MarshalIndent(cfg, "", "  ")
	if err := os.WriteFile(h.ConfigPath, data, 0o600); err != nil {
		return nil, err
	}
	h.NetNS = fmt.Sprintf("aadssh-sbx-%d-%d", os.Getpid(), time.Now().UnixNano()%1000000)
	if res, err := runCmd(ctx, "ip", "netns", "add", h.NetNS); err != nil {
		return nil, fmt.Errorf("create network namespace: %w: %s", err, res)
	}
	h.cleanups = append(h.cleanups, func() { runCmd(context.Background(), "ip", "netns", "delete", h.NetNS) })
	return h, nil
}

func installLegacy(h *Host) error {
	var deb string
	for k, v := range h.PMC.Debs {
		if strings.HasPrefix(k, "aadlogin_") {
			deb = v
		}
	}
	if deb == "" {
		return errors.New("no aadlogin package was built")
	}
	if err := copyFile(deb, h.Chroot.Path("/tmp/aadlogin.deb"), 0o644); err != nil {
		return err
	}
	if res, err := h.Chroot.Run("dpkg", "-i", "/tmp/aadlogin.deb"); err != nil {
		return fmt.Errorf("install legacy aadlogin: %w: %s", err, res.Stderr)
	}
	return nil
}

func runCmd(ctx context.Context, name string, args ...string) (string, error) {
	var buf bytes.Buffer
	c := exec.CommandContext(ctx, name, args...)
	c.Stdout, c.Stderr = &buf, &buf
	err := c.Run()
	return strings.TrimSpace(buf.String()), err
}

func copyFile(src, dst string, mode os.FileMode) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return os.WriteFile(dst, data, mode)
}
