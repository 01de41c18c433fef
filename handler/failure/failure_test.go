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
