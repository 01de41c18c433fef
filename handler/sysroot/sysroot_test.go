package sysroot

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPath(t *testing.T) {
	tests := []struct {
		root Root
		p    string
		want string
	}{
		{"", "/etc/os-release", "/etc/os-release"},
		{"/", "/etc//os-release", "/etc/os-release"},
		{"/sandbox", "/etc/os-release", "/sandbox/etc/os-release"},
		{"/sandbox", "etc/os-release", "/sandbox/etc/os-release"},
		// A hostile path cannot climb out of the root.
		{"/sandbox", "/../../etc/shadow", "/sandbox/etc/shadow"},
		{"/sandbox", "../etc/shadow", "/sandbox/etc/shadow"},
	}
	for _, tc := range tests {
		if got := tc.root.Path(tc.p); got != tc.want {
			t.Errorf("Root(%q).Path(%q) = %q, want %q", tc.root, tc.p, got, tc.want)
		}
	}
}

func TestReadAndExists(t *testing.T) {
	dir := t.TempDir()
	r := Root(dir)
	if err := os.MkdirAll(filepath.Join(dir, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "etc", "x"), []byte("y"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := r.ReadFile("/etc/x"); err != nil || string(b) != "y" {
		t.Errorf("ReadFile = %q, %v", b, err)
	}
	if !r.Exists("/etc/x") || r.Exists("/etc/missing") {
		t.Error("Exists wrong")
	}
	if err := os.Symlink("/nonexistent", filepath.Join(dir, "etc", "dangling")); err != nil {
		t.Fatal(err)
	}
	if !r.Exists("/etc/dangling") {
		t.Error("Exists follows the final symlink")
	}
	if err := os.Mkdir(filepath.Join(dir, "etc", "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if names, err := r.ReadDir("/etc"); err != nil || strings.Join(names, " ") != "dangling x" {
		t.Errorf("ReadDir = %q, %v; want the file and the symlink, not the folder", names, err)
	}
	if _, err := r.ReadDir("/missing"); err == nil {
		t.Error("ReadDir of a missing folder: no error")
	}
}
