package manifest

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseVersion(t *testing.T) {
	tests := []struct {
		in      string
		want    Version
		thv     string
		wantErr string // substring; empty means success
	}{
		{in: "1.0.0.1", want: Version{1, 0, 0, 1}, thv: "1.0"},
		{in: "0.0.0.0", want: Version{}, thv: "0.0"},
		{in: "1.0.3162.1", want: Version{1, 0, 3162, 1}, thv: "1.0"},
		{in: "2.13.0.0", want: Version{2, 13, 0, 0}, thv: "2.13"},
		{in: "2147483647.0.0.2147483647", want: Version{2147483647, 0, 0, 2147483647}, thv: "2147483647.0"},
		{in: "", wantErr: "1 dot-separated parts"},
		{in: "1", wantErr: "1 dot-separated parts"},
		{in: "1.0", wantErr: "2 dot-separated parts"},
		{in: "1.0.1", wantErr: "3 dot-separated parts"},
		{in: "1.0.0.1.2", wantErr: "5 dot-separated parts"},
		{in: "1.0..1", wantErr: "part 3: empty part"},
		{in: ".1.0.0", wantErr: "part 1: empty part"},
		{in: "1.0.0.", wantErr: "part 4: empty part"},
		{in: "1.0.0.01", wantErr: "leading zero"},
		{in: "v1.0.0.1", wantErr: "not a decimal number"},
		{in: "1.0.0.-1", wantErr: "not a decimal number"},
		{in: "1.0.0.+1", wantErr: "not a decimal number"},
		{in: "1.0.0.1 ", wantErr: "not a decimal number"},
		{in: " 1.0.0.1", wantErr: "not a decimal number"},
		{in: "1.0.0.1\n", wantErr: "not a decimal number"},
		{in: "1.0.0.1a", wantErr: "not a decimal number"},
		{in: "1.0.0.١", wantErr: "not a decimal number"}, // Arabic-Indic digit one
		{in: "1.0.0.2147483648", wantErr: "larger than 2147483647"},
		{in: "1.0.0.9999999999", wantErr: "larger than 2147483647"},
		{in: "1.0.0.12345678901", wantErr: "too long"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseVersion(tt.in)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("ParseVersion(%q) = %v, want error containing %q", tt.in, got, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "use four numbers") {
					t.Errorf("ParseVersion(%q) error %q, want it to contain %q and say what to do", tt.in, err, tt.wantErr)
				}
				if diff := cmp.Diff(Version{}, got); diff != "" {
					t.Errorf("ParseVersion(%q) returned a non-zero version on error (-want +got):\n%s", tt.in, diff)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseVersion(%q): %v", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseVersion(%q) (-want +got):\n%s", tt.in, diff)
			}
			if got.String() != tt.in {
				t.Errorf("String() = %q, want %q", got.String(), tt.in)
			}
			if got.TypeHandlerVersion() != tt.thv {
				t.Errorf("TypeHandlerVersion() = %q, want %q", got.TypeHandlerVersion(), tt.thv)
			}
		})
	}
}

// FuzzParseVersion checks that an accepted version is canonical (String gives
// back the input), has four non-negative parts, and that a rejected one
// yields the zero Version.
func FuzzParseVersion(f *testing.F) {
	for _, s := range []string{"1.0.0.1", "0.0.0.0", "1.0.3162.1", "2147483647.1.2.3", "1.0.0.01", "1..0.0", "1.0.0", "1.0.0.2147483648", "-1.0.0.0", "１.0.0.0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseVersion(s)
		if err != nil {
			if v != (Version{}) {
				t.Fatalf("ParseVersion(%q) failed but returned %v", s, v)
			}
			if err.Error() == "" {
				t.Fatalf("ParseVersion(%q) returned an empty error message", s)
			}
			return
		}
		if v.String() != s {
			t.Fatalf("ParseVersion(%q) accepted a non-canonical version: String() = %q", s, v.String())
		}
		if v.Major < 0 || v.Minor < 0 || v.Build < 0 || v.Revision < 0 {
			t.Fatalf("ParseVersion(%q) = %+v has a negative part", s, v)
		}
		if strings.Count(s, ".") != 3 {
			t.Fatalf("ParseVersion(%q) accepted a version without exactly four parts", s)
		}
		if !strings.HasPrefix(s, v.TypeHandlerVersion()+".") {
			t.Fatalf("TypeHandlerVersion() = %q is not the major.minor prefix of %q", v.TypeHandlerVersion(), s)
		}
	})
}
