// Command demo runs the extension zip through the real guest agent (Debian's
// waagent) on a sandboxed Debian 12 VM (see package test/sandbox). `make
// demo` calls it.
//
//	demo -zip dist/…__1.0.0.1.zip [-zip2 build/next/…__1.0.0.2.zip] [-scenario NAME]   (demo -h lists the scenarios)
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"syscall"

	"github.com/Azure/aadsshlogin-extension-linux/test/sandbox"
)

func main() {
	sandbox.Serve(nil)
	os.Exit(run())
}

func run() int {
	var names []string
	for n := range sandbox.Scenarios() {
		names = append(names, n)
	}
	sort.Strings(names)
	zip := flag.String("zip", "", "handler package (required)")
	zip2 := flag.String("zip2", "", "package of the next version, for the update phase")
	scenario := flag.String("scenario", "full", fmt.Sprintf("scenario: %v", names))
	work := flag.String("work", "", "scratch folder (default: a temporary one, deleted)")
	flag.Parse()
	if *zip == "" {
		fmt.Fprintln(os.Stderr, "demo: -zip is required (make demo builds it)")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	dir := *work
	if dir == "" {
		d, err := os.MkdirTemp("", "aadssh-demo-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "demo:", err)
			return 1
		}
		defer os.RemoveAll(d)
		dir = d
	}
	abs := func(p string) string {
		if p == "" {
			return ""
		}
		a, _ := filepath.Abs(p)
		return a
	}
	err := sandbox.Run(ctx, sandbox.Options{
		Zip: abs(*zip), NextZip: abs(*zip2), Scenario: *scenario,
		WorkDir: filepath.Join(dir, "sandbox"), Out: os.Stdout,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		return 1
	}
	return 0
}
