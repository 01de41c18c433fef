// Command fakeimds serves a fakeimds scenario, e.g. inside a network
// namespace on 169.254.169.254:80:
//
//	ip netns exec NS fakeimds -listen 169.254.169.254:80 -scenario missing -log /tmp/req.log
//
// It prints "ready <addr>" on stdout once listening, appends one JSON line per
// request to -log, and exits 0 on SIGTERM or SIGINT.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/Azure/aadsshlogin-extension-linux/test/fakeimds"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	fs := flag.NewFlagSet("fakeimds", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:8080", "address to listen on")
	scenario := fs.String("scenario", "present", "scenario: "+strings.Join(fakeimds.Names(), ", "))
	logPath := fs.String("log", "", "append a JSON line per request to this file")
	azEnv := fs.String("az-environment", "", "override compute azEnvironment")
	name := fs.String("name", "", "override compute name")
	rg := fs.String("rg", "", "override compute resourceGroupName")
	vmss := fs.String("vmss", "", "override compute vmScaleSetName")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	sc, ok := fakeimds.Lookup(*scenario)
	if !ok {
		fmt.Fprintf(os.Stderr, "fakeimds: unknown scenario %q; known: %s\n", *scenario, strings.Join(fakeimds.Names(), ", "))
		return 2
	}
	for _, o := range []struct {
		v   string
		dst *string
	}{{*azEnv, &sc.Compute.AzEnvironment}, {*name, &sc.Compute.Name}, {*rg, &sc.Compute.ResourceGroupName}, {*vmss, &sc.Compute.VMScaleSetName}} {
		if o.v != "" {
			*o.dst = o.v
		}
	}
	var logf *os.File
	if *logPath != "" {
		f, err := os.OpenFile(*logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			fmt.Fprintf(os.Stderr, "fakeimds: %v\n", err)
			return 1
		}
		defer f.Close()
		logf = f
	}
	var srv *fakeimds.Server
	if logf != nil {
		srv = fakeimds.New(sc, logf)
	} else {
		srv = fakeimds.New(sc, nil)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(os.Stderr, "fakeimds: %v\n", err)
		return 1
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	fmt.Printf("ready %s scenario=%s\n", ln.Addr(), sc.Name)

	select {
	case sig := <-sigs:
		srv.Close() // release delayed answers
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := hs.Shutdown(ctx); err != nil {
			fmt.Fprintf(os.Stderr, "fakeimds: shutdown after %v: %v\n", sig, err)
			return 1
		}
		if err := srv.LogError(); err != nil {
			fmt.Fprintf(os.Stderr, "fakeimds: writing the request log: %v\n", err)
			return 1
		}
		return 0
	case err := <-served:
		if errors.Is(err, http.ErrServerClosed) {
			return 0
		}
		fmt.Fprintf(os.Stderr, "fakeimds: %v\n", err)
		return 1
	}
}
