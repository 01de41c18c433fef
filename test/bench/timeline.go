package main

import (
	"sort"
	"strconv"
	"strings"
)

// Timeline splits a straced handler run into the commands it started.
type Timeline struct {
	WallMS float64 `json:"wallMs"`
	// ChildrenMS is the time during which at least one command started by
	// the handler (directly or not) was running.
	ChildrenMS float64 `json:"childrenMs"`
	// Commands are the handler's direct children, in start order.
	Commands []TimelineCommand `json:"commands"`
	// All are every process started below the handler, in start order.
	All []TimelineCommand `json:"all"`
}

// SumMS adds up the wall time of the processes whose argv starts with
// prefix (not nested in one another, e.g. apt-key runs).
func (t Timeline) SumMS(prefix string) (total float64, n int) {
	for _, c := range t.All {
		if strings.HasPrefix(c.Argv, prefix) {
			total += c.WallMS
			n++
		}
	}
	return total, n
}

// TimelineCommand is one program the handler ran.
type TimelineCommand struct {
	Argv    string  `json:"argv"`
	StartMS float64 `json:"startMs"`
	WallMS  float64 `json:"wallMs"`
}

// OwnMS is the wall time with no command running: the handler's own work.
func (t Timeline) OwnMS() float64 { return t.WallMS - t.ChildrenMS }

type straceProc struct {
	pid        string
	start, end float64
	argv       string
	execs      int
}

// ParseTimeline reads `strace -f -ttt -e trace=execve -o` output of
// `chroot <dir> <handler> <verb>`: the first two execs (chroot, handler)
// belong to the handler process; every other exec'd process is a command.
func ParseTimeline(out string) Timeline {
	procs := map[string]*straceProc{}
	var order []*straceProc
	var first, last float64
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		ts, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			continue
		}
		if first == 0 {
			first = ts
		}
		last = max(last, ts)
		pid, rest := f[0], strings.Join(f[2:], " ")
		p := procs[pid]
		switch {
		case strings.HasPrefix(rest, "execve(") && strings.Contains(rest, ") = 0"):
			if p == nil {
				p = &straceProc{pid: pid, start: ts}
				procs[pid] = p
				order = append(order, p)
			}
			p.execs++
			p.argv = execArgv(rest)
		case strings.HasPrefix(rest, "+++ exited") || strings.HasPrefix(rest, "+++ killed"):
			if p != nil {
				p.end = ts
			}
		}
	}
	t := Timeline{WallMS: (last - first) * 1000}
	if len(order) == 0 {
		return t
	}
	root := order[0]
	var spans [][2]float64
	for _, p := range order[1:] {
		if p.pid == root.pid {
			continue
		}
		if p.end == 0 || p.end < p.start {
			// No exit seen (apt's methods sometimes outlive the trace's
			// view of them; they run inside apt-get's span anyway), or
			// a garbled trace.
			p.end = 0
			continue
		}
		spans = append(spans, [2]float64{p.start, p.end})
		t.All = append(t.All, TimelineCommand{Argv: p.argv, StartMS: (p.start - first) * 1000, WallMS: (p.end - p.start) * 1000})
	}
	// Direct children: processes that are not inside another child's span
	// started earlier and still running (apt-get's methods and dpkg are).
	var outer [2]float64
	for _, p := range order[1:] {
		if p.pid == root.pid || p.end == 0 {
			continue
		}
		if p.start >= outer[0] && p.end <= outer[1] {
			continue
		}
		outer = [2]float64{p.start, p.end}
		t.Commands = append(t.Commands, TimelineCommand{Argv: p.argv, StartMS: (p.start - first) * 1000, WallMS: (p.end - p.start) * 1000})
	}
	t.ChildrenMS = unionMS(spans)
	return t
}

func unionMS(spans [][2]float64) float64 {
	sort.Slice(spans, func(i, j int) bool { return spans[i][0] < spans[j][0] })
	var total, curS, curE float64
	for i, s := range spans {
		if i == 0 || s[0] > curE {
			total += curE - curS
			curS, curE = s[0], s[1]
			continue
		}
		curE = max(curE, s[1])
	}
	total += curE - curS
	return total * 1000
}

// execArgv renders an execve line as the program's path and its arguments
// (argv[0] replaced by the path).
func execArgv(rest string) string {
	_, afterPath, _ := strings.Cut(rest, "(\"")
	path, _, _ := strings.Cut(afterPath, "\"")
	_, after, ok := strings.Cut(rest, ", [")
	if !ok {
		return path
	}
	args, _, _ := strings.Cut(after, "]")
	parts := []string{path}
	for i, a := range strings.Split(args, ", ") {
		if i > 0 {
			parts = append(parts, strings.Trim(a, `"`))
		}
	}
	return strings.Join(parts, " ")
}
