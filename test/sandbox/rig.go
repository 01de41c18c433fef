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
	"github.com/Azure/aadsshlogin-extension-linux/test/realagent"
)

// The one way into a sandbox. Every harness that needs the VM's network
// namespace (the scenarios and `make demo`, the fault batteries, the
// benchmark) describes what to run as a Call; Host.Call re-executes a
// binary inside the namespace, and that binary's main (or TestMain) hands
// control to Serve, which enters the sandbox, runs the named Mode and sends
// its result back as JSON. There is no other re-exec path.

// serveArg is the first argument that makes a binary the inner side.
const serveArg = "aadssh-sandbox-inner"

// Mode is an inner-side entry point: e is the entered sandbox (servers
// running, the chroot trusting the repository), args the caller's
// arguments; the result goes back to the caller as JSON. Progress goes to
// out (the caller's transcript).
type Mode func(ctx context.Context, e *Env, args json.RawMessage, out io.Writer) (result any, err error)

// Call is one run of a Mode inside the namespace.
type Call struct {
	// Mode names the entry point (ModeScenario, or one the binary passes
	// to Serve).
	Mode string
	// Self is the binary to re-execute (default: this process's own).
	Self string
	// IMDS is the fake IMDS scenario ("" = the plan's).
	IMDS string
	// Args are handed to the mode as JSON (nil: none).
	Args any
	// Out receives the transcript (nil: discarded).
	Out io.Writer
}

// call is what Host.Call writes for the inner side.
type call struct {
	Config string          `json:"config"`
	Mode   string          `json:"mode"`
	IMDS   string          `json:"imds,omitempty"`
	Args   json.RawMessage `json:"args,omitempty"`
	Result string          `json:"result"`
}

// ModeScenario runs the host's plan (Inner): what Run and `make demo` call.
const ModeScenario = "scenario"

// Call runs c inside the namespace and decodes the mode's result into
// result (a pointer; nil to ignore it).
func (h *Host) Call(ctx context.Context, c Call, result any) error {
	self := c.Self
	if self == "" {
		var err error
		if self, err = os.Executable(); err != nil {
			return err
		}
	}
	args, err := json.Marshal(c.Args)
	if err != nil {
		return fmt.Errorf("arguments of %s: %w", c.Mode, err)
	}
	dir, err := os.MkdirTemp(filepath.Dir(h.ConfigPath), "call-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	req := call{Config: h.ConfigPath, Mode: c.Mode, IMDS: c.IMDS, Args: args, Result: filepath.Join(dir, "result.json")}
	data, _ := json.Marshal(req)
	reqPath := filepath.Join(dir, "call.json")
	if err := os.WriteFile(reqPath, data, 0o600); err != nil {
		return err
	}
	out := c.Out
	if out == nil {
		out = io.Discard
	}
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", h.NetNS, self, serveArg, reqPath)
	cmd.Stdout, cmd.Stderr = out, out
	// When the context ends, the inner side is interrupted, which ends its
	// mode's context (Serve), and killed if it has not exited 30 s later.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 30 * time.Second
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s inside the sandbox: %w", c.Mode, err)
	}
	if result == nil {
		return nil
	}
	data, err = os.ReadFile(req.Result)
	if err != nil {
		return fmt.Errorf("%s inside the sandbox returned no result: %w", c.Mode, err)
	}
	if err := json.Unmarshal(data, result); err != nil {
		return fmt.Errorf("result of %s: %w", c.Mode, err)
	}
	return nil
}

// Options describe one sandbox run.
type Options struct {
	// Zip and NextZip are the handler packages of the first version and of
	// the version to update to (NextZip may be empty: no update phase).
	Zip, NextZip string
	// Scenario is one of Scenarios().
	Scenario string
	// Self is the binary re-executed inside the namespace; its main (or
	// TestMain) must call Serve first ("" = this process's own binary).
	Self string
	// WorkDir is a scratch folder (deleted afterwards unless Keep).
	WorkDir string
	// CacheDir holds the chroot tarball cache ("" = fixtures default).
	CacheDir string
	Keep     bool
	// Out receives the human transcript.
	Out io.Writer
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

// InsideDir is where the sandbox puts its files inside the chroot.
const InsideDir = "/opt/aadssh-sandbox"

// Prepare builds the chroot, the signed repository and the namespace, and
// copies the agent's driver and the zips into the chroot. Call Close on the result.
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
	spec := fixtures.Bookworm
	if plan.Suite == "trixie" {
		spec = realagent.Trixie
	}
	fmt.Fprintf(out, "-- preparing a Debian %s chroot (cache %s)\n", spec.Suite, cache)
	h.Chroot, err = spec.NewChroot(cache, filepath.Join(opt.WorkDir, "chroot"))
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
	if err := realagent.Install(h.Chroot.Dir, AgentDir); err != nil {
		return nil, err
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
	// Last, so that the lock taker sees only the handler's apt and dpkg.
	if plan.FirstBoot {
		if err := prepareFirstBoot(h, opt.WorkDir, out); err != nil {
			return nil, fmt.Errorf("first boot: %w", err)
		}
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
