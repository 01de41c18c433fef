package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/Azure/aadsshlogin-extension-linux/test/sandbox"
)

// Args are the arguments of a battery run (a sandbox.Call's Args).
type Args struct {
	// Reps is the number of repetitions of each kill point.
	Reps int `json:"reps,omitempty"`
	// Case selects a case of the package battery ("wrongkey").
	Case string `json:"case,omitempty"`
	// Want is the IMDS battery's expected exit code of enable (which
	// reports install's outcome) and extension code; its IMDS scenario is
	// the Call's.
	Want int `json:"want,omitempty"`
	// IMDS is the scenario the IMDS battery names its case after.
	IMDS string `json:"imds,omitempty"`
}

// Modes are the batteries as sandbox modes; each returns []Result.
func Modes() map[string]sandbox.Mode {
	battery := func(run func(ctx context.Context, v *VM, a Args)) sandbox.Mode {
		return func(ctx context.Context, e *sandbox.Env, raw json.RawMessage, out io.Writer) (any, error) {
			var a Args
			if err := json.Unmarshal(raw, &a); err != nil {
				return nil, fmt.Errorf("battery arguments: %w", err)
			}
			vm, err := NewVM(e, out)
			if err != nil {
				return nil, err
			}
			ctx, cancel := context.WithTimeout(ctx, 20*time.Minute)
			defer cancel()
			run(ctx, vm, a)
			return vm.results, nil
		}
	}
	return map[string]sandbox.Mode{
		"kill":          battery(func(ctx context.Context, v *VM, a Args) { v.KillBattery(ctx, KillPoints(), a.Reps) }),
		"kill-identity": battery(func(ctx context.Context, v *VM, a Args) { v.KillBattery(ctx, []KillPoint{IdentityPoint()}, a.Reps) }),
		"concurrent":    battery(func(ctx context.Context, v *VM, _ Args) { v.ConcurrentBattery(ctx, 10) }),
		"package":       battery(func(ctx context.Context, v *VM, a Args) { v.PackageBattery(ctx, a.Case) }),
		"imds":          battery(func(ctx context.Context, v *VM, a Args) { v.IMDSCase(ctx, a.IMDS, a.Want) }),
		"security":      battery(func(ctx context.Context, v *VM, _ Args) { v.SecurityBattery(ctx) }),
	}
}
