// Command faultsim is the inner side of the fault batteries (package
// test/faults): run by the test inside the sandbox's network namespace as
//
//	faultsim <battery> <sandbox config> [-imds scenario] [-reps n] [-case name]
//
// it enters the sandbox (fake IMDS with the given scenario, HTTPS mirror)
// and runs one battery, printing one result line per case.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/Azure/aadsshlogin-extension-linux/test/faults"
	"github.com/Azure/aadsshlogin-extension-linux/test/sandbox"
)

func main() {
	os.Exit(run())
}

func run() int {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: faultsim <battery> <sandbox config> [-imds scenario] [-reps n] [-case name]")
		return 2
	}
	battery, cfg := os.Args[1], os.Args[2]
	fs := flag.NewFlagSet("faultsim", flag.ContinueOnError)
	imds := fs.String("imds", "present", "fake IMDS scenario")
	reps := fs.Int("reps", 2, "repetitions of each kill point")
	name := fs.String("case", "", "case of the battery (package faults, IMDS)")
	want := fs.Int("want", 0, "expected install exit code (imds battery)")
	if err := fs.Parse(os.Args[3:]); err != nil {
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	if err := faults.ReleaseIMDSAddress(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "faultsim:", err)
		return 1
	}
	e, err := sandbox.Enter(ctx, cfg, *imds)
	if err != nil {
		fmt.Fprintln(os.Stderr, "faultsim:", err)
		return 1
	}
	defer e.Close()
	vm, err := faults.NewVM(e, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "faultsim:", err)
		return 1
	}
	switch battery {
	case "kill":
		vm.KillBattery(ctx, faults.KillPoints(), *reps)
	case "kill-identity":
		vm.KillBattery(ctx, []faults.KillPoint{faults.IdentityPoint()}, *reps)
	case "concurrent":
		vm.ConcurrentBattery(ctx, 10)
	case "package":
		vm.PackageBattery(ctx, *name)
	case "imds":
		vm.IMDSCase(ctx, *imds, *want)
	case "security":
		vm.SecurityBattery(ctx)
	default:
		fmt.Fprintf(os.Stderr, "faultsim: unknown battery %q\n", battery)
		return 2
	}
	return 0
}
