package faults

import (
	"strings"
	"testing"
)

func TestAptListComplete(t *testing.T) {
	full := "# written by AADSSHLoginForLinux\ndeb [arch=amd64 signed-by=/usr/share/keyrings/k.gpg] https://m.example/repos/microsoft-debian-bookworm-prod bookworm main\n"
	tests := []struct {
		in   string
		want bool
	}{
		{full, true},
		{strings.TrimSuffix(full, "\n"), false},
		{full[:len(full)/2], false},
		{full[:len(full)-6] + "\n", false},
		{"", false},
		{"# only a comment\n", false},
		{full + full, false},
		{"deb https://m.example bookworm main\n", false},
	}
	for _, tc := range tests {
		if got := aptListComplete(tc.in); got != tc.want {
			t.Errorf("aptListComplete(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
