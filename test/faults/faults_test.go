package faults

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/aadsshlogin-extension-linux/test/fixtures"
	"github.com/Azure/aadsshlogin-extension-linux/test/sandbox"
)

// requireIntegration skips (or, under AADSSH_REQUIRE_INTEGRATION=1, fails)
// when the batteries cannot run, and returns the two zips.
func requireIntegration(t *testing.T) (zip, next string) {
	t.Helper()
	fixtures.RequireIntegration(t, "the fault batteries (chroot, network namespaces)", fixtures.Lacks(true)...)
	zip, next = os.Getenv("AADSSH_ZIP"), os.Getenv("AADSSH_NEXT_ZIP")
	if zip == "" || next == "" {
		fixtures.RequireIntegration(t, "the fault batteries", "AADSSH_ZIP and AADSSH_NEXT_ZIP (run through `make test`)")
	}
	return zip, next
}

// TestMain makes the test binary the batteries' inner side (sandbox.Serve).
func TestMain(m *testing.M) {
	sandbox.Serve(Modes())
	os.Exit(m.Run())
}

type rig struct {
	zip, next string
}

func (g rig) prepare(t *testing.T, ctx context.Context, name string) *sandbox.Host {
	t.Helper()
	work := filepath.Join(t.TempDir(), name)
	h, err := sandbox.Prepare(ctx, sandbox.Options{Zip: g.zip, NextZip: g.next, WorkDir: work},
		sandbox.Plan{Name: name, IMDSScenario: "present"})
	if err != nil {
		t.Fatalf("prepare sandbox %s: %v", name, err)
	}
	return h
}

// run runs one battery in h and returns its results; the transcript is
// logged.
func run(t *testing.T, ctx context.Context, h *sandbox.Host, battery, imds string, a Args) []Result {
	t.Helper()
	var out bytes.Buffer
	var rs []Result
	start := time.Now()
	err := h.Call(ctx, sandbox.Call{Mode: battery, IMDS: imds, Args: a, Out: &out}, &rs)
	t.Logf("battery %s %+v (%s):\n%s", battery, a, time.Since(start).Round(time.Second), out.String())
	if err != nil {
		t.Errorf("battery %s: %v", battery, err)
	}
	return rs
}

// report fails the test for every problem of the results.
func report(t *testing.T, rs []Result) {
	t.Helper()
	for _, r := range rs {
		for _, p := range r.Problems {
			t.Errorf("%s / %s: %s", r.Battery, r.Case, p)
		}
		for _, n := range r.Notes {
			t.Logf("%s / %s: note: %s", r.Battery, r.Case, n)
		}
	}
}

// wanted selects batteries by the comma-separated AADSSH_FAULTS (all when
// unset), to re-run one battery while working on it.
func wanted(battery string) bool {
	sel := os.Getenv("AADSSH_FAULTS")
	if sel == "" {
		return true
	}
	for _, b := range strings.Split(sel, ",") {
		if strings.TrimSpace(b) == battery {
			return true
		}
	}
	return false
}

func TestFaultBatteries(t *testing.T) {
	zip, next := requireIntegration(t)
	if missing := fixtures.HaveTools("ip", "mmdebstrap", "chroot", "dpkg-deb", "apt-ftparchive", "gpg"); len(missing) > 0 {
		t.Fatalf("missing tools: %v (run `make deps`)", missing)
	}
	g := rig{zip: zip, next: next}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()

	// Prepared first: it builds the chroot cache if needed.
	h := g.prepare(t, ctx, "faults")
	defer h.Close()

	// The IMDS cases spend most of their time in the handler's retry
	// back-off (up to a minute), so each runs in its own sandbox while the
	// other batteries run.
	var imdsWG sync.WaitGroup
	imdsCases := []struct {
		scenario string
		want     int
	}{{"missing", 22}, {"user-assigned", 22}, {"always-500", 52}, {"gone-then-present", 0}}
	imdsResults := make([][]Result, len(imdsCases))
	imdsLogs := make([]string, len(imdsCases))
	for i, c := range imdsCases {
		if !wanted("imds") {
			break
		}
		imdsWG.Add(1)
		go func(i int, scenario string, want int) {
			defer imdsWG.Done()
			work := filepath.Join(t.TempDir(), "imds")
			h, err := sandbox.Prepare(ctx, sandbox.Options{Zip: zip, WorkDir: work},
				sandbox.Plan{Name: "imds-" + scenario, IMDSScenario: scenario})
			if err != nil {
				imdsLogs[i] = fmt.Sprintf("prepare: %v", err)
				return
			}
			defer h.Close()
			var out bytes.Buffer
			if err := h.Call(ctx, sandbox.Call{Mode: "imds", IMDS: scenario, Args: Args{IMDS: scenario, Want: want}, Out: &out}, &imdsResults[i]); err != nil {
				fmt.Fprintf(&out, "battery imds: %v\n", err)
			}
			imdsLogs[i] = out.String()
		}(i, c.scenario, c.want)
	}

	t.Run("kill", func(t *testing.T) {
		if !wanted("kill") {
			t.Skip("not selected by AADSSH_FAULTS")
		}
		rs := run(t, ctx, h, "kill", "present", Args{Reps: 2})
		for i := 0; i < 2; i++ {
			// A fresh fake IMDS each time: its first token answer is 500.
			rs = append(rs, run(t, ctx, h, "kill-identity", "error-then-present", Args{Reps: 1})...)
		}
		report(t, rs)
		points := map[string]int{}
		kills, converged, torn, attempts, interrupted := 0, 0, 0, 0, 0
		for _, r := range rs {
			if r.Hit {
				kills++
				points[r.Case]++
			}
			if r.Converged {
				converged++
			}
			torn += len(r.Torn)
			attempts += r.Counts["attempts"]
			interrupted += r.Counts["dpkg-interrupted"]
		}
		for p, n := range points {
			if n < 2 {
				t.Errorf("kill point %q was hit %d time(s), want 2", p, n)
			}
		}
		if len(points) < 8 {
			t.Errorf("%d distinct kill points were hit, want at least 8", len(points))
		}
		t.Logf("kill battery: %d kills at %d points (%d attempts), %d converged, %d torn files, %d left dpkg interrupted (recovered)",
			kills, len(points), attempts, converged, torn, interrupted)
	})

	t.Run("concurrent", func(t *testing.T) {
		if !wanted("concurrent") {
			t.Skip("not selected by AADSSH_FAULTS")
		}
		rs := run(t, ctx, h, "concurrent", "present", Args{})
		report(t, rs)
		if len(rs) != 1 {
			t.Fatalf("want 1 result, got %d", len(rs))
		}
		c := rs[0].Counts
		t.Logf("concurrency battery: 10 enables, %d exit 0, %d exit 56, %d other; %d package installation (dpkg.log), %d apt-get install, %d apt-get update, %d .deb download(s), %d ms",
			c["exit0"], c["exit56"], c["exitOther"], c["dpkgInstalls"], c["aptGetInstallRuns"], c["aptGetUpdateRuns"], c["debDownloads"], c["elapsedMs"])
	})

	t.Run("package", func(t *testing.T) {
		if !wanted("package") {
			t.Skip("not selected by AADSSH_FAULTS")
		}
		rs := run(t, ctx, h, "package", "present", Args{})
		other, err := fixtures.NewKey(t.TempDir(), "wrong-key")
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		if err := h.PMC.Resign(other); err != nil {
			t.Fatal(err)
		}
		rs = append(rs, run(t, ctx, h, "package", "present", Args{Case: "wrongkey"})...)
		if err := h.PMC.Resign(h.Key); err != nil {
			t.Fatal(err)
		}
		report(t, rs)
		ok := 0
		for _, r := range rs {
			if len(r.Problems) == 0 {
				ok++
			}
			t.Logf("  %-58s exit %-3d want %-3d %s", r.Case, r.Exit, r.Counts["want"], clip(r.Message, 160))
		}
		t.Logf("package battery: %d cases, %d as documented", len(rs), ok)
	})

	t.Run("security", func(t *testing.T) {
		if !wanted("security") {
			t.Skip("not selected by AADSSH_FAULTS")
		}
		rs := run(t, ctx, h, "security", "present", Args{})
		report(t, rs)
		hits, modes := 0, 0
		for _, r := range rs {
			hits += r.Counts["secretHits"]
			modes += r.Counts["filesModeChecked"]
		}
		t.Logf("security battery: %d cases, %d secret hits, %d file modes checked", len(rs), hits, modes)
	})

	t.Run("imds", func(t *testing.T) {
		if !wanted("imds") {
			t.Skip("not selected by AADSSH_FAULTS")
		}
		imdsWG.Wait()
		var rs []Result
		for i, c := range imdsCases {
			t.Logf("IMDS %s:\n%s", c.scenario, imdsLogs[i])
			if len(imdsResults[i]) != 1 {
				t.Errorf("IMDS %s: no result", c.scenario)
			}
			rs = append(rs, imdsResults[i]...)
		}
		report(t, rs)
		var lines []string
		ok := 0
		for _, r := range rs {
			if len(r.Problems) == 0 {
				ok++
			}
			lines = append(lines, fmt.Sprintf("%s→%d", r.Case, r.Exit))
			t.Logf("  %-18s exit %-3d %-13s %3d s, %d token requests: %s", r.Case, r.Exit, r.Status, r.Counts["seconds"], r.Counts["tokenRequests"], clip(r.Message, 140))
		}
		slices.Sort(lines)
		t.Logf("IMDS battery: %d cases, %d as documented (%s)", len(rs), ok, strings.Join(lines, ", "))
	})
}
