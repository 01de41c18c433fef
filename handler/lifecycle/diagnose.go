package lifecycle

import (
	"context"
	"fmt"
)

// diagnose is filled in by the diagnose feature; see diagnose_*.go.
func diagnose(ctx context.Context, d Deps, args []string) int {
	fmt.Fprintln(d.Stderr, "diagnose: not available yet")
	return 1
}
