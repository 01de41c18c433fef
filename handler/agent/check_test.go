package agent

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// checkParsed is the verdict of one parser table row: with wantErr the
// parse must fail with a message containing it, otherwise succeed with want.
func checkParsed[T any](t *testing.T, got T, err error, want T, wantErr string) {
	t.Helper()
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("err = %v, want it to contain %q", err, wantErr)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}
