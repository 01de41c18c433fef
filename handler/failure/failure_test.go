package failure

import (
	"errors"
	"fmt"
	"io"
	"testing"
)

func TestCodeOf(t *testing.T) {
	base := io.ErrUnexpectedEOF
	wrapped := Wrap(Dependency, base, "repository unreachable")
	tests := []struct {
		name string
		err  error
		want Code
	}{
		{"nil", nil, OK},
		{"plain", errors.New("x"), Internal},
		{"classified", New(Config, "bad %s", "settings"), Config},
		{"wrapped further", fmt.Errorf("install: %w", wrapped), Dependency},
		{"outermost classification wins", Wrap(NoSystemIdentity, wrapped, "outer"), NoSystemIdentity},
	}
	for _, tc := range tests {
		if got := CodeOf(tc.err); got != tc.want {
			t.Errorf("%s: CodeOf = %d, want %d", tc.name, got, tc.want)
		}
	}
	if !errors.Is(wrapped, io.ErrUnexpectedEOF) {
		t.Error("Wrap lost the cause")
	}
	if Wrap(Config, nil, "x") != nil {
		t.Error("Wrap(nil) is not nil")
	}
	if got := wrapped.Error(); got != "repository unreachable: unexpected EOF" {
		t.Errorf("Error() = %q", got)
	}
}

func TestTransitioning(t *testing.T) {
	for _, c := range Codes() {
		want := c == 22 || c == 23
		if c.Transitioning() != want {
			t.Errorf("code %d transitioning = %v", c, !want)
		}
	}
	seen := map[Code]bool{}
	for _, c := range Codes() {
		if seen[c] {
			t.Errorf("code %d listed twice", c)
		}
		seen[c] = true
	}
}

func TestSetAgainFor(t *testing.T) {
	tests := []struct {
		rg, vm, vmss string
		want         string
	}{
		{want: SetAgain},
		{rg: "rg1", vm: "vm1", want: "then run `az vm extension set -n AADSSHLoginForLinux --publisher Microsoft.Azure.ActiveDirectory -g rg1 --vm-name vm1` again"},
		{rg: "rg1", vmss: "ss1", vm: "ss1_0", want: "then run `az vmss extension set -n AADSSHLoginForLinux --publisher Microsoft.Azure.ActiveDirectory -g rg1 --vmss-name ss1` again"},
		{vm: "vm1", want: "then run `az vm extension set -n AADSSHLoginForLinux --publisher Microsoft.Azure.ActiveDirectory -g <rg> --vm-name vm1` again"},
	}
	for _, tc := range tests {
		if got := SetAgainFor(tc.rg, tc.vm, tc.vmss); got != tc.want {
			t.Errorf("SetAgainFor(%q, %q, %q) = %q, want %q", tc.rg, tc.vm, tc.vmss, got, tc.want)
		}
	}
}
