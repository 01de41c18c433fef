package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/Azure/aadsshlogin-extension-linux/test/agentsim"
	"github.com/Azure/aadsshlogin-extension-linux/test/realagent"
	"github.com/google/go-cmp/cmp"
)

// simPhase runs one agentsim scenario on the VM and returns its report.
func (e *Env) simPhase(ctx context.Context, scenario string, protected bool, out io.Writer) (agentsim.Report, error) {
	args := []string{"-json", "-scenario", scenario, "-zip", e.Zips[0], "-settings", e.SettingsFile}
	if protected {
		args = append(args, "-protected", e.ProtectedFile)
	}
	cmd := e.Agentsim(ctx, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var rep agentsim.Report
	if jerr := json.Unmarshal(stdout.Bytes(), &rep); jerr != nil {
		return rep, fmt.Errorf("agentsim %s: no report (%v, %v): %s", scenario, err, jerr, clip(stderr.String(), 600))
	}
	var verbs []string
	for _, st := range rep.Steps {
		if !st.Agent {
			verbs = append(verbs, st.Version+" "+st.Verb)
		}
	}
	fmt.Fprintf(out, "agentsim ran: %s\n", strings.Join(verbs, ", "))
	if last := lastStatus(rep); last != nil {
		fmt.Fprintf(out, "agentsim reports: extension %s %s code=%s %q\n", last.Operation, last.Status, last.Code, last.Message)
	}
	return rep, nil
}

func lastStatus(rep agentsim.Report) *agentsim.ExtStatus {
	for i := len(rep.Steps) - 1; i >= 0; i-- {
		if st := rep.Steps[i].Status; st != nil {
			return st
		}
	}
	return nil
}

// agrees compares what agentsim did and reported with what the real agent
// did and reported for the same goal state: the commands in order, the
// variables the agent set for each, and the extension status, code and
// operation (or that neither reports one).
func agrees(sim agentsim.Report, real realagent.Report, out io.Writer) error {
	var simVerbs []string
	var simEnv []map[string]string
	for _, st := range sim.Steps {
		if !st.Agent {
			simVerbs = append(simVerbs, st.Version+" "+st.Verb)
			simEnv = append(simEnv, st.Env)
		}
	}
	var errs []error
	if got := real.Verbs(); !slices.Equal(simVerbs, got) {
		errs = append(errs, fmt.Errorf("commands: agentsim %q, real agent %q", simVerbs, got))
	} else {
		for i, c := range real.Commands {
			if d := cmp.Diff(simEnv[i], c.Env); d != "" {
				errs = append(errs, fmt.Errorf("environment of %s (-agentsim +real):\n%s", simVerbs[i], d))
			}
		}
	}
	if x := real.Handler.Extension; x == nil {
		// The agent reports the state the goal state ended in; agentsim's
		// last step is that state.
		if n := len(sim.Steps); n > 0 && sim.Steps[n-1].Status != nil {
			st := sim.Steps[n-1].Status
			errs = append(errs, fmt.Errorf("extension status: agentsim %s %s %s, the real agent reports none", st.Operation, st.Status, st.Code))
		}
	} else {
		st := lastStatus(sim)
		if st == nil {
			errs = append(errs, errors.New("agentsim reports no extension status, the real agent does"))
		} else {
			code, _ := strconv.Atoi(string(st.Code))
			if st.Status != x.Status || code != x.Code || st.Operation != x.Operation {
				errs = append(errs, fmt.Errorf("extension status: agentsim %s %s %d, real agent %s %s %d",
					st.Operation, st.Status, code, x.Operation, x.Status, x.Code))
			}
		}
	}
	if len(errs) == 0 {
		fmt.Fprintln(out, "agentsim agrees: same commands, same environment, same reported status")
	}
	return errors.Join(errs...)
}
