package agent

import (
	"regexp"
	"strings"
	"testing"
)

// thumbprintRE is the specification isThumbprint implements without a
// regexp (the test oracle; FuzzParseSettings uses it too).
var thumbprintRE = regexp.MustCompile(`^[0-9A-Fa-f]{40}([0-9A-Fa-f]{24})?$`)

func TestIsThumbprint(t *testing.T) {
	h40 := strings.Repeat("aB3", 13) + "f"
	h64 := h40 + strings.Repeat("0", 24)
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{h40, true},
		{h64, true},
		{"", false},
		{h40[:39], false},
		{h40 + "0", false},
		{h64 + "0", false},
		{h40[:39] + "g", false},
		{h40 + "\n", false},
		{" " + h40[1:], false},
		{strings.Repeat("é", 20), false},
	} {
		if got := isThumbprint(tc.in); got != tc.want {
			t.Errorf("isThumbprint(%q) = %v, want %v", tc.in, got, tc.want)
		}
		if got := thumbprintRE.MatchString(tc.in); got != tc.want {
			t.Errorf("oracle disagrees with the table for %q", tc.in)
		}
	}
}

func FuzzIsThumbprint(f *testing.F) {
	f.Add(strings.Repeat("a", 40))
	f.Add(strings.Repeat("F", 64))
	f.Add(strings.Repeat("0", 39) + "x")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := isThumbprint(s), thumbprintRE.MatchString(s); got != want {
			t.Fatalf("isThumbprint(%q) = %v, regexp says %v", s, got, want)
		}
	})
}
