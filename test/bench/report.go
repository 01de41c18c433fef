package main

import (
	"cmp"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
)

// Targets of issue 7 (Performance).
const (
	targetWarmRatio     = 3.0
	targetOverheadFrac  = 0.05
	targetOverheadMS    = 300.0
	targetRefreshRatio  = 0.2
	targetBinaryBytes   = 10 << 20 // 10 MiB
	targetRSSKB         = 20 << 10 // 20 MiB
	targetIdentityMS    = 50.0
	targetIdentityBound = 150_000.0 // identity.MaxCheckDuration in ms
	// Issue 10: through the real agent, the handler adds at most 10 % to
	// the package manager's own time of a first deployment.
	targetAgentOwnFrac = 0.10
)

// Row is one line of the summary: a measured value against its target.
type Row struct {
	Metric   string
	Method   string
	Measured string
	Target   string
	// Ratio is measured/target (<= 1 means met); NaN when not measured.
	Ratio float64
	// Gap explains a missed target.
	Gap string
	// Short is the measured value in a few characters, for the chart.
	Short string
}

// Met tells whether the target is met.
func (r Row) Met() bool { return !math.IsNaN(r.Ratio) && r.Ratio <= 1 }

// Verdict is "met", or the explanation of the gap.
func (r Row) Verdict() string {
	switch {
	case math.IsNaN(r.Ratio):
		return "not measured" + prefixed(r.Gap)
	case r.Met():
		return "met"
	}
	return "NOT met" + prefixed(r.Gap)
}

// TableVerdict is the verdict for the summary table: long explanations go
// to the Gaps section.
func (r Row) TableVerdict() string {
	switch {
	case r.Met():
		return "met"
	case r.Gap != "":
		return "NOT met (gap explained below)"
	case math.IsNaN(r.Ratio):
		return "not measured"
	}
	return "NOT met"
}

func prefixed(s string) string {
	if s == "" {
		return ""
	}
	return ": " + s
}

// Summary derives the summary rows from the results.
func Summary(r Results) []Row {
	var rows []Row
	warm, hello := r.WarmEnable.Median(), r.Hello.Median()
	rows = append(rows, Row{
		Metric:   "warm enable / static hello-world exec",
		Method:   fmt.Sprintf("median of %d alternating execs each, chroot(2) + same env and cwd, fork to wait4", len(r.WarmEnable)),
		Measured: fmt.Sprintf("%.2fx (%.2f ms / %.2f ms)", warm/hello, warm, hello),
		Target:   fmt.Sprintf("<= %.0fx", targetWarmRatio),
		Ratio:    warm / hello / targetWarmRatio,
		Gap:      gapFor(r.Notes, "warm"),
		Short:    fmt.Sprintf("%.2fx", warm/hello),
	})
	p := r.WarmProof
	proof := math.NaN()
	if p.Runs > 0 {
		proof = 0
		if !p.Clean() {
			proof = 2
		}
	}
	rows = append(rows, Row{
		Metric: "warm enable: network and package-manager calls",
		Method: "fake IMDS and repository request counts, sha256 of dpkg/apt logs and dpkg status before/after every run; one run under strace -f (execve, connect)",
		Measured: fmt.Sprintf("IMDS %d→%d, repository %d→%d, package-manager files unchanged: %v, execs %d (%s), connects %d",
			p.IMDSBefore, p.IMDSAfter, p.RepoBefore, p.RepoAfter, p.PMFilesUnchanged, len(p.StraceExecs), strings.Join(baseNames(p.StraceExecs), ", "), len(p.StraceConnects)) + prefixed(p.StraceErr),
		Target: "0 network, 0 package-manager", Ratio: proof,
		Gap: p.StraceErr, Short: proofShort(p),
	})
	h, b := r.ColdHandler.Median(), r.ColdBare.Median()
	allowed := targetOverheadFrac*b + targetOverheadMS
	rows = append(rows, Row{
		Metric:   "cold install: handler overhead over bare apt",
		Method:   fmt.Sprintf("median of %d fresh chroots each: handler install vs apt-get update + apt-get install aadsshlogin of the same source", len(r.ColdHandler)),
		Measured: fmt.Sprintf("%+.0f ms (%.0f ms vs %.0f ms)", h-b, h, b),
		Target:   fmt.Sprintf("<= 5%% + 300 ms = %.0f ms", allowed),
		Ratio:    math.Max(h-b, 0) / allowed,
		Gap:      gapFor(r.Notes, "cold"),
		Short:    fmt.Sprintf("%+.0f ms", h-b),
	})
	rows = append(rows, agentRows(r)...)
	f := r.Refresh
	for _, series := range refreshSeries(f) {
		t, fl := series.targeted.Median(), series.full.Median()
		rows = append(rows, Row{
			Metric: "refresh Microsoft source / full (" + series.name + ")",
			Short:  fmt.Sprintf("%.2fx", t/fl),
			Method: fmt.Sprintf("median of %d each, lists emptied before each run; %d signed suites, %d packages (%.1f MiB of .xz indexes); network: %s",
				len(series.targeted), len(f.Suites), f.DistroPackages, float64(f.DistroXZBytes)/(1<<20), series.name),
			Measured: fmt.Sprintf("%.2fx (%.0f ms / %.0f ms)", t/fl, t, fl),
			Target:   fmt.Sprintf("<= %.1fx", targetRefreshRatio),
			Ratio:    t / fl / targetRefreshRatio,
			Gap:      gapFor(r.Notes, "refresh "+series.name),
		})
	}
	for _, s := range r.Sizes {
		rows = append(rows, Row{
			Metric: "binary size " + s.Arch, Method: "stat of bin/aadsshlogin-handler-" + s.Arch + " (-trimpath -s -w)",
			Measured: fmt.Sprintf("%.2f MiB", float64(s.Bytes)/(1<<20)), Target: "<= 10 MiB",
			Ratio: float64(s.Bytes) / targetBinaryBytes, Short: fmt.Sprintf("%.1f MiB", float64(s.Bytes)/(1<<20)),
		})
	}
	for _, v := range r.RSS {
		rows = append(rows, Row{
			Metric: "peak RSS " + v.Verb, Method: "VmHWM of the handler at exit (ptrace); wait4 ru_maxrss incl. children in the details",
			Measured: fmt.Sprintf("%.1f MiB", float64(v.HWMKB)/1024), Target: "<= 20 MiB",
			Ratio: float64(v.HWMKB) / targetRSSKB, Short: fmt.Sprintf("%.1f MiB", float64(v.HWMKB)/1024),
		})
	}
	id := r.Identity
	rows = append(rows, Row{
		Metric:   "identity check, healthy IMDS",
		Method:   fmt.Sprintf("median of %d identity.Prober.Check calls against the fake IMDS, new transport each", len(id.Healthy)),
		Measured: fmt.Sprintf("%.2f ms", id.Healthy.Median()), Target: "<= 50 ms",
		Ratio: id.Healthy.Median() / targetIdentityMS, Short: fmt.Sprintf("%.2f ms", id.Healthy.Median()),
	})
	worst := math.Max(id.WorstCaseMS, math.Max(id.RefusedClockMS+id.RefusedRealMS, id.BlackholeClockMS+id.BlackholeRealMS))
	rows = append(rows, Row{
		Metric: "identity check, IMDS unreachable",
		Method: "fake clock: refused and black-holed IMDS; worst case = clock sleeps + tries x 10 s try timeout",
		Measured: fmt.Sprintf("refused %.1f s (exit %d), black hole %.1f s with %d tries → %.1f s at 10 s/try; configured MaxCheckDuration %.0f s",
			(id.RefusedClockMS+id.RefusedRealMS)/1000, id.RefusedCode, (id.BlackholeClockMS+id.BlackholeRealMS)/1000, id.BlackholeTries, id.WorstCaseMS/1000, id.MaxCheckMS/1000),
		Target: "<= 150 s", Ratio: worst / targetIdentityBound, Short: fmt.Sprintf("%.0f s", worst/1000),
	})
	return rows
}

// refreshSeries are the cold refresh comparisons: loopback, the fixed
// per-request delay and the modelled VM network.
func refreshSeries(f Refresh) []struct {
	name           string
	targeted, full Sample
} {
	return []struct {
		name           string
		targeted, full Sample
	}{
		{"loopback", f.TargetedCold, f.FullCold},
		{fmt.Sprintf("+%.0f ms per request", f.LatencyMS), f.TargetedLatency, f.FullLatency},
		{modelName(f), f.TargetedModel, f.FullModel},
	}
}

func modelName(f Refresh) string {
	return fmt.Sprintf("VM network model: %g ms per request, %g Mbit/s", f.ModelLatencyMS, f.ModelMbit)
}

// agentRows are the first deployment through the real guest agent: the
// handler's own time against apt-get's, and the requests it made.
func agentRows(r Results) []Row {
	a := r.AgentFirst
	own, pm := a.Own.Median(), a.PM.Median()
	frac := own / pm
	agent := "waagent " + a.AgentVersion
	if a.AgentVersion == "" {
		agent = "the real agent"
	}
	rows := []Row{{
		Metric: "first deployment via real agent: handler's own time / apt-get's",
		Method: fmt.Sprintf("median of %d fresh chroots, goal state install+enable seq 0 through %s under strace --seccomp-bpf -f -e execve; handler = time install or enable ran, apt-get = union of apt-get runs inside, own = the difference", len(a.Ready), agent),
		Measured: fmt.Sprintf("+%.1f%% (own %.0f ms, of which %.0f ms its checks; apt-get %.0f ms; install+enable %.0f ms; goal state to reported success %.0f ms)",
			100*frac, own, a.Checks.Median(), pm, a.Handler.Median(), a.Ready.Median()),
		Target: fmt.Sprintf("<= +%.0f%%", 100*targetAgentOwnFrac),
		Ratio:  frac / targetAgentOwnFrac,
		Gap:    gapFor(r.Notes, "agent"),
		Short:  fmt.Sprintf("+%.1f%%", 100*frac),
	}}
	requests := math.NaN()
	if len(a.Tokens) > 0 {
		requests = float64(max(slices.Max(a.Tokens), slices.Max(a.Refreshes)))
	}
	rows = append(rows, Row{
		Metric:   "first deployment via real agent: identity checks, index downloads",
		Method:   "fake IMDS token requests and repository InRelease requests per goal state (install and enable together)",
		Measured: fmt.Sprintf("token requests %v, InRelease downloads %v", a.Tokens, a.Refreshes),
		Target:   "1 and 1", Ratio: requests,
		Short: fmt.Sprintf("max %.0f", requests),
	})
	return rows
}

func proofShort(p WarmProof) string {
	return fmt.Sprintf("%d requests, %d PM changes, %d connects", (p.IMDSAfter-p.IMDSBefore)+(p.RepoAfter-p.RepoBefore), map[bool]int{true: 0, false: 1}[p.PMFilesUnchanged], len(p.StraceConnects))
}

func baseNames(paths []string) []string {
	out := make([]string, len(paths))
	for i, p := range paths {
		out[i] = p[strings.LastIndexByte(p, '/')+1:]
	}
	return out
}

// gapFor returns the note starting with "key:" (explanations of misses).
func gapFor(notes []string, key string) string {
	for _, n := range notes {
		if rest, ok := strings.CutPrefix(n, key+":"); ok {
			return strings.TrimSpace(rest)
		}
	}
	return ""
}

// WriteMarkdown renders the report.
func WriteMarkdown(w io.Writer, r Results, svgName string) {
	m := r.Machine
	fmt.Fprintf(w, "# Performance report\n\n")
	fmt.Fprintf(w, "Generated by `make bench` (test/bench) on %s.\n\n", m.Date)
	fmt.Fprintf(w, "| Machine | |\n|---|---|\n| CPU | %s |\n| nproc | %d |\n| kernel | %s |\n| Go | %s |\n| commit | %s |\n| runs per series | %d (cold installs %d, refreshes %d, identity checks %d) |\n| load average before / after | %s / %s |\n\n",
		mdEsc(m.CPU), m.NProc, mdEsc(m.Kernel), m.GoVersion, m.Commit, r.Runs, len(r.ColdHandler), len(r.Refresh.TargetedCold), len(r.Identity.Healthy), r.LoadBefore, r.LoadAfter)
	fmt.Fprintf(w, "## Summary\n\n![ratios to target](%s)\n\n", svgName)
	fmt.Fprintf(w, "| Metric | Measured | Target | Verdict | Method |\n|---|---|---|---|---|\n")
	rows := Summary(r)
	for _, row := range rows {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", mdEsc(row.Metric), mdEsc(row.Measured), mdEsc(row.Target), mdEsc(row.TableVerdict()), mdEsc(row.Method))
	}
	var gaps []Row
	for _, row := range rows {
		if !row.Met() && row.Gap != "" {
			gaps = append(gaps, row)
		}
	}
	if len(gaps) > 0 {
		fmt.Fprintf(w, "\n## Gaps\n\n")
		for _, row := range gaps {
			fmt.Fprintf(w, "- **%s** (%s, target %s): %s\n", row.Metric, row.Measured, row.Target, row.Gap)
		}
	}
	fmt.Fprintf(w, "\n## Details\n\n### Warm enable vs hello world\n\n")
	fmt.Fprintf(w, "| Series | n | median ms | min ms | max ms |\n|---|---|---|---|---|\n")
	for _, s := range []struct {
		name string
		s    Sample
	}{{"enable (sequence already processed)", r.WarmEnable}, {"static hello world", r.Hello},
		{"handler `version` (start-up only)", r.Version},
		{"cold install, handler", r.ColdHandler}, {"cold install, bare apt-get", r.ColdBare},
		{"refresh Microsoft source only, empty lists", r.Refresh.TargetedCold}, {"full refresh, empty lists", r.Refresh.FullCold},
		{fmt.Sprintf("refresh Microsoft source only, empty lists, +%.0f ms per request", r.Refresh.LatencyMS), r.Refresh.TargetedLatency},
		{fmt.Sprintf("full refresh, empty lists, +%.0f ms per request", r.Refresh.LatencyMS), r.Refresh.FullLatency},
		{"refresh Microsoft source only, empty lists, " + modelName(r.Refresh), r.Refresh.TargetedModel},
		{"full refresh, empty lists, " + modelName(r.Refresh), r.Refresh.FullModel},
		{"first deployment via real agent: goal state to reported success", r.AgentFirst.Ready},
		{"first deployment via real agent: install + enable running", r.AgentFirst.Handler},
		{"first deployment via real agent: apt-get running", r.AgentFirst.PM},
		{"first deployment via real agent: handler's own time", r.AgentFirst.Own},
		{"refresh Microsoft source only, lists present", r.Refresh.TargetedWarm}, {"full refresh, lists present", r.Refresh.FullWarm},
		{"identity check, healthy IMDS", r.Identity.Healthy}} {
		fmt.Fprintf(w, "| %s | %d | %.2f | %.2f | %.2f |\n", s.name, len(s.s), s.s.Median(), s.s.Min(), s.s.Max())
	}
	fmt.Fprintf(w, "\n### Peak memory per verb\n\n| Verb | exit | wall ms | VmHWM handler (KiB) | wait4 ru_maxrss incl. children (KiB) |\n|---|---|---|---|---|\n")
	for _, v := range r.RSS {
		fmt.Fprintf(w, "| %s | %d | %.0f | %d | %d |\n", v.Verb, v.Exit, v.WallMS, v.HWMKB, v.MaxRSSKB)
	}
	tl := r.InstallTimeline
	fmt.Fprintf(w, "\n### Where a cold install's time goes\n\n")
	fmt.Fprintf(w, "One extra cold install under `strace -f -e trace=execve` (slower than the timed runs): %.0f ms in all, %.0f ms with a command running, %.0f ms (%.0f%%) in the handler alone. Handler CPU time (its own, children excluded) over the timed runs: median %.0f ms.\n\n",
		tl.WallMS, tl.ChildrenMS, tl.OwnMS(), 100*tl.OwnMS()/tl.WallMS, r.ColdHandlerCPU.Median())
	fmt.Fprintf(w, "| start ms | wall ms | command |\n|---|---|---|\n")
	for _, c := range tl.Commands {
		fmt.Fprintf(w, "| %.0f | %.0f | `%s` |\n", c.StartMS, c.WallMS, mdEsc(c.Argv))
	}
	if len(r.Commands) > 0 {
		fmt.Fprintf(w, "\nThe same checks without strace, in the installed VM (median of %d each):\n\n| command | median ms |\n|---|---|\n", len(r.Commands[0].Sample))
		total := 0.0
		for _, c := range r.Commands {
			fmt.Fprintf(w, "| `%s` | %.1f |\n", mdEsc(strings.NewReplacer("\t", `\t`, "\n", `\n`).Replace(c.Argv)), c.Sample.Median())
			total += c.Sample.Median()
		}
		fmt.Fprintf(w, "| total | %.1f |\n", total)
	}
	if a := r.AgentFirst; len(a.PMCommands) > 0 {
		fmt.Fprintf(w, "\n### Where a first deployment through the real agent spends its time\n\nThe last run (ms from the agent driver's start; apt-get is the package manager's own time, the rest the handler's checks):\n\n| start ms | wall ms | command |\n|---|---|---|\n")
		cmds := append(append([]TimelineCommand(nil), a.PMCommands...), a.CheckCommands...)
		slices.SortFunc(cmds, func(x, y TimelineCommand) int { return cmp.Compare(x.StartMS, y.StartMS) })
		for _, c := range cmds {
			fmt.Fprintf(w, "| %.0f | %.0f | `%s` |\n", c.StartMS, c.WallMS, mdEsc(strings.NewReplacer("\t", `\t`, "\n", `\n`).Replace(c.Argv)))
		}
	}
	fmt.Fprintf(w, "\n### Go benchmarks\n\n| Package | Benchmark | ns/op | MB/s | B/op | allocs/op |\n|---|---|---|---|---|---|\n")
	for _, b := range r.GoBench {
		mb := ""
		if b.MBPerS > 0 {
			mb = fmt.Sprintf("%.2f", b.MBPerS)
		}
		fmt.Fprintf(w, "| %s | %s | %.0f | %s | %d | %d |\n", b.Pkg, b.Name, b.NsPerOp, mb, b.BytesPerOp, b.AllocsPerOp)
	}
	if len(r.Notes) > 0 {
		fmt.Fprintf(w, "\n## Notes\n\n")
		for _, n := range r.Notes {
			fmt.Fprintf(w, "- %s\n", n)
		}
	}
}

func mdEsc(s string) string { return strings.ReplaceAll(strings.ReplaceAll(s, "|", `\|`), "\n", " ") }

// WriteSVG draws one bar per summary row: measured/target, with the target
// at a vertical line; green when met, red when not.
func WriteSVG(w io.Writer, rows []Row) {
	const (
		labelW, barW, rowH, top = 370, 360, 22, 30
		maxRatio                = 2.0
	)
	width, height := labelW+barW+250, top+rowH*len(rows)+20
	fmt.Fprintf(w, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", width, height, width, height)
	fmt.Fprintf(w, `<rect width="%d" height="%d" fill="white"/>`+"\n", width, height)
	fmt.Fprintf(w, `<text x="%d" y="18" font-weight="bold">measured / target (dashed line = target; shorter is better; capped at 2)</text>`+"\n", labelW)
	for i, r := range rows {
		y := top + i*rowH
		fmt.Fprintf(w, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", labelW-8, y+14, xmlEsc(r.Metric))
		ratio := r.Ratio
		label := fmt.Sprintf("%.2f", ratio)
		if r.Short != "" {
			label += " (" + r.Short + ")"
		}
		if math.IsNaN(ratio) {
			ratio, label = 0, "n/a"
		}
		length := math.Min(ratio, maxRatio) / maxRatio * barW
		color := "#2e7d32"
		if !r.Met() {
			color = "#c62828"
		}
		fmt.Fprintf(w, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"/>`+"\n", labelW, y+3, length, rowH-6, color)
		fmt.Fprintf(w, `<text x="%.1f" y="%d">%s</text>`+"\n", float64(labelW)+length+4, y+14, label)
	}
	x := labelW + barW/2
	fmt.Fprintf(w, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black" stroke-dasharray="4 3"/>`+"\n", x, top-4, x, top+rowH*len(rows))
	fmt.Fprintf(w, `<text x="%d" y="%d" text-anchor="middle">target</text>`+"\n", x, top+rowH*len(rows)+14)
	fmt.Fprintln(w, "</svg>")
}

func xmlEsc(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}
