package agentsim

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// TranscriptLine renders one step: scenario, verb, version, seq, exit code,
// CRP code, duration, handler state, extension status and the first 120
// characters of its message.
func TranscriptLine(st Step) string {
	var b strings.Builder
	scen := st.Scenario
	if scen == "" {
		scen = "-"
	}
	fmt.Fprintf(&b, "%-8s %-11s v%-10s seq=%-3d", scen, st.Verb, st.Version, st.Seq)
	if st.Agent {
		fmt.Fprintf(&b, " %-18s", "(agent)")
	} else {
		exit := strconv.Itoa(st.ExitCode)
		if st.TimedOut {
			exit = "killed"
		}
		fmt.Fprintf(&b, " exit=%-6s code=%-4d", exit, st.Code)
	}
	fmt.Fprintf(&b, " %6.2fs state=%s", st.Duration.Seconds(), orDash(st.HandlerState))
	if st.Status != nil {
		status := st.Status.Status
		switch {
		case st.Status.Missing:
			status = "none"
		case st.Status.Malformed:
			status = "MALFORMED(1012)"
		case status == "":
			status = "empty"
		}
		fmt.Fprintf(&b, " ext=%s", status)
		if !st.Status.Missing && st.Status.Message != "" {
			fmt.Fprintf(&b, " %q", clip(st.Status.Message, 120))
		}
	}
	if st.Swallowed {
		b.WriteString(" [ignored by agent]")
	}
	if st.Note != "" && st.Agent {
		fmt.Fprintf(&b, " (%s)", clip(st.Note, 120))
	}
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func clip(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	r := []rune(s)
	if len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}

// Expectations maps step selectors to expected exit codes. A selector is
// "verb", "verb@version", "scenario/verb" or "scenario/verb@version"; the
// most specific match wins; unmatched command steps expect 0. An expected
// 1011 matches a step killed on timeout. Agent steps (setup, …) are
// expected to succeed unless a selector names them (the value is then the
// CRP code).
type Expectations map[string]int

// ParseExpectation parses "enable=22" or "update/uninstall@1.0.0.1=3".
func (e Expectations) Parse(spec string) error {
	k, v, ok := strings.Cut(spec, "=")
	if !ok || k == "" {
		return fmt.Errorf("expectation %q: want selector=exitcode, e.g. enable=22", spec)
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return fmt.Errorf("expectation %q: %w", spec, err)
	}
	e[k] = n
	return nil
}

// Expected returns the expected code of st.
func (e Expectations) Expected(st Step) int {
	keys := []string{
		st.Scenario + "/" + st.Verb + "@" + st.Version,
		st.Scenario + "/" + st.Verb,
		st.Verb + "@" + st.Version,
		st.Verb,
	}
	for _, k := range keys {
		if v, ok := e[k]; ok {
			return v
		}
	}
	return 0
}

// Mismatch is a step whose result differs from the expectation.
type Mismatch struct {
	Index    int    `json:"index"`
	Step     string `json:"step"`
	Expected int    `json:"expected"`
	Got      int    `json:"got"`
}

// Check compares steps with the expectations.
func (e Expectations) Check(steps []Step) []Mismatch {
	var out []Mismatch
	for i, st := range steps {
		want := e.Expected(st)
		got := st.ExitCode
		switch {
		case st.Agent:
			got = st.Code
		case st.TimedOut && want == CodeTimeout:
			got = CodeTimeout
		case st.ExitCode == 0 && st.Code != 0:
			got = st.Code // e.g. a missing command
		}
		if got != want {
			out = append(out, Mismatch{Index: i, Step: fmt.Sprintf("%s/%s@%s", st.Scenario, st.Verb, st.Version), Expected: want, Got: got})
		}
	}
	return out
}

// Report is the JSON document of a run.
type Report struct {
	HandlerName string     `json:"handlerName"`
	LibDir      string     `json:"libDir"`
	LogDir      string     `json:"logDir"`
	Scenario    string     `json:"scenario"`
	Steps       []Step     `json:"steps"`
	Code        int        `json:"code"`
	Message     string     `json:"message,omitempty"`
	Error       string     `json:"error,omitempty"`
	Mismatches  []Mismatch `json:"mismatches,omitempty"`
	OK          bool       `json:"ok"`
}

// Selectors lists the expectation keys in a stable order (for messages).
func (e Expectations) Selectors() []string {
	var k []string
	for s := range e {
		k = append(k, s)
	}
	sort.Strings(k)
	return k
}
