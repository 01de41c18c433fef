package logging

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestOpenRotates(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "logs")
	f, err := Open(dir, 10)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("0123456789abc\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	f, err = Open(dir, 10)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	old, err := os.ReadFile(filepath.Join(dir, FileName+".1"))
	if err != nil || string(old) != "0123456789abc\n" {
		t.Fatalf("rotated file = %q, %v", old, err)
	}
	cur, _ := os.ReadFile(filepath.Join(dir, FileName))
	if len(cur) != 0 {
		t.Fatalf("new log not empty: %q", cur)
	}
	if st, _ := os.Stat(filepath.Join(dir, FileName)); st.Mode().Perm() != 0o600 {
		t.Errorf("log mode %v", st.Mode())
	}
}

func TestNewLogfmt(t *testing.T) {
	var buf bytes.Buffer
	l := New(&buf, "op", "enable", "seq", 3)
	if err := l.Log("event", "start", "msg", "two words"); err != nil {
		t.Fatal(err)
	}
	line := buf.String()
	for _, want := range []string{"ts=", "op=enable", "seq=3", "event=start", `msg="two words"`} {
		if !strings.Contains(line, want) {
			t.Errorf("log line %q lacks %q", line, want)
		}
	}
}
