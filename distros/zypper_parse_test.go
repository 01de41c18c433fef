package distros

import (
	"strings"
	"testing"
)

func TestParseZypperSearch(t *testing.T) {
	const head = "S  | Name                | Type    | Version       | Arch   | Repository\n" +
		"---+---------------------+---------+---------------+--------+-----------\n"
	tests := []struct {
		name, rows, want string
	}{
		{"installed newest, older offered", "i+ | aadsshlogin | package | 1.0.030000001-1 | x86_64 | (System Packages)\n" +
			"v  | aadsshlogin | package | 1.0.027980001-1 | x86_64 | microsoft-prod\n", "1.0.027980001-1"},
		{"newest listed after an older one", "v  | aadsshlogin | package | 1.0.027980001-1 | x86_64 | microsoft-prod\n" +
			"v  | aadsshlogin | package | 1.0.030000001-1 | x86_64 | microsoft-prod\n", "1.0.030000001-1"},
		{"newest first", "v  | aadsshlogin | package | 1.0.030000001-1 | x86_64 | microsoft-prod\n" +
			"   | aadsshlogin | package | 1.0.027980001-1 | x86_64 | microsoft-prod\n", "1.0.030000001-1"},
		{"only installed", "i+ | aadsshlogin | package | 1.0.030000001-1 | x86_64 | microsoft-prod\n", ""},
		{"other package and srcpackage ignored", "v  | aadsshlogin-selinux | package | 9.0-1 | x86_64 | m\n" +
			"   | aadsshlogin | srcpackage | 9.0-1 | noarch | m\n" +
			"   | aadsshlogin | package | 1.0.1-1 | x86_64 | m\n", "1.0.1-1"},
		{"garbage", "not a table\n|||\n", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := parseZypperSearch(head+tc.rows, "aadsshlogin"); got != tc.want {
				t.Errorf("parseZypperSearch = %q, want %q", got, tc.want)
			}
		})
	}
}

// FuzzParseZypperSearch: the result is empty or one of the version cells
// of a not-installed row for the package.
func FuzzParseZypperSearch(f *testing.F) {
	f.Add("v  | aadsshlogin | package | 1.0.1-1 | x86_64 | m\n")
	f.Add("i+ | aadsshlogin | package | 1.0.2-1 | x86_64 | m\nv | aadsshlogin | package | 1.0.1 | x | m\n")
	f.Fuzz(func(t *testing.T, out string) {
		got := parseZypperSearch(out, "aadsshlogin")
		if got == "" {
			return
		}
		for _, l := range strings.Split(out, "\n") {
			f := strings.Split(l, "|")
			if len(f) >= 6 && strings.TrimSpace(f[1]) == "aadsshlogin" && strings.TrimSpace(f[2]) == "package" &&
				!strings.HasPrefix(strings.TrimSpace(f[0]), "i") && strings.TrimSpace(f[3]) == got {
				return
			}
		}
		t.Fatalf("parseZypperSearch returned %q, which is no not-installed aadsshlogin version in:\n%s", got, out)
	})
}
