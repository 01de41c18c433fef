// Command agentsim drives a handler package the way the Linux guest agent
// does and prints a transcript of every step. See package agentsim.
//
//	agentsim -zip Microsoft.Azure.ActiveDirectory.AADSSHLoginForLinux__1.0.0.1.zip -scenario full \
//	    -zip2 ...__1.0.0.2.zip -settings pub.json -protected prot.json -expect enable=0
//
// Exit status: 0 when every step matched its expected exit code, 1 when
// not, 2 on usage errors.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/Azure/aadsshlogin-extension-linux/test/agentsim"
)

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("agentsim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var zips, expects, envs listFlag
	fs.Var(&zips, "zip", "handler package; repeat (or use -zip2) to give the version to update to")
	zip2 := fs.String("zip2", "", "package of the version to update to")
	version := fs.String("version", "", "version of the first package (default: from its name, *_<ver>.zip or *-<ver>.zip)")
	version2 := fs.String("version2", "", "version of the second package (default: from its name)")
	name := fs.String("name", agentsim.DefaultHandlerName, "handler name <Publisher>.<Type>")
	lib := fs.String("lib", "", "lib dir standing for /var/lib/waagent (default: a new temp dir)")
	logDir := fs.String("log", "", "log dir standing for /var/log/azure/<name> (default: a new temp dir)")
	scenario := fs.String("scenario", "full", "scenario: "+strings.Join(agentsim.ScenarioNames(), ", "))
	settingsFile := fs.String("settings", "", "JSON file with the public settings (default: no settings at all ⇒ empty 0.settings)")
	protectedFile := fs.String("protected", "", "JSON file with the protected settings (encrypted with openssl cms)")
	seq := fs.Int("seq", 0, "sequence number of the first goal state")
	scale := fs.Float64("timeout-scale", 1, "multiply the agent timeouts (900 s/300 s) by this factor")
	retryDelay := fs.Duration("status-retry-delay", 0, "pause between the 5 status-file reads (default 2s × timeout-scale)")
	jsonOut := fs.Bool("json", false, "print a JSON document of all steps instead of the transcript")
	fs.Var(&expects, "expect", "expected exit code: verb=N, verb@version=N, scenario/verb=N (repeatable; default 0)")
	fs.Var(&envs, "env", "KEY=VAL added to the commands' environment (repeatable)")
	keep := fs.Bool("keep", true, "keep the temp dirs the command created")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	usage := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "agentsim: "+format+"\n", a...)
		return 2
	}
	if fs.NArg() > 0 {
		return usage("unexpected arguments %q", fs.Args())
	}
	if len(zips) == 0 || len(zips) > 2 || (len(zips) == 2 && *zip2 != "") {
		return usage("give one -zip (and optionally a second -zip or -zip2 for the update)")
	}
	if len(zips) == 2 {
		*zip2 = zips[1]
	}
	exp := agentsim.Expectations{}
	for _, e := range expects {
		if err := exp.Parse(e); err != nil {
			return usage("%v", err)
		}
	}
	for _, e := range envs {
		if !strings.Contains(e, "=") {
			return usage("-env %q: want KEY=VAL", e)
		}
	}
	cfg := agentsim.ScenarioConfig{Package: agentsim.Package{Zip: zips[0], Version: *version}}
	if *zip2 != "" {
		cfg.NewPackage = &agentsim.Package{Zip: *zip2, Version: *version2}
	}
	set, err := loadSettings(*settingsFile, *protectedFile, *seq)
	if err != nil {
		return usage("%v", err)
	}
	cfg.Settings = set

	var tmp string
	if *lib == "" || *logDir == "" {
		if tmp, err = os.MkdirTemp("", "agentsim-"); err != nil {
			fmt.Fprintf(stderr, "agentsim: %v\n", err)
			return 1
		}
		if !*keep {
			defer os.RemoveAll(tmp)
		}
		if *lib == "" {
			*lib = filepath.Join(tmp, "var/lib/waagent")
		}
		if *logDir == "" {
			*logDir = filepath.Join(tmp, "var/log/azure", *name)
		}
	}
	var progress io.Writer
	if !*jsonOut {
		progress = stdout
		fmt.Fprintf(stdout, "agentsim: handler %s, lib %s, log %s, scenario %s\n", *name, *lib, *logDir, *scenario)
	}
	sim, err := agentsim.New(agentsim.Options{
		LibDir: *lib, LogDir: *logDir, HandlerName: *name, TimeoutScale: *scale,
		StatusRetryDelay: *retryDelay, Env: envs, Progress: progress,
	})
	if err != nil {
		fmt.Fprintf(stderr, "agentsim: %v\n", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	out, runErr := agentsim.RunScenario(ctx, sim, *scenario, cfg)
	rep := agentsim.Report{
		HandlerName: *name, LibDir: sim.Options().LibDir, LogDir: sim.Options().LogDir, Scenario: *scenario,
		Steps: out.Steps, Code: out.Code, Message: out.Message, Mismatches: exp.Check(out.Steps),
	}
	if runErr != nil {
		rep.Error = runErr.Error()
	}
	rep.OK = runErr == nil && len(rep.Mismatches) == 0
	if *jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			fmt.Fprintf(stderr, "agentsim: %v\n", err)
			return 1
		}
	} else {
		for _, m := range rep.Mismatches {
			fmt.Fprintf(stdout, "MISMATCH step %d %s: expected %d, got %d\n", m.Index+1, m.Step, m.Expected, m.Got)
		}
		for _, st := range out.Steps {
			if st.Error != "" {
				fmt.Fprintf(stdout, "--- %s/%s@%s failed (code %d):\n%s\n", st.Scenario, st.Verb, st.Version, st.Code, st.Error)
			}
		}
		if rep.Error != "" {
			fmt.Fprintf(stdout, "ERROR: %s\n", rep.Error)
		}
		verdict := "OK"
		if !rep.OK {
			verdict = "FAILED"
		}
		fmt.Fprintf(stdout, "%s: %d steps in %.1fs, %d mismatches\n", verdict, len(out.Steps), time.Since(start).Seconds(), len(rep.Mismatches))
	}
	if !rep.OK {
		return 1
	}
	return 0
}

func loadSettings(pubFile, protFile string, seq int) (*agentsim.Settings, error) {
	if pubFile == "" && protFile == "" {
		if seq != 0 {
			return &agentsim.Settings{Seq: seq}, nil
		}
		return nil, nil
	}
	set := &agentsim.Settings{Seq: seq}
	read := func(p string) (json.RawMessage, error) {
		if p == "" {
			return nil, nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		if !json.Valid(b) {
			return nil, errors.New(p + " is not valid JSON")
		}
		return json.RawMessage(b), nil
	}
	var err error
	if set.Public, err = read(pubFile); err != nil {
		return nil, err
	}
	if set.Protected, err = read(protFile); err != nil {
		return nil, err
	}
	return set, nil
}
