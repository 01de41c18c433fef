package main

import (
	"math"
	"sort"
	"time"
)

// Results is everything one `make bench` run measured. The inner side (in
// the network namespace) fills the sandbox part and hands it back as JSON;
// the host side adds sizes, Go benchmarks and machine facts.
type Results struct {
	Machine Machine `json:"machine"`
	Runs    int     `json:"runs"`
	// LoadBefore and LoadAfter are /proc/loadavg around the sandbox part.
	LoadBefore string `json:"loadBefore"`
	LoadAfter  string `json:"loadAfter"`

	WarmEnable Sample `json:"warmEnable"`
	Hello      Sample `json:"hello"`
	// Version is `aadsshlogin-handler version` (start-up cost alone).
	Version   Sample    `json:"version"`
	WarmProof WarmProof `json:"warmProof"`

	ColdHandler Sample `json:"coldHandler"`
	ColdBare    Sample `json:"coldBare"`
	// ColdHandlerCPU is the handler's own CPU time (children excluded).
	ColdHandlerCPU Sample `json:"coldHandlerCPU"`
	// Commands times, unstraced in the installed VM, the programs the
	// handler runs besides apt-get update/install.
	Commands []CommandCost `json:"commands"`
	// InstallTimeline is one straced cold install.
	InstallTimeline Timeline `json:"installTimeline"`
	// AgentFirst is the first deployment through the real guest agent.
	AgentFirst AgentFirst `json:"agentFirst"`

	Refresh Refresh `json:"refresh"`

	Sizes []Size   `json:"sizes"`
	RSS   []RSSRow `json:"rss"`

	Identity Identity `json:"identity"`

	GoBench []GoBench `json:"goBench"`
	Notes   []string  `json:"notes,omitempty"`
}

// Machine describes where the figures were taken.
type Machine struct {
	Date      string `json:"date"`
	NProc     int    `json:"nproc"`
	CPU       string `json:"cpu"`
	Kernel    string `json:"kernel"`
	GoVersion string `json:"goVersion"`
	Commit    string `json:"commit"`
}

// Sample is a series of wall times in milliseconds.
type Sample []float64

// Add appends d.
func (s *Sample) Add(d time.Duration) { *s = append(*s, float64(d.Microseconds())/1000) }

// Median is the median (NaN when empty).
func (s Sample) Median() float64 {
	if len(s) == 0 {
		return math.NaN()
	}
	c := append(Sample(nil), s...)
	sort.Float64s(c)
	n := len(c)
	if n%2 == 1 {
		return c[n/2]
	}
	return (c[n/2-1] + c[n/2]) / 2
}

// Min and Max bound the sample (NaN when empty).
func (s Sample) Min() float64 { return s.fold(math.Min) }

func (s Sample) Max() float64 { return s.fold(math.Max) }

func (s Sample) fold(pick func(a, b float64) float64) float64 {
	if len(s) == 0 {
		return math.NaN()
	}
	m := s[0]
	for _, v := range s {
		m = pick(m, v)
	}
	return m
}

// WarmProof is the evidence that a warm enable used neither the network nor
// the package manager.
type WarmProof struct {
	Runs             int      `json:"runs"`
	IMDSBefore       int      `json:"imdsBefore"`
	IMDSAfter        int      `json:"imdsAfter"`
	RepoBefore       int      `json:"repoBefore"`
	RepoAfter        int      `json:"repoAfter"`
	PMFilesUnchanged bool     `json:"pmFilesUnchanged"`
	PMFiles          []string `json:"pmFiles"`
	ExitCodes        []int    `json:"exitCodes"`
	// StraceExecs are the programs execve'd in one straced warm enable
	// (chroot(1) and the handler itself are expected); StraceConnects the
	// connect(2) calls.
	StraceExecs    []string `json:"straceExecs"`
	StraceConnects []string `json:"straceConnects"`
	StraceErr      string   `json:"straceErr,omitempty"`
}

// StraceMissing is StraceErr when strace is not installed: the proof then
// rests on the counters and file digests alone.
const StraceMissing = "strace not installed"

// Clean tells whether the proof holds.
func (w WarmProof) Clean() bool {
	counters := w.IMDSBefore == w.IMDSAfter && w.RepoBefore == w.RepoAfter && w.PMFilesUnchanged
	if w.StraceErr == StraceMissing {
		return counters
	}
	return counters && w.StraceErr == "" && len(w.StraceExecs) <= 2 && len(w.StraceConnects) == 0
}

// Refresh compares a refresh of only the Microsoft source (the handler's
// apt-get update) with a full one, with a large distro repository present.
type Refresh struct {
	DistroPackages int     `json:"distroPackages"`
	DistroXZBytes  int64   `json:"distroXZBytes"`
	DistroBytes    int64   `json:"distroBytes"`
	Suites         []Suite `json:"suites"`
	TargetedCold   Sample  `json:"targetedCold"`
	FullCold       Sample  `json:"fullCold"`
	// LatencyMS is the per-request delay of both servers in the
	// TargetedLatency/FullLatency series (a remote mirror's round trip).
	LatencyMS       float64 `json:"latencyMs"`
	TargetedLatency Sample  `json:"targetedLatency"`
	FullLatency     Sample  `json:"fullLatency"`
	// ModelLatencyMS and ModelMbit are the modelled VM network of the
	// TargetedModel/FullModel series (fixtures.Link on both servers).
	ModelLatencyMS float64 `json:"modelLatencyMs"`
	ModelMbit      float64 `json:"modelMbit"`
	TargetedModel  Sample  `json:"targetedModel"`
	FullModel      Sample  `json:"fullModel"`
	// Floor is apt-get update with an empty source list: apt's fixed cost.
	Floor        Sample `json:"floor"`
	TargetedWarm Sample `json:"targetedWarm"`
	FullWarm     Sample `json:"fullWarm"`
}

// Size is a handler binary's size.
type Size struct {
	Arch  string `json:"arch"`
	Bytes int64  `json:"bytes"`
}

// RSSRow is the peak memory of one handler verb.
type RSSRow struct {
	Verb     string  `json:"verb"`
	Exit     int     `json:"exit"`
	WallMS   float64 `json:"wallMs"`
	HWMKB    int64   `json:"hwmKB"`
	MaxRSSKB int64   `json:"maxRSSKB"`
}

// Identity holds the identity-check latencies.
type Identity struct {
	Healthy Sample `json:"healthy"`
	// MaxCheckMS is identity.MaxCheckDuration.
	MaxCheckMS float64 `json:"maxCheckMs"`
	// Refused: connection refused on every try, fake clock.
	RefusedRealMS  float64 `json:"refusedRealMs"`
	RefusedClockMS float64 `json:"refusedClockMs"`
	RefusedCode    int     `json:"refusedCode"`
	// Blackhole: connections accepted, never answered; short TryTimeout.
	BlackholeTryMS   float64 `json:"blackholeTryMs"`
	BlackholeRealMS  float64 `json:"blackholeRealMs"`
	BlackholeClockMS float64 `json:"blackholeClockMs"`
	BlackholeTries   int     `json:"blackholeTries"`
	BlackholeCode    int     `json:"blackholeCode"`
	// WorstCaseMS is sleeps + tries x default TryTimeout for the blackhole.
	WorstCaseMS float64 `json:"worstCaseMs"`
}

// GoBench is one line of `go test -bench` output.
type GoBench struct {
	Pkg         string  `json:"pkg"`
	Name        string  `json:"name"`
	N           int64   `json:"n"`
	NsPerOp     float64 `json:"nsPerOp"`
	MBPerS      float64 `json:"mbPerS,omitempty"`
	BytesPerOp  int64   `json:"bytesPerOp"`
	AllocsPerOp int64   `json:"allocsPerOp"`
}

// CommandCost is the wall time of one command the handler runs.
type CommandCost struct {
	Argv   string `json:"argv"`
	Sample Sample `json:"sample"`
}
