package agent

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestSequenceNumber(t *testing.T) {
	dir := t.TempDir()
	base := time.Now().Add(-time.Hour)
	for _, f := range []struct {
		name string
		age  time.Duration
	}{{"1.settings", 0}, {"7.settings", 10 * time.Minute}, {"3.settings", 10 * time.Minute}, {"99.settings.bak", 50 * time.Minute}, {"x.settings", 50 * time.Minute}} {
		p := filepath.Join(dir, f.name)
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		mt := base.Add(f.age)
		if err := os.Chtimes(p, mt, mt); err != nil {
			t.Fatal(err)
		}
	}
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == SequenceEnv {
				return v
			}
			return ""
		}
	}
	tests := []struct {
		name    string
		getenv  func(string) string
		dir     string
		want    int
		wantErr bool
	}{
		{name: "env wins", getenv: env("12"), dir: dir, want: 12},
		{name: "env zero", getenv: env("0"), dir: dir, want: 0},
		{name: "env garbage", getenv: env("1; rm -rf /"), dir: dir, wantErr: true},
		{name: "env negative", getenv: env("-1"), dir: dir, wantErr: true},
		{name: "newest file, tie to larger", getenv: env(""), dir: dir, want: 7},
		{name: "no files", getenv: env(""), dir: t.TempDir(), wantErr: true},
		{name: "no folder", getenv: env(""), dir: filepath.Join(dir, "missing"), wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := SequenceNumber(tc.getenv, tc.dir)
			if (err != nil) != tc.wantErr || (!tc.wantErr && got != tc.want) {
				t.Fatalf("got %d, %v; want %d, err=%v", got, err, tc.want, tc.wantErr)
			}
			if tc.dir != dir && tc.wantErr && !errors.Is(err, ErrNoSequence) {
				t.Errorf("err = %v, want ErrNoSequence", err)
			}
		})
	}
}

func TestMRSeq(t *testing.T) {
	dir := t.TempDir()
	m := MRSeqIn(dir)
	if _, ok := m.Load(); ok {
		t.Fatal("missing mrseq loaded")
	}
	if err := m.Store(5); err != nil {
		t.Fatal(err)
	}
	if n, ok := m.Load(); !ok || n != 5 {
		t.Fatalf("Load = %d, %v", n, ok)
	}
	st, err := os.Stat(m.Path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v", st.Mode(), err)
	}
	if err := os.WriteFile(m.Path, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, ok := m.Load(); ok {
		t.Fatal("corrupt mrseq loaded")
	}
}

func FuzzParseSeq(f *testing.F) {
	for _, s := range []string{"0", "12", " 3\n", "-1", "99999999999", "1e3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseSeq(s)
		if err == nil && (n < 0 || n > maxSeq) {
			t.Fatalf("ParseSeq(%q) = %d out of range", s, n)
		}
	})
}
