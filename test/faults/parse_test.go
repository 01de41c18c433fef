package faults

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseResultsRoundTrip(t *testing.T) {
	in := []Result{
		{Battery: "kill", Case: "install: right after start", Hit: true, Converged: true, Counts: map[string]int{"attempts": 1}},
		{Battery: "package", Case: "404", Exit: 52, Status: "error", Message: "a\nb", Problems: []string{"x"}, Torn: []string{"mrseq \"\""}},
	}
	var out bytes.Buffer
	vm := &VM{Out: &out}
	out.WriteString("noise line\n   kill \"x\" #1: hit=true\n")
	for _, r := range in {
		vm.Emit(r)
	}
	got, err := ParseResults(out.String())
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(in, got); d != "" {
		t.Errorf("round trip (-want +got):\n%s", d)
	}
	if _, err := ParseResults(ResultPrefix + "{not json\n"); err == nil {
		t.Error("a broken result line was accepted")
	}
}

func TestAptListComplete(t *testing.T) {
	full := "# written by AADSSHLoginForLinux\ndeb [arch=amd64 signed-by=/usr/share/keyrings/k.gpg] https://m.example/repos/microsoft-debian-bookworm-prod bookworm main\n"
	tests := []struct {
		in   string
		want bool
	}{
		{full, true},
		{strings.TrimSuffix(full, "\n"), false},
		{full[:len(full)/2], false},
		{full[:len(full)-6] + "\n", false},
		{"", false},
		{"# only a comment\n", false},
		{full + full, false},
		{"deb https://m.example bookworm main\n", false},
	}
	for _, tc := range tests {
		if got := aptListComplete(tc.in); got != tc.want {
			t.Errorf("aptListComplete(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// FuzzParseResults: any transcript parses without panicking into at most
// one result per result line, and a result written by Emit survives the
// trip (invalid UTF-8 becomes U+FFFD per byte, as encoding/json does).
func FuzzParseResults(f *testing.F) {
	f.Add("x\n"+ResultPrefix+`{"battery":"kill","case":"a","hit":true,"converged":false,"exit":-9}`+"\n", "case")
	f.Add(ResultPrefix+"{", "")
	f.Add("", "\x00\n")
	f.Fuzz(func(t *testing.T, transcript, name string) {
		rs, err := ParseResults(transcript)
		if err == nil && len(rs) > strings.Count(transcript, ResultPrefix) {
			t.Fatalf("%d results from %d result lines", len(rs), strings.Count(transcript, ResultPrefix))
		}
		var out bytes.Buffer
		(&VM{Out: &out}).Emit(Result{Battery: "fuzz", Case: name, Message: transcript})
		got, err := ParseResults(out.String())
		if err != nil || len(got) != 1 || got[0].Message != string([]rune(transcript)) || got[0].Case != string([]rune(name)) {
			t.Fatalf("emitted result did not round-trip: %v %+v", err, got)
		}
	})
}
