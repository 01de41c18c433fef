package release_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/Azure/aadsshlogin-extension-linux/distros/internal/fixture"
	"github.com/Azure/aadsshlogin-extension-linux/distros/release"
	"github.com/Azure/aadsshlogin-extension-linux/handler/failure"
	"github.com/Azure/aadsshlogin-extension-linux/handler/sysroot"
)

func TestParseOSRelease(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    release.Release
		wantErr bool
	}{
		{
			name: "quotes escapes comments",
			in: "# comment\n\n  ID=\"rhel\"\nID_LIKE='centos  fedora'\nVERSION_ID=8.10\nPRETTY_NAME=\"A \\\"quoted\\\" \\$name\\\\\"\n" +
				"NAME=Plain\\ Name\nVERSION='9 (x)'\nnot an assignment\n=novalue\n1BAD=x\nVERSION_CODENAME=\"unterminated\n",
			want: release.Release{ID: "rhel", IDLike: []string{"centos", "fedora"}, VersionID: "8.10", PrettyName: `A "quoted" $name\`, Name: "Plain Name", Version: "9 (x)"},
		},
		{
			name: "CRLF and upper-case ID",
			in:   "ID=Ubuntu\r\nVERSION_ID=\"22.04\"\r\nUBUNTU_CODENAME=Jammy\r\n",
			want: release.Release{ID: "ubuntu", VersionID: "22.04", Codename: "jammy"},
		},
		{
			name: "VERSION_CODENAME wins over UBUNTU_CODENAME",
			in:   "ID=ubuntu\nVERSION_CODENAME=noble\nUBUNTU_CODENAME=other\n",
			want: release.Release{ID: "ubuntu", Codename: "noble"},
		},
		{
			name: "debian codename from VERSION",
			in:   "ID=debian\nVERSION_ID=\"9\"\nVERSION=\"9 (stretch)\"\n",
			want: release.Release{ID: "debian", VersionID: "9", Version: "9 (stretch)", Codename: "stretch"},
		},
		{
			name: "unquoted value ends at whitespace",
			in:   "ID=sles # trailing\n",
			want: release.Release{ID: "sles"},
		},
		{name: "empty", in: "", wantErr: true},
		{name: "only comments", in: "# x\n\n#ID=a\n", wantErr: true},
		{name: "binary", in: "\x00\x01\x02", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := release.ParseOSRelease([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseOSRelease mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestParseOSReleaseTestdata checks the identifying fields of every real
// os-release file in testdata.
func TestParseOSReleaseTestdata(t *testing.T) {
	want := map[string]release.Release{
		"ubuntu-16.04":             {ID: "ubuntu", VersionID: "16.04", Codename: "xenial"},
		"ubuntu-18.04":             {ID: "ubuntu", VersionID: "18.04", Codename: "bionic"},
		"ubuntu-20.04":             {ID: "ubuntu", VersionID: "20.04", Codename: "focal"},
		"ubuntu-22.04":             {ID: "ubuntu", VersionID: "22.04", Codename: "jammy"},
		"ubuntu-24.04":             {ID: "ubuntu", VersionID: "24.04", Codename: "noble"},
		"debian-9":                 {ID: "debian", VersionID: "9", Codename: "stretch"},
		"debian-10":                {ID: "debian", VersionID: "10", Codename: "buster"},
		"debian-11":                {ID: "debian", VersionID: "11", Codename: "bullseye"},
		"debian-12":                {ID: "debian", VersionID: "12", Codename: "bookworm"},
		"rhel-7.9":                 {ID: "rhel", VersionID: "7.9"},
		"rhel-8.10":                {ID: "rhel", VersionID: "8.10"},
		"rhel-9.4":                 {ID: "rhel", VersionID: "9.4"},
		"almalinux-8":              {ID: "almalinux", VersionID: "8.10"},
		"almalinux-9":              {ID: "almalinux", VersionID: "9.4"},
		"rocky-8":                  {ID: "rocky", VersionID: "8.10"},
		"rocky-9":                  {ID: "rocky", VersionID: "9.4"},
		"ol-8":                     {ID: "ol", VersionID: "8.10"},
		"ol-9":                     {ID: "ol", VersionID: "9.4"},
		"centos-7":                 {ID: "centos", VersionID: "7"},
		"sles-12.5":                {ID: "sles", VersionID: "12.5"},
		"sles-15.5":                {ID: "sles", VersionID: "15.5"},
		"sles-15.6":                {ID: "sles", VersionID: "15.6"},
		"opensuse-leap-15.5":       {ID: "opensuse-leap", VersionID: "15.5"},
		"opensuse-leap-15.6":       {ID: "opensuse-leap", VersionID: "15.6"},
		"opensuse-leap-42.3":       {ID: "opensuse", VersionID: "42.3"},
		"mariner-2.0":              {ID: "mariner", VersionID: "2.0"},
		"azurelinux-3.0":           {ID: "azurelinux", VersionID: "3.0"},
		"unsupported-fedora-40":    {ID: "fedora", VersionID: "40"},
		"unsupported-debian-13":    {ID: "debian", VersionID: "13", Codename: "trixie"},
		"unsupported-ubuntu-24.10": {ID: "ubuntu", VersionID: "24.10", Codename: "oracular"},
		"unsupported-ubuntu-23.10": {ID: "ubuntu", VersionID: "23.10", Codename: "mantic"},
		"unsupported-ubuntu-20.10": {ID: "ubuntu", VersionID: "20.10", Codename: "groovy"},
		"unsupported-ubuntu-16.10": {ID: "ubuntu", VersionID: "16.10", Codename: "yakkety"},
		"unsupported-ubuntu-14.04": {ID: "ubuntu", VersionID: "14.04"},
		"unsupported-arch":         {ID: "arch"},
		"unsupported-alpine-3.20":  {ID: "alpine", VersionID: "3.20.3"},
		"unsupported-rhel-7.3":     {ID: "rhel", VersionID: "7.3"},
		"unsupported-sles-11.4":    {ID: "sles", VersionID: "11.4"},
	}
	names := fixture.OSReleaseNames()
	if len(names) != len(want) {
		t.Fatalf("the fixture has %d os-release files, the table %d", len(names), len(want))
	}
	for _, name := range names {
		got, err := release.ParseOSRelease(fixture.OSRelease(t, name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got.PrettyName == "" {
			t.Errorf("%s: no PRETTY_NAME", name)
		}
		key := release.Release{ID: got.ID, VersionID: got.VersionID, Codename: got.Codename}
		if diff := cmp.Diff(want[name], key); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
}

func TestDetectRelease(t *testing.T) {
	etc := "ID=debian\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\n"
	lib := "ID=ubuntu\nVERSION_ID=\"24.04\"\nVERSION_CODENAME=noble\n"
	tests := []struct {
		name     string
		files    map[string]string
		wantID   string
		wantCode failure.Code
	}{
		{name: "etc wins", files: map[string]string{"etc/os-release": etc, "usr/lib/os-release": lib}, wantID: "debian"},
		{name: "usr/lib fallback", files: map[string]string{"usr/lib/os-release": lib}, wantID: "ubuntu"},
		{name: "neither", files: nil, wantCode: failure.UnsupportedOS},
		{name: "garbage", files: map[string]string{"etc/os-release": "garbage\n"}, wantCode: failure.UnsupportedOS},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for p, c := range tt.files {
				fixture.WriteFile(t, filepath.Join(dir, p), c)
			}
			rel, err := release.DetectRelease(sysroot.Root(dir))
			if got := failure.CodeOf(err); got != tt.wantCode {
				t.Fatalf("code = %d (%v), want %d", got, err, tt.wantCode)
			}
			if rel.ID != tt.wantID {
				t.Errorf("ID = %q, want %q", rel.ID, tt.wantID)
			}
			if tt.name == "neither" && !strings.Contains(err.Error(), "/usr/lib/os-release") {
				t.Errorf("message does not name the paths tried: %v", err)
			}
		})
	}
}

func FuzzParseOSRelease(f *testing.F) {
	for _, name := range fixture.OSReleaseNames() {
		f.Add(fixture.OSRelease(f, name))
	}
	f.Add([]byte("ID='a b'\nVERSION_ID=\"1\\\"\"\n"))
	f.Add([]byte("ID=\\"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rel, err := release.ParseOSRelease(data)
		if err != nil {
			if rel.ID != "" || rel.VersionID != "" {
				t.Fatalf("error with non-empty result: %+v", rel)
			}
			return
		}
		if rel.ID != strings.ToLower(rel.ID) || rel.Codename != strings.ToLower(rel.Codename) {
			t.Fatalf("ID/codename not lower-cased: %+v", rel)
		}
		for _, l := range rel.IDLike {
			if l == "" || strings.ContainsAny(l, " \t\n") {
				t.Fatalf("bad ID_LIKE element %q", l)
			}
		}
		if strings.Contains(rel.ID, "\n") || strings.Contains(rel.VersionID, "\n") {
			t.Fatalf("value spans lines: %+v", rel)
		}
		// Parsing is deterministic and Resolve never panics on its output.
		again, _ := release.ParseOSRelease(data)
		if diff := cmp.Diff(rel, again); diff != "" {
			t.Fatalf("not deterministic: %s", diff)
		}
		_, _ = release.Resolve(rel)
	})
}

func BenchmarkParseOSRelease(b *testing.B) {
	data := fixture.OSRelease(b, "rhel-9.4")
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := release.ParseOSRelease(data); err != nil {
			b.Fatal(err)
		}
	}
}
