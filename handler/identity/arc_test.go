package identity

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/Azure/aadsshlogin-extension-linux/handler/failure"
	"github.com/Azure/aadsshlogin-extension-linux/handler/sysroot"
	"github.com/Azure/aadsshlogin-extension-linux/test/fakeimds"
)

func TestCheckArc(t *testing.T) {
	type arcOutcome struct {
		Code          failure.Code
		Transitioning bool
		Kind          Kind
		NotInMessage  []string
		Requests      int
		// Authorized counts requests that carried an Authorization header.
		Authorized  int
		BadRequests int
		Queries     []string
	}
	arcQuery := "api-version=2019-11-01&resource=ce6ff14a-7fdc-4685-bbe0-f6afdfcfa8e0"
	// refused: the key file HIMDS's challenge names is not read; 52 after
	// that one request.
	refused := arcOutcome{Code: 52, Kind: Arc, Requests: 1, Queries: []string{arcQuery}}
	tests := []struct {
		scenario string
		contains []string
		want     arcOutcome
	}{
		{scenario: "arc-present",
			want: arcOutcome{Kind: Arc, Requests: 2, Authorized: 1, Queries: []string{arcQuery, arcQuery}}},
		{scenario: "arc-missing-identity",
			contains: []string{"Azure Arc agent", "azcmagent show", "Connected", "7 probe(s)"},
			want:     arcOutcome{Code: 22, Transitioning: true, Kind: Arc, Requests: 14, Authorized: 7}},
		{scenario: "arc-traversal", contains: []string{"refuses to read", `contains ".."`, "/var/opt/azcmagent/tokens"}, want: refused},
		{scenario: "arc-symlink", contains: []string{"refuses to read", "/var/opt/azcmagent/tokens/link.key is a symbolic link"}, want: refused},
		{scenario: "arc-oversized", contains: []string{"refuses to read", "has 5000 bytes, more than 4096"}, want: refused},
		{scenario: "arc-suffix", contains: []string{"refuses to read", "does not end in .key"}, want: refused},
		{scenario: "arc-missing", contains: []string{"refuses to read", "missing.key does not exist"}, want: refused},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			fake, hs := startFake(t, tc.scenario)
			root := t.TempDir()
			if err := fakeimds.PrepareArcRoot(root); err != nil {
				t.Fatal(err)
			}
			p := &Prober{Clock: newFakeClock(), Root: sysroot.Root(root),
				IMDSBase: "http://127.0.0.1:1", // loopback, closed: never used on Arc
				Getenv:   env(map[string]string{"IDENTITY_ENDPOINT": hs.URL + fakeimds.TokenPath, "IMDS_ENDPOINT": hs.URL})}
			id, err := p.Check(context.Background(), nil)
			code := failure.CodeOf(err)
			reqs := fake.Requests()
			got := arcOutcome{Code: code, Transitioning: code.Transitioning(), Kind: id.Kind,
				NotInMessage: missingFrom(failure.Message(err), tc.contains), Requests: len(reqs), BadRequests: badRequests(reqs)}
			for _, r := range reqs {
				if r.Authorization != "" {
					got.Authorized++
				}
				if tc.want.Queries != nil {
					got.Queries = append(got.Queries, r.Query)
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Check(%s) (-want +got):\n%s\nmessage: %v", tc.scenario, diff, err)
			}
		})
	}
}

// HIMDS's endpoint must be loopback: the key file's secret is sent to it.
func TestArcEndpointMustBeLoopback(t *testing.T) {
	tests := []struct {
		endpoint string
		ok       bool
	}{
		{"", true}, // default
		{"http://localhost:40342/metadata/identity/oauth2/token", true},
		{"http://127.0.0.1:40342/metadata/identity/oauth2/token", true},
		{"http://[::1]:40342/metadata/identity/oauth2/token", true},
		{"http://10.0.0.4:40342/metadata/identity/oauth2/token", false},
		{"http://169.254.169.254/metadata/identity/oauth2/token", false},
		{"http://evil.example/metadata/identity/oauth2/token", false},
		{"ftp://localhost/x", false},
		{"http://user:pw@localhost:40342/x", false},
		{"::not a url", false},
	}
	for _, tc := range tests {
		s := (&Prober{Getenv: env(map[string]string{"IDENTITY_ENDPOINT": tc.endpoint})}).settings()
		_, err := s.arcEndpoint()
		if (err == nil) != tc.ok {
			t.Errorf("arcEndpoint(%q) error = %v, want ok=%v", tc.endpoint, err, tc.ok)
		}
		if err != nil && failure.CodeOf(err) != failure.Dependency {
			t.Errorf("arcEndpoint(%q): code %d, want 52", tc.endpoint, failure.CodeOf(err))
		}
	}
}

func TestCheckArcUnreachable(t *testing.T) {
	root := t.TempDir()
	p := &Prober{Clock: newFakeClock(), Root: sysroot.Root(root),
		Getenv: env(map[string]string{"IDENTITY_ENDPOINT": "http://127.0.0.1:1/metadata/identity/oauth2/token", "IMDS_ENDPOINT": "http://127.0.0.1:1"})}
	_, err := p.Check(context.Background(), nil)
	if failure.CodeOf(err) != failure.Dependency || !strings.Contains(err.Error(), "azcmagent show") {
		t.Errorf("got %v, want exit 52 naming azcmagent show", err)
	}
}

// readArcKey on hand-made trees, beyond the fake's scenarios.
func TestReadArcKey(t *testing.T) {
	const dir = ArcTokenDir
	type tree func(t *testing.T, root string)
	mk := func(t *testing.T, root, p string, data string) {
		t.Helper()
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name    string
		setup   tree
		realm   string
		want    string
		wantErr string
	}{
		{name: "good", realm: dir + "/a.key", want: "s3cret",
			setup: func(t *testing.T, r string) { mk(t, r, dir+"/a.key", "s3cret") }},
		{name: "trailing newline trimmed", realm: dir + "/a.key", want: "s3cret",
			setup: func(t *testing.T, r string) { mk(t, r, dir+"/a.key", "s3cret\n") }},
		{name: "exactly 4096 bytes", realm: dir + "/a.key", want: strings.Repeat("k", 4096),
			setup: func(t *testing.T, r string) { mk(t, r, dir+"/a.key", strings.Repeat("k", 4096)) }},
		{name: "4097 bytes", realm: dir + "/a.key", wantErr: "has 4097 bytes",
			setup: func(t *testing.T, r string) { mk(t, r, dir+"/a.key", strings.Repeat("k", 4097)) }},
		{name: "empty", realm: dir + "/a.key", wantErr: "is empty",
			setup: func(t *testing.T, r string) { mk(t, r, dir+"/a.key", "") }},
		{name: "control characters", realm: dir + "/a.key", wantErr: "control characters",
			setup: func(t *testing.T, r string) { mk(t, r, dir+"/a.key", "a\x00b") }},
		{name: "relative", realm: "var/opt/azcmagent/tokens/a.key", wantErr: "not absolute"},
		{name: "double slash", realm: "/var/opt/azcmagent//tokens/a.key", wantErr: "canonical"},
		{name: "dot component", realm: "/var/opt/azcmagent/tokens/./a.key", wantErr: "canonical"},
		{name: "subdirectory", realm: dir + "/sub/a.key", wantErr: "not directly under"},
		{name: "other directory", realm: "/etc/a.key", wantErr: "not directly under"},
		{name: "bare suffix", realm: dir + "/.key", wantErr: "does not end in .key"},
		{name: "traversal", realm: dir + "/../tokens/a.key", wantErr: `contains ".."`},
		{name: "symlinked token dir", realm: dir + "/a.key", wantErr: "/var/opt/azcmagent/tokens is a symbolic link",
			setup: func(t *testing.T, r string) {
				mk(t, r, "/elsewhere/a.key", "s3cret")
				os.MkdirAll(filepath.Join(r, "/var/opt/azcmagent"), 0o755)
				if err := os.Symlink(filepath.Join(r, "elsewhere"), filepath.Join(r, dir)); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "symlinked /var/opt", realm: dir + "/a.key", wantErr: "/var/opt is a symbolic link",
			setup: func(t *testing.T, r string) {
				mk(t, r, "/real/azcmagent/tokens/a.key", "s3cret")
				os.MkdirAll(filepath.Join(r, "/var"), 0o755)
				if err := os.Symlink("../real", filepath.Join(r, "/var/opt")); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "symlink to outside", realm: dir + "/a.key", wantErr: "a.key is a symbolic link",
			setup: func(t *testing.T, r string) {
				mk(t, r, "/etc/shadow", "root:x")
				os.MkdirAll(filepath.Join(r, dir), 0o755)
				if err := os.Symlink("/etc/shadow", filepath.Join(r, dir, "a.key")); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "directory named .key", realm: dir + "/d.key", wantErr: "not a regular file",
			setup: func(t *testing.T, r string) { os.MkdirAll(filepath.Join(r, dir, "d.key"), 0o755) }},
		{name: "fifo", realm: dir + "/f.key", wantErr: "not a regular file",
			setup: func(t *testing.T, r string) {
				os.MkdirAll(filepath.Join(r, dir), 0o755)
				if err := syscall.Mkfifo(filepath.Join(r, dir, "f.key"), 0o600); err != nil {
					t.Skip("mkfifo:", err)
				}
			}},
		{name: "file instead of directory", realm: dir + "/a.key", wantErr: "/var/opt/azcmagent is not a directory",
			setup: func(t *testing.T, r string) { mk(t, r, "/var/opt/azcmagent", "x") }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			if tc.setup != nil {
				tc.setup(t, root)
			}
			s := (&Prober{Root: sysroot.Root(root)}).settings()
			got, err := s.readArcKey(tc.realm)
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && !strings.Contains(gotErr, tc.wantErr) {
				t.Fatalf("readArcKey(%q) error = %q, want containing %q", tc.realm, gotErr, tc.wantErr)
			}
			var pe *errArcPath
			if tc.wantErr != "" && !errors.As(err, &pe) {
				t.Errorf("error %v is not an errArcPath", err)
			}
			if got != tc.want {
				t.Errorf("readArcKey(%q) = %q, want %q", tc.realm, got, tc.want)
			}
		})
	}
}
