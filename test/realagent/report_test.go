package realagent

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// blob wraps handler entries in the driver's output document.
func blob(handlers string) string {
	return `{"agentVersion":"2.7.3.0","status":{"version":"1.1","aggregateStatus":{"guestAgentStatus":{},"handlerAggregateStatus":[` +
		handlers + `]}},"commands":[` +
		`{"cmd":"/var/lib/waagent/` + Name + `-1.0.0.1/scripts/aadsshlogin-shim install","env":{"ConfigSequenceNumber":"0"}},` +
		`{"cmd":"/var/lib/waagent/` + Name + `-1.0.0.1/scripts/aadsshlogin-shim enable","env":{"ConfigSequenceNumber":"0"}}],` +
		`"statusFiles":[{"file":"/s/0.status","size":300,"status":"transitioning"},{"file":"/s/1.status","error":"ExtensionStatusError: Missing status key"}]}`
}

func TestParseReport(t *testing.T) {
	seq0 := 0
	tests := []struct {
		name    string
		in      string
		want    HandlerStatus
		wantErr string
	}{
		{name: "handler and extension status",
			in: blob(`{"handlerVersion":"1.0.0.1","handlerName":"` + Name + `","status":"NotReady","code":1009,"useExactVersion":true,` +
				`"formattedMessage":{"lang":"en-US","message":"Non-zero exit code: 22, …"},` +
				`"runtimeSettingsStatus":{"settingsStatus":{"status":{"name":"` + Name + `","operation":"Enable","status":"transitioning","code":22,` +
				`"formattedMessage":{"lang":"en-US","message":"no identity"},"substatus":[{"name":"sshd","status":"warning","code":0,"formattedMessage":{"lang":"en-US","message":"w"}}]},` +
				`"version":1.0,"timestampUTC":"x"},"sequenceNumber":0}}`),
			want: HandlerStatus{Name: Name, Version: "1.0.0.1", Status: "NotReady", Code: 1009, Message: "Non-zero exit code: 22, …", Seq: &seq0,
				Extension: &ExtensionStatus{Operation: "Enable", Status: "transitioning", Code: 22, Message: "no identity",
					Substatus: []Substatus{{Name: "sshd", Status: "warning", Message: "w"}}}}},
		{name: "handler status only (install failed: the agent does not read the status file)",
			in:   blob(`{"handlerVersion":"1.0.0.1","handlerName":"` + Name + `","status":"NotReady","code":1007,"formattedMessage":{"lang":"en-US","message":"[ExtensionOperationError] Non-zero exit code: 22"}}`),
			want: HandlerStatus{Name: Name, Version: "1.0.0.1", Status: "NotReady", Code: 1007, Message: "[ExtensionOperationError] Non-zero exit code: 22"}},
		{name: "other handlers are ignored; nothing for ours",
			in:   blob(`{"handlerVersion":"2.0","handlerName":"Other.Extension","status":"Ready","code":0}`),
			want: HandlerStatus{}},
		{name: "two entries for ours", wantErr: "2 entries",
			in: blob(`{"handlerName":"` + Name + `","status":"Ready"},{"handlerName":"` + Name + `","status":"Ready"}`)},
		{name: "not JSON", in: `{"agentVersion":`, wantErr: "agent report"},
		{name: "no agent version", in: `{"status":{}}`, wantErr: "no agent version"},
		{name: "status blob of the wrong shape", in: `{"agentVersion":"1","status":{"aggregateStatus":[]}}`, wantErr: "status blob"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ParseReport([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, r.Handler, cmpopts.EquateEmpty()); d != "" {
				t.Errorf("handler (-want +got):\n%s", d)
			}
			if d := cmp.Diff([]string{"1.0.0.1 install", "1.0.0.1 enable"}, r.Verbs()); d != "" {
				t.Errorf("verbs (-want +got):\n%s", d)
			}
			if d := cmp.Diff([]string{"/s/1.status: ExtensionStatusError: Missing status key"}, r.StatusErrors()); d != "" {
				t.Errorf("status errors (-want +got):\n%s", d)
			}
		})
	}
}

func TestLaunch(t *testing.T) {
	tests := []struct {
		cmd, verb, version string
	}{
		{"/var/lib/waagent/" + Name + "-1.0.0.2/scripts/aadsshlogin-shim update", "update", "1.0.0.2"},
		{"/elsewhere/shim enable", "enable", ""},
		{"", "", ""},
	}
	for _, tt := range tests {
		l := Launch{Cmd: tt.cmd}
		if l.Verb() != tt.verb || l.Version() != tt.version {
			t.Errorf("%q: verb %q version %q, want %q %q", tt.cmd, l.Verb(), l.Version(), tt.verb, tt.version)
		}
	}
}

func TestSummary(t *testing.T) {
	seq := 3
	h := HandlerStatus{Version: "1.0.0.1", Status: "Ready", Message: "Plugin enabled\nmore", Seq: &seq,
		Extension: &ExtensionStatus{Operation: "Enable", Status: "success", Message: "ready"}}
	want := `handler 1.0.0.1 Ready code=0 "Plugin enabled"; extension seq=3 Enable success code=0 "ready"`
	if got := h.Summary(); got != want {
		t.Errorf("Summary() = %q, want %q", got, want)
	}
	if got := (HandlerStatus{Version: "1"}).Summary(); !strings.HasSuffix(got, "no extension status reported") {
		t.Errorf("Summary() = %q", got)
	}
}

func FuzzParseReport(f *testing.F) {
	f.Add([]byte(blob(`{"handlerName":"` + Name + `","status":"Ready","runtimeSettingsStatus":{"settingsStatus":{"status":{"status":"success"}},"sequenceNumber":1}}`)))
	f.Add([]byte(`{"agentVersion":"x","status":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseReport(data)
		if err != nil {
			return
		}
		_ = r.Handler.Summary()
		_ = r.Verbs()
		_ = r.StatusErrors()
	})
}
