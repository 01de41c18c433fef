package sandbox

import (
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/Azure/aadsshlogin-extension-linux/test/agentsim"
	"github.com/Azure/aadsshlogin-extension-linux/test/realagent"
)

func TestAgrees(t *testing.T) {
	env := map[string]string{"ConfigSequenceNumber": "0", "AZURE_GUEST_AGENT_UNINSTALL_CMD_EXIT_CODE": "NOT_RUN"}
	sim := func(mut func(*agentsim.Report)) agentsim.Report {
		r := agentsim.Report{Steps: []agentsim.Step{
			{Verb: "install", Version: "1.0.0.1", Env: env},
			{Verb: "enable", Version: "1.0.0.1", Env: env, Status: &agentsim.ExtStatus{Status: "success", Code: json.RawMessage("0"), Operation: "Enable"}},
		}}
		if mut != nil {
			mut(&r)
		}
		return r
	}
	const base = "/var/lib/waagent/" + realagent.Name + "-1.0.0.1/scripts/aadsshlogin-shim "
	real := realagent.Report{
		Commands: []realagent.Launch{{Cmd: base + "install", Env: env}, {Cmd: base + "enable", Env: env}},
		Handler:  realagent.HandlerStatus{Name: realagent.Name, Extension: &realagent.ExtensionStatus{Status: "success", Operation: "Enable"}},
	}
	tests := []struct {
		name    string
		sim     agentsim.Report
		wantErr string
	}{
		{name: "same", sim: sim(nil)},
		{name: "agent action steps are not commands", sim: sim(func(r *agentsim.Report) {
			r.Steps = append([]agentsim.Step{{Verb: "download", Agent: true}}, r.Steps...)
		})},
		{name: "other commands", wantErr: "commands: agentsim", sim: sim(func(r *agentsim.Report) { r.Steps = r.Steps[1:] })},
		{name: "other environment", wantErr: "environment of 1.0.0.1 enable", sim: sim(func(r *agentsim.Report) {
			r.Steps[1].Env = map[string]string{"ConfigSequenceNumber": "1"}
		})},
		{name: "other status", wantErr: "extension status: agentsim Enable transitioning 22", sim: sim(func(r *agentsim.Report) {
			r.Steps[1].Status = &agentsim.ExtStatus{Status: "transitioning", Code: json.RawMessage("22"), Operation: "Enable"}
		})},
		{name: "no status", wantErr: "agentsim reports no extension status", sim: sim(func(r *agentsim.Report) { r.Steps[1].Status = nil })},
	}
	// A failed install: the real agent leaves the handler NotInstalled and
	// reports no extension status.
	const install = "/var/lib/waagent/" + realagent.Name + "-1.0.0.1/scripts/aadsshlogin-shim install"
	failed := realagent.Report{
		Commands: []realagent.Launch{{Cmd: install, Env: env}},
		Handler:  realagent.HandlerStatus{Name: realagent.Name, Status: "NotReady", Code: 1007},
	}
	failedSim := func(st *agentsim.ExtStatus) agentsim.Report {
		return agentsim.Report{Steps: []agentsim.Step{{Verb: "setup", Agent: true}, {Verb: "install", Version: "1.0.0.1", Env: env, ExitCode: 22, Code: 1007, Status: st}}}
	}
	for _, tt := range []struct {
		name    string
		sim     agentsim.Report
		wantErr string
	}{
		{name: "failed install, no status", sim: failedSim(nil)},
		{name: "failed install, status the agent does not report", wantErr: "the real agent reports none", sim: failedSim(&agentsim.ExtStatus{Status: "transitioning", Code: json.RawMessage("22"), Operation: "Install"})},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := agrees(tt.sim, failed, io.Discard)
			if (tt.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("agrees: %v, want %q", err, tt.wantErr)
			}
		})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := agrees(tt.sim, real, io.Discard)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("agrees: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("agrees: %v, want %q", err, tt.wantErr)
			}
		})
	}
}
