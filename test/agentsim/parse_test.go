package agentsim

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

func TestParseManifest(t *testing.T) {
	type view struct {
		Enable                                  string
		Heartbeat, Continue, Multi, WithInstall bool
		NonBoolean                              []string
	}
	hm := func(extra string) string {
		return `[{"handlerManifest":{"enableCommand":"bin/h enable"` + extra + `}}]`
	}
	tests := []struct {
		name    string
		in      string
		want    view
		wantErr bool
	}{
		{"defaults", hm(""), view{Enable: "bin/h enable", WithInstall: true}, false},
		{"real booleans", hm(`,"reportHeartbeat":true,"continueOnUpdateFailure":true,"supportsMultipleExtensions":false`),
			view{Enable: "bin/h enable", Heartbeat: true, Continue: true, WithInstall: true}, false},
		{"string true back-compat", hm(`,"continueOnUpdateFailure":"TrUe","reportHeartbeat":"yes"`),
			view{Enable: "bin/h enable", Continue: true, WithInstall: true, NonBoolean: []string{"reportHeartbeat", "continueOnUpdateFailure"}}, false},
		{"number is not a boolean", hm(`,"continueOnUpdateFailure":1`),
			view{Enable: "bin/h enable", WithInstall: true, NonBoolean: []string{"continueOnUpdateFailure"}}, false},
		{"updateMode without install", hm(`,"updateMode":"UpdateWithoutInstall"`), view{Enable: "bin/h enable"}, false},
		{"updateMode case-insensitive", hm(`,"updateMode":"updatewithINSTALL"`), view{Enable: "bin/h enable", WithInstall: true}, false},
		{"updateMode null", hm(`,"updateMode":null`), view{Enable: "bin/h enable", WithInstall: true}, false},
		{"updateMode number", hm(`,"updateMode":1`), view{}, true},
		{"only [0] read", `[{"handlerManifest":{"enableCommand":"a"}},{"bogus":1}]`, view{Enable: "a", WithInstall: true}, false},
		{"object, not array", `{"handlerManifest":{}}`, view{}, true},
		{"empty array", `[]`, view{}, true},
		{"null handlerManifest", `[{"handlerManifest":null}]`, view{}, true},
		{"missing handlerManifest", `[{"name":"x"}]`, view{}, true},
		{"element not an object", `["x"]`, view{}, true},
		{"not JSON", `[{`, view{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := ParseManifest([]byte(tc.in))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if err != nil {
				if !errors.Is(err, ErrMalformedManifest) {
					t.Errorf("error %v does not wrap ErrMalformedManifest", err)
				}
				return
			}
			enable, _ := m.Command(VerbEnable)
			got := view{enable, m.ReportHeartbeat, m.ContinueOnUpdateFailure, m.SupportsMultipleExtensions, m.UpdateWithInstall, m.NonBoolean}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("manifest (-want +got):\n%s", diff)
			}
			if _, err := m.Command(VerbDisable); err == nil {
				t.Errorf("missing disableCommand gave no error")
			}
		})
	}
}

func TestStripBOM(t *testing.T) {
	tests := []struct{ in, want string }{
		{"\xef\xbb\xbf[1]", "[1]"},
		{"[1]", "[1]"},
		{"\xef\xbb", "\xef\xbb"},
		{"\xff\xfe\x81x", "x"}, // the agent drops any three bytes above 128
		{"\xff\xfe\x80x", "\xff\xfe\x80x"},
	}
	for _, tc := range tests {
		if got := string(StripBOM([]byte(tc.in))); got != tc.want {
			t.Errorf("StripBOM(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func FuzzParseManifest(f *testing.F) {
	for _, s := range []string{
		fakeManifest(""), fakeManifest(`,"updateMode":"x","continueOnUpdateFailure":"true"`),
		`[]`, `{}`, `[null]`, `[{"handlerManifest":[]}]`, `[{"handlerManifest":{"enableCommand":7}}]`,
		"\xef\xbb\xbf" + fakeManifest(""),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseManifest(StripBOM(data))
		if err != nil {
			if !errors.Is(err, ErrMalformedManifest) {
				t.Fatalf("error %v does not wrap ErrMalformedManifest", err)
			}
			return
		}
		// Invariants: a parsed manifest came from a JSON array whose first
		// element has a non-null handlerManifest object.
		var top []map[string]json.RawMessage
		if err := json.Unmarshal(StripBOM(data), &top); err != nil || len(top) == 0 || top[0] == nil {
			t.Fatalf("accepted input that is not an array of objects: %q", data)
		}
		var hm map[string]json.RawMessage
		if err := json.Unmarshal(top[0]["handlerManifest"], &hm); err != nil || hm == nil {
			t.Fatalf("accepted a non-object handlerManifest: %q", data)
		}
		for verb, key := range manifestKeys {
			cmd, err := m.Command(verb)
			var want string
			raw, present := hm[key]
			wantErr := !present || json.Unmarshal(raw, &want) != nil
			if (err != nil) != wantErr || (err == nil && cmd != want) {
				t.Fatalf("Command(%s) = %q, %v; raw %s", verb, cmd, err, raw)
			}
		}
		if _, ok := hm["updateMode"]; !ok && !m.UpdateWithInstall {
			t.Fatalf("absent updateMode must mean UpdateWithInstall")
		}
		if len(m.NonBoolean) > 3 {
			t.Fatalf("NonBoolean has %d entries", len(m.NonBoolean))
		}
	})
}

func TestParseStatus(t *testing.T) {
	wrap := func(status string) string {
		return `[{"version":1,"timestampUTC":"x","status":` + status + `}]`
	}
	code := func(s string) json.RawMessage { return json.RawMessage(s) }
	bad := ExtStatus{Status: "error", Code: code("1012"), Malformed: true}
	tests := []struct {
		name string
		in   string
		want ExtStatus
	}{
		{"success", wrap(`{"operation":"Enable","status":"success","code":0,"formattedMessage":{"lang":"en-US","message":"ok"}}`),
			ExtStatus{Status: "success", Code: code("0"), Operation: "Enable", Message: "ok"}},
		{"code defaults to 0", wrap(`{"status":"warning"}`), ExtStatus{Status: "warning", Code: code("0")}},
		{"code kept as written", wrap(`{"status":"error","code":"52"}`), ExtStatus{Status: "error", Code: code(`"52"`)}},
		{"unknown status coerced to error", wrap(`{"status":"Succeeded"}`), ExtStatus{Status: "error", Code: code("0")}},
		{"substatus", wrap(`{"status":"success","substatus":[null,{"name":"n","status":"warning","code":3,"formattedMessage":{"lang":"en","message":"m"}}]}`),
			ExtStatus{Status: "success", Code: code("0"), Substatus: []SubStatus{{Name: "n", Status: "warning", Code: code("3"), Message: "m"}}}},
		{"null substatus tolerated", wrap(`{"status":"success","substatus":null}`), ExtStatus{Status: "success", Code: code("0")}},
		{"empty array", `[]`, ExtStatus{}},
		{"json null", `null`, ExtStatus{}},
		{"invalid substatus status", wrap(`{"status":"success","substatus":[{"status":"done"}]}`), bad},
		{"substatus without status", wrap(`{"status":"success","substatus":[{"name":"x"}]}`), bad},
		{"formattedMessage without lang", wrap(`{"status":"success","formattedMessage":{"message":"m"}}`), bad},
		{"not an array", `{"status":{"status":"success"}}`, bad},
		{"missing status/status", wrap(`{"code":0}`), bad},
		{"missing status", `[{"version":1}]`, bad},
		{"not JSON", `[{"status":`, bad},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := ParseStatus([]byte(tc.in))
			got.Problem = ""
			if got.Malformed {
				got.Message = ""
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("status (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseStatusOversize(t *testing.T) {
	long := strings.Repeat("m", 2000)
	sub := `{"status":"success","name":"` + strings.Repeat("n", 20000) + `","formattedMessage":{"lang":"en","message":"x"}}`
	subs := strings.Repeat(sub+",", 14) + sub
	in := `[{"status":{"status":"success","formattedMessage":{"lang":"en","message":"` + long + `"},"substatus":[` + subs + `]}}]`
	got := ParseStatus([]byte(in))
	if !got.Oversize || got.Malformed || got.Status != "success" {
		t.Fatalf("oversize status: %+v", got.Problem)
	}
	if want := strings.Repeat("m", 1024) + " ... [TRUNCATED]"; got.Message != want {
		t.Errorf("message not truncated to 1024 chars")
	}
	if n := len(got.Substatus); n == 0 || n >= 15 {
		t.Errorf("kept %d substatus items, want some dropped", n)
	}
	for _, s := range got.Substatus {
		if utf8.RuneCountInString(s.Name) != 10*1024+len(" ... [TRUNCATED]") {
			t.Errorf("substatus name not truncated to 10 KiB")
		}
	}
}

func FuzzParseStatus(f *testing.F) {
	for _, s := range []string{
		`[{"status":{"status":"success","code":0,"formattedMessage":{"lang":"en","message":"m"},"substatus":[{"status":"error"}]}}]`,
		`[]`, `null`, `{}`, `[{"status":{"status":"x"}}]`, `[{"status":{"status":"success","substatus":[{"status":"bad"}]}}]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		st := ParseStatus(data)
		if st.Malformed && (st.Status != "error" || string(st.Code) != "1012") {
			t.Fatalf("malformed status must be error/1012: %+v", st)
		}
		if st.Status != "" && !validStatus[st.Status] {
			t.Fatalf("status %q outside the agent's values", st.Status)
		}
		for _, s := range st.Substatus {
			if !validStatus[s.Status] {
				t.Fatalf("substatus %q outside the agent's values", s.Status)
			}
		}
		if !json.Valid(data) && !st.Malformed {
			t.Fatalf("invalid JSON accepted")
		}
	})
}

func TestFormatOutput(t *testing.T) {
	r := strings.Repeat
	tests := []struct {
		name, stdout, stderr string
		wantOut, wantErr     string // expected kept parts
	}{
		{"short", "a\n", "b", "a\n", "b"},
		{"both empty", "", "", "", ""},
		// max_len_each = (3200 - 26 + 6) / 2 = 1590
		{"big stderr gets stdout's spare room", "o", r("e", 3200), "o", r("e", 1590+1589)},
		{"big stdout gets stderr's spare room", r("o", 3200), "ee", r("o", 1590+1588), "ee"},
		{"both big keep 1590 each", r("o", 1000) + r("O", 2200), r("e", 1000) + r("E", 2200), r("O", 1590), r("E", 1590)},
		{"characters, not bytes", r("é", 3000), r("ü", 3000), r("é", 1590), r("ü", 1590)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := "[stdout]\n" + tc.wantOut + "\n\n[stderr]\n" + tc.wantErr
			if diff := cmp.Diff(want, FormatOutput(tc.stdout, tc.stderr)); diff != "" {
				t.Errorf("FormatOutput (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBackslashReplace(t *testing.T) {
	if got, want := backslashReplace([]byte("a\xffé\xc3")), `a\xffé\xc3`; got != want {
		t.Errorf("backslashReplace = %q, want %q", got, want)
	}
}

func TestPyDumps(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"a":1,"b":[true,false,null],"c":{}}`, `{"a": 1, "b": [true, false, null], "c": {}}`},
		{`{"z":1,"a":2}`, `{"z": 1, "a": 2}`},
		{`"é😀\u0001\n\"/<"`, `"\u00e9\ud83d\ude00\u0001\n\"/<"`},
		{`[1.0, 2e3, -0]`, `[1.0, 2e3, -0]`},
		{`[]`, `[]`},
	}
	for _, tc := range tests {
		got, err := pyDumps([]byte(tc.in))
		if err != nil {
			t.Fatalf("pyDumps(%s): %v", tc.in, err)
		}
		if string(got) != tc.want {
			t.Errorf("pyDumps(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
	if _, err := pyDumps([]byte(`{} {}`)); err == nil {
		t.Errorf("trailing data accepted")
	}
}

func TestVersionFromZipName(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"/x/Microsoft.Azure.ActiveDirectory.AADSSHLoginForLinux__1.0.0.1.zip", "1.0.0.1", true},
		{"aadsshlogin-2.3.zip", "2.3", true},
		{"aadsshlogin_7.zip", "7", true},
		{"aadsshlogin.zip", "", false},
		{"pkg-1.0.tar.gz", "", false},
	}
	for _, tc := range tests {
		got, ok := VersionFromZipName(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("VersionFromZipName(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestCompareVersions(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"1.0.0.1", "1.0.0.2", -1},
		{"1.0.0.10", "1.0.0.9", 1},
		{"1.0", "1.0.0", 0},
		{"2.0", "1.99.99", 1},
	}
	for _, tc := range tests {
		if got := CompareVersions(tc.a, tc.b); got != tc.want {
			t.Errorf("CompareVersions(%s, %s) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestExpectations(t *testing.T) {
	e := Expectations{}
	for _, s := range []string{"enable=22", "update/uninstall@1.0=3", "install@2.0=52", "timeout/enable=1011"} {
		if err := e.Parse(s); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Parse("enable"); err == nil {
		t.Errorf("selector without code accepted")
	}
	steps := []Step{
		{Scenario: "first", Verb: "install", Version: "1.0"},
		{Scenario: "first", Verb: "enable", Version: "1.0", ExitCode: 22, Code: 1009},
		{Scenario: "update", Verb: "uninstall", Version: "1.0", ExitCode: 3, Code: 1000},
		{Scenario: "update", Verb: "install", Version: "2.0", ExitCode: 0},
		{Scenario: "timeout", Verb: "enable", Version: "2.0", ExitCode: -1, TimedOut: true, Code: 1011},
		{Scenario: "update", Verb: "setup", Agent: true, Version: "2.0", Code: 1003},
	}
	want := []Mismatch{
		{Index: 3, Step: "update/install@2.0", Expected: 52, Got: 0},
		{Index: 5, Step: "update/setup@2.0", Expected: 0, Got: 1003},
	}
	if diff := cmp.Diff(want, e.Check(steps)); diff != "" {
		t.Errorf("Check (-want +got):\n%s", diff)
	}
}
