package main

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/Azure/aadsshlogin-extension-linux/handler/clock/clocktest"
	"github.com/Azure/aadsshlogin-extension-linux/handler/failure"
	"github.com/Azure/aadsshlogin-extension-linux/handler/identity"
	"github.com/Azure/aadsshlogin-extension-linux/handler/sysroot"
	"github.com/Azure/aadsshlogin-extension-linux/test/fixtures"
	"github.com/Azure/aadsshlogin-extension-linux/test/sandbox"
)

// innerOptions are handed from the host side to the inner side.
type innerOptions struct {
	CacheDir   string  `json:"cacheDir"`
	WorkDir    string  `json:"workDir"`
	Hello      string  `json:"hello"`
	DistroRoot string  `json:"distroRoot"`
	Suites     []Suite `json:"suites"`
	LatencyMS  int     `json:"latencyMs"`
	// ModelLatencyMS and ModelMbit model a VM's network to its mirror.
	ModelLatencyMS float64 `json:"modelLatencyMs"`
	ModelMbit      float64 `json:"modelMbit"`
	AgentRuns      int     `json:"agentRuns"`
	Runs           int     `json:"runs"`
	ColdRuns       int     `json:"coldRuns"`
	RefreshRuns    int     `json:"refreshRuns"`
	IdentityRuns   int     `json:"identityRuns"`
}

// modeBench is the benchmark's inner side (sandbox.Mode).
const modeBench = "bench"

const (
	handlerVersion = "1.0.0.1"
	aptPath        = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	baseDir        = "/var/lib/waagent/" + sandbox.HandlerName + "-" + handlerVersion
	logDir         = "/var/log/azure/" + sandbox.HandlerName
)

// runInner is the side inside the network namespace.
func runInner(ctx context.Context, e *sandbox.Env, args json.RawMessage, log io.Writer) (any, error) {
	var opt innerOptions
	if err := json.Unmarshal(args, &opt); err != nil {
		return nil, err
	}
	var err error
	b := &bencher{e: e, opt: opt, log: log}
	if b.zip, err = os.ReadFile(filepath.Join(e.ChrootDir, e.Zips[0])); err != nil {
		return nil, err
	}
	if b.settings, err = os.ReadFile(filepath.Join(e.ChrootDir, e.SettingsFile)); err != nil {
		return nil, err
	}
	res := Results{Runs: opt.Runs, LoadBefore: loadavg()}
	steps := []struct {
		name string
		fn   func(context.Context, *Results) error
	}{
		{"identity", b.identity},
		{"cold install and warm enable", b.coldAndWarm},
		{"refresh", b.refresh},
		{"first deployment through the real agent", b.agentFirst},
	}
	for _, s := range steps {
		fmt.Fprintf(log, "-- bench: %s\n", s.name)
		start := time.Now()
		if err := s.fn(ctx, &res); err != nil {
			return nil, fmt.Errorf("%s: %w", s.name, err)
		}
		fmt.Fprintf(log, "-- bench: %s done in %s\n", s.name, time.Since(start).Round(time.Millisecond))
	}
	res.LoadAfter = loadavg()
	return res, nil
}

type bencher struct {
	e        *sandbox.Env
	opt      innerOptions
	log      io.Writer
	zip      []byte
	settings []byte
	// repoFiles are the repository files the handler's install wrote
	// (path inside the VM → content), replayed for the bare apt runs.
	repoFiles map[string][]byte
	n         int
}

// vm is a fresh Debian chroot trusting the sandbox repository.
type vm struct {
	c   *fixtures.Chroot
	dir string
}

func (b *bencher) newVM(extraCAs ...[]byte) (*vm, error) {
	b.n++
	c, err := fixtures.NewChroot(b.opt.CacheDir, filepath.Join(b.opt.WorkDir, fmt.Sprintf("vm-%d", b.n)))
	if err != nil {
		return nil, err
	}
	v := &vm{c: c, dir: c.Dir}
	for i, ca := range extraCAs {
		p := c.Path(fmt.Sprintf("/usr/local/share/ca-certificates/bench-%d.crt", i))
		if err := os.WriteFile(p, ca, 0o644); err != nil {
			v.close()
			return nil, err
		}
	}
	if err := c.TrustCA(b.e.Repo.CAPEM); err != nil {
		v.close()
		return nil, err
	}
	return v, nil
}

func (v *vm) close() { _ = v.c.Close() }

// layout unpacks the zip as the agent does and writes HandlerEnvironment.json
// and config/0.settings (the sandbox's private-mirror settings).
func (b *bencher) layout(v *vm) error {
	zr, err := zip.NewReader(bytes.NewReader(b.zip), int64(len(b.zip)))
	if err != nil {
		return err
	}
	base := v.c.Path(baseDir)
	for _, f := range zr.File {
		if f.FileInfo().IsDir() {
			continue
		}
		dst := filepath.Join(base, filepath.Clean("/"+f.Name))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		rc, err := f.Open()
		if err != nil {
			return err
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return err
		}
		if err := os.WriteFile(dst, data, f.Mode().Perm()|0o400); err != nil {
			return err
		}
	}
	env := []map[string]any{{"name": sandbox.HandlerName, "version": 1.0, "handlerEnvironment": map[string]string{
		"logFolder": logDir, "configFolder": baseDir + "/config", "statusFolder": baseDir + "/status",
		"heartbeatFile": baseDir + "/heartbeat.log", "eventsFolder": logDir + "/events",
	}}}
	envJSON, _ := json.Marshal(env)
	settings := fmt.Sprintf(`{"runtimeSettings":[{"handlerSettings":{"publicSettings":%s,"protectedSettings":null,"protectedSettingsCertThumbprint":null}}]}`, b.settings)
	for _, d := range []string{baseDir + "/config", baseDir + "/status", logDir + "/events"} {
		if err := os.MkdirAll(v.c.Path(d), 0o755); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(base, "HandlerEnvironment.json"), envJSON, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(base, "config", "0.settings"), []byte(settings), 0o600)
}

// handler returns the handler command for verb, as the agent would start
// it (cwd = the extension folder, the agent's variables).
func (v *vm) handler(verb string, seq int, extra ...string) proc {
	env := []string{aptPath, "LANG=C.UTF-8", "HOME=/root",
		"AZURE_GUEST_AGENT_EXTENSION_PATH=" + baseDir,
		"AZURE_GUEST_AGENT_EXTENSION_VERSION=" + handlerVersion,
		"AZURE_GUEST_AGENT_WIRE_PROTOCOL_ADDRESS=168.63.129.16",
		fmt.Sprintf("ConfigSequenceNumber=%d", seq),
		`AZURE_GUEST_AGENT_EXTENSION_SUPPORTED_FEATURES=[{"Key": "ExtensionTelemetryPipeline", "Value": "1.0"}]`,
	}
	return proc{Root: v.dir, Dir: baseDir, Env: append(env, extra...),
		Argv: []string{baseDir + "/bin/aadsshlogin-handler-" + runtime.GOARCH, verb}}
}

// cmd returns a plain command inside the VM (apt-get etc.).
func (v *vm) cmd(argv ...string) proc {
	return proc{Root: v.dir, Dir: "/", Env: []string{aptPath, "LANG=C.UTF-8", "HOME=/root", "DEBIAN_FRONTEND=noninteractive"}, Argv: argv}
}

// must turns a non-zero exit into an error carrying the output's tail.
func must(m measure, err error) (measure, error) {
	if err != nil {
		return m, err
	}
	if m.Exit != 0 {
		return m, fmt.Errorf("exit %d: %s", m.Exit, tailOf(m.Output, 2000))
	}
	// install exits 0 after a failure it hands to enable; its stderr line
	// says so (lifecycle.finish).
	if strings.Contains(m.Output, "found a problem (code ") {
		return m, fmt.Errorf("failed (handed to enable): %s", tailOf(m.Output, 2000))
	}
	return m, nil
}

func tailOf(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// aptDirs hold what a repository configuration consists of.
var aptDirs = []string{"/etc/apt/sources.list.d", "/etc/apt/keyrings", "/etc/apt/trusted.gpg.d", "/usr/share/keyrings", "/etc/apt/preferences.d"}

func snapshotFiles(root string, dirs []string) map[string][]byte {
	out := map[string][]byte{}
	for _, d := range dirs {
		_ = filepath.WalkDir(filepath.Join(root, d), func(p string, de os.DirEntry, err error) error {
			if err != nil || de.IsDir() {
				return nil
			}
			if data, err := os.ReadFile(p); err == nil {
				out[strings.TrimPrefix(p, root)] = data
			}
			return nil
		})
	}
	return out
}

func newFiles(before, after map[string][]byte) map[string][]byte {
	out := map[string][]byte{}
	for p, data := range after {
		if old, ok := before[p]; !ok || !bytes.Equal(old, data) {
			out[p] = data
		}
	}
	return out
}

// coldAndWarm times cold installs (handler vs bare apt, alternating, each
// in a fresh chroot), then uses the last handler VM for the warm enable
// series, its proof and the peak memory of every verb.
func (b *bencher) coldAndWarm(ctx context.Context, res *Results) error {
	var keep *vm
	defer func() {
		if keep != nil {
			keep.close()
		}
	}()
	var installHWM, installRSS int64
	var installWall Sample
	for i := 0; i < b.opt.ColdRuns; i++ {
		v, err := b.newVM()
		if err != nil {
			return err
		}
		if err := b.layout(v); err != nil {
			v.close()
			return err
		}
		before := snapshotFiles(v.dir, aptDirs)
		m, err := must(v.handler("install", 0).traced())
		if err != nil {
			v.close()
			return fmt.Errorf("handler install: %w", err)
		}
		res.ColdHandler.Add(m.Wall)
		res.ColdHandlerCPU.Add(m.SelfCPU)
		installWall.Add(m.Wall)
		installHWM, installRSS = max(installHWM, m.HWMKB), max(installRSS, m.MaxRSSKB)
		if b.repoFiles == nil {
			b.repoFiles = newFiles(before, snapshotFiles(v.dir, aptDirs))
			fmt.Fprintf(b.log, "   the handler wrote %s\n", strings.Join(sortedKeys(b.repoFiles), ", "))
		}
		fmt.Fprintf(b.log, "   cold %d: handler install %s", i+1, m.Wall.Round(time.Millisecond))
		if i == b.opt.ColdRuns-1 {
			keep = v
		} else {
			v.close()
		}
		bare, err := b.bareInstall()
		if err != nil {
			return err
		}
		res.ColdBare.Add(bare)
		fmt.Fprintf(b.log, ", bare apt %s\n", bare.Round(time.Millisecond))
	}
	res.RSS = append(res.RSS, RSSRow{Verb: "install (cold)", WallMS: installWall.Median(), HWMKB: installHWM, MaxRSSKB: installRSS})
	if err := b.installTimeline(ctx, res); err != nil {
		return err
	}
	return b.warm(ctx, keep, res)
}

// bareInstall is the package-manager work of an install alone: the same
// repository files, apt-get update, apt-get install aadsshlogin.
func (b *bencher) bareInstall() (time.Duration, error) {
	v, err := b.newVM()
	if err != nil {
		return 0, err
	}
	defer v.close()
	for p, data := range b.repoFiles {
		if err := os.MkdirAll(filepath.Dir(v.c.Path(p)), 0o755); err != nil {
			return 0, err
		}
		if err := os.WriteFile(v.c.Path(p), data, 0o644); err != nil {
			return 0, err
		}
	}
	start := time.Now()
	if _, err := must(v.cmd("/usr/bin/apt-get", "update", "-q").run()); err != nil {
		return 0, fmt.Errorf("bare apt-get update: %w", err)
	}
	args := []string{"/usr/bin/apt-get", "install", "-y", "-q", "-o", "Dpkg::Options::=--force-confold", "-o", "Dpkg::Options::=--force-confdef", "aadsshlogin"}
	if _, err := must(v.cmd(args...).run()); err != nil {
		return 0, fmt.Errorf("bare apt-get install: %w", err)
	}
	return time.Since(start), nil
}

// pmFiles change whenever apt or dpkg does anything.
var pmFiles = []string{"/var/log/dpkg.log", "/var/log/apt/history.log", "/var/log/apt/term.log", "/var/lib/dpkg/status", "/var/cache/apt/pkgcache.bin", "/var/lib/apt/lists"}

func pmDigest(root string) map[string]string {
	out := map[string]string{}
	for _, p := range pmFiles {
		full := filepath.Join(root, p)
		fi, err := os.Stat(full)
		switch {
		case err != nil:
			out[p] = "absent"
		case fi.IsDir():
			ents, _ := os.ReadDir(full)
			var names []string
			for _, e := range ents {
				i, _ := e.Info()
				names = append(names, fmt.Sprintf("%s:%d:%d", e.Name(), i.Size(), i.ModTime().UnixNano()))
			}
			out[p] = strings.Join(names, ",")
		default:
			data, _ := os.ReadFile(full)
			out[p] = fmt.Sprintf("%x:%d", sha256.Sum256(data), fi.ModTime().UnixNano())
		}
	}
	return out
}

func (b *bencher) warm(ctx context.Context, v *vm, res *Results) error {
	m, err := must(v.handler("enable", 0).traced())
	if err != nil {
		return fmt.Errorf("first enable: %w", err)
	}
	res.RSS = append(res.RSS, RSSRow{Verb: "enable (cold: sequence not yet processed)", WallMS: ms(m.Wall), HWMKB: m.HWMKB, MaxRSSKB: m.MaxRSSKB})
	if m, err = must(v.handler("enable", 0).traced()); err != nil {
		return fmt.Errorf("warm enable: %w", err)
	}
	res.RSS = append(res.RSS, RSSRow{Verb: "enable (warm: sequence processed)", WallMS: ms(m.Wall), HWMKB: m.HWMKB, MaxRSSKB: m.MaxRSSKB})

	hello := "/opt/bench/hello"
	if err := copyInto(b.opt.Hello, v.c.Path(hello)); err != nil {
		return err
	}
	hp := v.handler("enable", 0)
	hp.Argv = []string{hello}
	ep := v.handler("enable", 0)
	vp := v.handler("version", 0)
	vp.Argv = []string{vp.Argv[0], "version"}
	p := &res.WarmProof
	p.PMFiles = pmFiles
	p.IMDSBefore, p.RepoBefore = len(b.e.IMDS.Requests()), len(b.e.Repo.Log())
	pmBefore := pmDigest(v.dir)
	// Warm-up (page cache), not counted.
	for range 3 {
		_, _ = hp.run()
		_, _ = ep.run()
		_, _ = vp.run()
	}
	for i := 0; i < b.opt.Runs; i++ {
		mh, err := must(hp.run())
		if err != nil {
			return fmt.Errorf("hello: %w", err)
		}
		me, err := ep.run()
		if err != nil {
			return err
		}
		mv, err := must(vp.run())
		if err != nil {
			return fmt.Errorf("version: %w", err)
		}
		res.Hello.Add(mh.Wall)
		res.WarmEnable.Add(me.Wall)
		res.Version.Add(mv.Wall)
		p.ExitCodes = append(p.ExitCodes, me.Exit)
		if me.Exit != 0 {
			return fmt.Errorf("warm enable exit %d: %s", me.Exit, me.Output)
		}
	}
	p.Runs = b.opt.Runs
	b.straceWarm(ctx, v, p)
	p.IMDSAfter, p.RepoAfter = len(b.e.IMDS.Requests()), len(b.e.Repo.Log())
	pmAfter := pmDigest(v.dir)
	p.PMFilesUnchanged = fmt.Sprint(pmBefore) == fmt.Sprint(pmAfter)
	fmt.Fprintf(b.log, "   warm enable median %.2f ms, hello %.2f ms\n", res.WarmEnable.Median(), res.Hello.Median())

	q := "-f=${Package}\t${Status}\t${Version}\n"
	for _, argv := range [][]string{
		{"/usr/bin/dpkg-query", "-W", q, "aadlogin", "aadlogin-selinux"},
		{"/usr/bin/dpkg", "--audit"},
		{"/usr/bin/dpkg", "--print-architecture"},
		{"/usr/bin/apt-cache", "policy", "aadsshlogin"},
		{"/usr/sbin/sshd", "-t"},
		{"/usr/sbin/sshd", "-T"},
		{"/usr/sbin/sshd", "-V"},
	} {
		if _, err := os.Stat(v.c.Path(argv[0])); err != nil {
			continue
		}
		cc := CommandCost{Argv: strings.Join(argv, " ")}
		for i := 0; i < 5; i++ {
			m, err := v.cmd(argv...).run() // exit status is irrelevant here (sshd -V)
			if err != nil {
				return err
			}
			cc.Sample.Add(m.Wall)
		}
		res.Commands = append(res.Commands, cc)
	}
	verbs := []struct {
		name, verb string
		extra      []string
	}{
		{"diagnose", "diagnose", nil},
		{"disable", "disable", nil},
		{"uninstall", "uninstall", nil},
		{"update", "update", []string{"VERSION=1.0.0.2", "AZURE_GUEST_AGENT_UPDATING_FROM_VERSION=" + handlerVersion}},
	}
	for _, vb := range verbs {
		m, err := v.handler(vb.verb, 0, vb.extra...).traced()
		if err != nil {
			return fmt.Errorf("%s: %w", vb.verb, err)
		}
		if m.Exit != 0 && vb.verb != "diagnose" {
			return fmt.Errorf("%s: exit %d: %s", vb.verb, m.Exit, tailOf(m.Output, 2000))
		}
		res.RSS = append(res.RSS, RSSRow{Verb: vb.name, Exit: m.Exit, WallMS: ms(m.Wall), HWMKB: m.HWMKB, MaxRSSKB: m.MaxRSSKB})
	}
	return nil
}

// straceWarm runs one warm enable under strace -f and records every execve
// and connect.
func (b *bencher) straceWarm(ctx context.Context, v *vm, p *WarmProof) {
	if _, err := exec.LookPath("strace"); err != nil {
		p.StraceErr = StraceMissing
		return
	}
	out := filepath.Join(b.opt.WorkDir, "warm.strace")
	hp := v.handler("enable", 0)
	args := append([]string{"-f", "-qq", "-e", "trace=execve,execveat,connect", "-o", out, "chroot", v.dir}, hp.Argv...)
	c := exec.CommandContext(ctx, "strace", args...)
	c.Env = hp.Env
	if o, err := c.CombinedOutput(); err != nil {
		p.StraceErr = fmt.Sprintf("strace run: %v: %s", err, o)
		return
	}
	data, err := os.ReadFile(out)
	if err != nil {
		p.StraceErr = err.Error()
		return
	}
	p.StraceExecs, p.StraceConnects = ParseStrace(string(data))
	// A full timed trace and a syscall summary, kept for profiling.
	for _, extra := range [][]string{{"-tt", "-T", "-o", filepath.Join(b.opt.WorkDir, "warm-full.strace")}, {"-c", "-o", filepath.Join(b.opt.WorkDir, "warm-summary.strace")}} {
		args := append(append([]string{"-f"}, extra...), append([]string{"chroot", v.dir}, hp.Argv...)...)
		c := exec.CommandContext(ctx, "strace", args...)
		c.Env = hp.Env
		_ = c.Run()
	}
}

// ParseStrace lists the programs of successful execve calls and every
// connect call in `strace -f -o` output.
func ParseStrace(out string) (execs, connects []string) {
	for _, l := range strings.Split(out, "\n") {
		switch {
		case strings.Contains(l, "execve(\"") || strings.Contains(l, "execveat("):
			if !strings.Contains(l, ") = 0") {
				continue
			}
			_, rest, _ := strings.Cut(l, "(\"")
			prog, _, _ := strings.Cut(rest, "\"")
			execs = append(execs, prog)
		case strings.Contains(l, "connect("):
			connects = append(connects, strings.TrimSpace(l))
		}
	}
	return execs, connects
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func copyInto(src, dst string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return os.WriteFile(dst, data, 0o755)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// refresh compares the handler's targeted apt-get update with a full one
// on a VM that also has a large distro repository.
func (b *bencher) refresh(ctx context.Context, res *Results) error {
	srv, err := fixtures.NewServer(filepath.Join(b.opt.WorkDir), b.opt.DistroRoot)
	if err != nil {
		return err
	}
	defer srv.Close()
	v, err := b.newVM(srv.CAPEM)
	if err != nil {
		return err
	}
	defer v.close()
	msList := ""
	for p, data := range b.repoFiles {
		if err := os.MkdirAll(filepath.Dir(v.c.Path(p)), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(v.c.Path(p), data, 0o644); err != nil {
			return err
		}
		if strings.HasPrefix(p, "/etc/apt/sources.list.d/") {
			msList = p
		}
	}
	if msList == "" {
		return errors.New("the handler wrote no file in /etc/apt/sources.list.d")
	}
	archOut, err := v.c.Run("dpkg", "--print-architecture")
	if err != nil {
		return err
	}
	arch := strings.TrimSpace(string(archOut.Stdout))
	keyring := "/etc/apt/keyrings/bench-distro.asc"
	if err := os.MkdirAll(filepath.Dir(v.c.Path(keyring)), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(v.c.Path(keyring), []byte(b.e.Config.PublicKey), 0o644); err != nil {
		return err
	}
	var lines strings.Builder
	for _, s := range b.opt.Suites {
		fmt.Fprintf(&lines, "deb [signed-by=%s arch=%s] %s %s main\n", keyring, arch, srv.URL, s.Name)
	}
	if err := os.WriteFile(v.c.Path("/etc/apt/sources.list.d/bench-distro.list"), []byte(lines.String()), 0o644); err != nil {
		return err
	}
	// The handler's refresh (distros/apt.go): only the Microsoft source.
	targeted := v.cmd("/usr/bin/apt-get", "update", "-q", "-o", "Dir::Etc::sourcelist="+msList, "-o", "Dir::Etc::sourceparts=-", "-o", "APT::Get::List-Cleanup=0")
	full := v.cmd("/usr/bin/apt-get", "update", "-q")
	rf := &res.Refresh
	rf.Suites = b.opt.Suites
	for _, s := range b.opt.Suites {
		rf.DistroPackages += s.Packages
	}
	clean := func() error {
		lists := v.c.Path("/var/lib/apt/lists")
		ents, err := os.ReadDir(lists)
		if err != nil {
			return err
		}
		for _, e := range ents {
			if e.Name() == "lock" {
				continue
			}
			// partial/ too: apt takes a complete file left there for
			// downloaded and would not fetch it again.
			if err := os.RemoveAll(filepath.Join(lists, e.Name())); err != nil {
				return err
			}
		}
		if err := os.MkdirAll(filepath.Join(lists, "partial"), 0o700); err != nil {
			return err
		}
		for _, f := range []string{"pkgcache.bin", "srcpkgcache.bin"} {
			_ = os.Remove(v.c.Path("/var/cache/apt/" + f))
		}
		return nil
	}
	distroHits := func() int { return srv.HitsUnder("/dists/") }
	// indexFetches counts the distro's Packages.xz answered in full since
	// log line `from`: a cold full refresh must download every suite's.
	indexFetches := func(from int) int {
		n := 0
		for _, l := range srv.Log()[from:] {
			if strings.HasSuffix(l, "/Packages.xz 200") {
				n++
			}
		}
		return n
	}
	coldSeries := func(targetedS, fullS *Sample) error {
		for i := 0; i < b.opt.RefreshRuns; i++ {
			if err := clean(); err != nil {
				return err
			}
			h0 := distroHits()
			m, err := must(targeted.run())
			if err != nil {
				return fmt.Errorf("targeted refresh: %w", err)
			}
			if distroHits() != h0 {
				return errors.New("the targeted refresh fetched the distro repository")
			}
			targetedS.Add(m.Wall)
			if err := clean(); err != nil {
				return err
			}
			log0 := len(srv.Log())
			if m, err = must(full.run()); err != nil {
				return fmt.Errorf("full refresh: %w", err)
			}
			if distroHits() == h0 || strings.Contains(m.Output, "Err:") || strings.Contains(m.Output, "W: ") {
				return fmt.Errorf("the full refresh did not fetch the distro repository cleanly: %s", m.Output)
			}
			if n := indexFetches(log0); n != len(b.opt.Suites) {
				return fmt.Errorf("the full refresh downloaded %d of the distro's %d Packages.xz: %s", n, len(b.opt.Suites), m.Output)
			}
			fullS.Add(m.Wall)
		}
		return nil
	}
	if err := coldSeries(&rf.TargetedCold, &rf.FullCold); err != nil {
		return err
	}
	floor := v.cmd("/usr/bin/apt-get", "update", "-q", "-o", "Dir::Etc::sourcelist=/dev/null", "-o", "Dir::Etc::sourceparts=-", "-o", "APT::Get::List-Cleanup=0")
	for i := 0; i < b.opt.RefreshRuns; i++ {
		if err := clean(); err != nil {
			return err
		}
		m, err := must(floor.run())
		if err != nil {
			return fmt.Errorf("empty refresh: %w", err)
		}
		rf.Floor.Add(m.Wall)
	}
	lat := time.Duration(b.opt.LatencyMS) * time.Millisecond
	rf.LatencyMS = ms(lat)
	srv.SetFaults(fixtures.Fault{Prefix: "/", Delay: lat})
	b.e.Repo.SetFaults(fixtures.Fault{Prefix: "/", Delay: lat})
	err = coldSeries(&rf.TargetedLatency, &rf.FullLatency)
	srv.SetFaults()
	b.e.Repo.SetFaults()
	if err != nil {
		return err
	}
	link := fixtures.Link{Latency: msDuration(b.opt.ModelLatencyMS), BitsPerSecond: int64(b.opt.ModelMbit * 1e6)}
	rf.ModelLatencyMS, rf.ModelMbit = b.opt.ModelLatencyMS, b.opt.ModelMbit
	srv.SetLink(link)
	b.e.Repo.SetLink(link)
	err = coldSeries(&rf.TargetedModel, &rf.FullModel)
	srv.SetLink(fixtures.Link{})
	b.e.Repo.SetLink(fixtures.Link{})
	if err != nil {
		return err
	}
	if _, err := must(full.run()); err != nil {
		return err
	}
	for i := 0; i < b.opt.RefreshRuns; i++ {
		m, err := must(targeted.run())
		if err != nil {
			return err
		}
		rf.TargetedWarm.Add(m.Wall)
		if m, err = must(full.run()); err != nil {
			return err
		}
		rf.FullWarm.Add(m.Wall)
	}
	fmt.Fprintf(b.log, "   refresh: targeted %.0f ms, full %.0f ms (empty lists); %.0f ms, %.0f ms (+%.0f ms per request); %.0f ms, %.0f ms (modelled VM network); %.0f ms, %.0f ms (lists present)\n",
		rf.TargetedCold.Median(), rf.FullCold.Median(), rf.TargetedLatency.Median(), rf.FullLatency.Median(), rf.LatencyMS,
		rf.TargetedModel.Median(), rf.FullModel.Median(), rf.TargetedWarm.Median(), rf.FullWarm.Median())
	return nil
}

// identity measures identity.Prober.Check against the fake IMDS, and its
// bound when IMDS is unreachable (fake clock: back-off sleeps are instant
// and summed; per-try timeouts are real).
func (b *bencher) identity(ctx context.Context, res *Results) error {
	id := &res.Identity
	id.MaxCheckMS = ms(identity.MaxCheckDuration)
	root := sysroot.Root(b.e.ChrootDir)
	for i := 0; i < b.opt.IdentityRuns+2; i++ {
		p := &identity.Prober{Root: root}
		start := time.Now()
		if _, err := p.Check(ctx, nil); err != nil {
			return fmt.Errorf("healthy IMDS: %w", err)
		}
		if i >= 2 { // first two warm up
			id.Healthy.Add(time.Since(start))
		}
	}
	clk := clocktest.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	p := &identity.Prober{Root: root, Clock: clk, IMDSBase: "http://127.0.0.1:9"}
	c0, start := clk.Now(), time.Now()
	_, err := p.Check(ctx, nil)
	id.RefusedRealMS, id.RefusedClockMS, id.RefusedCode = ms(time.Since(start)), ms(clk.Now().Sub(c0)), int(failure.CodeOf(err))

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	const try = 200 * time.Millisecond
	clk = clocktest.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	p = &identity.Prober{Root: root, Clock: clk, IMDSBase: "http://" + ln.Addr().String(), TryTimeout: try}
	c0, start = clk.Now(), time.Now()
	_, err = p.Check(ctx, nil)
	id.BlackholeRealMS, id.BlackholeClockMS, id.BlackholeCode = ms(time.Since(start)), ms(clk.Now().Sub(c0)), int(failure.CodeOf(err))
	id.BlackholeTryMS = ms(try)
	mu.Lock()
	id.BlackholeTries = len(conns)
	for _, c := range conns {
		c.Close()
	}
	mu.Unlock()
	id.WorstCaseMS = id.BlackholeClockMS + float64(id.BlackholeTries)*ms(identity.DefaultTryTimeout)
	fmt.Fprintf(b.log, "   healthy median %.2f ms; refused %.0f ms real + %.0f ms clock (exit %d); black hole %d tries, %.0f ms real + %.0f ms clock\n",
		id.Healthy.Median(), id.RefusedRealMS, id.RefusedClockMS, id.RefusedCode, id.BlackholeTries, id.BlackholeRealMS, id.BlackholeClockMS)
	return nil
}

// installTimeline runs one more cold install under strace -f and splits its
// wall time into the commands the handler started and the rest (the
// handler's own work and waiting between commands).
func (b *bencher) installTimeline(ctx context.Context, res *Results) error {
	if _, err := exec.LookPath("strace"); err != nil {
		res.Notes = append(res.Notes, "install timeline: strace not installed")
		return nil
	}
	out := filepath.Join(b.opt.WorkDir, "install.strace")
	if err := b.straceInstall(ctx, "-f", "-ttt", "-q", "-e", "trace=execve", "-e", "signal=none", "-o", out); err != nil {
		return err
	}
	data, err := os.ReadFile(out)
	if err != nil {
		return err
	}
	res.InstallTimeline = ParseTimeline(string(data))
	if os.Getenv("AADSSH_BENCH_PROFILE") != "" {
		// A second, detailed trace for profiling by hand (kept in -work).
		_ = b.straceInstall(ctx, "-f", "-tt", "-T", "-e", "trace=execve,fsync,fdatasync,connect,rename,renameat,renameat2,flock,openat,write,wait4,epoll_pwait,nanosleep",
			"-o", filepath.Join(b.opt.WorkDir, "install-detail.strace"))
	}
	return nil
}

// straceInstall runs a cold install (first deployment's install command)
// in a fresh VM under strace with straceArgs.
func (b *bencher) straceInstall(ctx context.Context, straceArgs ...string) error {
	v, err := b.newVM()
	if err != nil {
		return err
	}
	defer v.close()
	if err := b.layout(v); err != nil {
		return err
	}
	hp := v.handler("install", 0)
	c := exec.CommandContext(ctx, "strace", append(append(straceArgs, "chroot", v.dir), hp.Argv...)...)
	c.Env = hp.Env
	if o, err := c.CombinedOutput(); err != nil {
		return fmt.Errorf("straced install: %w: %s", err, tailOf(string(o), 2000))
	}
	return nil
}

func loadavg() string {
	data, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
