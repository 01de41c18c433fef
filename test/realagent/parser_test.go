package realagent

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/aadsshlogin-extension-linux/handler/agent"
	"github.com/Azure/aadsshlogin-extension-linux/test/fixtures"
)

// requireChroot skips (or fails under AADSSH_REQUIRE_INTEGRATION=1) without
// root and mmdebstrap, and returns a fresh chroot of spec (with waagent).
func requireChroot(t *testing.T, spec fixtures.ChrootSpec) *fixtures.Chroot {
	t.Helper()
	fixtures.RequireIntegration(t, "the real agent (chroot)", fixtures.Lacks(true, "mmdebstrap")...)
	cache, err := fixtures.DefaultCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	c, err := spec.NewChroot(cache, filepath.Join(t.TempDir(), "chroot"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Error(err)
		}
	})
	return c
}

// TestAgentAcceptsOurStatusFiles writes the status files our handler's
// StatusWriter produces, including its extremes (every status value, the
// longest messages, more substatus than fit in 128 KiB), into a handler's
// status folder in a chroot with Debian's waagent, and asks the agent's own
// parser for its verdict. Files built to break the agent's rules must be
// rejected, so the check itself is shown to work. Both agents: bookworm's
// 2.7.3.0 and trixie's 2.12.
func TestAgentAcceptsOurStatusFiles(t *testing.T) {
	for _, spec := range []fixtures.ChrootSpec{fixtures.Bookworm, Trixie} {
		t.Run(spec.Suite, func(t *testing.T) { checkStatusFiles(t, requireChroot(t, spec)) })
	}
}

func checkStatusFiles(t *testing.T, c *fixtures.Chroot) {
	const dir = "/opt/aadssh-realagent"
	if err := Install(c.Dir, dir); err != nil {
		t.Fatal(err)
	}
	statusDir := c.Path("/var/lib/waagent/" + Name + "-1.0.0.1/status")
	w := agent.StatusWriter{Folder: statusDir, Name: Name, Now: func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }}
	long := strings.Repeat("é Entra ", 2000)
	var many []agent.SubStatus
	for i := range 40 {
		many = append(many, agent.SubStatus{Name: fmt.Sprintf("check-%d", i), Status: agent.Warning, Code: i, Message: strings.Repeat("x", 8<<10)})
	}
	ours := []agent.Report{
		{Operation: "Enable", Status: agent.Success, Message: "Microsoft Entra ID sign-in is ready"},
		{Operation: "Enable", Status: agent.Transitioning, Code: 22, Message: long},
		{Operation: "Install", Status: agent.Error, Code: 52, Message: "repository \"unreachable\"\n\ttab <html>", SubStatus: many},
		{Operation: "Disable", Status: agent.Warning, Code: 0, Message: "", SubStatus: []agent.SubStatus{{Name: "sshd", Status: agent.Warning, Message: long}}},
		{Operation: "Uninstall", Status: agent.Error, Code: 55, Message: "uninstall refused"},
	}
	for seq, r := range ours {
		if err := w.Write(seq, r); err != nil {
			t.Fatal(err)
		}
	}
	// Files the agent must reject (sequence numbers 100+).
	bad := map[int]string{
		100: `[{"version": 1, "status": {"status": "success", "formattedMessage": {"lang": "en-US", "message": "` + strings.Repeat("y", 140<<10) + `"}}}]`,
		101: `[{"version": 1, "status": {"operation": "Enable"}}]`,
		102: `[{"version": 1, "status": {"status": "ready"}}]`,
		103: `[{"version": 1, "status": `,
		104: `{"status": {"status": "success"}}`,
		105: `[{"status": {"status": "success", "formattedMessage": {"message": "no lang"}}}]`,
	}
	for seq, body := range bad {
		if err := os.WriteFile(filepath.Join(statusDir, fmt.Sprintf("%d.status", seq)), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	res, err := c.Run("python3", dir+"/driver.py", "check", Name)
	if err != nil {
		t.Fatalf("driver check: %v\n%s", err, res.Stderr)
	}
	var verdicts []StatusFile
	if err := json.Unmarshal(res.Stdout, &verdicts); err != nil {
		t.Fatalf("driver check output: %v\n%s", err, res.Stdout)
	}
	if len(verdicts) != len(ours)+len(bad) {
		t.Fatalf("%d verdicts for %d files: %+v", len(verdicts), len(ours)+len(bad), verdicts)
	}
	for _, v := range verdicts {
		var seq int
		fmt.Sscanf(filepath.Base(v.File), "%d.status", &seq)
		switch {
		case seq < len(ours) && v.Error != "":
			t.Errorf("the agent rejects our status %d (%s %s, %d bytes): %s", seq, ours[seq].Operation, ours[seq].Status, v.Size, v.Error)
		case seq < len(ours) && v.Status != string(ours[seq].Status):
			t.Errorf("the agent reads status %d as %q, want %q", seq, v.Status, ours[seq].Status)
		case seq >= 100 && v.Error == "":
			t.Errorf("the agent's parser accepted the bad file %d (%s); the check cannot fail", seq, bad[seq][:min(60, len(bad[seq]))])
		default:
			t.Logf("%s: %d bytes, status %q, error %q", filepath.Base(v.File), v.Size, v.Status, v.Error)
		}
	}
}
