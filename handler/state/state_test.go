package state

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/Azure/aadsshlogin-extension-linux/handler/clock/clocktest"
	"github.com/Azure/aadsshlogin-extension-linux/handler/sysroot"
)

func TestUpdateMarker(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clocktest.New(start)
	d := Dir{Path: filepath.Join(t.TempDir(), "s"), Clock: clk, Boot: "boot-a"}
	if _, ok := d.ActiveUpdate("1.0.0.1"); ok {
		t.Fatal("marker active before any update")
	}
	m := UpdateMarker{From: "1.0.0.1", To: "1.0.0.2", Time: start}
	if err := d.WriteUpdateMarker(m); err != nil {
		t.Fatal(err)
	}
	got, ok := d.ActiveUpdate("1.0.0.1")
	if !ok {
		t.Fatal("fresh marker not active")
	}
	m.Boot = "boot-a"
	if diff := cmp.Diff(m, got); diff != "" {
		t.Error(diff)
	}
	// The wall clock never matters: steps both ways keep it valid.
	for _, at := range []time.Time{start.Add(-72 * time.Hour), start.Add(-time.Hour), start.Add(30 * 24 * time.Hour)} {
		clk.Set(at)
		if _, ok := d.ActiveUpdate("1.0.0.1"); !ok {
			t.Errorf("clock at %v: marker no longer active", at)
		}
	}
	tests := []struct {
		name    string
		boot    string
		version string
		want    bool
	}{
		{"the version being replaced", "boot-a", "1.0.0.1", true},
		{"the new version", "boot-a", "1.0.0.2", false},
		{"another version", "boot-a", "1.0.0.9", false},
		{"after a reboot", "boot-b", "1.0.0.1", false},
	}
	for _, tc := range tests {
		dd := d
		dd.Boot = tc.boot
		if _, ok := dd.ActiveUpdate(tc.version); ok != tc.want {
			t.Errorf("%s: active = %v, want %v", tc.name, ok, tc.want)
		}
	}
	// Without the agent's "from" version any version but the target is protected.
	if err := d.WriteUpdateMarker(UpdateMarker{To: "1.0.0.2"}); err != nil {
		t.Fatal(err)
	}
	if _, ok := d.ActiveUpdate("1.0.0.1"); !ok {
		t.Error("marker without from version does not protect the old version")
	}
	if err := d.ClearUpdateMarker(); err != nil {
		t.Fatal(err)
	}
	if err := d.ClearUpdateMarker(); err != nil {
		t.Fatalf("second clear: %v", err)
	}
}

func TestHandOff(t *testing.T) {
	d := Dir{Path: filepath.Join(t.TempDir(), "s"), Clock: clocktest.Real(), Boot: "boot-a"}
	if _, ok, err := d.TakeHandOff("1.0.0.1", 0); ok || err != nil {
		t.Fatalf("hand-off before any install: %v %v", ok, err)
	}
	h := HandOff{Version: "1.0.0.1", Seq: 3, Code: 22, Message: "no identity", Notes: []Note{{Name: "n", Message: "m"}}}
	tests := []struct {
		name    string
		boot    string
		version string
		seq     int
		want    bool
	}{
		{"same version, seq and boot", "boot-a", "1.0.0.1", 3, true},
		{"another seq", "boot-a", "1.0.0.1", 4, false},
		{"another version", "boot-a", "1.0.0.2", 3, false},
		{"another boot", "boot-b", "1.0.0.1", 3, false},
	}
	for _, tc := range tests {
		if err := d.WriteHandOff(h); err != nil {
			t.Fatal(err)
		}
		dd := d
		dd.Boot = tc.boot
		got, ok, err := dd.TakeHandOff(tc.version, tc.seq)
		if err != nil || ok != tc.want {
			t.Errorf("%s: ok = %v, %v; want %v", tc.name, ok, err, tc.want)
		}
		if ok {
			want := h
			want.Boot = "boot-a"
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s: %s", tc.name, diff)
			}
		}
		// Taken once, whatever it said.
		if _, ok, _ := d.TakeHandOff("1.0.0.1", 3); ok {
			t.Errorf("%s: hand-off taken twice", tc.name)
		}
	}
	if err := os.WriteFile(d.handOff().path(), []byte("{garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := d.TakeHandOff("1.0.0.1", 3); ok || err != nil {
		t.Errorf("corrupt hand-off: %v %v", ok, err)
	}
	if _, err := os.Stat(d.handOff().path()); err == nil {
		t.Error("corrupt hand-off left in place")
	}
}

func TestRemovalPending(t *testing.T) {
	d := Dir{Path: filepath.Join(t.TempDir(), "s"), Clock: clocktest.Real()}
	if _, ok := d.PendingRemoval(); ok {
		t.Fatal("pending before any uninstall")
	}
	p := RemovalPending{Version: "1.0.0.1", Left: "aadsshlogin stays installed", Code: 52, Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	if err := d.WriteRemovalPending(p); err != nil {
		t.Fatal(err)
	}
	if got, ok := d.PendingRemoval(); !ok || !cmp.Equal(p, got) {
		t.Errorf("PendingRemoval = %+v, %v", got, ok)
	}
	for range 2 {
		if err := d.ClearRemovalPending(); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := d.PendingRemoval(); ok {
		t.Error("pending after clear")
	}
}

func TestBootID(t *testing.T) {
	root := t.TempDir()
	if got := BootID(sysroot.Root(root)); got != "" {
		t.Errorf("no boot_id: %q", got)
	}
	p := sysroot.Root(root).Path(BootIDFile)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("6f0c1a52-4a3b-4e0e-9a55-0d6f1c2b3a4d\n"), 0o444); err != nil {
		t.Fatal(err)
	}
	if got := BootID(sysroot.Root(root)); got != "6f0c1a52-4a3b-4e0e-9a55-0d6f1c2b3a4d" {
		t.Errorf("BootID = %q", got)
	}
}

func TestRecord(t *testing.T) {
	d := Dir{Path: t.TempDir(), Clock: clocktest.Real()}
	if _, ok := d.LastSuccess(); ok {
		t.Fatal("record before write")
	}
	r := Record{Version: "1.0.0.1", Seq: 4, Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	if err := d.WriteRecord(r); err != nil {
		t.Fatal(err)
	}
	got, ok := d.LastSuccess()
	if !ok || !cmp.Equal(r, got) {
		t.Fatalf("LastSuccess = %+v, %v", got, ok)
	}
	if err := os.WriteFile(d.record().path(), []byte("{garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, ok := d.LastSuccess(); ok {
		t.Error("corrupt record accepted")
	}
	big := `{"version":"` + strings.Repeat("x", 70<<10) + `","seq":1}`
	if err := os.WriteFile(d.record().path(), []byte(big), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, ok := d.LastSuccess(); ok {
		t.Error("a record larger than 64 KiB was accepted")
	}
	if err := d.Forget(); err != nil {
		t.Fatal(err)
	}
}
