package main

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/Azure/aadsshlogin-extension-linux/test/agentsim"
)

// handlerScript writes a success status and exits 0, except that the verb
// named in $FAIL_VERB exits 22.
const handlerScript = `#!/bin/sh
seq=$ConfigSequenceNumber
if [ "$1" = "$FAIL_VERB" ]; then echo "failing $1" >&2; exit 22; fi
printf '[{"version":1,"status":{"status":"success","formattedMessage":{"lang":"en-US","message":"%s ok"}}}]' "$1" > status/$seq.status
`

func writeZip(t *testing.T, dir, version string) string {
	t.Helper()
	path := filepath.Join(dir, agentsim.DefaultHandlerName+"__"+version+".zip")
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	files := map[string]string{
		"HandlerManifest.json": `[{"version":1.0,"handlerManifest":{"installCommand":"scripts/aadsshlogin-shim install",` +
			`"uninstallCommand":"scripts/aadsshlogin-shim uninstall","updateCommand":"scripts/aadsshlogin-shim update",` +
			`"enableCommand":"scripts/aadsshlogin-shim enable","disableCommand":"scripts/aadsshlogin-shim disable"}}]`,
		"scripts/aadsshlogin-shim": handlerScript,
	}
	for n, c := range files {
		w, err := zw.Create(n)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(c))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRun(t *testing.T) {
	dir := t.TempDir()
	z1, z2 := writeZip(t, dir, "1.0.0.1"), writeZip(t, dir, "1.0.0.2")
	pubFile := filepath.Join(dir, "pub.json")
	os.WriteFile(pubFile, []byte(`{"k":"v"}`), 0o644)
	common := []string{"-timeout-scale", "0.02", "-status-retry-delay", "5ms"}
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  []string // substrings of stdout
	}{
		{"full with update", []string{"-zip", z1, "-zip", z2, "-settings", pubFile}, 0,
			[]string{"first    install     v1.0.0.1", "update   update      v1.0.0.2", "remove   remove-dir  v1.0.0.2", "OK: 18 steps"}},
		{"expected failure matches", []string{"-zip", z1, "-scenario", "first", "-env", "FAIL_VERB=enable", "-expect", "enable=22"}, 0,
			[]string{"exit=22", "code=1009", "OK: 3 steps"}},
		{"unexpected failure", []string{"-zip", z1, "-scenario", "first", "-env", "FAIL_VERB=enable"}, 1,
			[]string{"MISMATCH step 3 first/enable@1.0.0.1: expected 0, got 22", "Non-zero exit code: 22", "failing enable"}},
		{"standalone scenario installs first", []string{"-zip", z1, "-scenario", "disable"}, 0,
			[]string{"first    enable", "disable  disable"}},
		{"explicit version", []string{"-zip", z1, "-version", "3.0", "-scenario", "first"}, 0, []string{"v3.0"}},
		{"no zip", nil, 2, nil},
		{"bad expectation", []string{"-zip", z1, "-expect", "enable"}, 2, nil},
		{"unknown scenario", []string{"-zip", z1, "-scenario", "nope"}, 1, []string{"unknown scenario"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			root := t.TempDir()
			args := append(append([]string{"-lib", filepath.Join(root, "lib"), "-log", filepath.Join(root, "log")}, common...), tc.args...)
			if code := run(args, &stdout, &stderr); code != tc.wantCode {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.wantCode, stdout.String(), stderr.String())
			}
			for _, w := range tc.wantOut {
				if !strings.Contains(stdout.String(), w) {
					t.Errorf("stdout lacks %q:\n%s", w, stdout.String())
				}
			}
		})
	}
}

func TestRunJSON(t *testing.T) {
	dir := t.TempDir()
	z1 := writeZip(t, dir, "1.0.0.1")
	var stdout, stderr bytes.Buffer
	args := []string{"-zip", z1, "-scenario", "restart", "-json", "-timeout-scale", "0.02",
		"-lib", filepath.Join(dir, "lib"), "-log", filepath.Join(dir, "log"), "-env", "FAIL_VERB=none"}
	if code := run(args, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s %s", code, stdout.String(), stderr.String())
	}
	var rep agentsim.Report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, stdout.String())
	}
	var got []string
	for _, s := range rep.Steps {
		got = append(got, s.Scenario+"/"+s.Verb)
	}
	want := []string{"first/setup", "first/install", "first/enable", "restart/enable"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
	last := rep.Steps[len(rep.Steps)-1]
	if !rep.OK || last.Status == nil || last.Status.Message != "enable ok" || !strings.HasPrefix(last.Output, "[stdout]\n") {
		t.Errorf("report: ok=%v last=%+v", rep.OK, last)
	}
}

// TestPhasesAcrossInvocations runs one scenario per process on one lib dir,
// as test/sandbox does: the sequence number must carry over from disk.
func TestPhasesAcrossInvocations(t *testing.T) {
	dir := t.TempDir()
	z1, z2 := writeZip(t, dir, "1.0.0.1"), writeZip(t, dir, "1.0.0.2")
	pubFile := filepath.Join(dir, "pub.json")
	os.WriteFile(pubFile, []byte(`{"k":"v"}`), 0o644)
	protFile := filepath.Join(dir, "prot.json")
	os.WriteFile(protFile, []byte(`{"secret":"s"}`), 0o644)
	base := []string{"-lib", filepath.Join(dir, "lib"), "-log", filepath.Join(dir, "log"), "-timeout-scale", "0.02",
		"-status-retry-delay", "5ms", "-settings", pubFile, "-zip", z1}
	phases := []struct {
		args []string
		want string
	}{
		{[]string{"-scenario", "first"}, "first    enable      v1.0.0.1    seq=0"},
		{[]string{"-scenario", "settings", "-protected", protFile}, "settings enable      v1.0.0.1    seq=1"},
		{[]string{"-scenario", "restart"}, "restart  enable      v1.0.0.1    seq=1"},
		{[]string{"-scenario", "update", "-zip2", z2}, "update   enable      v1.0.0.2    seq=1"},
		{[]string{"-scenario", "remove"}, "remove   remove-dir  v1.0.0.2    seq=1"},
	}
	for _, ph := range phases {
		var stdout, stderr bytes.Buffer
		if code := run(append(append([]string{}, base...), ph.args...), &stdout, &stderr); code != 0 {
			t.Fatalf("%v: exit %d\n%s%s", ph.args, code, stdout.String(), stderr.String())
		}
		if !strings.Contains(stdout.String(), ph.want) {
			t.Errorf("%v: stdout lacks %q:\n%s", ph.args, ph.want, stdout.String())
		}
		// Restart and update replay the goal state on disk, protected
		// settings included.
		if ph.args[1] == "restart" || ph.args[1] == "update" {
			v := "1.0.0.1"
			if ph.args[1] == "update" {
				v = "1.0.0.2"
			}
			b, err := os.ReadFile(filepath.Join(dir, "lib", agentsim.DefaultHandlerName+"-"+v, "config", "1.settings"))
			if err != nil || !strings.Contains(string(b), `"protectedSettings": "MI`) {
				t.Errorf("%s: 1.settings lost the protected settings: %s %v", ph.args[1], b, err)
			}
		}
	}
}
