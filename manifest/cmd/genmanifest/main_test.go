package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/Azure/aadsshlogin-extension-linux/manifest"
)

// The real template, relative to this package's folder.
const template = "../../publish/extension.xml"

func TestRun(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantVer    string // checked in the output when wantCode == 0
		outFile    string // read output from here instead of stdout
		wantStderr string
	}{
		{name: "stdout", args: []string{"-version", "1.0.0.1", "-template", template}, wantVer: "1.0.0.1"},
		{name: "file", args: []string{"-version", "1.0.3162.1", "-template", template, "-out", filepath.Join(dir, "manifest.xml")}, wantVer: "1.0.3162.1", outFile: filepath.Join(dir, "manifest.xml")},
		{name: "media link", args: []string{"-version", "2.0.0.0", "-template", template, "-media-link", "https://a.example/p.zip"}, wantVer: "2.0.0.0"},
		{name: "no version", args: []string{"-template", template}, wantCode: 2, wantStderr: "-version is required"},
		{name: "three-part version", args: []string{"-version", "1.0.1", "-template", template}, wantCode: 1, wantStderr: "3 dot-separated parts"},
		{name: "leading zero", args: []string{"-version", "1.0.0.01", "-template", template}, wantCode: 1, wantStderr: "leading zero"},
		{name: "missing template", args: []string{"-version", "1.0.0.1", "-template", filepath.Join(dir, "nope.xml")}, wantCode: 1, wantStderr: "read template"},
		{name: "stray argument", args: []string{"-version", "1.0.0.1", "extra"}, wantCode: 2, wantStderr: "unexpected argument"},
		{name: "unknown flag", args: []string{"-bogus"}, wantCode: 2, wantStderr: "flag provided but not defined"},
		{name: "output folder missing", args: []string{"-version", "1.0.0.1", "-template", template, "-out", filepath.Join(dir, "no", "such", "x.xml")}, wantCode: 1, wantStderr: "output folder"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tt.args, &stdout, &stderr)
			if code != tt.wantCode {
				t.Fatalf("run(%q) = %d, want %d; stderr: %s", tt.args, code, tt.wantCode, stderr.String())
			}
			if tt.wantCode != 0 {
				if !strings.Contains(stderr.String(), tt.wantStderr) {
					t.Errorf("stderr %q, want it to contain %q", stderr.String(), tt.wantStderr)
				}
				if stdout.Len() != 0 {
					t.Errorf("failed run wrote to stdout: %q", stdout.String())
				}
				return
			}
			out := stdout.Bytes()
			if tt.outFile != "" {
				if stdout.Len() != 0 {
					t.Errorf("run with -out also wrote to stdout")
				}
				var err error
				if out, err = os.ReadFile(tt.outFile); err != nil {
					t.Fatal(err)
				}
			}
			img, err := manifest.DecodeExtensionImage(out)
			if err != nil {
				t.Fatal(err)
			}
			got := []string{img.ProviderNameSpace, img.Type, img.Version}
			if diff := cmp.Diff([]string{manifest.Publisher, manifest.Type, tt.wantVer}, got); diff != "" {
				t.Errorf("rendered (-want +got):\n%s", diff)
			}
		})
	}
}
