package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/Azure/aadsshlogin-extension-linux/test/realagent"
	"github.com/Azure/aadsshlogin-extension-linux/test/sandbox"
)

// AgentFirst is a first deployment through the real guest agent: one goal
// state (install and enable of sequence number 0) from the agent's start
// of processing to its reported success.
type AgentFirst struct {
	AgentVersion string `json:"agentVersion"`
	// Ready is the goal state's wall time (the agent driver's process,
	// under strace).
	Ready Sample `json:"ready"`
	// Handler is the time install or enable was running; PM the time
	// apt-get was (update, install), inside it; Own = Handler − PM.
	Handler Sample `json:"handler"`
	PM      Sample `json:"pm"`
	Own     Sample `json:"own"`
	// Checks is the part of Own spent in other programs the handler ran.
	Checks Sample `json:"checks"`
	// Tokens and Refreshes are the IMDS token requests and repository
	// index downloads of each deployment.
	Tokens    []int `json:"tokens"`
	Refreshes []int `json:"refreshes"`
	// PMCommands and CheckCommands are the package-manager runs and the
	// handler's other programs in the last deployment.
	PMCommands    []TimelineCommand `json:"pmCommands"`
	CheckCommands []TimelineCommand `json:"checkCommands"`
}

// AgentSplit divides a straced goal state into the handler's commands and
// the package manager's runs inside them.
type AgentSplit struct {
	HandlerMS, PMMS float64
	PM              []TimelineCommand
	// Checks are the other programs the handler ran (dpkg-query, apt-cache
	// policy, …), outermost only; ChecksMS the time one of them ran.
	Checks   []TimelineCommand
	ChecksMS float64
}

// OwnMS is the handler's own time: its commands' time without apt-get.
func (s AgentSplit) OwnMS() float64 { return s.HandlerMS - s.PMMS }

// SplitAgentTrace reads `strace -f -ttt -e trace=execve` output of the
// agent driver: the handler's commands are the processes the agent started
// for install and enable (the shell, the shim and the handler binary), the
// package manager's runs every apt-get; both are unions of spans.
func SplitAgentTrace(out string) AgentSplit {
	t := ParseTimeline(out)
	var handler, pm, checks [][2]float64
	var split AgentSplit
	var others []TimelineCommand
	for _, c := range t.All {
		span := [2]float64{c.StartMS, c.StartMS + c.WallMS}
		f := strings.Fields(c.Argv)
		switch {
		case len(f) > 0 && strings.HasPrefix(filepath.Base(f[0]), "apt-get"):
			pm = append(pm, span)
			handler = append(handler, span)
			split.PM = append(split.PM, c)
		case isHandlerCommand(f):
			handler = append(handler, span)
		default:
			others = append(others, c)
		}
	}
	// A check starts while the handler runs and outside apt-get and any
	// earlier check (their children are part of them).
	within := func(x float64, spans [][2]float64) bool {
		for _, s := range spans {
			if x >= s[0] && x < s[1] {
				return true
			}
		}
		return false
	}
	for _, c := range others {
		if within(c.StartMS, handler) && !within(c.StartMS, pm) && !within(c.StartMS, checks) {
			checks = append(checks, [2]float64{c.StartMS, c.StartMS + c.WallMS})
			split.Checks = append(split.Checks, c)
		}
	}
	// unionMS works in seconds.
	toS := func(spans [][2]float64) [][2]float64 {
		for i := range spans {
			spans[i] = [2]float64{spans[i][0] / 1000, spans[i][1] / 1000}
		}
		return spans
	}
	if len(handler) > 0 {
		split.HandlerMS = unionMS(toS(handler))
	}
	if len(pm) > 0 {
		split.PMMS = unionMS(toS(pm))
	}
	if len(checks) > 0 {
		split.ChecksMS = unionMS(toS(checks))
	}
	return split
}

// isHandlerCommand tells an install or enable of the handler: the agent's
// `/bin/sh -c …/aadsshlogin-shim install`, the shim, the handler binary.
func isHandlerCommand(argv []string) bool {
	if len(argv) < 2 || !slices.Contains([]string{"install", "enable"}, argv[len(argv)-1]) {
		return false
	}
	for _, a := range argv[:len(argv)-1] {
		if b := filepath.Base(a); strings.HasPrefix(b, "aadsshlogin-shim") || strings.HasPrefix(b, "aadsshlogin-handler") {
			return true
		}
	}
	return false
}

// agentFirst runs first deployments through the real guest agent
// (Debian's waagent in a fresh chroot each), under strace to split the
// time between the handler and the package manager.
func (b *bencher) agentFirst(ctx context.Context, res *Results) error {
	if _, err := exec.LookPath("strace"); err != nil {
		return fmt.Errorf("the first-deployment split needs strace: %w", err)
	}
	af := &res.AgentFirst
	for i := 0; i < b.opt.AgentRuns; i++ {
		split, rep, wall, tokens, refreshes, err := b.agentDeployment(ctx, i)
		if err != nil {
			return fmt.Errorf("run %d: %w", i+1, err)
		}
		af.AgentVersion = rep.AgentVersion
		af.Ready.Add(wall)
		af.Handler.Add(msDuration(split.HandlerMS))
		af.PM.Add(msDuration(split.PMMS))
		af.Own.Add(msDuration(split.OwnMS()))
		af.Checks.Add(msDuration(split.ChecksMS))
		af.Tokens, af.Refreshes = append(af.Tokens, tokens), append(af.Refreshes, refreshes)
		af.PMCommands, af.CheckCommands = split.PM, split.Checks
		fmt.Fprintf(b.log, "   agent %d: ready %s, handler %.0f ms, apt-get %.0f ms, own %.0f ms, %d token request(s), %d index download(s)\n",
			i+1, wall.Round(time.Millisecond), split.HandlerMS, split.PMMS, split.OwnMS(), tokens, refreshes)
	}
	return nil
}

func msDuration(ms float64) time.Duration { return time.Duration(ms * float64(time.Millisecond)) }

func (b *bencher) agentDeployment(ctx context.Context, i int) (split AgentSplit, rep realagent.Report, wall time.Duration, tokens, refreshes int, err error) {
	v, err := b.newVM()
	if err != nil {
		return split, rep, 0, 0, 0, err
	}
	defer v.close()
	if err := realagent.Install(v.dir, sandbox.AgentDir); err != nil {
		return split, rep, 0, 0, 0, err
	}
	zip := sandbox.InsideDir + "/" + filepath.Base(b.e.Zips[0])
	if err := os.WriteFile(v.c.Path(zip), b.zip, 0o644); err != nil {
		return split, rep, 0, 0, 0, err
	}
	trace := filepath.Join(b.opt.WorkDir, fmt.Sprintf("agent-%d.strace", i+1))
	agent := &realagent.Agent{Root: v.dir, Dir: sandbox.AgentDir, Packages: map[string]string{handlerVersion: zip},
		Run: func(ctx context.Context, argv ...string) *exec.Cmd {
			// seccomp-bpf: only execve stops the tracees, the rest runs at
			// full speed.
			args := append([]string{"--seccomp-bpf", "-f", "-ttt", "-q", "-e", "trace=execve", "-e", "signal=none", "-o", trace, "chroot", v.dir}, argv...)
			c := exec.CommandContext(ctx, "strace", args...)
			c.Env = append([]string{aptPath, "LANG=C.UTF-8", "HOME=/root"}, b.e.AgentEnv...)
			return c
		}}
	pub, _ := b.e.Settings(false)
	tok0, ref0 := b.e.Counts()
	start := time.Now()
	rep, err = agent.Apply(ctx, realagent.GoalState{Version: handlerVersion, State: realagent.Enabled, Seq: 0, Public: pub})
	wall = time.Since(start)
	if err != nil {
		return split, rep, wall, 0, 0, err
	}
	tok1, ref1 := b.e.Counts()
	h := rep.Handler
	want := []string{handlerVersion + " install", handlerVersion + " enable"}
	if !slices.Equal(rep.Verbs(), want) || h.Status != "Ready" || h.Extension == nil || h.Extension.Status != "success" {
		return split, rep, wall, 0, 0, fmt.Errorf("the agent ran %q and reports %s, want %q and success", rep.Verbs(), h.Summary(), want)
	}
	data, err := os.ReadFile(trace)
	if err != nil {
		return split, rep, wall, 0, 0, err
	}
	split = SplitAgentTrace(string(data))
	if split.PMMS == 0 || split.HandlerMS < split.PMMS {
		return split, rep, wall, 0, 0, fmt.Errorf("trace %s: handler %.0f ms, apt-get %.0f ms: no handler commands or apt-get runs found", trace, split.HandlerMS, split.PMMS)
	}
	return split, rep, wall, tok1 - tok0, ref1 - ref0, nil
}
