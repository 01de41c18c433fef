package sandbox

import (
	"strings"
	"testing"

	"github.com/Azure/aadsshlogin-extension-linux/test/realagent"
)

func TestWantCheck(t *testing.T) {
	const base = "/var/lib/waagent/" + realagent.Name + "-"
	seq := 2
	rep := realagent.Report{
		Commands: []realagent.Launch{{Cmd: base + "1.0.0.2/scripts/aadsshlogin-shim update"}, {Cmd: base + "1.0.0.1/scripts/aadsshlogin-shim uninstall"}},
		Handler: realagent.HandlerStatus{Name: realagent.Name, Status: "NotReady", Code: 1009, Seq: &seq,
			Extension: &realagent.ExtensionStatus{Operation: "Enable", Status: "transitioning", Code: 22, Message: "assign it; the agent will retry"}},
	}
	r := &agentRun{seq: 2, version2: [2]string{"1.0.0.1", "1.0.0.2"}}
	tests := []struct {
		name    string
		want    Want
		rep     realagent.Report
		wantErr string
	}{
		{name: "all match", rep: rep, want: Want{Verbs: []string{"v2 update", "v1 uninstall"}, Handler: "NotReady", Status: "transitioning", Code: 22, Operation: "Enable", Has: []string{"assign it"}}},
		{name: "verbs", rep: rep, want: Want{Verbs: []string{"v1 update"}}, wantErr: "the agent ran"},
		{name: "handler", rep: rep, want: Want{Handler: "Ready"}, wantErr: "handler status NotReady"},
		{name: "status and code", rep: rep, want: Want{Status: "success", Code: 23}, wantErr: "extension code 22, want 23"},
		{name: "message", rep: rep, want: Want{Has: []string{"az vm identity assign"}}, wantErr: "lacks"},
		{name: "retry promise", rep: rep, want: Want{Lacks: []string{"will retry"}}, wantErr: "which the agent does not do"},
		{name: "absent but reported", rep: rep, want: Want{Absent: true}, wantErr: "still reports"},
		{name: "absent", rep: realagent.Report{}, want: Want{Absent: true}},
		{name: "nothing reported", rep: realagent.Report{}, want: Want{Status: "success"}, wantErr: "reports nothing"},
		{name: "handler status only", rep: realagent.Report{Handler: realagent.HandlerStatus{Name: realagent.Name, Status: "NotReady", Code: 1007}},
			want: Want{Status: "transitioning", Code: 22}, wantErr: "does not report the extension's status"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := r.check(tt.rep, tt.want)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("check: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("check: %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestVersionOf(t *testing.T) {
	for in, want := range map[string]string{
		"/opt/x/Microsoft.Azure.ActiveDirectory.AADSSHLoginForLinux__1.0.0.2.zip": "1.0.0.2",
		"/opt/x/other.zip": "",
	} {
		if got := VersionOf(in); got != want {
			t.Errorf("VersionOf(%q) = %q, want %q", in, got, want)
		}
	}
}
