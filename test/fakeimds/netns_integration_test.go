package fakeimds_test

// Integration test: the real prober, with its DEFAULT IMDS address
// 169.254.169.254, against cmd/fakeimds, both inside a network namespace the
// test creates (and always deletes). Nothing is ever sent to
// 169.254.169.254 in the host's namespace: the client only runs through
// `ip netns exec`, and refuses to start unless its /proc/self/ns/net differs
// from the host's and 169.254.169.254 is a local address there.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/Azure/aadsshlogin-extension-linux/handler/failure"
	"github.com/Azure/aadsshlogin-extension-linux/handler/identity"
	"github.com/Azure/aadsshlogin-extension-linux/handler/sysroot"
	"github.com/Azure/aadsshlogin-extension-linux/test/fakeimds"
	"github.com/Azure/aadsshlogin-extension-linux/test/fixtures"
)

const (
	helperEnv   = "FAKEIMDS_NETNS_HELPER"
	hostNSEnv   = "FAKEIMDS_HOST_NETNS"
	windowEnv   = "FAKEIMDS_WINDOW"
	fastEnv     = "FAKEIMDS_FAST_RETRY"
	resultMark  = "PROBE-RESULT "
	imdsAddress = "169.254.169.254"
)

// needIntegration skips, or fails under AADSSH_REQUIRE_INTEGRATION=1.
func needIntegration(t *testing.T, format string, args ...any) {
	t.Helper()
	reason := fmt.Sprintf(format, args...)
	if os.Getenv("AADSSH_REQUIRE_INTEGRATION") == "1" {
		t.Fatalf("integration prerequisite missing (AADSSH_REQUIRE_INTEGRATION=1): %s", reason)
	}
	t.Skipf("skipping netns integration test: %s (set AADSSH_REQUIRE_INTEGRATION=1 to make this a failure)", reason)
}

// probeResult is what the helper reports.
type probeResult struct {
	Code          failure.Code
	Transitioning bool
	Kind          identity.Kind
	UserAssigned  bool
	Message       string
	AzEnvironment string
	InstanceCode  failure.Code
}

func TestNetnsDefaultIMDS(t *testing.T) {
	if os.Getenv(helperEnv) != "" {
		t.Skip("helper process")
	}
	fixtures.RequireIntegration(t, "the netns IMDS test (network namespace)", fixtures.Lacks(true, "ip")...)
	ipBin, err := exec.LookPath("ip")
	if err != nil {
		needIntegration(t, "iproute2's ip command not found: %v", err)
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = "/usr/local/go/bin/go"
	}
	hostNS, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		needIntegration(t, "cannot read /proc/self/ns/net: %v", err)
	}

	dir := t.TempDir()
	server := filepath.Join(dir, "fakeimds")
	if out, err := exec.Command(goBin, "build", "-o", server, "./cmd/fakeimds").CombinedOutput(); err != nil {
		t.Fatalf("building cmd/fakeimds: %v\n%s", err, out)
	}

	ns := fmt.Sprintf("aadssh-imds-%d-%d", os.Getpid(), time.Now().UnixNano()%1_000_000_000)
	if out, err := exec.Command(ipBin, "netns", "add", ns).CombinedOutput(); err != nil {
		needIntegration(t, "ip netns add failed: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command(ipBin, "netns", "delete", ns).CombinedOutput(); err != nil {
			t.Errorf("ip netns delete %s: %v: %s", ns, err, out)
		}
	})
	for _, args := range [][]string{
		{"-n", ns, "link", "set", "lo", "up"},
		{"-n", ns, "addr", "add", imdsAddress + "/32", "dev", "lo"},
	} {
		if out, err := exec.Command(ipBin, args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}

	tests := []struct {
		name      string
		scenario  string // "" = no server (unreachable)
		serverArg []string
		window    string
		fast      bool
		want      probeResult
		contains  []string
		// wantTokenRequests is the number of token requests in the log.
		wantTokenRequests int
	}{
		{name: "present", scenario: "present", serverArg: []string{"-az-environment", "AzureChinaCloud"},
			want:              probeResult{Kind: identity.AzureVM, AzEnvironment: "AzureChinaCloud"},
			wantTokenRequests: 1},
		{name: "missing", scenario: "missing", window: "1s",
			want:              probeResult{Code: 22, Transitioning: true, Kind: identity.AzureVM, AzEnvironment: "AzurePublicCloud"},
			contains:          []string{"no system-assigned managed identity", "az vm identity assign -g rg1 -n vm1"},
			wantTokenRequests: 1},
		{name: "user-assigned on a scale set", scenario: "user-assigned", window: "1s", serverArg: []string{"-vmss", "ss1"},
			want:              probeResult{Code: 22, Transitioning: true, Kind: identity.AzureVM, UserAssigned: true, AzEnvironment: "AzurePublicCloud"},
			contains:          []string{"user-assigned managed identity", "az vmss identity assign -g rg1 -n ss1"},
			wantTokenRequests: 1},
		{name: "transient then present", scenario: "error-then-present", fast: true,
			want:              probeResult{Kind: identity.AzureVM, AzEnvironment: "AzurePublicCloud"},
			wantTokenRequests: 3},
		{name: "always 500", scenario: "always-500", fast: true,
			want:              probeResult{Code: 52, Kind: identity.AzureVM, AzEnvironment: "AzurePublicCloud"},
			contains:          []string{"kept answering HTTP 500"},
			wantTokenRequests: 5},
		{name: "timeouts", scenario: "slow", fast: true,
			want:              probeResult{Code: 52, Kind: identity.AzureVM, AzEnvironment: "AzurePublicCloud"},
			contains:          []string{"timed out", "no_proxy=169.254.169.254"},
			wantTokenRequests: 5},
		{name: "unreachable", fast: true,
			want:     probeResult{Code: 52, Kind: identity.AzureVM, InstanceCode: 52},
			contains: []string{"connection refused", "no_proxy=169.254.169.254"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			logPath := filepath.Join(t.TempDir(), "requests.jsonl")
			var stop func() int
			if tc.scenario != "" {
				stop = startServer(t, ipBin, ns, server, logPath, append([]string{"-scenario", tc.scenario}, tc.serverArg...))
			}
			got := runProbe(t, ipBin, ns, hostNS, tc.window, tc.fast)
			if stop != nil {
				if code := stop(); code != 0 {
					t.Errorf("fakeimds exited %d after SIGTERM, want 0", code)
				}
			}
			msg := got.Message
			got.Message = ""
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("probe (-want +got):\n%s\nmessage: %s", diff, msg)
			}
			for _, c := range tc.contains {
				if !strings.Contains(msg, c) {
					t.Errorf("message lacks %q: %s", c, msg)
				}
			}
			if tc.scenario == "" {
				return
			}
			reqs := readLog(t, logPath)
			tokens := 0
			for _, r := range reqs {
				if r.Metadata != "true" || r.ProxyForm || r.Forwarded != "" {
					t.Errorf("bad request in the log: %+v", r)
				}
				if r.Path == fakeimds.TokenPath {
					tokens++
					if !strings.Contains(r.Query, "resource=ce6ff14a-7fdc-4685-bbe0-f6afdfcfa8e0") {
						t.Errorf("token request without the sign-in resource: %+v", r)
					}
				}
			}
			if tokens != tc.wantTokenRequests {
				t.Errorf("%d token requests logged, want %d: %+v", tokens, tc.wantTokenRequests, reqs)
			}
		})
	}
}

// startServer runs cmd/fakeimds in the namespace on 169.254.169.254:80 and
// returns a function that stops it with SIGTERM and returns its exit code.
func startServer(t *testing.T, ipBin, ns, server, logPath string, args []string) func() int {
	t.Helper()
	cmd := exec.Command(ipBin, append([]string{"netns", "exec", ns, server, "-listen", imdsAddress + ":80", "-log", logPath}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting fakeimds: %v", err)
	}
	done := make(chan struct{})
	t.Cleanup(func() {
		select {
		case <-done:
		default:
			cmd.Process.Kill()
			<-done
		}
	})
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "ready ") {
				ready <- sc.Text()
			}
		}
	}()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); close(done) }()
	select {
	case <-ready:
	case err := <-exited:
		t.Fatalf("fakeimds exited before ready: %v\n%s", err, stderr.String())
	case <-time.After(20 * time.Second):
		t.Fatalf("fakeimds not ready after 20 s\n%s", stderr.String())
	}
	return func() int {
		// `ip netns exec` execs the command, so this is fakeimds itself.
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Errorf("fakeimds ignored SIGTERM for 10 s")
			cmd.Process.Kill()
			<-done
		}
		if stderr.Len() > 0 {
			t.Logf("fakeimds stderr: %s", stderr.String())
		}
		return cmd.ProcessState.ExitCode()
	}
}

// runProbe runs TestNetnsProbeHelper of this test binary inside the namespace.
func runProbe(t *testing.T, ipBin, ns, hostNS, window string, fast bool) probeResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, ipBin, "netns", "exec", ns, os.Args[0],
		"-test.run=^TestNetnsProbeHelper$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), helperEnv+"=1", hostNSEnv+"="+hostNS, windowEnv+"="+window,
		// A proxy that does not exist: a prober that used it would fail.
		"http_proxy=http://127.0.0.1:9", "HTTP_PROXY=http://127.0.0.1:9", "no_proxy=", "NO_PROXY=")
	if fast {
		cmd.Env = append(cmd.Env, fastEnv+"=1")
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("probe helper: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if rest, ok := strings.CutPrefix(line, resultMark); ok {
			var r probeResult
			if err := json.Unmarshal([]byte(rest), &r); err != nil {
				t.Fatalf("helper result %q: %v", rest, err)
			}
			return r
		}
	}
	t.Fatalf("helper printed no result:\n%s", out)
	return probeResult{}
}

// TestNetnsProbeHelper is the client side; it only runs under `ip netns exec`.
func TestNetnsProbeHelper(t *testing.T) {
	if os.Getenv(helperEnv) == "" {
		t.Skip("runs inside the namespace, started by TestNetnsDefaultIMDS")
	}
	// Refuse to send anything unless this is not the host's namespace and
	// 169.254.169.254 is one of our own (namespace-local) addresses.
	myNS, err := os.Readlink("/proc/self/ns/net")
	if err != nil || myNS == "" || myNS == os.Getenv(hostNSEnv) || os.Getenv(hostNSEnv) == "" {
		t.Fatalf("not inside a separate network namespace (mine %q, host %q, %v): refusing to contact IMDS", myNS, os.Getenv(hostNSEnv), err)
	}
	if !localAddress(t, imdsAddress) {
		t.Fatalf("%s is not a local address of this namespace: refusing to contact it", imdsAddress)
	}
	p := &identity.Prober{
		// IMDSBase left empty: the default, http://169.254.169.254.
		Getenv: func(string) string { return "" }, // never Arc here
		Root:   sysroot.Root(t.TempDir()),
	}
	if w := os.Getenv(windowEnv); w != "" {
		d, err := time.ParseDuration(w)
		if err != nil {
			t.Fatal(err)
		}
		p.Window = d
	}
	if os.Getenv(fastEnv) != "" {
		p.RetryDelays = []time.Duration{0, 20 * time.Millisecond, 40 * time.Millisecond, 60 * time.Millisecond, 80 * time.Millisecond}
		p.TryTimeout = 500 * time.Millisecond
	}
	ctx := context.Background()
	id, err := p.Check(ctx, nil)
	inst, ierr := p.Instance(ctx)
	code := failure.CodeOf(err)
	r := probeResult{Code: code, Transitioning: code.Transitioning(), Kind: id.Kind, UserAssigned: id.UserAssigned,
		Message: failure.Message(err), AzEnvironment: inst.AzEnvironment, InstanceCode: failure.CodeOf(ierr)}
	b, _ := json.Marshal(r)
	fmt.Println(resultMark + string(b))
}

func localAddress(t *testing.T, ip string) bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.String() == ip {
			return true
		}
	}
	return false
}

func readLog(t *testing.T, p string) []fakeimds.Request {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("request log: %v", err)
	}
	var reqs []fakeimds.Request
	for _, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var r fakeimds.Request
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		reqs = append(reqs, r)
	}
	return reqs
}
