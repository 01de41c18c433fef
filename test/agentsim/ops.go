package agentsim

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"time"
)

// Step is one thing the agent did: a handler command (install, enable,
// disable, update, uninstall) or an agent action (setup, copy-status,
// remove-dir).
type Step struct {
	Scenario string `json:"scenario,omitempty"`
	Verb     string `json:"verb"`
	// Agent is set for agent actions that run no handler command.
	Agent   bool   `json:"agent,omitempty"`
	Version string `json:"version"`
	Seq     int    `json:"seq"`
	Command string `json:"command,omitempty"`
	// Env holds the variables the agent set for the command (the inherited
	// environment is applied on top of them).
	Env map[string]string `json:"env,omitempty"`
	// ExitCode is the command's exit status (-1 when killed on timeout or
	// not started; -N when ended by signal N).
	ExitCode int  `json:"exitCode"`
	TimedOut bool `json:"timedOut,omitempty"`
	// Code is the CRP code the agent reports for the step (0 = success).
	Code       int           `json:"code"`
	Duration   time.Duration `json:"-"`
	DurationMS int64         `json:"durationMs"`
	// Output is the agent's "[stdout]\n…\n\n[stderr]\n…" capture (≤ 3200 chars).
	Output string `json:"output,omitempty"`
	// Error is the agent's error message for a failed step.
	Error string `json:"error,omitempty"`
	// Swallowed marks failures the agent only logs (uninstall on removal,
	// old disable/uninstall with continueOnUpdateFailure).
	Swallowed bool `json:"swallowed,omitempty"`
	// HandlerState and HandlerStatus are read after the step (of the
	// version that ran it); Status is the extension status for Seq, nil
	// when the agent reports none (agent actions; a failure that leaves
	// the handler NotInstalled, e.g. install exiting non-zero).
	HandlerState  string         `json:"handlerState,omitempty"`
	HandlerStatus *HandlerStatus `json:"handlerStatus,omitempty"`
	Status        *ExtStatus     `json:"status,omitempty"`
	Note          string         `json:"note,omitempty"`
}

// Failed reports whether the step failed (even if the agent swallowed it).
func (st Step) Failed() bool { return st.Code != 0 }

// Outcome is the result of processing one goal state.
type Outcome struct {
	Steps []Step `json:"steps"`
	// Code and Message are the handler status the agent ends up reporting
	// (0 and "" when everything succeeded).
	Code    int    `json:"code"`
	Message string `json:"message,omitempty"`
}

// OK reports whether the goal state was processed without error.
func (o Outcome) OK() bool { return o.Code == 0 }

// run executes one verb for in and records the step.
func (s *Simulator) run(ctx context.Context, in instance, verb Verb, seq int, extra []envVar) Step {
	st := Step{Scenario: s.scenario, Verb: string(verb), Version: in.version, Seq: seq, Env: map[string]string{}}
	man, err := in.loadManifest()
	var cmdline string
	if err == nil {
		cmdline, err = man.Command(verb)
	}
	if err != nil {
		// The agent hits a KeyError/IOError: a generic exception, code -1.
		st.ExitCode, st.Code, st.Error = -1, -1, err.Error()
		return st
	}
	res := s.launch(ctx, in, verb, cmdline, seq, extra)
	st.Command = res.Command
	for _, v := range append(append([]envVar{}, extra...), s.commonVars(in, seq)...) {
		st.Env[v.Key] = v.Value
	}
	st.ExitCode, st.TimedOut, st.Output = res.ExitCode, res.TimedOut, res.Output
	st.Duration, st.DurationMS = res.Duration, res.Duration.Milliseconds()
	spec := verbSpecs[verb]
	switch {
	case res.Err != nil:
		st.Code, st.Error = spec.code, fmt.Sprintf("[ExtensionError] %v", res.Err)
	case res.TimedOut:
		secs := s.timeout(verb).Seconds()
		st.Code = CodeTimeout
		st.Error = fmt.Sprintf("[ExtensionError] Timeout(%g): %s\n%s", secs, res.Command, res.Output)
	case res.ExitCode != 0:
		st.Code = spec.code
		st.Error = fmt.Sprintf("[ExtensionOperationError] Non-zero exit code: %d, %s\n%s", res.ExitCode, res.Command, res.Output)
	}
	return st
}

func (s *Simulator) commonVars(in instance, seq int) []envVar {
	return []envVar{
		{"AZURE_GUEST_AGENT_EXTENSION_PATH", in.baseDir()},
		{"AZURE_GUEST_AGENT_EXTENSION_VERSION", in.version},
		{"AZURE_GUEST_AGENT_WIRE_PROTOCOL_ADDRESS", s.opt.WireServer},
		{"ConfigSequenceNumber", strconv.Itoa(seq)},
		{"AZURE_GUEST_AGENT_EXTENSION_SUPPORTED_FEATURES", SupportedFeatures},
	}
}

// record completes st with the state after it and appends it.
func (s *Simulator) record(ctx context.Context, out *Outcome, in instance, st Step) Step {
	if _, err := os.Stat(in.baseDir()); err == nil {
		st.HandlerState = s.HandlerState(in.version)
		st.HandlerStatus = s.readHandlerStatus(in)
		// A failure the agent does not swallow ends the goal state, and the
		// agent reports the state it ends in: for a NotInstalled handler
		// (install exited non-zero) report_ext_handler_status collects no
		// extension status, only the handler status (NotReady 1007).
		unreported := st.Failed() && !st.Swallowed && st.HandlerState == StateNotInstalled
		if (!st.Agent || st.Verb == "copy-status") && !unreported {
			es := s.readStatus(ctx, in, st.Seq)
			st.Status = &es
		}
	} else {
		st.HandlerState = StateNotInstalled
	}
	out.Steps = append(out.Steps, st)
	s.steps = append(s.steps, st)
	if s.opt.Progress != nil {
		io.WriteString(s.opt.Progress, TranscriptLine(st)+"\n")
	}
	return st
}

func (s *Simulator) fail(out *Outcome, in instance, code int, msg string) {
	out.Code, out.Message = code, msg
	_ = s.setHandlerStatus(in, HandlerStatus{Status: "NotReady", Code: code, Message: msg})
}

func (s *Simulator) agentStep(ctx context.Context, out *Outcome, in instance, verb string, seq int, note string) Step {
	return s.record(ctx, out, in, Step{Scenario: s.scenario, Verb: verb, Agent: true, Version: in.version, Seq: seq, Note: note})
}

// GoalState processes an "enabled" goal state for pkg with settings set,
// exactly as the agent's handle_enable: a fresh handler is set up and
// installed; a different installed version is updated; an installed one
// gets its settings rewritten; then enable runs.
func (s *Simulator) GoalState(ctx context.Context, pkg Package, set *Settings) (Outcome, error) {
	var out Outcome
	version, err := pkg.version()
	if err != nil {
		return out, err
	}
	in := s.inst(version)
	seq := seqOf(set)
	uninstallRC := NotRun
	state := s.HandlerState(version)
	if state == StateNotInstalled || state == StateFailedUpgrade {
		oldVersion, hasOld := s.InstalledVersion()
		man, ok := s.setup(ctx, &out, in, pkg, set)
		if !ok {
			return out, nil
		}
		switch {
		case !hasOld:
			st := s.run(ctx, in, VerbInstall, seq, []envVar{{"AZURE_GUEST_AGENT_UNINSTALL_CMD_EXIT_CODE", NotRun}})
			if st.Failed() {
				s.fail(&out, in, st.Code, st.Error)
				s.record(ctx, &out, in, st)
				return out, nil
			}
			_ = s.setState(in, StateInstalled)
			_ = s.setHandlerStatus(in, HandlerStatus{Status: "NotReady", Message: "Plugin installed but not enabled"})
			s.record(ctx, &out, in, st)
		case CompareVersions(version, oldVersion) != 0:
			rc, ok := s.update(ctx, &out, s.inst(oldVersion), in, man, seq)
			if !ok {
				return out, nil
			}
			uninstallRC = rc
		}
	} else {
		if err := s.writeSettings(ctx, in, set); err != nil {
			return out, err
		}
	}
	st := s.run(ctx, in, VerbEnable, seq, []envVar{{"AZURE_GUEST_AGENT_UNINSTALL_CMD_EXIT_CODE", uninstallRC}})
	if st.Failed() {
		s.fail(&out, in, st.Code, st.Error)
	} else {
		_ = s.setState(in, StateEnabled)
		_ = s.setHandlerStatus(in, HandlerStatus{Status: "Ready", Message: "Plugin enabled"})
	}
	s.record(ctx, &out, in, st)
	return out, nil
}

// setup is __setup_new_handler: state NotInstalled, download, initialize,
// settings.
func (s *Simulator) setup(ctx context.Context, out *Outcome, in instance, pkg Package, set *Settings) (Manifest, bool) {
	seq := seqOf(set)
	st := Step{Scenario: s.scenario, Verb: "setup", Agent: true, Version: in.version, Seq: seq,
		Note: fmt.Sprintf("unzip %s to %s, HandlerEnvironment.json, %d.settings", filepath.Base(pkg.Zip), in.baseDir(), seq)}
	start := time.Now()
	man, err := s.setupFiles(ctx, in, pkg, set)
	st.Duration = time.Since(start)
	st.DurationMS = st.Duration.Milliseconds()
	if err != nil {
		st.Code, st.Error = setupCode(err), "[ExtensionDownloadError] "+err.Error()
		s.fail(out, in, st.Code, "Failed to download artifacts: "+st.Error)
		s.record(ctx, out, in, st)
		return man, false
	}
	s.record(ctx, out, in, st)
	return man, true
}

func (s *Simulator) setupFiles(ctx context.Context, in instance, pkg Package, set *Settings) (Manifest, error) {
	// Python's os.makedirs gives intermediate directories the default mode.
	if err := os.MkdirAll(in.baseDir(), 0o755); err != nil {
		return Manifest{}, err
	}
	if err := os.MkdirAll(in.configDir(), 0o700); err != nil {
		return Manifest{}, err
	}
	if err := s.setState(in, StateNotInstalled); err != nil {
		return Manifest{}, err
	}
	if err := in.download(pkg.Zip); err != nil {
		return Manifest{}, err
	}
	man, err := in.initialize()
	if err != nil {
		return man, err
	}
	return man, s.writeSettings(ctx, in, set)
}

var manifestCodeRe = regexp.MustCompile(`\(error (\d+)\)`)

func setupCode(err error) int {
	if m := manifestCodeRe.FindStringSubmatch(err.Error()); m != nil {
		c, _ := strconv.Atoi(m[1])
		return c
	}
	return -1
}

// update is _update_extension_handler_and_return_if_failed. It returns the
// old uninstall exit code (as passed to the new install/enable) and false
// when the update aborted.
func (s *Simulator) update(ctx context.Context, out *Outcome, old, nw instance, newMan Manifest, seq int) (string, bool) {
	cont := newMan.ContinueOnUpdateFailure
	// oldCommand runs a command of the old version with the agent's
	// continueOnUpdateFailure handling; it returns the exit code to pass on.
	oldCommand := func(verb Verb, onSuccess func()) (string, bool) {
		st := s.run(ctx, old, verb, seq, nil)
		if !st.Failed() {
			if onSuccess != nil {
				onSuccess()
			}
			s.record(ctx, out, old, st)
			return "0", true
		}
		msg := fmt.Sprintf("%s; ContinueOnUpdate: %s", st.Error, pyBool(cont))
		if !cont {
			s.fail(out, nw, CodeUpdateFailed, "[ExtensionUpdateError] "+msg)
			s.record(ctx, out, old, st)
			return "", false
		}
		st.Swallowed = true
		st.Note = "continueOnUpdateFailure: proceeding"
		s.record(ctx, out, old, st)
		if st.TimedOut || st.ExitCode == -1 {
			return strconv.Itoa(st.Code), true
		}
		return strconv.Itoa(st.ExitCode), true
	}

	disableRC := NotRun
	if s.HandlerState(old.version) == StateEnabled {
		rc, ok := oldCommand(VerbDisable, func() {
			_ = s.setState(old, StateInstalled)
			_ = s.setHandlerStatus(old, HandlerStatus{Status: "NotReady", Message: "Plugin disabled"})
		})
		if !ok {
			return "", false
		}
		disableRC = rc
	}

	if err := copyStatusFiles(old, nw); err != nil {
		s.fail(out, nw, -1, err.Error())
		s.agentStep(ctx, out, nw, "copy-status", seq, err.Error())
		return "", false
	}
	s.agentStep(ctx, out, nw, "copy-status", seq, fmt.Sprintf("mrseq and status/* copied from %s", old.version))

	runner, note := nw, ""
	fromVersion := old.version
	if CompareVersions(nw.version, old.version) <= 0 {
		// Downgrade: the old version's update command runs; the agent
		// passes the new version as both VERSION and UPDATING_FROM_VERSION.
		runner, fromVersion, note = old, nw.version, "downgrade: old version's update command"
	}
	st := s.run(ctx, runner, VerbUpdate, seq, []envVar{
		{"VERSION", nw.version},
		{"AZURE_GUEST_AGENT_UPDATING_FROM_VERSION", fromVersion},
		{"AZURE_GUEST_AGENT_DISABLE_CMD_EXIT_CODE", disableRC},
	})
	st.Note = note
	if st.Failed() {
		_ = s.setState(runner, StateFailedUpgrade)
		s.fail(out, nw, st.Code, st.Error)
		s.record(ctx, out, runner, st)
		return "", false
	}
	s.record(ctx, out, runner, st)

	uninstallRC, ok := oldCommand(VerbUninstall, nil)
	if !ok {
		return "", false
	}
	s.removeHandler(ctx, out, old, seq)

	if newMan.UpdateWithInstall {
		st := s.run(ctx, nw, VerbInstall, seq, []envVar{{"AZURE_GUEST_AGENT_UNINSTALL_CMD_EXIT_CODE", uninstallRC}})
		if st.Failed() {
			s.fail(out, nw, st.Code, st.Error)
			s.record(ctx, out, nw, st)
			return "", false
		}
		_ = s.setState(nw, StateInstalled)
		_ = s.setHandlerStatus(nw, HandlerStatus{Status: "NotReady", Message: "Plugin installed but not enabled"})
		s.record(ctx, out, nw, st)
	} else {
		_ = s.setState(nw, StateInstalled)
		s.agentStep(ctx, out, nw, "skip-install", seq, "updateMode is not UpdateWithInstall")
	}
	return uninstallRC, true
}

func pyBool(b bool) string {
	if b {
		return "True"
	}
	return "False"
}

// copyStatusFiles copies mrseq and every regular file of status/ from the
// old base dir to the new one (shutil.copy2: content, mode and times).
func copyStatusFiles(old, nw instance) error {
	copy2 := func(src, dstDir string) error {
		fi, err := os.Stat(src)
		if err != nil {
			return err
		}
		data, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		dst := filepath.Join(dstDir, filepath.Base(src))
		if err := os.WriteFile(dst, data, fi.Mode().Perm()); err != nil {
			return err
		}
		if err := os.Chmod(dst, fi.Mode().Perm()); err != nil {
			return err
		}
		return os.Chtimes(dst, fi.ModTime(), fi.ModTime())
	}
	mrseq := filepath.Join(old.baseDir(), "mrseq")
	if fi, err := os.Stat(mrseq); err == nil && fi.Mode().IsRegular() {
		if err := copy2(mrseq, nw.baseDir()); err != nil {
			return fmt.Errorf("copy mrseq: %w", err)
		}
	}
	entries, err := os.ReadDir(old.statusDir())
	if err != nil {
		return nil // no status dir: nothing to copy
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		if err := copy2(filepath.Join(old.statusDir(), e.Name()), nw.statusDir()); err != nil {
			return fmt.Errorf("copy status file: %w", err)
		}
	}
	return nil
}

// removeHandler is remove_ext_handler: delete the cached zip and the
// versioned directory.
func (s *Simulator) removeHandler(ctx context.Context, out *Outcome, in instance, seq int) {
	_ = os.Remove(in.zipPath())
	note := "deleted " + in.baseDir() + " and " + filepath.Base(in.zipPath())
	if err := os.RemoveAll(in.baseDir()); err != nil {
		note = "Failed to remove extension handler directory: " + err.Error()
	}
	s.agentStep(ctx, out, in, "remove-dir", seq, note)
}

// Disable processes a "disabled" goal state (legacy): disable runs only
// when the handler is Enabled.
func (s *Simulator) Disable(ctx context.Context, version string) (Outcome, error) {
	var out Outcome
	in := s.inst(version)
	if s.HandlerState(version) != StateEnabled {
		return out, nil
	}
	st := s.run(ctx, in, VerbDisable, s.lastSeq(in), nil)
	if st.Failed() {
		s.fail(&out, in, st.Code, st.Error)
	} else {
		_ = s.setState(in, StateInstalled)
		_ = s.setHandlerStatus(in, HandlerStatus{Status: "NotReady", Message: "Plugin disabled"})
	}
	s.record(ctx, &out, in, st)
	return out, nil
}

// Remove processes an "uninstall" goal state: disable when Enabled (a
// failure aborts), uninstall (failures only reported), then the versioned
// directory and cached zip are deleted.
func (s *Simulator) Remove(ctx context.Context, version string) (Outcome, error) {
	var out Outcome
	in := s.inst(version)
	seq := s.lastSeq(in)
	state := s.HandlerState(version)
	if state != StateNotInstalled {
		if state == StateEnabled {
			st := s.run(ctx, in, VerbDisable, seq, nil)
			if st.Failed() {
				s.fail(&out, in, st.Code, st.Error)
				s.record(ctx, &out, in, st)
				return out, nil
			}
			_ = s.setState(in, StateInstalled)
			_ = s.setHandlerStatus(in, HandlerStatus{Status: "NotReady", Message: "Plugin disabled"})
			s.record(ctx, &out, in, st)
		}
		st := s.run(ctx, in, VerbUninstall, seq, nil)
		if st.Failed() {
			st.Swallowed = true
			st.Note = "uninstall errors are only reported as events"
		}
		s.record(ctx, &out, in, st)
	}
	s.removeHandler(ctx, &out, in, seq)
	return out, nil
}

// lastSeq is the agent's fallback: the sequence number of the most
// recently modified <n>.settings (ties: the larger number); 0 when none.
func (s *Simulator) lastSeq(in instance) int {
	entries, err := os.ReadDir(in.configDir())
	if err != nil {
		return 0
	}
	re := regexp.MustCompile(`^(\d+)\.settings$`)
	best, bestT := 0, time.Time{}
	for _, e := range entries {
		m := re.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		n, _ := strconv.Atoi(m[1])
		if fi.ModTime().After(bestT) || (fi.ModTime().Equal(bestT) && n > best) {
			best, bestT = n, fi.ModTime()
		}
	}
	return best
}

func (s *Simulator) readHandlerStatus(in instance) *HandlerStatus {
	b, err := os.ReadFile(filepath.Join(in.configDir(), "HandlerStatus"))
	if err != nil {
		return nil
	}
	var hs HandlerStatus
	if err := jsonUnmarshal(b, &hs); err != nil {
		return nil
	}
	return &hs
}
