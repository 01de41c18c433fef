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

// Inner is the side of a run that executes inside the network namespace.
func Inner(ctx context.Context, cfgPath string, out io.Writer) error {
	data, err := os.ReadFile(cfgPath)
	if err != nil {
		return err
	}
	var cfg innerConfig
	if err := json.Unmarshal(data, &cfg); err != nil {
		return fmt.Errorf("inner config: %w", err)
	}
	if err := checkIsolated(cfg.HostNetNS); err != nil {
		return err
	}
	for _, args := range [][]string{{"link", "set", "lo", "up"}, {"addr", "add", "169.254.169.254/32", "dev", "lo"}} {
		if res, err := runCmd(ctx, "ip", args...); err != nil {
			return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, res)
		}
	}
	sc, ok := fakeimds.Lookup(cfg.Plan.IMDSScenario)
	if !ok {
		return fmt.Errorf("unknown IMDS scenario %q", cfg.Plan.IMDSScenario)
	}
	imdsLog, err := os.Create(filepath.Join(cfg.WorkDir, "imds-requests.jsonl"))
	if err != nil {
		return err
	}
	defer imdsLog.Close()
	imds := fakeimds.New(sc, imdsLog)
	defer imds.Close()
	ln, err := net.Listen("tcp", "169.254.169.254:80")
	if err != nil {
		return fmt.Errorf("fake IMDS: %w", err)
	}
	imdsSrv := &http.Server{Handler: imds, ReadHeaderTimeout: 10 * time.Second}
	go imdsSrv.Serve(ln)
	defer imdsSrv.Close()

	repo, err := fixtures.NewServer(cfg.WorkDir, cfg.RepoRoot)
	if err != nil {
		return fmt.Errorf("repository server: %w", err)
	}
	defer repo.Close()
	if err := trustCA(ctx, cfg.ChrootDir, repo.CAPEM); err != nil {
		return err
	}
	dir := "/opt/aadssh-sandbox"
	pub, _ := json.Marshal(map[string]any{"mirror": map[string]string{"url": repo.URL, "publicKey": cfg.PublicKey}})
	prot, _ := json.Marshal(map[string]any{"mirror": map[string]string{"url": repo.URL}})
	for name, body := range map[string][]byte{"settings.json": pub, "protected.json": prot} {
		if err := os.WriteFile(filepath.Join(cfg.ChrootDir, dir, name), body, 0o600); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "-- private mirror %s (signing key of the sandbox repository)\n", repo.URL)

	for i, ph := range cfg.Plan.Phases {
		fmt.Fprintf(out, "\n## %d. %s\n", i+1, ph.Title)
		if ph.Check != "" {
			if err := checkPackage(ctx, cfg.ChrootDir, ph.Check, out); err != nil {
				return err
			}
			continue
		}
		args := []string{cfg.ChrootDir, dir + "/agentsim",
			"-lib", "/var/lib/waagent", "-log", "/var/log/azure/" + HandlerName,
			"-scenario", ph.Scenario, "-settings", dir + "/settings.json"}
		switch {
		case ph.Scenario == "update":
			args = append(args, "-zip", cfg.Zips[0], "-zip2", cfg.Zips[1])
		case ph.Zip == 2:
			args = append(args, "-zip", cfg.Zips[1])
		default:
			args = append(args, "-zip", cfg.Zips[0])
		}
		if ph.Protected {
			args = append(args, "-protected", dir+"/protected.json")
		}
		for _, e := range ph.Expect {
			args = append(args, "-expect", e)
		}
		cmd := exec.CommandContext(ctx, "chroot", args...)
		cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8", "HOME=/root"}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("phase %q: agentsim: %w", ph.Title, err)
		}
	}
	fmt.Fprintf(out, "\n-- IMDS answered %d token request(s); the repository served %d request(s)\n", imds.TokenRequests(), len(repo.Log()))
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
