package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// These tests cover the parsing and rendering code of the benchmark; the
// benchmark itself runs only with `make bench`.

func TestSampleStats(t *testing.T) {
	for _, tc := range []struct {
		name           string
		s              Sample
		med, min, maxV float64
	}{
		{"odd", Sample{3, 1, 2}, 2, 1, 3},
		{"even", Sample{4, 1, 3, 2}, 2.5, 1, 4},
		{"one", Sample{7}, 7, 7, 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := []float64{tc.s.Median(), tc.s.Min(), tc.s.Max()}
			if diff := cmp.Diff([]float64{tc.med, tc.min, tc.maxV}, got); diff != "" {
				t.Errorf("median/min/max (-want +got):\n%s", diff)
			}
		})
	}
	if !math.IsNaN(Sample(nil).Median()) || !math.IsNaN(Sample(nil).Min()) || !math.IsNaN(Sample(nil).Max()) {
		t.Error("empty sample: want NaN")
	}
	var s Sample
	s.Add(1500 * time.Microsecond)
	if diff := cmp.Diff(Sample{1.5}, s); diff != "" {
		t.Errorf("Add (-want +got):\n%s", diff)
	}
	orig := Sample{3, 1, 2}
	orig.Median()
	if diff := cmp.Diff(Sample{3, 1, 2}, orig); diff != "" {
		t.Errorf("Median reordered its receiver:\n%s", diff)
	}
}

func sampleResults() Results {
	return Results{
		Machine:    Machine{Date: "2026-01-01T00:00:00Z", NProc: 2, CPU: "Test CPU", Kernel: "Linux 6.1 x86_64", GoVersion: "go1.26", Commit: "abc"},
		Runs:       3,
		WarmEnable: Sample{2, 2, 2}, Hello: Sample{1, 1, 1},
		WarmProof:   WarmProof{Runs: 3, IMDSBefore: 4, IMDSAfter: 4, RepoBefore: 9, RepoAfter: 9, PMFilesUnchanged: true, StraceExecs: []string{"/usr/sbin/chroot", "/h"}},
		ColdHandler: Sample{1200}, ColdBare: Sample{1000},
		Refresh: Refresh{Suites: DistroSuites(100), DistroPackages: 130, TargetedCold: Sample{100}, FullCold: Sample{1000},
			LatencyMS: 20, TargetedLatency: Sample{300}, FullLatency: Sample{1000},
			ModelLatencyMS: 2, ModelMbit: 300, TargetedModel: Sample{150}, FullModel: Sample{1000}},
		AgentFirst: AgentFirst{AgentVersion: "2.7.3.0", Ready: Sample{9000}, Handler: Sample{5000}, PM: Sample{4600}, Own: Sample{400}, Checks: Sample{150},
			Tokens: []int{1}, Refreshes: []int{1}},
		Sizes: []Size{{"amd64", 8 << 20}, {"arm64", 11 << 20}},
		RSS:   []RSSRow{{Verb: "install", HWMKB: 9000, MaxRSSKB: 40000}},
		Identity: Identity{Healthy: Sample{1}, MaxCheckMS: 150000, RefusedClockMS: 52000, BlackholeClockMS: 52000,
			BlackholeRealMS: 1000, BlackholeTries: 5, WorstCaseMS: 102000},
		Notes: []string{"refresh +20 ms per request: apt's fixed cost"},
	}
}

func TestSummaryVerdicts(t *testing.T) {
	got := map[string]string{}
	for _, r := range Summary(sampleResults()) {
		got[r.Metric] = r.Verdict()
	}
	want := map[string]string{
		"warm enable / static hello-world exec":                                            "met",
		"warm enable: network and package-manager calls":                                   "met",
		"cold install: handler overhead over bare apt":                                     "met", // 200 <= 350
		"refresh Microsoft source / full (loopback)":                                       "met",
		"refresh Microsoft source / full (+20 ms per request)":                             "NOT met: apt's fixed cost",
		"refresh Microsoft source / full (VM network model: 2 ms per request, 300 Mbit/s)": "met",
		"first deployment via real agent: handler's own time / apt-get's":                  "met", // 400/4600 = 8.7 %
		"first deployment via real agent: identity checks, index downloads":                "met",
		"binary size amd64":                "met",
		"binary size arm64":                "NOT met",
		"peak RSS install":                 "met",
		"identity check, healthy IMDS":     "met",
		"identity check, IMDS unreachable": "met",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("verdicts (-want +got):\n%s", diff)
	}
}

func TestSummaryFailures(t *testing.T) {
	r := sampleResults()
	r.WarmEnable = Sample{4}
	r.WarmProof.RepoAfter++
	r.ColdHandler = Sample{1400}
	r.Identity.Healthy = nil
	r.AgentFirst.Own, r.AgentFirst.PM = Sample{500}, Sample{4500} // 11.1 %
	r.AgentFirst.Tokens = []int{1, 2}
	got := map[string]string{}
	for _, row := range Summary(r) {
		got[row.Metric] = row.Verdict()
	}
	for metric, want := range map[string]string{
		"warm enable / static hello-world exec":                             "NOT met",
		"warm enable: network and package-manager calls":                    "NOT met",
		"cold install: handler overhead over bare apt":                      "NOT met", // 400 > 350
		"identity check, healthy IMDS":                                      "not measured",
		"first deployment via real agent: handler's own time / apt-get's":   "NOT met",
		"first deployment via real agent: identity checks, index downloads": "NOT met",
	} {
		if got[metric] != want {
			t.Errorf("%s: verdict %q, want %q", metric, got[metric], want)
		}
	}
	r = sampleResults()
	r.WarmProof.StraceConnects = []string{"connect(3, ...)"}
	if Summary(r)[1].Met() {
		t.Error("a connect(2) during warm enable must fail the proof")
	}
	r = sampleResults()
	r.WarmProof.StraceExecs = append(r.WarmProof.StraceExecs, "/usr/bin/dpkg-query")
	if Summary(r)[1].Met() {
		t.Error("a package-manager exec during warm enable must fail the proof")
	}
	r.WarmProof.StraceExecs, r.WarmProof.StraceErr = nil, StraceMissing
	if !Summary(r)[1].Met() {
		t.Error("without strace the counters and digests decide")
	}
	r.WarmProof.PMFilesUnchanged = false
	if Summary(r)[1].Met() {
		t.Error("a changed dpkg/apt file must fail the proof")
	}
}

func TestWriteMarkdown(t *testing.T) {
	var b strings.Builder
	r := sampleResults()
	r.GoBench = []GoBench{{Pkg: "handler/agent", Name: "BenchmarkParseSettings", N: 10, NsPerOp: 4653, MBPerS: 75.2, BytesPerOp: 1520, AllocsPerOp: 17}}
	WriteMarkdown(&b, r, "report.svg")
	md := b.String()
	for _, want := range []string{
		"| CPU | Test CPU |",
		"| nproc | 2 |",
		"![ratios to target](report.svg)",
		"| warm enable / static hello-world exec | 2.00x (2.00 ms / 1.00 ms) | <= 3x | met |",
		"| binary size arm64 | 11.00 MiB | <= 10 MiB | NOT met |",
		"| handler/agent | BenchmarkParseSettings | 4653 | 75.20 | 1520 | 17 |",
		"- refresh +20 ms per request: apt's fixed cost",
		"| refresh Microsoft source / full (+20 ms per request) | 0.30x (300 ms / 1000 ms) | <= 0.2x | NOT met (gap explained below) |",
		"| first deployment via real agent: handler's own time / apt-get's | +8.7% (own 400 ms, of which 150 ms its checks; apt-get 4600 ms; install+enable 5000 ms; goal state to reported success 9000 ms) | <= +10% | met |",
		"| first deployment via real agent: goal state to reported success | 1 | 9000.00 |",
		"## Gaps\n\n- **refresh Microsoft source / full (+20 ms per request)** (0.30x (300 ms / 1000 ms), target <= 0.2x): apt's fixed cost\n",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	r.Machine.CPU = "a|b"
	b.Reset()
	WriteMarkdown(&b, r, "x.svg")
	if !strings.Contains(b.String(), `| CPU | a\|b |`) {
		t.Error("a | in a cell must be escaped")
	}
}

func TestWriteSVG(t *testing.T) {
	rows := Summary(sampleResults())
	rows = append(rows, Row{Metric: `odd <name> & "quotes"`, Ratio: math.NaN()})
	var b bytes.Buffer
	WriteSVG(&b, rows)
	dec := xml.NewDecoder(bytes.NewReader(b.Bytes()))
	rects, texts, red := 0, 0, 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v\n%s", err, b.String())
		}
		if se, ok := tok.(xml.StartElement); ok {
			switch se.Name.Local {
			case "rect":
				rects++
				for _, a := range se.Attr {
					if a.Name.Local == "fill" && a.Value == "#c62828" {
						red++
					}
				}
			case "text":
				texts++
			}
		}
	}
	// One background rectangle plus one bar per row; the not-met rows
	// (arm64 size, latency refresh, the n/a row) are red.
	if rects != len(rows)+1 || red != 3 {
		t.Errorf("rects = %d (want %d), red = %d (want 3)", rects, len(rows)+1, red)
	}
	if texts != 2*len(rows)+2 {
		t.Errorf("texts = %d, want %d", texts, 2*len(rows)+2)
	}
	if !strings.Contains(b.String(), "odd &lt;name&gt; &amp; &quot;quotes&quot;") {
		t.Error("labels must be XML-escaped")
	}
}

func TestParseGoBench(t *testing.T) {
	out := `goos: linux
goarch: amd64
pkg: github.com/Azure/aadsshlogin-extension-linux/distros
cpu: AMD EPYC
BenchmarkKeyFingerprint-2   	   84368	     12942 ns/op	  75.95 MB/s	    4059 B/op	      14 allocs/op
BenchmarkParseOSRelease-2   	  195841	      6011 ns/op	 102.99 MB/s	    1928 B/op	      51 allocs/op
PASS
ok  	github.com/Azure/aadsshlogin-extension-linux/distros	3.1s
pkg: github.com/Azure/aadsshlogin-extension-linux/handler/identity
BenchmarkCheckHealthy-2     	    3000	    366525 ns/op	   40185 B/op	     333 allocs/op
BenchmarkBroken-2  notanumber
Benchmark-noresult 12
`
	want := []GoBench{
		{Pkg: "distros", Name: "BenchmarkKeyFingerprint", N: 84368, NsPerOp: 12942, MBPerS: 75.95, BytesPerOp: 4059, AllocsPerOp: 14},
		{Pkg: "distros", Name: "BenchmarkParseOSRelease", N: 195841, NsPerOp: 6011, MBPerS: 102.99, BytesPerOp: 1928, AllocsPerOp: 51},
		{Pkg: "handler/identity", Name: "BenchmarkCheckHealthy", N: 3000, NsPerOp: 366525, BytesPerOp: 40185, AllocsPerOp: 333},
	}
	if diff := cmp.Diff(want, ParseGoBench(out)); diff != "" {
		t.Errorf("ParseGoBench (-want +got):\n%s", diff)
	}
}

func TestParseStrace(t *testing.T) {
	out := `100 execve("/usr/sbin/chroot", ["chroot", "/r", "/h", "enable"], 0x7ffd /* 8 vars */) = 0
100 execve("/h", ["/h", "enable"], 0x7ffe /* 8 vars */) = 0
101 execve("/usr/local/bin/dpkg", ["dpkg"], 0x1 /* 1 var */) = -1 ENOENT (No such file or directory)
102 connect(7, {sa_family=AF_INET, sin_port=htons(80), sin_addr=inet_addr("169.254.169.254")}, 16) = -1 EINPROGRESS
100 +++ exited with 0 +++
`
	execs, connects := ParseStrace(out)
	if diff := cmp.Diff([]string{"/usr/sbin/chroot", "/h"}, execs); diff != "" {
		t.Errorf("execs (-want +got):\n%s", diff)
	}
	if len(connects) != 1 || !strings.Contains(connects[0], "169.254.169.254") {
		t.Errorf("connects = %q", connects)
	}
}

func TestParseTimeline(t *testing.T) {
	out := `10 1000.000 execve("/usr/sbin/chroot", ["chroot", "/r", "/h", "install"], 0x1 /* 8 vars */) = 0
10 1000.010 execve("/h", ["/h", "install"], 0x1 /* 8 vars */) = 0
11 1000.100 execve("/usr/bin/dpkg-query", ["/usr/bin/dpkg-query", "-W", "aadlogin"], 0x1 /* 1 var */) = 0
11 1000.120 +++ exited with 1 +++
12 1000.200 execve("/usr/bin/apt-get", ["apt-get", "update"], 0x1 /* 1 var */) = 0
13 1000.250 execve("/usr/lib/apt/methods/https", ["/usr/lib/apt/methods/https"], 0x1 /* 1 var */) = 0
14 1000.260 execve("/usr/lib/apt/methods/gpgv", ["/usr/lib/apt/methods/gpgv"], 0x1 /* 1 var */) = 0
13 1000.400 +++ exited with 0 +++
12 1000.500 +++ exited with 0 +++
10 1000.600 +++ exited with 0 +++
`
	got := ParseTimeline(out)
	want := Timeline{WallMS: 600, ChildrenMS: 320, Commands: []TimelineCommand{
		{Argv: "/usr/bin/dpkg-query -W aadlogin", StartMS: 100, WallMS: 20},
		{Argv: "/usr/bin/apt-get update", StartMS: 200, WallMS: 300},
	}, All: []TimelineCommand{
		{Argv: "/usr/bin/dpkg-query -W aadlogin", StartMS: 100, WallMS: 20},
		{Argv: "/usr/bin/apt-get update", StartMS: 200, WallMS: 300},
		{Argv: "/usr/lib/apt/methods/https", StartMS: 250, WallMS: 150},
	}}
	round := cmp.Comparer(func(a, b float64) bool { return math.Abs(a-b) < 0.01 })
	if diff := cmp.Diff(want, got, round); diff != "" {
		t.Errorf("ParseTimeline (-want +got):\n%s", diff)
	}
	if sum, n := got.SumMS("/usr/lib/apt/methods/"); math.Abs(sum-150) > 0.01 || n != 1 {
		t.Errorf("SumMS = %v, %d; want 150, 1", sum, n)
	}
	if own := got.OwnMS(); math.Abs(own-280) > 0.01 {
		t.Errorf("OwnMS = %v, want 280", own)
	}
	if diff := cmp.Diff(Timeline{}, ParseTimeline("garbage\n")); diff != "" {
		t.Errorf("garbage: %s", diff)
	}
}

func TestParseProcFiles(t *testing.T) {
	stat := "1234 (aadssh handler) S 1 1234 1234 0 -1 4194560 100 0 0 0 7 3 12 8 20 0 6 0 100 1000 200"
	self, children := ParseStatCPU(stat)
	if self != 100*time.Millisecond || children != 200*time.Millisecond {
		t.Errorf("ParseStatCPU = %v, %v; want 100ms, 200ms", self, children)
	}
	if s, c := ParseStatCPU("short (x) S 1"); s != 0 || c != 0 {
		t.Errorf("short stat: %v %v", s, c)
	}
	status := "Name:\thandler\nVmPeak:\t  20000 kB\nVmHWM:\t    8992 kB\nVmRSS:\t 8000 kB\n"
	if got := parseVmHWM(strings.NewReader(status)); got != 8992 {
		t.Errorf("parseVmHWM = %d, want 8992", got)
	}
	if got := parseVmHWM(strings.NewReader("Name:\tx\n")); got != 0 {
		t.Errorf("parseVmHWM without VmHWM = %d", got)
	}
	if got := CPUModel("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7763\n"); got != "AMD EPYC 7763" {
		t.Errorf("CPUModel = %q", got)
	}
	if got := CPUModel(""); got != "unknown" {
		t.Errorf("CPUModel(empty) = %q", got)
	}
}

func TestWriteIndexAndRelease(t *testing.T) {
	var p1, t1, p2, t2 bytes.Buffer
	if err := WriteIndex(&p1, &t1, 50, "amd64", 7); err != nil {
		t.Fatal(err)
	}
	if err := WriteIndex(&p2, &t2, 50, "amd64", 7); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(p1.Bytes(), p2.Bytes()) || !bytes.Equal(t1.Bytes(), t2.Bytes()) {
		t.Error("the index must be reproducible for a seed")
	}
	stanzas := strings.Split(strings.TrimSuffix(p1.String(), "\n\n"), "\n\n")
	if len(stanzas) != 50 {
		t.Fatalf("%d stanzas, want 50", len(stanzas))
	}
	for _, st := range stanzas {
		fields := map[string]bool{}
		for _, l := range strings.Split(st, "\n") {
			k, _, ok := strings.Cut(l, ": ")
			if !ok {
				t.Fatalf("line %q is not a field", l)
			}
			fields[k] = true
		}
		for _, k := range []string{"Package", "Version", "Architecture", "Filename", "Size", "SHA256", "Description", "Description-md5"} {
			if !fields[k] {
				t.Errorf("stanza lacks %s:\n%s", k, st)
			}
		}
	}
	if n := strings.Count(t1.String(), "Description-en: "); n != 50 {
		t.Errorf("%d translations, want 50", n)
	}
	files := map[string][]byte{"main/binary-amd64/Packages.xz": []byte("abc"), "main/i18n/Translation-en.xz": []byte("de")}
	rel := string(ReleaseFile("s", "amd64", time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), files))
	for _, want := range []string{
		"Suite: s\n", "Date: Fri, 02 Jan 2026 03:04:05 UTC\n", "Architectures: amd64\n",
		fmt.Sprintf(" %x 3 main/binary-amd64/Packages.xz\n", sha256.Sum256([]byte("abc"))),
		fmt.Sprintf(" %x 2 main/i18n/Translation-en.xz\n", sha256.Sum256([]byte("de"))),
	} {
		if !strings.Contains(rel, want) {
			t.Errorf("Release lacks %q:\n%s", want, rel)
		}
	}
	// apt fetches an index only if the Release lists its uncompressed
	// name (pkgAcqIndex looks up the MetaKey "main/binary-amd64/Packages");
	// a Release with only the .xz made apt skip every distro index.
	root := t.TempDir()
	if _, raw, err := BuildDistroRepo(root, []Suite{{"s", 3}}, "amd64", time.Now()); err != nil || raw == 0 {
		t.Fatalf("BuildDistroRepo: %v (%d raw bytes)", err, raw)
	}
	built, err := os.ReadFile(filepath.Join(root, "dists", "s", "Release"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"main/binary-amd64/Packages", "main/binary-amd64/Packages.xz", "main/i18n/Translation-en", "main/i18n/Translation-en.xz"} {
		if !regexp.MustCompile(`(?m)^ [0-9a-f]{64} [0-9]+ ` + regexp.QuoteMeta(name) + `$`).Match(built) {
			t.Errorf("the built Release does not list %s:\n%s", name, built)
		}
	}
	if got := DistroSuites(40000); got[0].Packages != 40000 || len(got) != 4 {
		t.Errorf("DistroSuites = %v", got)
	}
}

func TestNotesStateTheModel(t *testing.T) {
	all := strings.Join(notes(sampleResults()), "\n")
	for _, want := range []string{
		"VM network model (2 ms per request, 300 Mbit/s): both repository servers (fixtures.Link) wait 2 ms before every answer and send all response bodies through one 300 Mbit/s bottleneck",
		"First deployment through the real agent: every run is a fresh chroot of the cached Debian 12 image with waagent 2.7.3.0",
		"remaining time (4000 ms median) is the agent's own",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("notes lack %q:\n%s", want, all)
		}
	}
	if gapFor(notes(sampleResults()), "agent") != "" {
		t.Error("a met first-deployment target needs no gap note")
	}
	r := sampleResults()
	r.AgentFirst.Own, r.AgentFirst.PM = Sample{500}, Sample{1000}
	want := "agent: of the handler's own 500 ms, 150 ms are the programs it runs besides apt-get"
	if got := gapFor(notes(r), "agent"); !strings.HasPrefix("agent: "+got, want) {
		t.Errorf("gap note %q, want it to start with %q", got, want)
	}
}

// agentTrace is a first deployment as strace shows it: the driver (10),
// the agent's shell for install (11) exec'ing the shim and the handler,
// which runs dpkg-query and apt-get update and install (with a method and
// dpkg below); then enable (20) with no package-manager run.
const agentTrace = `10 1000.000 execve("/usr/sbin/chroot", ["chroot", "/r", "python3", "/d/driver.py"], 0x1 /* 8 vars */) = 0
10 1000.010 execve("/usr/bin/python3", ["python3", "/d/driver.py"], 0x1 /* 8 vars */) = 0
11 1000.500 execve("/bin/sh", ["/bin/sh", "-c", "/var/lib/waagent/X-1.0.0.1/scripts/aadsshlogin-shim install"], 0x1 /* 8 vars */) = 0
11 1000.505 execve("/var/lib/waagent/X-1.0.0.1/scripts/aadsshlogin-shim", ["/var/lib/waagent/X-1.0.0.1/scripts/aadsshlogin-shim", "install"], 0x1 /* 8 vars */) = 0
11 1000.510 execve("/var/lib/waagent/X-1.0.0.1/bin/aadsshlogin-handler-amd64", ["/var/lib/waagent/X-1.0.0.1/bin/aadsshlogin-handler-amd64", "install"], 0x1 /* 8 vars */) = 0
12 1000.600 execve("/usr/bin/dpkg-query", ["dpkg-query", "-W", "aadlogin"], 0x1 /* 1 var */) = 0
12 1000.620 +++ exited with 1 +++
13 1000.700 execve("/usr/bin/apt-get", ["apt-get", "update", "-q"], 0x1 /* 1 var */) = 0
14 1000.750 execve("/usr/lib/apt/methods/https", ["/usr/lib/apt/methods/https"], 0x1 /* 1 var */) = 0
14 1001.000 +++ exited with 0 +++
13 1001.200 +++ exited with 0 +++
15 1001.300 execve("/usr/bin/apt-get", ["apt-get", "install", "-y", "aadsshlogin"], 0x1 /* 1 var */) = 0
16 1001.400 execve("/usr/bin/dpkg", ["/usr/bin/dpkg", "--unpack"], 0x1 /* 1 var */) = 0
16 1001.800 +++ exited with 0 +++
15 1002.300 +++ exited with 0 +++
11 1002.400 +++ exited with 0 +++
20 1003.500 execve("/bin/sh", ["/bin/sh", "-c", "/var/lib/waagent/X-1.0.0.1/scripts/aadsshlogin-shim enable"], 0x1 /* 8 vars */) = 0
20 1003.600 +++ exited with 0 +++
10 1004.000 +++ exited with 0 +++
`

func TestSplitAgentTrace(t *testing.T) {
	got := SplitAgentTrace(agentTrace)
	round := cmp.Comparer(func(a, b float64) bool { return math.Abs(a-b) < 0.01 })
	want := AgentSplit{HandlerMS: 1900 + 100, PMMS: 500 + 1000, PM: []TimelineCommand{
		{Argv: "/usr/bin/apt-get update -q", StartMS: 700, WallMS: 500},
		{Argv: "/usr/bin/apt-get install -y aadsshlogin", StartMS: 1300, WallMS: 1000},
	}, Checks: []TimelineCommand{{Argv: "/usr/bin/dpkg-query -W aadlogin", StartMS: 600, WallMS: 20}}, ChecksMS: 20}
	if diff := cmp.Diff(want, got, round); diff != "" {
		t.Errorf("SplitAgentTrace (-want +got):\n%s", diff)
	}
	if own := got.OwnMS(); math.Abs(own-500) > 0.01 {
		t.Errorf("OwnMS = %v, want 500", own)
	}
	// A command whose last word is install but that is not the handler
	// (apt-get's own arguments, a package named like a verb) is not one.
	for _, argv := range [][]string{{"/usr/bin/dpkg", "install"}, {"install"}, {"/x/aadsshlogin-shim", "disable"}} {
		if isHandlerCommand(argv) {
			t.Errorf("isHandlerCommand(%q) = true", argv)
		}
	}
	if diff := cmp.Diff(AgentSplit{}, SplitAgentTrace("garbage\n")); diff != "" {
		t.Errorf("garbage: %s", diff)
	}
}

func FuzzSplitAgentTrace(f *testing.F) {
	f.Add(agentTrace)
	f.Add("1 5 execve(\"/a\", [], 0) = 0\n2 4 execve(\"/usr/bin/apt-get\", [\"a\"], 0) = 0\n2 3 +++ exited with 0 +++\n")
	f.Add("")
	f.Fuzz(func(t *testing.T, out string) {
		s := SplitAgentTrace(out)
		if s.PMMS < 0 || s.HandlerMS < 0 || math.IsNaN(s.HandlerMS) {
			t.Fatalf("negative or NaN split %+v", s)
		}
		// apt-get's spans are part of the handler's, so own time >= 0.
		if s.OwnMS() < -1e-6 {
			t.Fatalf("OwnMS = %v < 0: %+v", s.OwnMS(), s)
		}
	})
}

func FuzzParseTimeline(f *testing.F) {
	f.Add("10 1000.0 execve(\"/c\", [\"c\"], 0x1) = 0\n11 1000.1 execve(\"/d\", [\"d\", \"x\"], 0x1) = 0\n11 1000.2 +++ exited with 0 +++\n")
	f.Add("1 5 execve(\"/a\", [], 0) = 0\n2 4 execve(\"/b\", [\"b\"], 0) = 0\n2 3 +++ killed by SIGKILL +++\n")
	f.Add("")
	f.Fuzz(func(t *testing.T, out string) {
		tl := ParseTimeline(out)
		if tl.ChildrenMS < 0 || math.IsNaN(tl.ChildrenMS) {
			t.Fatalf("ChildrenMS = %v", tl.ChildrenMS)
		}
		if len(tl.Commands) > len(tl.All) {
			t.Fatalf("%d direct commands but %d processes", len(tl.Commands), len(tl.All))
		}
		for _, c := range tl.All {
			if c.WallMS < 0 {
				t.Fatalf("negative span %+v", c)
			}
		}
	})
}

func FuzzParseGoBench(f *testing.F) {
	f.Add("pkg: example.com/x\nBenchmarkA-2 \t 100\t 12 ns/op\t 3 B/op\t 1 allocs/op\n")
	f.Add("BenchmarkB 5 1.5 ns/op 2.0 MB/s\n")
	f.Add("Benchmark 1 x ns/op\n")
	f.Fuzz(func(t *testing.T, out string) {
		got := ParseGoBench(out)
		if len(got) > strings.Count(out, "Benchmark") {
			t.Fatalf("%d results from %d mentions", len(got), strings.Count(out, "Benchmark"))
		}
		for _, b := range got {
			if !strings.HasPrefix(b.Name, "Benchmark") {
				t.Fatalf("name %q", b.Name)
			}
		}
	})
}

func FuzzParseStatCPU(f *testing.F) {
	f.Add("1 (a b) S 1 1 1 0 -1 0 0 0 0 0 7 3 12 8 20 0 6 0")
	f.Add("1 (x) S")
	f.Add(") ) )")
	f.Add("1 (x) S 1 1 1 0 -1 0 0 0 0 0 99999999999999999999 -3 1 1")
	f.Fuzz(func(t *testing.T, stat string) {
		self, children := ParseStatCPU(stat)
		i := strings.LastIndexByte(stat, ')')
		if i < 0 && (self != 0 || children != 0) {
			t.Fatalf("no ')' but CPU %v/%v", self, children)
		}
		if self < 0 || children < 0 || self%clockTick != 0 || children%clockTick != 0 {
			t.Fatalf("CPU %v/%v not in ticks", self, children)
		}
	})
}
